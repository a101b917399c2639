// How a changed setting reaches a repository that is already set up: offered, and applied to .git/lockstep/config.json only on a yes.
import * as vscode from 'vscode';
import { saveConfig, type ProjectConfig } from '../core/config';
import { scopedLog, type Log } from '../base/log';
import { Config, REPOSITORY_SETTINGS, type Settings } from './config';
import type { ErrorReporter } from './errors';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';
import type { WorkspaceRepository } from './repository';

export interface SettingDifference {
  what: string;
  repository: string;
  setting: string;
}

/**
 * Where the settings and the repository's configuration disagree. Only what a
 * setting can say: the engine is chosen by Initialize / Connect a Neon Project,
 * and an unset port ("the first free one") never disagrees.
 */
export function differences(settings: Settings, config: ProjectConfig): SettingDifference[] {
  const found: SettingDifference[] = [];
  if (settings.checkpointsKept !== config.keep) found.push({ what: 'checkpoints kept', repository: String(config.keep), setting: String(settings.checkpointsKept) });
  if (settings.checkoutMode !== config.checkout) found.push({ what: 'checkout mode', repository: config.checkout, setting: settings.checkoutMode });
  const pinTags = settings.pinTags ?? false;
  if (pinTags !== (config.pinTags ?? false)) found.push({ what: 'pinning tagged commits', repository: String(config.pinTags ?? false), setting: String(pinTags) });
  if (config.engine === 'local' && config.local && settings.localPort !== null && settings.localPort !== config.local.port) {
    found.push({ what: 'local database port', repository: String(config.local.port), setting: String(settings.localPort) });
  }
  return found;
}

/**
 * The repository's config.json is shared with the CLI, the commit hook and
 * every worktree, so a setting (which may be a user-wide one) never rewrites
 * it behind anyone's back. When a setting changes, each set-up repository
 * that disagrees is offered the new value; "Lockstep: Apply Settings to This
 * Repository" does the same on request.
 */
export class SettingsSync extends Disposable {
  private readonly log: Log;

  constructor(
    private readonly config: Config,
    private readonly repositories: Repositories,
    log: Log,
    private readonly errors: ErrorReporter,
  ) {
    super();
    this.log = scopedLog(log, 'settings');
    this._register(vscode.workspace.onDidChangeConfiguration((event) => void this.onChanged(event)));
  }

  private async onChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    for (const repository of this.repositories.all) {
      const config = repository.state.config;
      if (!config || !REPOSITORY_SETTINGS.some((setting) => Config.affects(event, setting, repository.folder.uri))) continue;
      const found = differences(this.config.settings(repository.folder.uri), config);
      if (found.length === 0) continue;
      const apply = 'Apply to Repository';
      const choice = await vscode.window.showInformationMessage(
        `Lockstep: ${repository.name} keeps its own configuration (shared with the CLI): ${found.map((d) => `${d.what} ${d.repository}, the setting says ${d.setting}`).join('; ')}. Apply the settings to it?`,
        apply,
      );
      if (choice === apply) {
        try {
          await this.apply(repository);
        } catch (error) {
          await this.errors.report(error, 'Applying the settings');
        }
      }
    }
  }

  /** Writes the settings into the repository's configuration; a new port moves the local database (a restart). */
  async apply(repository: WorkspaceRepository): Promise<SettingDifference[]> {
    const config = repository.project.config();
    const settings = this.config.settings(repository.folder.uri);
    const found = differences(settings, config);
    if (found.length === 0) return found;
    const portChange = found.some((d) => d.what === 'local database port');
    await repository.run({ title: 'Applying the settings', short: 'Applying settings…' }, async () => {
      if (portChange) {
        const { initProject } = await import('../core/setup');
        await vscode.window.withProgress(
          { location: vscode.ProgressLocation.Notification, title: `Lockstep: Moving the local database to port ${settings.localPort}` },
          (progress) =>
            initProject(repository.project, {
              engine: 'local',
              keep: settings.checkpointsKept,
              checkout: settings.checkoutMode,
              local: { port: settings.localPort ?? undefined },
              onProgress: (step) => progress.report({ message: step }),
            }),
        );
      } else {
        saveConfig(repository.project.paths, { ...config, keep: settings.checkpointsKept, checkout: settings.checkoutMode, pinTags: settings.pinTags ?? false });
      }
    });
    this.log.info(`${repository.name}: applied ${found.map((d) => `${d.what} ${d.repository} → ${d.setting}`).join(', ')}`);
    return found;
  }
}
