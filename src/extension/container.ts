// The one context object of the extension: builds its parts in order, hands them their dependencies, disposes them in reverse.
import * as vscode from 'vscode';
import { scopedLog } from '../base/log';
import { LanguageModelTools } from './agentTools';
import { registerCommands } from './commands';
import { CommitHookUpkeep } from './commitHook';
import { Config } from './config';
import { ContextKey, ContextKeys } from './contextKeys';
import { ErrorReporter } from './errors';
import type { RestoreInProgress } from './interruptedRestore';
import { Disposable } from './lifecycle';
import { LockstepMcpServers } from './mcpProvider';
import { Repositories } from './repositories';
import { InterruptedRestoreMonitor } from './restoreMonitor';
import { ExtensionSecrets } from './secrets';
import { SettingsSync } from './settingsSync';
import { SnapshotStatusBar } from './statusBar';
import { TerminalEnvironment } from './terminalEnvironment';
import { TerminalSafetyPoints, type TerminalSafetyPoint } from './terminalSafety';
import { CheckpointsView } from './views/checkpointsView';
import { ChangesPanel, type ShownChanges } from './views/changesPanel';
import { HistoryGraphPanel } from './views/historyGraph';
import { RestorePreviewPanel, type ShownPreview } from './views/previewPanel';
import { RowDocuments } from './views/rowDocuments';
import { changesActions } from './commands/changes';

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
  /** The language-model tools (`lockstep_restore`'s confirmation can be prepared without a chat). */
  readonly agentTools: LanguageModelTools;
  /** The MCP servers offered to VS Code's agent, as the provider gives them to VS Code. */
  mcpServerDefinitions(): Promise<vscode.McpStdioServerDefinition[]>;
  /** The active repository's restore record as its state last read it (running, or interrupted when its process is gone). */
  restoreInProgress(): RestoreInProgress | undefined;
  /** Fires when a risky command in a terminal got a safety point. */
  readonly onDidTakeTerminalSafetyPoint: vscode.Event<TerminalSafetyPoint>;
  /** Resolves once the terminals' environment (DATABASE_URL, `lockstep` on PATH) follows the repositories' state. */
  whenTerminalEnvironmentUpdated(): Promise<void>;
  /** The restore preview open now (its title and the Markdown it renders), or undefined when it is closed. */
  restorePreview(): ShownPreview | undefined;
  /** What the changes view shows now, or undefined when it is closed. */
  shownChanges(): Omit<ShownChanges, 'repository'> | undefined;
  /** The line above the Checkpoints view's rows (problems, and how far back a restore reaches). */
  checkpointsMessage(): string | undefined;
}

export class Lockstep extends Disposable {
  readonly extensionPath: string;
  readonly config = new Config();
  readonly contextKeys = new ContextKeys();
  readonly errors: ErrorReporter;
  readonly secrets: ExtensionSecrets;
  readonly repositories: Repositories;
  readonly previews: RestorePreviewPanel;
  readonly rowDocuments: RowDocuments;
  readonly changes: ChangesPanel;
  readonly historyGraph: HistoryGraphPanel;
  readonly checkpoints: CheckpointsView;
  readonly agentTools: LanguageModelTools;
  readonly mcpServers: LockstepMcpServers;
  readonly settingsSync: SettingsSync;
  readonly terminalSafety: TerminalSafetyPoints;
  readonly terminalEnvironment: TerminalEnvironment;

  constructor(
    context: vscode.ExtensionContext,
    readonly log: vscode.LogOutputChannel,
  ) {
    super();
    this.extensionPath = context.extensionPath;
    this.errors = new ErrorReporter(log, () => log.show());
    this.secrets = new ExtensionSecrets(context.secrets);
    this.repositories = this._register(new Repositories(log, this.secrets));
    this.previews = this._register(new RestorePreviewPanel(this.repositories));
    this.rowDocuments = this._register(new RowDocuments());
    this.changes = this._register(new ChangesPanel(changesActions(this)));
    this.historyGraph = this._register(new HistoryGraphPanel(this.repositories, log, this.errors, context.extensionUri));
    this.checkpoints = this._register(new CheckpointsView(this.repositories, log));
    this._register(new SnapshotStatusBar(this.repositories));
    this.settingsSync = this._register(new SettingsSync(this.config, this.repositories, log, this.errors));
    this._register(new CommitHookUpkeep(this.repositories, this.extensionPath, context.extension.id, log, this.errors));

    const titles = new Map<string, string>(
      ((context.extension.packageJSON as { contributes?: { commands?: { command: string; title: string }[] } }).contributes?.commands ?? []).map((c) => [c.command, c.title]),
    );
    this.terminalSafety = this._register(new TerminalSafetyPoints(this.repositories, log));
    this.terminalEnvironment = this._register(new TerminalEnvironment(context.environmentVariableCollection, context.globalStorageUri, this.extensionPath, this.repositories, log));
    for (const command of registerCommands(this, titles)) this._register(command);
    this._register(new InterruptedRestoreMonitor(this));
    this.agentTools = this._register(new LanguageModelTools(this));
    this.mcpServers = this._register(new LockstepMcpServers(this.repositories, this.extensionPath, String((context.extension.packageJSON as { version?: string }).version ?? '')));

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
      agentTools: this.agentTools,
      mcpServerDefinitions: () => this.mcpServers.provideMcpServerDefinitions(),
      restoreInProgress: () => this.repositories.active?.state.restoring,
      onDidTakeTerminalSafetyPoint: this.terminalSafety.onDidTakeSafetyPoint,
      whenTerminalEnvironmentUpdated: () => this.terminalEnvironment.whenUpdated(),
      restorePreview: () => this.previews.current,
      checkpointsMessage: () => this.checkpoints.view.message,
      shownChanges: () => (this.changes.current ? { target: this.changes.current.target, changes: this.changes.current.changes } : undefined),
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
