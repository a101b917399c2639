// Setting a repository up from VS Code: Initialize (local database), Connect a Neon Project, the commit hook, Apply Settings.
import * as vscode from 'vscode';
import { describeError, isLockstepError } from '../../base/errors';
import type { InitResult } from '../../core/setup';
import { uninstallHook as removeHook } from '../../git/hook';
import { offerAppWiring } from '../appWiring';
import { installExtensionHook } from '../commitHook';
import { offerImport } from '../importOffer';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { NEON_API_KEY } from '../secrets';
import type { SettingDifference } from '../settingsSync';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface InitializeOptions extends InternalOptions {
  /** Internal (tests): the local database's port, over the `lockstep.local.port` setting. */
  port?: number;
  /** Internal: `local` or `neon`, over the `lockstep.engine` setting. */
  engine?: 'local' | 'neon';
}

export interface ConnectNeonOptions extends InternalOptions {
  /** Internal (tests, automation): the answers, instead of asking. */
  projectId?: string;
  branchId?: string;
  apiKey?: string;
  /** Internal: also keep the key for the commit hook (credentials.json), instead of asking. */
  shareKeyWithHook?: boolean;
}

/** Initialize in This Repository: configuration, the local database (created and started), the commit hook — what `lockstep init` does. */
export function initialize(ctx: Lockstep) {
  return async (arg?: unknown): Promise<InitResult | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    const options = optionsOf<InitializeOptions>(arg);
    const settings = ctx.config.settings(repository.folder.uri);
    if ((options.engine ?? settings.engine) === 'neon') return connectNeonIn(ctx, repository, {});
    if (!(await confirmEngineSwitch(repository, 'local', 'Switch to a Local Database'))) return undefined;
    const firstSetUp = !repository.project.tryConfig();
    const result = await repository.run({ title: 'Setting up the local database', short: 'Setting up…' }, () =>
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Lockstep: Setting up a local database for ${repository.name}`, cancellable: true },
        async (progress, token) => {
          const { initProject } = await import('../../core/setup');
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          const init = await initProject(repository.project, {
            engine: 'local',
            keep: settings.checkpointsKept,
            checkout: settings.checkoutMode,
            local: { port: options.port ?? settings.localPort ?? undefined },
            signal: controller.signal,
            onProgress: (step) => {
              repository.log.info(`init: ${step}`);
              progress.report({ message: step });
            },
          });
          progress.report({ message: 'Installing the commit hook' });
          await installHookQuietly(ctx, repository);
          return init;
        },
      ),
    );
    await repository.refresh();
    const port = result.config.local?.port;
    // With the offer to write the connection string into the app's .env (appWiring.ts).
    void offerAppWiring(
      repository,
      `Lockstep: ${result.changed ? 'set up' : 'already set up'} in ${repository.name}: a local Postgres on 127.0.0.1:${port}. Every commit now records a checkpoint.`,
    ).catch((error: unknown) => ctx.errors.report(error, 'Write to .env'));
    // The app's own database, when .env names one: copied in as the first checkpoint, if the person wants it.
    if (firstSetUp) void offerImport(ctx, repository);
    return result;
  };
}

export function connectNeon(ctx: Lockstep) {
  return async (arg?: unknown): Promise<InitResult | undefined> => connectNeonIn(ctx, await repositoryOf(ctx, arg), optionsOf<ConnectNeonOptions>(arg));
}

/** Asks for the project (and branch), keeps the API key in SecretStorage, and sets the repository up with the neon engine. */
async function connectNeonIn(ctx: Lockstep, repository: WorkspaceRepository, options: Partial<ConnectNeonOptions>): Promise<InitResult | undefined> {
  if (!(await confirmEngineSwitch(repository, 'neon', 'Switch to Neon'))) return undefined;
  const neonId = /^[a-z0-9-]{1,60}$/;
  const projectId =
    options.projectId ??
    (await vscode.window.showInputBox({
      title: 'Lockstep: Connect a Neon Project (1/3)',
      prompt: 'The Neon project id (console → Settings → General)',
      placeHolder: 'e.g. damp-sun-12345678',
      ignoreFocusOut: true,
      validateInput: (value) => (neonId.test(value.trim()) ? undefined : 'Neon project ids are lower-case letters, digits and dashes'),
    }));
  if (projectId === undefined) return undefined;
  const branchId =
    options.branchId ??
    (await vscode.window.showInputBox({
      title: 'Lockstep: Connect a Neon Project (2/3)',
      prompt: 'The branch to restore in place (empty: the project’s default branch)',
      placeHolder: 'e.g. br-wild-fog-a1b2c3d4',
      ignoreFocusOut: true,
      validateInput: (value) => (value.trim() === '' || neonId.test(value.trim()) ? undefined : 'Neon branch ids look like br-wild-fog-a1b2c3d4'),
    }));
  if (branchId === undefined) return undefined;
  const hasKey = await ctx.secrets.has(NEON_API_KEY);
  const apiKey =
    options.apiKey ??
    (await vscode.window.showInputBox({
      title: 'Lockstep: Connect a Neon Project (3/3)',
      prompt: hasKey ? 'A Neon API key (empty: keep the one VS Code already has)' : 'A Neon API key (console → Account settings → API keys); kept in VS Code’s secret storage',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => (value.trim() === '' && !hasKey ? 'An API key is needed' : undefined),
    }));
  if (apiKey === undefined) return undefined;
  if (apiKey.trim() !== '') await ctx.secrets.store(NEON_API_KEY, apiKey.trim());

  const settings = ctx.config.settings(repository.folder.uri);
  const result = await repository.run({ title: 'Connecting the Neon project', short: 'Connecting…' }, () =>
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Lockstep: Connecting Neon project ${projectId.trim()}`, cancellable: true },
      async (progress, token) => {
        const { initProject } = await import('../../core/setup');
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        const init = await initProject(repository.project, {
          engine: 'neon',
          keep: settings.checkpointsKept,
          checkout: settings.checkoutMode,
          neon: { projectId: projectId.trim(), ...(branchId.trim() ? { branchId: branchId.trim() } : {}) },
          signal: controller.signal,
          onProgress: (step) => progress.report({ message: step }),
        });
        await installHookQuietly(ctx, repository);
        return init;
      },
    ),
  );
  await repository.refresh();
  // The hook runs the CLI outside VS Code, where SecretStorage cannot be read.
  const keep = 'Keep a Copy for the Hook';
  const share =
    options.shareKeyWithHook ??
    (await vscode.window.showInformationMessage(
      `Lockstep: connected ${repository.name} to Neon project ${projectId.trim()}. Commits record checkpoints through the git hook, which runs outside VS Code and cannot read its secret storage: keep a copy of the API key in .git/lockstep/credentials.json (mode 0600, never committed)? Without it, set NEON_API_KEY where you commit.`,
      keep,
    )) === keep;
  if (share) await ctx.secrets.shareWithCommandLine(repository.project.paths, NEON_API_KEY);
  return result;
}

export function installCommitHook(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    let result;
    try {
      result = await installExtensionHook(repository, ctx.extensionPath);
    } catch (error) {
      if (!isLockstepError(error, 'CONFLICT') || !/outside this repository/.test(error.message)) throw error;
      const anyway = 'Install Anyway';
      const choice = await vscode.window.showWarningMessage(
        `The hooks directory of ${repository.name} is shared with other repositories (core.hooksPath).`,
        { modal: true, detail: `${error.message}.\n\nA Lockstep hook there runs after commits in every repository that uses it; it records checkpoints only where Lockstep is set up.` },
        anyway,
      );
      if (choice !== anyway) return undefined;
      result = await installExtensionHook(repository, ctx.extensionPath, true);
    }
    await repository.refresh();
    const notes = result.status.notes.length > 0 ? ` Note: ${result.status.notes.join(' ')}` : '';
    void vscode.window.showInformationMessage(
      `Lockstep: commit hook ${result.action} in ${repository.name}${result.chainedHook ? ' (your existing post-commit hook is kept and runs first)' : ''}.${notes}`,
    );
    return result;
  };
}

export function uninstallCommitHook(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    const result = await removeHook(repository.repo);
    await repository.refresh();
    void vscode.window.showInformationMessage(
      result.removed
        ? `Lockstep: commit hook removed from ${repository.name}${result.restored ? '; your earlier hook is back' : ''}. Commits are no longer checkpointed.`
        : `Lockstep: ${result.notes.join(' ') || 'no Lockstep hook was installed'}`,
    );
    return result;
  };
}

export function applySettings(ctx: Lockstep) {
  return async (arg?: unknown): Promise<SettingDifference[]> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const applied = await ctx.settingsSync.apply(repository);
    await repository.refresh();
    void vscode.window.showInformationMessage(
      applied.length === 0
        ? `Lockstep: ${repository.name} already matches the settings.`
        : `Lockstep: applied to ${repository.name}: ${applied.map((d) => `${d.what} ${d.repository} → ${d.setting}`).join(', ')}.`,
    );
    return applied;
  };
}

/**
 * Set-up is idempotent, but on a repository set up with another engine it
 * switches engines: older checkpoints then restore their code only. Asked, modally.
 */
async function confirmEngineSwitch(repository: WorkspaceRepository, engine: 'local' | 'neon', button: string): Promise<boolean> {
  const current = repository.project.tryConfig()?.engine;
  if (!current || current === engine) return true;
  const choice = await vscode.window.showWarningMessage(
    `${repository.name} is set up with the ${current} engine. ${button}?`,
    { modal: true, detail: `Its checkpoints stay listed, but those taken with the ${current} engine can then restore their code only. The ${current} database itself is left as it is.` },
    button,
  );
  return choice === button;
}

/** Set-up installs the hook too; a hooks directory shared with other repositories is left for "Install Commit Hook" to ask about. */
async function installHookQuietly(ctx: Lockstep, repository: WorkspaceRepository): Promise<void> {
  try {
    await installExtensionHook(repository, ctx.extensionPath);
  } catch (error) {
    if (!isLockstepError(error, 'CONFLICT')) throw error;
    repository.log.warn(`commit hook not installed: ${describeError(error)}`);
  }
}

