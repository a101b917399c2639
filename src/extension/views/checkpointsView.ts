// The Checkpoints tree (createTreeView): newest first, paged so that 10,000 checkpoints show their first page at once.
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { describeError } from '../../base/errors';
import { listCheckpoints, type ListedCheckpoint } from '../../core/listing';
import { scopedLog, type Log } from '../../base/log';
import { Disposable, toDisposable } from '../lifecycle';
import type { Repositories } from '../repositories';
import type { WorkspaceRepository } from '../repository';
import { ActionNode, CheckpointNode, problems, reachText, RepositoryNode, ShowMoreNode, type TreeNode } from './treeNodes';

export const CHECKPOINTS_VIEW = 'lockstep.checkpoints';

/** Rows per page: VS Code renders only what is visible, but every row is a TreeItem to build and send. */
export const PAGE_SIZE = 200;

/** A repository's listing as last read, and what it was read from. */
interface Listing {
  key: string;
  limit: number;
  checkpoints: Promise<ListedCheckpoint[]>;
}

/** Relative times ("2 minutes ago") go stale; redrawn this often while the view is visible. */
const REDRAW_MS = 60_000;

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

  constructor(
    private readonly repositories: Repositories,
    log: Log,
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
    const timer = setInterval(() => {
      if (this.view.visible) this.changed.fire(undefined);
    }, REDRAW_MS);
    this._register(toDisposable(() => clearInterval(timer)));
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
      const rows: TreeNode[] = listed.slice(0, limit).map((checkpoint) => new CheckpointNode(repository, checkpoint));
      if (listed.length > limit) rows.push(new ShowMoreNode(repository, limit, PAGE_SIZE));
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
      listing = { key, limit, checkpoints: listCheckpoints(repository.project, { limit: limit + 1, head }) };
      this.listings.set(repository, listing);
      const started = listing;
      started.checkpoints.catch(() => {
        if (this.listings.get(repository) === started) this.listings.delete(repository);
      });
    }
    return (await listing.checkpoints).slice(0, limit + 1);
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
  return JSON.stringify([state.config?.engine, state.engine?.state, state.engine?.head?.timelineId, state.hook?.state, state.newest?.id, state.restoring?.operationId, state.restoring?.ownerAlive, state.retention?.summary]);
}

/** What a listing is read from: the journal, the audit trail (the serving mark follows restores) and the serving timeline. */
function listingKey(repository: WorkspaceRepository): string {
  const stamp = (file: string): string => {
    try {
      const stat = fs.statSync(file);
      return `${stat.size}:${stat.mtimeMs}`;
    } catch {
      return '-';
    }
  };
  const { paths } = repository.project;
  return [stamp(paths.journal), stamp(paths.audit), repository.state.engine?.head?.timelineId ?? '-'].join('|');
}
