// One git repository of the workspace as Lockstep sees it: its Project, what state it is in, its journal watcher, and one operation at a time.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Checkpoint } from '../core/checkpoint';
import type { ProjectConfig } from '../core/config';
import type { EngineStatus, Retention } from '../core/engine';
import { describeError, LockstepError } from '../base/errors';
import { scopedLog, type Log } from '../base/log';
import { Project } from '../core/project';
import { ENGINES } from '../engines';
import { hookStatus, type HookStatus } from '../git/hook';
import type { Repository } from '../git/repository';
import { readRestoreInProgress, type RestoreInProgress } from './interruptedRestore';
import { JournalWatcher, type LockstepFilesChange } from './journalWatcher';
import { Disposable, toDisposable } from './lifecycle';
import type { ExtensionSecrets } from './secrets';

export interface RepositoryState {
  /** False until the first look at the repository has finished. */
  loaded: boolean;
  /** Undefined: Lockstep is not set up here. */
  config: ProjectConfig | undefined;
  /** config.json exists but cannot be used. */
  configProblem: string | undefined;
  engine: EngineStatus | undefined;
  hook: HookStatus | undefined;
  /** The newest checkpoint, read from the journal's tail (cheap with 10,000 of them). */
  newest: Checkpoint | undefined;
  /** A restore record on disk: a restore running (in another process, or this one), or interrupted when its process is gone. */
  restoring?: RestoreInProgress;
  /** How far back a restore reaches (read with the engine's status; undefined when the engine could not say). */
  retention?: Retention;
}

export interface RunningOperation {
  /** "Restoring “Add users table”": the status bar's tooltip and the BUSY message. */
  title: string;
  /** "Restoring…": the status bar's text next to the spinner. */
  short: string;
}

/** A local database answers in milliseconds; a cloud engine's status is an API call, asked for less often. */
const LOCAL_STATUS_POLL_MS = 30_000;
const CLOUD_STATUS_POLL_MS = 5 * 60_000;

export class WorkspaceRepository extends Disposable {
  readonly project: Project;
  readonly log: Log;
  private currentState: RepositoryState = { loaded: false, config: undefined, configProblem: undefined, engine: undefined, hook: undefined, newest: undefined };
  private running: RunningOperation | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private pollTimer: NodeJS.Timeout | undefined;

  private readonly stateChanged = this._register(new vscode.EventEmitter<RepositoryState>());
  /** The state (configuration, engine, hook, newest checkpoint) was read again. */
  readonly onDidChangeState = this.stateChanged.event;
  private readonly checkpointsChanged = this._register(new vscode.EventEmitter<void>());
  /** The journal changed: a commit, a snapshot, a restore, a prune, from here or from outside VS Code. */
  readonly onDidChangeCheckpoints = this.checkpointsChanged.event;
  private readonly operationChanged = this._register(new vscode.EventEmitter<RunningOperation | undefined>());
  readonly onDidChangeOperation = this.operationChanged.event;

  constructor(
    readonly repo: Repository,
    /** The workspace folder this repository was found from (settings are read for it). */
    readonly folder: vscode.WorkspaceFolder,
    log: Log,
    readonly secrets: ExtensionSecrets,
  ) {
    super();
    this.log = scopedLog(log, `repo ${path.basename(repo.topLevel)}`);
    this.project = new Project(repo, { log: scopedLog(log, 'core'), secrets, engines: ENGINES });
    this._register(toDisposable(() => void this.project.close().catch(() => undefined)));
    this._register(toDisposable(() => clearTimeout(this.pollTimer)));
    const watcher = this._register(new JournalWatcher(this.project.paths, scopedLog(log, 'watch')));
    this._register(watcher.onDidChange((change) => this.onFilesChanged(change)));
  }

  get name(): string {
    return path.basename(this.repo.topLevel);
  }

  get state(): RepositoryState {
    return this.currentState;
  }

  get operation(): RunningOperation | undefined {
    return this.running;
  }

  get initialised(): boolean {
    return this.currentState.config !== undefined;
  }

  /** Reads the state again; concurrent calls share one read (and one more runs if something changed meanwhile). */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          await this.readState();
        } while (this.refreshAgain && !this.isDisposed);
      } finally {
        this.refreshing = undefined;
      }
    })();
    return this.refreshing;
  }

  /**
   * Runs `work` as this repository's one operation. The core's lock already
   * serialises restores across processes; this keeps the UI from starting a
   * second one (or a snapshot mid-restore) and drives the spinner.
   */
  async run<T>(operation: RunningOperation, work: () => PromiseLike<T>): Promise<T> {
    if (this.running) {
      throw new LockstepError('BUSY', `${this.running.title} is still running in ${this.name}`, { hint: 'Wait for it to finish.' });
    }
    this.running = operation;
    this.operationChanged.fire(this.running);
    try {
      return await work();
    } finally {
      this.running = undefined;
      this.operationChanged.fire(undefined);
      void this.refresh();
    }
  }

  private async readState(): Promise<void> {
    const next: RepositoryState = { loaded: true, config: undefined, configProblem: undefined, engine: undefined, hook: undefined, newest: undefined };
    try {
      next.config = this.project.tryConfig();
    } catch (error) {
      next.configProblem = describeError(error);
    }
    const [engine, hook, retention] = await Promise.all([
      next.config ? this.engineStatus() : undefined,
      hookStatus(this.repo).catch((error: unknown) => {
        this.log.warn(`hook status: ${describeError(error)}`);
        return undefined;
      }),
      next.config ? this.retention() : undefined,
    ]);
    next.engine = engine;
    next.hook = hook;
    next.retention = retention;
    next.newest = this.project.journal.recent()[0];
    next.restoring = await readRestoreInProgress(this.project).catch((error: unknown) => {
      this.log.warn(`restore record: ${describeError(error)}`);
      return undefined;
    });
    if (this.isDisposed) return;
    this.currentState = next;
    this.schedulePoll();
    this.stateChanged.fire(next);
  }

  private async engineStatus(): Promise<EngineStatus | undefined> {
    try {
      return await (await this.project.engine()).status();
    } catch (error) {
      this.log.warn(`engine status: ${describeError(error)}`);
      const engine = this.currentState.config?.engine ?? this.project.tryConfig()?.engine ?? 'local';
      return { engine, state: 'unreachable', summary: describeError(error) };
    }
  }

  private async retention(): Promise<Retention | undefined> {
    try {
      return await (await this.project.engine()).retention();
    } catch (error) {
      this.log.debug(`retention: ${describeError(error)}`);
      return undefined;
    }
  }

  private onFilesChanged(change: LockstepFilesChange): void {
    if (change.config) {
      // `lockstep init` in a terminal, or another engine: the engine object must be made again.
      void this.project.resetEngine().then(() => this.refresh());
    } else if (change.journal || change.audit) {
      // A restore from a terminal moves the serving timeline; a commit moves the newest checkpoint.
      void this.refresh();
    }
    if (change.journal || change.config) this.checkpointsChanged.fire();
  }

  /** Notices a database stopped or started from a terminal, which leaves no trace in .git/lockstep. */
  private schedulePoll(): void {
    clearTimeout(this.pollTimer);
    const engine = this.currentState.config?.engine;
    if (!engine || this.isDisposed) return;
    this.pollTimer = setTimeout(() => {
      if (vscode.window.state.focused && !this.running) void this.refresh();
      else this.schedulePoll();
    }, engine === 'local' ? LOCAL_STATUS_POLL_MS : CLOUD_STATUS_POLL_MS);
  }
}
