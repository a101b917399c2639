// The Checkpoints tree (createTreeView): newest first, paged so that 10,000 checkpoints show their first page at once.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { describeError } from '../../base/errors';
import { listCheckpoints, type ListedCheckpoint } from '../../core/listing';
import type { Checkpoint } from '../../core/checkpoint';
import type { Pin } from '../../core/pins';
import { finishedRestores, type RestoreEvent } from '../../core/restoreHistory';
import { ContextKey, ContextKeys } from '../contextKeys';
import { groupRows, nextTimeChangeMs } from './checkpointRows';
import { scopedLog, type Log } from '../../base/log';
import { Disposable, toDisposable } from '../lifecycle';
import type { Repositories } from '../repositories';
import type { WorkspaceRepository } from '../repository';
import { ActionNode, CheckpointNode, problems, reachText, RepositoryNode, RestoreNode, ShowMoreNode, type TreeNode } from './treeNodes';

export const CHECKPOINTS_VIEW = 'lockstep.checkpoints';

/** Rows per page: VS Code renders only what is visible, but every row is a TreeItem to build and send. */
export const PAGE_SIZE = 200;

/** A repository's listing as last read, and what it was read from. */
interface Listing {
  key: string;
  limit: number;
  checkpoints: Promise<ListedCheckpoint[]>;
  /** Finished restores, newest first (their rows group the undo points), and the pins by checkpoint id. */
  extras: Promise<{ restores: RestoreEvent[]; pins: Map<string, Pin> }>;
}

export class CheckpointsView extends Disposable implements vscode.TreeDataProvider<TreeNode> {
  private readonly changed = this._register(new vscode.EventEmitter<TreeNode | undefined>());
  readonly onDidChangeTreeData = this.changed.event;
  readonly view: vscode.TreeView<TreeNode>;
  /** Rows shown per repository (grows by a page with each "Show More"). */
  private readonly shown = new Map<string, number>();
  /** What of each repository's state the rows show, as last drawn. */
  private readonly drawn = new WeakMap<WorkspaceRepository, string>();
  /**
   * The last listing per repository. Reading 10,000 checkpoints takes tens of
   * milliseconds, so it is read once when the repository is found (the view
   * then opens at once) and again only when the files it comes from change.
   */
  private readonly listings = new WeakMap<WorkspaceRepository, Listing>();
  /** When the refresh being drawn was asked for, to log how long the first page took. */
  private refreshAskedAt: number | undefined;
  private readonly log: Log;
  /** The walkthrough's steps that follow from what the listing shows (a snapshot taken, a restore finished). */
  private readonly walkthroughKeys = new ContextKeys();
  private redrawTimer: NodeJS.Timeout | undefined;
  /** The times each repository's shown rows read as "2 minutes ago", for the next redraw. */
  private readonly shownTimes = new Map<string, string[]>();

  constructor(
    private readonly repositories: Repositories,
    log: Log,
    /** The clock rows are drawn with (tests inject one). */
    private readonly clock: () => number = Date.now,
  ) {
    super();
    this.log = scopedLog(log, 'tree');
    this.view = this._register(vscode.window.createTreeView(CHECKPOINTS_VIEW, { treeDataProvider: this, showCollapseAll: false }));
    const refresh = (): void => this.refresh();
    this._register(repositories.onDidChangeRepositories(refresh));
    this._register(repositories.onDidChangeCheckpoints(refresh));
    // The serving mark and the problems line follow the engine's state; a status poll that finds nothing new redraws nothing.
    this._register(
      repositories.onDidChangeState((repository) => {
        if (repository.state.config && !this.listings.has(repository)) void this.list(repository, PAGE_SIZE).catch(() => undefined);
        const look = drawnState(repository);
        if (this.drawn.get(repository) === look) return;
        this.drawn.set(repository, look);
        this.refresh();
      }),
    );
    this._register(repositories.onDidChangeActive(() => this.updateMessage()));
    // Relative times go stale: redrawn when the first shown one would read differently (at most every 30 s), so that
    // the tree says what the QuickPick says; only while the view is visible, and at once when it becomes visible again.
    this._register(this.view.onDidChangeVisibility(({ visible }) => (visible ? this.changed.fire(undefined) : clearTimeout(this.redrawTimer))));
    this._register(toDisposable(() => clearTimeout(this.redrawTimer)));
  }

  /** Schedules the next redraw of the relative times shown. */
  private scheduleRedraw(repository: WorkspaceRepository, times: string[]): void {
    this.shownTimes.set(repository.repo.topLevel, times);
    clearTimeout(this.redrawTimer);
    if (this.isDisposed) return;
    this.redrawTimer = setTimeout(() => {
      if (this.view.visible) this.changed.fire(undefined);
    }, nextTimeChangeMs([...this.shownTimes.values()].flat(), this.clock()));
  }

  /** Redraws; `reload` (the Refresh button) reads the checkpoints again even when their files look unchanged. */
  refresh(options: { reload?: boolean } = {}): void {
    if (options.reload) for (const repository of this.repositories.all) this.listings.delete(repository);
    this.refreshAskedAt ??= performance.now();
    // Data first: VS Code debounces a view's events (200 ms, leading edge), so whichever fires first goes at once.
    this.changed.fire(undefined);
    this.updateMessage();
  }

  showMore(node: ShowMoreNode): void {
    this.shown.set(node.repository.repo.topLevel, node.shown + PAGE_SIZE);
    this.refresh();
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    return node.toTreeItem();
  }

  async getChildren(node?: TreeNode): Promise<TreeNode[]> {
    if (node instanceof RepositoryNode) return this.checkpointsOf(node.repository, true);
    if (node instanceof RestoreNode) return [node.undo];
    if (node) return [];
    const started = performance.now();
    await this.repositories.whenScanned();
    const all = this.repositories.all;
    if (all.length === 1) {
      const rows = await this.checkpointsOf(all[0]!, false);
      this.logTiming(started, rows);
      return rows;
    }
    return all.map((repository) => new RepositoryNode(repository));
  }

  /** The root rows as VS Code receives them; for the extension-host tests (internal, not an API). */
  async rootItems(): Promise<vscode.TreeItem[]> {
    const nodes = await this.getChildren();
    return nodes.map((node) => this.getTreeItem(node));
  }

  private async checkpointsOf(repository: WorkspaceRepository, multiRoot: boolean): Promise<TreeNode[]> {
    if (!repository.state.loaded) await repository.refresh();
    if (!repository.state.config) {
      // One repository: the welcome view explains and offers the set-up. Several: rows do.
      return multiRoot
        ? [
            new ActionNode(repository, 'Start a Local Database', 'database', 'lockstep.initialize'),
            new ActionNode(repository, 'Connect a Neon Project', 'cloud', 'lockstep.connectNeon'),
          ]
        : [];
    }
    const limit = this.shown.get(repository.repo.topLevel) ?? PAGE_SIZE;
    try {
      const listed = await this.list(repository, limit);
      const { restores, pins } = await this.listings.get(repository)!.extras;
      const now = this.clock();
      const page = listed.slice(0, limit);
      const byId = new Map<string, Checkpoint>(page.map((c) => [c.id, c]));
      // A restore's target may be older than the page: the whole journal is read only then.
      let journal: Map<string, Checkpoint> | undefined;
      const targetOf = (id: string): Checkpoint | undefined =>
        byId.get(id) ?? (journal ??= new Map(repository.project.journal.list().map((c) => [c.id, c]))).get(id);
      const times: string[] = [];
      const rows: TreeNode[] = groupRows(page, restores, targetOf).map((row) => {
        if (row.kind === 'checkpoint') {
          times.push(row.checkpoint.createdAt);
          return new CheckpointNode(repository, row.checkpoint, pins.get(row.checkpoint.id), undefined, now);
        }
        times.push(row.undo.createdAt, row.restore.at);
        const undo = new CheckpointNode(repository, row.undo, pins.get(row.undo.id), RestoreNode.undoTitle(row.undo, row.target), now);
        return new RestoreNode(repository, row.restore, undo, row.target, now);
      });
      if (listed.length > limit) rows.push(new ShowMoreNode(repository, limit, PAGE_SIZE));
      this.updateWalkthrough(page, restores);
      // The newest rows change first and most often; older ones are redrawn with them, at most 30 s late.
      this.scheduleRedraw(repository, times.slice(0, PAGE_SIZE));
      return rows;
    } catch (error) {
      repository.log.error(`listing checkpoints: ${describeError(error)}`);
      this.view.message = `Could not list the checkpoints: ${describeError(error)}`;
      return [];
    }
  }

  /** The newest `limit` checkpoints, plus one if there are more; from the last listing while its files are unchanged. */
  private async list(repository: WorkspaceRepository, limit: number): Promise<ListedCheckpoint[]> {
    const key = listingKey(repository);
    let listing = this.listings.get(repository);
    if (!listing || listing.key !== key || listing.limit < limit) {
      const head = repository.state.engine?.head;
      // One more than shown says whether there is another page, without counting all 10,000.
      // The retention the state already read: expiry needs no second engine call (an HTTP call for the pageserver).
      // Null once the state is read and the engine could not say: count-based expiry only, rather than asking again.
      const retention = repository.state.loaded ? (repository.state.retention ?? null) : undefined;
      const checkpoints = listCheckpoints(repository.project, { limit: limit + 1, head, retention });
      // Read after the listing: it folds the hook's spool, and pins.json follows the listing's own reading of pins.
      const extras = checkpoints.then(() => ({
        restores: finishedRestores(repository.project.audit.list(200)),
        pins: new Map(repository.project.pins.list().map((pin) => [pin.checkpointId, pin])),
      }));
      extras.catch(() => undefined);
      listing = { key, limit, checkpoints, extras };
      this.listings.set(repository, listing);
      const started = listing;
      started.checkpoints.catch(() => {
        if (this.listings.get(repository) === started) this.listings.delete(repository);
      });
    }
    return (await listing.checkpoints).slice(0, limit + 1);
  }

  /**
   * The walkthrough checks its steps off on what really happened, seen in the
   * listing: a snapshot in the journal, a restore finished. Only ever set:
   * VS Code keeps a step checked once it was.
   */
  private updateWalkthrough(page: readonly ListedCheckpoint[], restores: readonly RestoreEvent[]): void {
    if (page.some((c) => c.kind === 'snapshot')) this.walkthroughKeys.set(ContextKey.SnapshotTaken, true);
    if (restores.length > 0) this.walkthroughKeys.set(ContextKey.RestoreFinished, true);
  }

  private logTiming(started: number, rows: TreeNode[]): void {
    const now = performance.now();
    const checkpoints = rows.filter((row) => row instanceof CheckpointNode).length;
    const fromRefresh = this.refreshAskedAt === undefined ? '' : `, ${Math.round(now - this.refreshAskedAt)} ms after the refresh`;
    this.refreshAskedAt = undefined;
    this.log.info(`page of ${checkpoints} checkpoint(s)${rows.some((row) => row instanceof ShowMoreNode) ? ' (more below)' : ''} in ${(now - started).toFixed(1)} ms${fromRefresh}`);
  }

  /** The line above the rows, for what a welcome view would say but cannot once there are rows, and how far back a restore reaches. */
  private updateMessage(): void {
    const all = this.repositories.all;
    const repository = all.length === 1 ? all[0] : undefined;
    // With no rows the welcome view says it, with buttons.
    const listed = Boolean(repository?.state.config && repository.state.newest);
    const found = listed ? problems(repository!) : [];
    // How far back a restore reaches (multi-root: on each repository's row). A line above the rows: a view's
    // description is not shown while its view is the only one of the container, which the Checkpoints view is.
    const reach = listed ? reachText(repository!.state.retention) : undefined;
    const lines = [...found.map((problem) => problem.message), ...(reach ? [`${reach.charAt(0).toUpperCase()}${reach.slice(1)}.`] : [])];
    const message = lines.length === 0 ? undefined : lines.join(' ');
    // Setting it, even to the same text, is an event that VS Code's debounce would let delay the rows.
    if (this.view.message !== message) this.view.message = message;
  }
}

/** The parts of a repository's state that change how its rows look. */
function drawnState(repository: WorkspaceRepository): string {
  const { state } = repository;
  return JSON.stringify([state.config?.engine, state.engine?.state, state.engine?.head?.timelineId, state.engine?.head?.lsn, state.hook?.state, state.newest?.id, state.restoring?.operationId, state.restoring?.ownerAlive, state.retention?.summary]);
}

/** What a listing is read from: the journal, the audit trail (the serving mark follows restores), pins.json and the serving head (the tree and the history graph). */
export function listingKey(repository: WorkspaceRepository): string {
  const stamp = (file: string): string => {
    try {
      const stat = fs.statSync(file);
      return `${stat.size}:${stat.mtimeMs}`;
    } catch {
      return '-';
    }
  };
  const { paths } = repository.project;
  // The whole head, not only its timeline: "serving" turns into "descends from" when the data moves.
  const head = repository.state.engine?.head;
  return [stamp(paths.journal), stamp(paths.audit), stamp(paths.pins), head ? `${head.timelineId}@${head.lsn}` : '-'].join('|');
}
