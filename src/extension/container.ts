// The one context object of the extension: builds its parts in order, hands them their dependencies, disposes them in reverse.
import * as vscode from 'vscode';
import { scopedLog } from '../core/log';
import { registerCommands } from './commands';
import { CommitHookUpkeep } from './commitHook';
import { Config } from './config';
import { ContextKey, ContextKeys } from './contextKeys';
import { ErrorReporter } from './errors';
import type { RestoreInProgress } from './interruptedRestore';
import { Disposable } from './lifecycle';
import { Repositories } from './repositories';
import { InterruptedRestoreMonitor } from './restoreMonitor';
import { ExtensionSecrets } from './secrets';
import { SettingsSync } from './settingsSync';
import { SnapshotStatusBar } from './statusBar';
import { CheckpointsView } from './views/checkpointsView';
import { PreviewDocuments } from './views/previewDocuments';

/**
 * What the extension hands its host-side tests through `activate()`'s return
 * value: internal, not an API for other extensions.
 */
export interface LockstepInternals {
  /** How long `activate()` took, in milliseconds. */
  readonly activationMs: number;
  /** Resolves once the workspace folders have been looked at. */
  whenScanned(): Promise<void>;
  /** The Checkpoints tree's root rows, as VS Code gets them from the provider. */
  checkpointRows(): Promise<vscode.TreeItem[]>;
  /** Fires when the journal watcher sees a repository's journal or configuration change (the tree then refreshes). */
  readonly onDidChangeCheckpoints: vscode.Event<unknown>;
  /** The active repository's restore record as its state last read it (running, or interrupted when its process is gone). */
  restoreInProgress(): RestoreInProgress | undefined;
}

export class Lockstep extends Disposable {
  readonly extensionPath: string;
  readonly config = new Config();
  readonly contextKeys = new ContextKeys();
  readonly errors: ErrorReporter;
  readonly secrets: ExtensionSecrets;
  readonly repositories: Repositories;
  readonly previews: PreviewDocuments;
  readonly checkpoints: CheckpointsView;
  readonly settingsSync: SettingsSync;

  constructor(
    context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.extensionPath = context.extensionPath;
    this.errors = new ErrorReporter(log, () => log.show());
    this.secrets = new ExtensionSecrets(context.secrets);
    this.repositories = this._register(new Repositories(log, this.secrets));
    this.previews = this._register(new PreviewDocuments());
    this.checkpoints = this._register(new CheckpointsView(this.repositories, log));
    this._register(new SnapshotStatusBar(this.repositories));
    this.settingsSync = this._register(new SettingsSync(this.config, this.repositories, log, this.errors));
    this._register(new CommitHookUpkeep(this.repositories, this.extensionPath, context.extension.id, log, this.errors));

    const titles = new Map<string, string>(
      ((context.extension.packageJSON as { contributes?: { commands?: { command: string; title: string }[] } }).contributes?.commands ?? []).map((c) => [c.command, c.title]),
    );
    for (const command of registerCommands(this, titles)) this._register(command);
    this._register(new InterruptedRestoreMonitor(this));

    const updateContext = (): void => this.updateContextKeys();
    this._register(this.repositories.onDidChangeRepositories(updateContext));
    this._register(this.repositories.onDidChangeActive(updateContext));
    this._register(this.repositories.onDidChangeState(updateContext));
    this._register(this.repositories.onDidChangeOperation(updateContext));

    // Everything above only registered things; finding repositories runs git, so it starts after activation returns.
    setImmediate(() => {
      if (this.isDisposed) return;
      void this.repositories.scan().then(() => this.checkpoints.refresh());
    });
    scopedLog(log, 'activation').debug(`parts built for ${context.extension.id}`);
  }

  internals(activationMs: number): LockstepInternals {
    return {
      activationMs,
      whenScanned: () => this.repositories.whenScanned(),
      checkpointRows: () => this.checkpoints.rootItems(),
      onDidChangeCheckpoints: this.repositories.onDidChangeCheckpoints,
      restoreInProgress: () => this.repositories.active?.state.restoring,
    };
  }

  /** Context keys describe the active repository (package.json's `when` clauses read them). */
  private updateContextKeys(): void {
    const keys = this.contextKeys;
    const repository = this.repositories.active;
    const state = repository?.state;
    keys.set(ContextKey.Loaded, this.repositories.loaded);
    keys.set(ContextKey.RepositoryCount, this.repositories.all.length);
    keys.set(ContextKey.Initialised, Boolean(state?.config));
    keys.set(ContextKey.Engine, state?.config?.engine);
    keys.set(ContextKey.HookState, state?.hook?.state);
    keys.set(ContextKey.DatabaseState, state?.engine?.state);
    keys.set(ContextKey.HasCheckpoints, Boolean(state?.newest));
    keys.set(ContextKey.Busy, Boolean(repository?.operation));
    const interrupted = state?.restoring && !state.restoring.ownerAlive ? state.restoring : undefined;
    keys.set(ContextKey.RestoreInterrupted, interrupted ? (interrupted.canContinue ? 'continuable' : 'abortOnly') : undefined);
  }
}
