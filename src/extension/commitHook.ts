// The post-commit hook as the extension installs it (running the CLI shipped inside the extension), and keeping it working across updates.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError, isLockstepError } from '../base/errors';
import { scopedLog, type Log } from '../base/log';
import { installHook, type HookInstallResult, type HookStatus } from '../git/hook';
import type { ErrorReporter } from './errors';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';
import type { WorkspaceRepository } from './repository';

/**
 * The hook runs dist/cli.js of this very extension with the program that runs
 * the extension host: Node in code-server and remote hosts, VS Code's Electron
 * binary on the desktop (with ELECTRON_RUN_AS_NODE=1), so no separate Node is needed.
 */
export function cliPathIn(extensionPath: string): string {
  return path.join(extensionPath, 'dist', 'cli.js');
}

/**
 * The upkeep a restore leaves due (the next base backup by policy, a prepared
 * copy for the next restore, pruning): the same detached `db backup --if-due`
 * the CLI and the hook start, run by the bundled CLI with this runtime, so it
 * never runs in the extension host and outlives a closed window.
 */
export function startUpkeep(repository: WorkspaceRepository, extensionPath: string): void {
  const child = spawn(process.execPath, [cliPathIn(extensionPath), 'db', 'backup', '--if-due', '--quiet'], {
    cwd: repository.repo.topLevel,
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, ...(process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {}) },
  });
  child.on('error', (error) => repository.log.warn(`could not start the background upkeep: ${error.message}`));
  child.unref();
  repository.log.info('background upkeep started (base backup by policy, a prepared copy for the next restore)');
}

export async function installExtensionHook(repository: WorkspaceRepository, extensionPath: string, allowSharedHooksDir = false): Promise<HookInstallResult> {
  return installHook(repository.repo, {
    nodePath: process.execPath,
    cliPath: cliPathIn(extensionPath),
    electronRunAsNode: Boolean(process.versions.electron),
    allowSharedHooksDir,
  });
}

/**
 * Whether `cliPath` is the CLI of another installed version of this extension
 * (`…/extensions/lockstep.lockstep-0.1.0/dist/cli.js`): after an update VS Code
 * deletes the old folder, and the hook would run a CLI that is gone.
 */
export function isOtherVersionOfThisExtension(cliPath: string, extensionPath: string, extensionId: string): boolean {
  const folder = path.dirname(path.dirname(cliPath));
  if (path.resolve(folder) === path.resolve(extensionPath)) return false;
  return path.dirname(folder) === path.dirname(extensionPath) && path.basename(folder).toLowerCase().startsWith(`${extensionId.toLowerCase()}-`);
}

/**
 * Keeps the hook working. A hook of another version of this extension is
 * ours to update, silently; a hook gone stale some other way (a CLI installed
 * with npm and removed since) is the person's: offered, never forced.
 */
export class CommitHookUpkeep extends Disposable {
  /** Each stale hook is handled once per session, by its file and what it runs. */
  private readonly handled = new Set<string>();
  private readonly log: Log;

  constructor(
    repositories: Repositories,
    private readonly extensionPath: string,
    private readonly extensionId: string,
    log: Log,
    private readonly errors: ErrorReporter,
  ) {
    super();
    this.log = scopedLog(log, 'hook');
    this._register(repositories.onDidChangeState((repository) => void this.check(repository)));
  }

  private async check(repository: WorkspaceRepository): Promise<void> {
    const hook = repository.state.hook;
    if (!hook?.config) return;
    const ours = cliPathIn(this.extensionPath);
    if (hook.config.cliPath === ours && hook.state === 'installed') return;
    const key = `${hook.hookFile}\n${hook.config.cliPath}\n${hook.state}`;
    if (this.handled.has(key)) return;
    this.handled.add(key);
    if (isOtherVersionOfThisExtension(hook.config.cliPath, this.extensionPath, this.extensionId)) {
      await this.reinstall(repository, `it ran ${hook.config.cliPath}, from another version of this extension`);
    } else if (hook.state === 'stale') {
      await this.offer(repository, hook);
    }
  }

  private async reinstall(repository: WorkspaceRepository, why: string): Promise<void> {
    try {
      const result = await installExtensionHook(repository, this.extensionPath);
      this.log.info(`${repository.name}: hook ${result.action} (${why})`);
      await repository.refresh();
    } catch (error) {
      if (isLockstepError(error, 'CONFLICT')) this.log.warn(`${repository.name}: hook left alone: ${describeError(error)}`);
      else await this.errors.report(error, 'Updating the commit hook');
    }
  }

  private async offer(repository: WorkspaceRepository, hook: HookStatus): Promise<void> {
    const reinstall = 'Reinstall Hook';
    const choice = await vscode.window.showWarningMessage(
      `Lockstep: the commit hook of ${repository.name} cannot run (${hook.problems.join('; ')}). Commits are not checkpointed until it is reinstalled.`,
      reinstall,
    );
    if (choice === reinstall) await this.reinstall(repository, 'the person asked to');
  }
}
