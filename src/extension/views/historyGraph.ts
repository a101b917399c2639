// The history graph panel: lines, forks and checkpoints drawn in a webview that follows the theme, with a node menu (Preview, Restore, Restore This Table…, Pin).
import * as vscode from 'vscode';
import { describeError } from '../../base/errors';
import { scopedLog, type Log } from '../../base/log';
import { buildHistoryGraph, type GraphNode, type GraphNodeKind, type HistoryGraph } from '../../core/historyGraph';
import { listCheckpoints } from '../../core/listing';
import { relativeTime } from '../../core/relativeTime';
import { finishedRestores } from '../../core/restoreHistory';
import type { ErrorReporter } from '../errors';
import { Disposable, toDisposable } from '../lifecycle';
import type { Repositories } from '../repositories';
import type { WorkspaceRepository } from '../repository';
import { jsonData, page } from './webviewPage';
import { listingKey } from './checkpointsView';

export const HISTORY_GRAPH_VIEW_TYPE = 'lockstep.historyGraph';

/** Relative times go stale: re-sent this often while the panel is visible. */
const TIMES_MS = 60_000;
/** Rows in the first message: more than a tall window shows. */
const FIRST_ROWS = 150;
/** Journal, audit and state events come in bursts (a restore writes all three): one redraw for a burst. */
const UPDATE_DEBOUNCE_MS = 150;

/**
 * What the webview gets: arrays rather than objects (10,000 rows of keys
 * would triple the payload), in the order `NODE` names.
 */
export interface GraphPayload {
  repo: string;
  lanes: number;
  servingLine: number;
  lines: number;
  /** Rows in the whole graph (`nodes` may hold only the first ones: see `rows`). */
  total: number;
  restores: number;
  /** One per row: see NODE_FIELDS. */
  nodes: (string | number)[][];
  /** Flat: fromRow, fromLane, toRow, toLane, line, flags (1 fork, 2 expired, 4 serving). */
  edges: number[];
}

const KIND_CODE: Record<GraphNodeKind, number> = { commit: 0, snapshot: 1, safety: 2, 'pre-restore': 3, push: 4, restore: 5 };

/** Node flags, one bit each. */
const FLAG = { restorable: 1, pinned: 2, serving: 4, descends: 8, undo: 16 } as const;

/**
 * `rows`: only the first rows and the strokes that reach them. The first
 * frame needs a screenful; in code-server a message crosses the network, and
 * 10,000 rows (~1 MB) took half a second more to arrive than 200.
 */
export function graphPayload(repo: string, graph: HistoryGraph, now = Date.now(), rows = Number.POSITIVE_INFINITY): GraphPayload {
  const nodes = graph.nodes.slice(0, rows).map((n) => [
    KIND_CODE[n.kind],
    n.id,
    n.title,
    n.sha ?? '',
    n.at,
    relativeTime(n.at, now),
    n.lane,
    n.line,
    flagsOf(n),
    n.expiresSoon ?? '',
    n.targetId ?? '',
  ]);
  const edges: number[] = [];
  // Edges are sorted by their newer end: the ones that reach the first rows come first.
  for (const e of graph.edges) if (e.fromRow < rows) edges.push(e.fromRow, e.fromLane, e.toRow, e.toLane, e.line, (e.fork ? 1 : 0) | (e.expired ? 2 : 0) | (e.serving ? 4 : 0));
  let restores = 0;
  for (const n of graph.nodes) if (n.kind === 'restore') restores += 1;
  return { repo, lanes: graph.lanes, servingLine: graph.servingLine, lines: graph.lines.length, total: graph.nodes.length, restores, nodes, edges };
}

function flagsOf(n: GraphNode): number {
  return (n.restorable ? FLAG.restorable : 0) | (n.pinned ? FLAG.pinned : 0) | (n.serving ? FLAG.serving : 0) | (n.descends ? FLAG.descends : 0) | (n.undo ? FLAG.undo : 0);
}

type Action = 'preview' | 'restore' | 'restoreTables' | 'pin' | 'unpin' | 'copyId';
type Message = { type: 'painted'; rows: number } | { type: 'action'; action: Action; id: string } | { type: 'ready' };

interface Shown {
  repository: WorkspaceRepository;
  /** How long reading took: the listing, and the layout. */
  timings: { listMs: number; layoutMs: number };
  /** What the graph was read from (journal, audit, pins, serving timeline): unchanged → no re-read. */
  key: string;
  graph: HistoryGraph;
}

export class HistoryGraphPanel extends Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private shown: Shown | undefined;
  /** When Show History Graph was run, until the webview reports its first frame. */
  private askedAt: number | undefined;
  /** Resolves when the page's script runs (it says so), so that the data is not posted into nothing. */
  private ready: Promise<void> = Promise.resolve();
  private markReady: (() => void) | undefined;
  private readyAt: number | undefined;
  /** Where the first paint's time went, for its log line. */
  private timings: { listMs: number; layoutMs: number; readyMs: number; sentMs: number; inline: boolean } | undefined;
  private updateTimer: NodeJS.Timeout | undefined;
  private readonly painted = this._register(new vscode.EventEmitter<number>());
  /** The webview drew its first frame (ms since the command), for tests and the bench. */
  readonly onDidPaint = this.painted.event;
  private readonly log: Log;
  /** Each repository's last read graph, kept while its files are unchanged. */
  private readonly lastRead = new WeakMap<WorkspaceRepository, Shown>();

  constructor(
    repositories: Repositories,
    log: Log,
    private readonly errors: ErrorReporter,
    /** The extension's folder: the tab shows its icon. */
    private readonly extensionUri?: vscode.Uri,
  ) {
    super();
    this.log = scopedLog(log, 'graph');
    const update = (repository: WorkspaceRepository): void => {
      if (this.shown?.repository === repository) this.scheduleUpdate();
    };
    this._register(repositories.onDidChangeCheckpoints(update));
    // A restore moves the serving line (audit trail, head); a status poll that changed none of it redraws nothing.
    this._register(repositories.onDidChangeState(update));
    const timer = setInterval(() => {
      if (this.panel?.visible && this.shown) void this.post(this.shown);
    }, TIMES_MS);
    this._register(toDisposable(() => clearInterval(timer)));
    this._register(toDisposable(() => clearTimeout(this.updateTimer)));
  }

  /** What the panel shows now (tests), or undefined when it is closed. */
  get current(): { repository: WorkspaceRepository; graph: HistoryGraph } | undefined {
    return this.shown && this.panel ? { repository: this.shown.repository, graph: this.shown.graph } : undefined;
  }

  async show(repository: WorkspaceRepository): Promise<HistoryGraph> {
    const asked = performance.now();
    this.askedAt = asked;
    const title = `History: ${repository.name}`;
    // Opened again with nothing changed: the last read, not 10,000 checkpoints listed again.
    const last = this.lastRead.get(repository);
    const cached = last && last.key === listingKey(repository) ? { ...last, timings: { listMs: 0, layoutMs: 0 } } : undefined;
    let shown: Shown;
    let inline = false;
    let sentAt = 0;
    if (!this.panel) {
      const panel = vscode.window.createWebviewPanel(HISTORY_GRAPH_VIEW_TYPE, title, vscode.ViewColumn.Active, { enableScripts: true, retainContextWhenHidden: true });
      this.panel = panel;
      if (this.extensionUri) panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'icon.png');
      let ready!: () => void;
      this.ready = new Promise<void>((resolve) => (ready = resolve));
      this.markReady = ready;
      this.readyAt = undefined;
      panel.onDidDispose(() => {
        this.panel = undefined;
        this.shown = undefined;
        ready();
      });
      panel.webview.onDidReceiveMessage((message: Message) => void this.onMessage(message));
      // The first screenful goes in the page itself, which draws it as it loads: no round trip (page ready → data →
      // frame) before the first frame. The workbench starts the webview's frame as the panel is made, while the
      // history is read (when it was not read already).
      shown = cached ?? (await this.read(repository));
      if (this.panel !== panel) return shown.graph; // closed meanwhile
      inline = true;
      sentAt = performance.now() - asked;
      panel.webview.html = page({ cspSource: panel.webview.cspSource, title, body: `<style>${STYLE}</style>${BODY}${jsonData('first-rows', graphPayload(repository.name, shown.graph, Date.now(), FIRST_ROWS))}`, script: SCRIPT, view: 'history-graph' });
    } else {
      this.panel.title = title;
      this.panel.reveal(undefined, false);
      shown = cached ?? (await this.read(repository));
    }
    this.shown = shown;
    const painted = new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      const once = this.onDidPaint(() => {
        once.dispose();
        clearTimeout(timer);
        resolve();
      });
    });
    await this.ready;
    this.timings = { ...shown.timings, readyMs: this.readyAt === undefined ? 0 : Math.max(0, this.readyAt - asked), sentMs: inline ? sentAt : performance.now() - asked, inline };
    // The page drew the first screenful from its own HTML: the whole graph after that frame.
    if (inline) {
      if (this.askedAt !== undefined && shown.graph.nodes.length > FIRST_ROWS) await painted;
    } else if (shown.graph.nodes.length > FIRST_ROWS) {
      // A screenful first (the first frame), then the whole graph.
      await this.panel?.webview.postMessage({ type: 'graph', graph: graphPayload(repository.name, shown.graph, Date.now(), FIRST_ROWS) });
      // The rest after the first frame: parsing 10,000 rows would otherwise delay it.
      if (this.askedAt !== undefined) await painted;
    }
    await this.post(shown);
    return shown.graph;
  }

  close(): void {
    this.panel?.dispose();
  }

  override dispose(): void {
    this.close();
    super.dispose();
  }

  private async read(repository: WorkspaceRepository): Promise<Shown> {
    const key = listingKey(repository);
    const started = performance.now();
    const checkpoints = await listCheckpoints(repository.project, { head: repository.state.engine?.head, retention: repository.state.retention });
    const listed = performance.now();
    const graph = buildHistoryGraph(checkpoints, finishedRestores(repository.project.audit.list()));
    const shown = { repository, key, graph, timings: { listMs: listed - started, layoutMs: performance.now() - listed } };
    this.lastRead.set(repository, shown);
    return shown;
  }

  private scheduleUpdate(): void {
    clearTimeout(this.updateTimer);
    this.updateTimer = setTimeout(() => void this.update(), UPDATE_DEBOUNCE_MS);
  }

  /** Reads again when what the graph comes from changed, and sends the webview the new graph (it keeps its scroll and selection). */
  private async update(force = false): Promise<void> {
    const shown = this.shown;
    if (!shown || !this.panel) return;
    if (!force && listingKey(shown.repository) === shown.key) return;
    try {
      const next = await this.read(shown.repository);
      if (this.shown?.repository !== shown.repository) return;
      this.shown = next;
      await this.post(next);
    } catch (error) {
      this.log.warn(`could not read the history again: ${describeError(error)}`);
    }
  }

  private async post(shown: Shown): Promise<void> {
    await this.panel?.webview.postMessage({ type: 'graph', graph: graphPayload(shown.repository.name, shown.graph) });
  }

  private async onMessage(message: Message): Promise<void> {
    if (message.type === 'ready') {
      this.readyAt = performance.now();
      this.markReady?.();
      return;
    }
    if (message.type === 'painted') {
      if (this.askedAt === undefined) return;
      const ms = performance.now() - this.askedAt;
      this.askedAt = undefined;
      const graph = this.shown?.graph;
      const t = this.timings;
      const where = t
        ? `listing ${t.listMs.toFixed(1)} ms, layout ${t.layoutMs.toFixed(1)} ms, ${t.inline ? `page with the first rows set at ${t.sentMs.toFixed(1)} ms, page ready at ${t.readyMs.toFixed(1)} ms` : `page ready at ${t.readyMs.toFixed(1)} ms, data sent at ${t.sentMs.toFixed(1)} ms`}; `
        : '';
      this.log.info(`first paint ${ms.toFixed(1)} ms (${where}${graph?.nodes.length ?? 0} rows, ${graph?.lines.length ?? 0} lines, ${graph?.lanes ?? 0} lanes; ${message.rows} rows drawn)`);
      this.painted.fire(ms);
      return;
    }
    if (message.type !== 'action') return;
    const shown = this.shown;
    const node = shown?.graph.nodes.find((n) => n.id === message.id && n.kind !== 'restore');
    if (!shown || !node) return;
    const folder = shown.repository.repo.topLevel;
    try {
      switch (message.action) {
        case 'preview':
          await vscode.commands.executeCommand('lockstep.compareWithCurrent', { folder, ref: node.id });
          break;
        case 'restore':
          // The palette's question (Code and Data / Data Only / Code Only, what the checkpoint allows); expired data can still bring its commit back.
          await vscode.commands.executeCommand('lockstep.restoreCheckpoint', node.restorable ? { folder, ref: node.id, askMode: true, restorable: true } : { folder, ref: node.id, mode: 'code-only' });
          break;
        case 'restoreTables':
          await vscode.commands.executeCommand('lockstep.restoreTables', { folder, ref: node.id });
          break;
        case 'pin':
        case 'unpin':
          await vscode.commands.executeCommand(message.action === 'pin' ? 'lockstep.pinCheckpoint' : 'lockstep.unpinCheckpoint', { repo: folder, checkpointId: node.id });
          // pins.json is not watched: the graph reads again itself.
          await this.update(true);
          break;
        case 'copyId':
          await vscode.env.clipboard.writeText(node.id);
          break;
      }
    } catch (error) {
      await this.errors.report(error, 'History Graph');
    }
  }
}


const BODY = `
<header class="bar">
  <span class="title" id="title"></span>
  <span class="summary" id="summary"></span>
  <span class="legend" aria-hidden="true">
    <span><svg width="12" height="12"><circle cx="6" cy="6" r="4" class="lg"/></svg>commit</span>
    <span><svg width="14" height="14"><circle cx="7" cy="7" r="3.5" class="lg"/><circle cx="7" cy="7" r="6" class="lg ring"/></svg>snapshot</span>
    <span><svg width="12" height="12"><path d="M6 1.5 L10.5 6 L6 10.5 L1.5 6 Z" class="lg"/></svg>safety</span>
    <span><svg width="12" height="12"><circle cx="6" cy="6" r="4" class="lg hollow"/></svg>undo point</span>
    <span><svg width="12" height="12"><path d="M6 1.5 L10.5 10 L1.5 10 Z" class="lg"/></svg>push</span>
    <span><svg width="12" height="12"><rect x="2" y="2" width="8" height="8" rx="2" class="lg hollow"/></svg>restore</span>
  </span>
</header>
<div class="head" role="presentation"><span class="c-graph" id="graph-head">Graph</span><span class="c-title">Checkpoint</span><span class="c-kind">Kind</span><span class="c-sha">Commit</span><span class="c-when">When</span><span class="c-more"></span></div>
<div id="scroller" tabindex="0" role="listbox" aria-label="Checkpoints and restores, newest first">
  <div id="spacer"></div>
  <div id="window"><svg id="lanes" aria-hidden="true"></svg><div id="rows"></div></div>
</div>
<div id="loading">Reading the history…</div>
<div id="empty" hidden>No checkpoints yet: commit (the hook records one) or take a snapshot.</div>
<div id="menu" class="menu" role="menu" hidden></div>
`;

const STYLE = `
  html, body { height: 100%; }
  body { padding: 0; margin: 0; display: flex; flex-direction: column; overflow: hidden; line-height: normal; }
  .bar { display: flex; align-items: baseline; gap: 12px; padding: 8px 16px 6px; flex-wrap: wrap; }
  .bar .title { font-weight: 600; font-size: 1.1em; }
  .bar .summary { color: var(--vscode-descriptionForeground); }
  .legend { margin-left: auto; display: flex; gap: 12px; color: var(--vscode-descriptionForeground); font-size: 0.9em; }
  .legend span { display: inline-flex; align-items: center; gap: 4px; }
  .legend .lg { fill: var(--vscode-descriptionForeground); stroke: none; }
  .legend .lg.hollow { fill: none; stroke: var(--vscode-descriptionForeground); stroke-width: 1.5; }
  .legend .lg.ring { fill: none; stroke: var(--vscode-descriptionForeground); stroke-width: 1.2; }
  .head { display: flex; align-items: center; height: 24px; padding: 0 8px; font-weight: 600; color: var(--vscode-descriptionForeground); border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, rgba(128,128,128,0.35))); font-size: 0.92em; }
  #scroller { position: relative; flex: 1; overflow-y: auto; overflow-x: hidden; outline: none; }
  #scroller:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
  #window { position: absolute; left: 0; right: 0; top: 0; }
  #lanes { position: absolute; left: 8px; top: 0; overflow: visible; pointer-events: none; }
  .row { display: flex; align-items: center; height: 24px; padding: 0 8px; white-space: nowrap; cursor: default; }
  .row:hover { background: var(--vscode-list-hoverBackground); }
  .row.selected { background: var(--vscode-list-inactiveSelectionBackground); color: var(--vscode-list-inactiveSelectionForeground, inherit); }
  #scroller:focus .row.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); outline: 1px solid var(--vscode-list-focusOutline, transparent); outline-offset: -1px; }
  .c-graph { flex: none; }
  .c-title { flex: 1 1 auto; min-width: 0; overflow: hidden; text-overflow: ellipsis; display: flex; align-items: center; gap: 6px; }
  .c-title .text { overflow: hidden; text-overflow: ellipsis; }
  .c-kind { flex: none; width: 96px; color: var(--vscode-descriptionForeground); }
  .c-sha { flex: none; width: 72px; font-family: var(--vscode-editor-font-family); font-size: 0.95em; color: var(--vscode-descriptionForeground); }
  .c-when { flex: none; width: 110px; color: var(--vscode-descriptionForeground); text-align: right; padding-right: 8px; }
  .c-more { flex: none; width: 26px; text-align: center; }
  .row.restore .text { font-style: italic; color: var(--vscode-descriptionForeground); }
  .row.expired .text, .row.expired .c-sha { color: var(--vscode-disabledForeground); }
  .badge { flex: none; display: inline-flex; align-items: center; gap: 3px; font-size: 0.82em; line-height: 16px; padding: 0 6px; border-radius: 8px; border: 1px solid transparent; }
  .badge.serving { background: var(--vscode-charts-blue, #3794ff); color: var(--vscode-editor-background); font-weight: 600; }
  .badge.descends { border-color: var(--vscode-charts-blue, #3794ff); color: var(--vscode-charts-blue, #3794ff); }
  .badge.pinned { background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
  .badge.pinned svg { fill: currentColor; }
  .badge.undo { border-color: var(--vscode-descriptionForeground); color: var(--vscode-descriptionForeground); }
  .badge.expired { border-color: var(--vscode-disabledForeground); color: var(--vscode-disabledForeground); }
  .badge.soon { border-color: var(--vscode-editorWarning-foreground); color: var(--vscode-editorWarning-foreground); }
  .more { visibility: hidden; background: none; border: none; color: var(--vscode-icon-foreground, var(--vscode-foreground)); padding: 0 4px; margin: 0; height: 20px; line-height: 20px; border-radius: 3px; font-size: 14px; letter-spacing: 1px; }
  .more:hover, .more:focus-visible { background: var(--vscode-toolbar-hoverBackground, rgba(128,128,128,0.2)); outline: none; }
  .row:hover .more, .row.selected .more, .more[aria-expanded="true"] { visibility: visible; }
  .edge { fill: none; stroke-width: 2; stroke-linecap: round; }
  .edge.off { opacity: 0.75; }
  .edge.serving { stroke-width: 3; }
  .edge.expired { stroke: var(--vscode-disabledForeground) !important; stroke-dasharray: 2 3; opacity: 0.8; }
  .node { stroke: var(--vscode-editor-background); stroke-width: 1.5; }
  .node.hollow { fill: var(--vscode-editor-background) !important; stroke-width: 2; }
  .node.ring { fill: none !important; stroke-width: 1.5; }
  .node.expired { fill: var(--vscode-disabledForeground) !important; }
  .node.hollow.expired, .node.ring.expired { stroke: var(--vscode-disabledForeground) !important; }
  .halo { fill: none; stroke: var(--vscode-charts-blue, #3794ff); stroke-width: 2; opacity: 0.45; }
  #loading { position: absolute; top: 80px; left: 0; right: 0; text-align: center; color: var(--vscode-descriptionForeground); }
  #empty { padding: 16px; color: var(--vscode-descriptionForeground); }
  .menu { position: fixed; z-index: 10; min-width: 200px; padding: 4px 0; background: var(--vscode-menu-background, var(--vscode-editorWidget-background)); color: var(--vscode-menu-foreground, var(--vscode-foreground)); border: 1px solid var(--vscode-menu-border, var(--vscode-widget-border, transparent)); border-radius: 5px; box-shadow: 0 2px 8px var(--vscode-widget-shadow, rgba(0,0,0,0.36)); outline: none; }
  .menu [role="menuitem"] { display: block; padding: 0 24px 0 16px; line-height: 24px; margin: 0 4px; border-radius: 3px; white-space: nowrap; cursor: default; }
  .menu [role="menuitem"]:focus, .menu [role="menuitem"]:hover { background: var(--vscode-menu-selectionBackground, var(--vscode-list-activeSelectionBackground)); color: var(--vscode-menu-selectionForeground, var(--vscode-list-activeSelectionForeground)); outline: none; }
  .menu [role="menuitem"][aria-disabled="true"] { opacity: 0.45; pointer-events: none; }
  .menu .sep { height: 1px; margin: 4px 0; background: var(--vscode-menu-separatorBackground, var(--vscode-widget-border, rgba(128,128,128,0.35))); }
`;

/**
 * The webview's script: draws the rows in view (and the strokes that cross
 * them) from the precomputed layout, keeps selection and scroll across
 * updates, and runs the node menu from the mouse or the keyboard.
 */
const SCRIPT = String.raw`
const vscode = acquireVsCodeApi();
const ROW = 24, LANE = 16, PAD = 10, OVERSCAN = 8;
const KINDS = ['commit', 'snapshot', 'safety', 'pre-restore', 'push', 'restore'];
const KIND_WORDS = ['commit', 'snapshot', 'safety point', 'before restore', 'push', 'restore'];
const F_RESTORABLE = 1, F_PINNED = 2, F_SERVING = 4, F_DESCENDS = 8, F_UNDO = 16;
// Line colours from the theme; the serving line always takes the first.
const COLOURS = ['var(--vscode-charts-blue, #3794ff)', 'var(--vscode-charts-purple, #b180d7)', 'var(--vscode-charts-orange, #d18616)', 'var(--vscode-charts-green, #89d185)', 'var(--vscode-charts-yellow, #cca700)', 'var(--vscode-charts-red, #f14c4c)'];
const PIN = '<svg width="10" height="10" viewBox="0 0 16 16" aria-hidden="true"><path d="M10.5 1.5 L14.5 5.5 L12.8 6.2 L10.2 8.8 L10.6 12.2 L9.2 13.6 L6.4 10.8 L2.6 14.6 L1.4 14.6 L1.4 13.4 L5.2 9.6 L2.4 6.8 L3.8 5.4 L7.2 5.8 L9.8 3.2 Z"/></svg>';

const scroller = document.getElementById('scroller');
const spacer = document.getElementById('spacer');
const win = document.getElementById('window');
const svg = document.getElementById('lanes');
const rowsEl = document.getElementById('rows');
const menu = document.getElementById('menu');
let data = { repo: '', lanes: 0, servingLine: -1, lines: 0, total: 0, restores: 0, nodes: [], edges: [] };
let loaded = false;
let selected = -1;
let menuFor = -1;
let drawn = '';
let frame = 0;

function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]); }
function colour(line) { return line === data.servingLine ? COLOURS[0] : COLOURS[1 + (line % (COLOURS.length - 1))]; }
function x(lane) { return PAD + lane * LANE; }
// At least the header's word "Graph".
function graphWidth() { return Math.max(48, PAD * 2 + Math.max(1, data.lanes) * LANE - LANE + 4); }

function setData(next) {
  const keep = selected >= 0 && data.nodes[selected] ? data.nodes[selected][1] : undefined;
  data = next;
  selected = keep === undefined ? -1 : data.nodes.findIndex((n) => n[1] === keep);
  closeMenu(false);
  drawn = '';
  layout();
}

function layout() {
  document.body.dataset.lanes = String(data.lanes);
  document.body.dataset.servingLine = String(data.servingLine);
  document.body.dataset.rows = String(data.total);
  document.getElementById('title').textContent = 'History of ' + data.repo;
  const restores = data.restores, checkpoints = data.total - restores;
  document.getElementById('summary').textContent = data.total === 0 ? '' :
    checkpoints.toLocaleString() + ' checkpoint' + (checkpoints === 1 ? '' : 's') + ' · ' + restores + ' restore' + (restores === 1 ? '' : 's') + ' · ' + data.lines + ' line' + (data.lines === 1 ? '' : 's');
  document.getElementById('empty').hidden = data.total > 0 || !loaded;
  document.getElementById('graph-head').style.width = graphWidth() + 'px';
  spacer.style.height = data.total * ROW + 'px';
  draw();
}

function draw() {
  frame = 0;
  const first = Math.max(0, Math.floor(scroller.scrollTop / ROW) - OVERSCAN);
  const last = Math.min(data.nodes.length, Math.ceil((scroller.scrollTop + scroller.clientHeight) / ROW) + OVERSCAN);
  const key = first + ':' + last;
  if (key === drawn) return last - first;
  drawn = key;
  win.style.transform = 'translateY(' + first * ROW + 'px)';
  const width = graphWidth();
  const top = first * ROW;
  const y = (row) => row * ROW + ROW / 2 - top;
  const parts = [];
  // Strokes first, under the nodes: every edge whose rows overlap the window (a long one passes through it).
  const e = data.edges;
  for (let i = 0; i < e.length; i += 6) {
    const from = e[i], fromLane = e[i + 1], to = e[i + 2], toLane = e[i + 3], line = e[i + 4], flags = e[i + 5];
    if (to < first - 1 || from > last) continue;
    const cls = 'edge' + (flags & 1 ? ' fork' : '') + (flags & 2 ? ' expired' : '') + (flags & 4 ? ' serving' : ' off');
    let d;
    if (fromLane === toLane) d = 'M' + x(fromLane) + ' ' + y(from) + 'V' + y(to);
    else {
      // Down the child's column to the row above the fork point, then a curve into the parent's node (as git graphs draw a branch).
      const bend = y(to) - ROW;
      d = 'M' + x(fromLane) + ' ' + y(from) + 'V' + bend + 'C' + x(fromLane) + ' ' + (bend + ROW * 0.6) + ' ' + x(toLane) + ' ' + (y(to) - ROW * 0.6) + ' ' + x(toLane) + ' ' + y(to);
    }
    parts.push('<path class="' + cls + '" d="' + d + '" style="stroke:' + colour(line) + '" data-edge="' + (flags & 1 ? 'fork' : 'line') + '" data-line="' + line + '" data-from="' + from + '" data-to="' + to + '" data-from-lane="' + fromLane + '" data-to-lane="' + toLane + '"' + (flags & 4 ? ' data-serving="true"' : '') + '/>');
  }
  const rows = [];
  for (let r = first; r < last; r++) {
    const n = data.nodes[r];
    parts.push(nodeSvg(n, x(n[6]), y(r)));
    rows.push(rowHtml(n, r, width));
  }
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String((last - first) * ROW));
  svg.innerHTML = parts.join('');
  rowsEl.innerHTML = rows.join('');
  marks();
  return last - first;
}

// Selection and the open menu change classes in place: rebuilding the rows under a mouse press would swallow its click.
function marks() {
  for (const row of rowsEl.children) {
    const r = Number(row.dataset.row);
    row.classList.toggle('selected', r === selected);
    row.setAttribute('aria-selected', String(r === selected));
    const more = row.querySelector('.more');
    if (more) more.setAttribute('aria-expanded', String(r === menuFor));
  }
  scroller.setAttribute('aria-activedescendant', rowsEl.querySelector('[data-row="' + selected + '"]') ? 'row-' + selected : '');
}

function nodeSvg(n, cx, cy) {
  const kind = n[0], flags = n[8], fill = colour(n[7]);
  const expired = !(flags & F_RESTORABLE) ? ' expired' : '';
  const style = ' style="fill:' + fill + '"';
  const hollowStyle = ' style="stroke:' + fill + '"';
  let s = '';
  if (flags & (F_SERVING | F_DESCENDS)) s += '<circle class="halo" cx="' + cx + '" cy="' + cy + '" r="9"' + (flags & F_DESCENDS ? ' stroke-dasharray="2 2"' : '') + '/>';
  if (kind === 1) s += '<circle class="node' + expired + '" cx="' + cx + '" cy="' + cy + '" r="4"' + style + '/><circle class="node ring' + expired + '" cx="' + cx + '" cy="' + cy + '" r="6.5"' + hollowStyle + '/>';
  else if (kind === 2) s += '<path class="node' + expired + '" d="M' + cx + ' ' + (cy - 5.5) + 'L' + (cx + 5.5) + ' ' + cy + 'L' + cx + ' ' + (cy + 5.5) + 'L' + (cx - 5.5) + ' ' + cy + 'Z"' + style + '/>';
  else if (kind === 3) s += '<circle class="node hollow' + expired + '" cx="' + cx + '" cy="' + cy + '" r="4.5"' + hollowStyle + '/>';
  else if (kind === 4) s += '<path class="node' + expired + '" d="M' + cx + ' ' + (cy - 5.5) + 'L' + (cx + 5.5) + ' ' + (cy + 4) + 'L' + (cx - 5.5) + ' ' + (cy + 4) + 'Z"' + style + '/>';
  else if (kind === 5) s += '<rect class="node hollow" x="' + (cx - 4.5) + '" y="' + (cy - 4.5) + '" width="9" height="9" rx="2"' + hollowStyle + '/>';
  else s += '<circle class="node' + expired + '" cx="' + cx + '" cy="' + cy + '" r="4.5"' + style + '/>';
  return '<g data-node="' + esc(n[1]) + '" data-lane="' + n[6] + '">' + s + '</g>';
}

function rowHtml(n, r, width) {
  const kind = n[0], flags = n[8];
  const isRestore = kind === 5;
  const expired = !isRestore && !(flags & F_RESTORABLE);
  const badges = [];
  if (flags & F_SERVING) badges.push('<span class="badge serving" title="The database serves this data now">serving</span>');
  if (flags & F_DESCENDS) badges.push('<span class="badge descends" title="The database descends from this point and has changed since">descends from</span>');
  if (flags & F_PINNED) badges.push('<span class="badge pinned" title="Pinned: kept restorable past retention">' + PIN + 'pinned</span>');
  if (flags & F_UNDO) badges.push('<span class="badge undo" title="Restoring this undoes the restore that followed it">undo point</span>');
  if (expired) badges.push('<span class="badge expired" title="Its data is past retention: only its code can be restored">expired</span>');
  if (n[9]) badges.push('<span class="badge soon" title="Pin it to keep it">' + esc(n[9]) + '</span>');
  const cls = 'row' + (isRestore ? ' restore' : '') + (expired ? ' expired' : '') + (n[7] !== data.servingLine ? ' off' : '');
  const attrs = ' id="row-' + r + '" role="option" data-row="' + r + '" data-id="' + esc(n[1]) + '" data-kind="' + KINDS[kind] + '" data-lane="' + n[6] + '" data-line="' + n[7] + '"' +
    (flags & F_SERVING ? ' data-serving="true"' : '') + (flags & F_DESCENDS ? ' data-descends="true"' : '') + (flags & F_PINNED ? ' data-pinned="true"' : '') + (flags & F_UNDO ? ' data-undo="true"' : '') +
    ' data-restorable="' + (isRestore || !expired) + '"' + (n[10] ? ' data-fork-from="' + esc(n[10]) + '"' : '');
  const when = new Date(n[4]);
  const state = isRestore ? '' : [flags & F_SERVING ? 'serving now' : '', flags & F_DESCENDS ? 'the database descends from it' : '', flags & F_PINNED ? 'pinned' : '', expired ? 'expired: code only' : '', n[9]].filter(Boolean).join(' · ');
  const tip = n[2] + '\n' + KIND_WORDS[kind] + (isRestore ? '' : ' ' + n[1]) + (n[3] ? ' · commit ' + n[3] : '') + ' · ' + when.toLocaleString() + (state ? '\n' + state : '');
  return '<div class="' + cls + '"' + attrs + ' title="' + esc(tip) + '">' +
    '<span class="c-graph" style="width:' + width + 'px"></span>' +
    '<span class="c-title"><span class="text">' + esc(n[2]) + '</span>' + badges.join('') + '</span>' +
    '<span class="c-kind">' + KIND_WORDS[kind] + '</span>' +
    '<span class="c-sha">' + esc(n[3]) + '</span>' +
    '<span class="c-when">' + esc(n[5]) + '</span>' +
    '<span class="c-more">' + (isRestore ? '' : '<button class="more" tabindex="-1" aria-haspopup="menu" aria-expanded="false" title="More Actions…" aria-label="More actions for ' + esc(n[2]) + '">⋯</button>') + '</span>' +
    '</div>';
}

function schedule() { if (!frame) frame = requestAnimationFrame(draw); }

function select(r, reveal) {
  if (data.nodes.length === 0) return;
  selected = Math.max(0, Math.min(data.nodes.length - 1, r));
  if (reveal) {
    const top = selected * ROW, bottom = top + ROW;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (bottom > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = bottom - scroller.clientHeight;
  }
  draw();
  marks();
}

// The node menu: the same entries from a right click, the ⋯ button, Shift+F10 or the context-menu key.
function menuItems(n) {
  const flags = n[8];
  const restorable = Boolean(flags & F_RESTORABLE);
  return [
    { action: 'preview', label: 'Preview' },
    { action: 'restore', label: restorable ? 'Restore' : 'Restore Code Only', disabled: !restorable && !n[3] },
    { action: 'restoreTables', label: 'Restore This Table…', disabled: !restorable },
    null,
    flags & F_PINNED ? { action: 'unpin', label: 'Unpin' } : { action: 'pin', label: 'Pin', disabled: !restorable },
    null,
    { action: 'copyId', label: 'Copy Checkpoint Id' },
  ];
}

function openMenu(r, at) {
  const n = data.nodes[r];
  if (!n || n[0] === 5) return;
  menuFor = r;
  select(r, true);
  menu.innerHTML = menuItems(n).map((item) => item === null ? '<div class="sep" role="separator"></div>' :
    '<div role="menuitem" tabindex="-1" data-action="' + item.action + '"' + (item.disabled ? ' aria-disabled="true"' : '') + '>' + item.label + '</div>').join('');
  menu.hidden = false;
  let left = at ? at.x : 0, top = at ? at.y : 0;
  if (!at) {
    const row = rowsEl.querySelector('[data-row="' + r + '"]');
    const box = (row.querySelector('.more') || row).getBoundingClientRect();
    left = box.left; top = box.bottom;
  }
  const w = menu.offsetWidth, h = menu.offsetHeight;
  menu.style.left = Math.max(0, Math.min(left, window.innerWidth - w - 4)) + 'px';
  menu.style.top = Math.max(0, top + h > window.innerHeight ? top - h : top) + 'px';
  const firstItem = menu.querySelector('[role="menuitem"]:not([aria-disabled="true"])');
  if (firstItem) firstItem.focus();
  marks();
}

function closeMenu(refocus) {
  if (menu.hidden) return;
  menu.hidden = true;
  menuFor = -1;
  marks();
  if (refocus) scroller.focus();
}

function runItem(item) {
  if (!item || item.getAttribute('aria-disabled') === 'true') return;
  const n = data.nodes[menuFor];
  const action = item.dataset.action;
  closeMenu(true);
  if (n) vscode.postMessage({ type: 'action', action, id: n[1] });
}

scroller.addEventListener('scroll', schedule, { passive: true });
window.addEventListener('resize', () => { drawn = ''; schedule(); });
rowsEl.addEventListener('mousedown', (event) => {
  const row = event.target.closest('.row');
  if (row) select(Number(row.dataset.row), false);
});
rowsEl.addEventListener('click', (event) => {
  const more = event.target.closest('.more');
  if (!more) return;
  event.stopPropagation();
  const r = Number(more.closest('.row').dataset.row);
  if (menuFor === r) closeMenu(true); else openMenu(r);
});
rowsEl.addEventListener('dblclick', (event) => {
  const row = event.target.closest('.row');
  if (row && row.dataset.kind !== 'restore') vscode.postMessage({ type: 'action', action: 'preview', id: row.dataset.id });
});
document.addEventListener('contextmenu', (event) => {
  event.preventDefault();
  const row = event.target.closest && event.target.closest('.row');
  if (row) openMenu(Number(row.dataset.row), { x: event.clientX, y: event.clientY });
  else closeMenu(false);
});
document.addEventListener('mousedown', (event) => {
  if (!menu.hidden && !menu.contains(event.target) && !event.target.closest('.more')) closeMenu(false);
});
menu.addEventListener('click', (event) => runItem(event.target.closest('[role="menuitem"]')));
menu.addEventListener('keydown', (event) => {
  const items = [...menu.querySelectorAll('[role="menuitem"]:not([aria-disabled="true"])')];
  const at = items.indexOf(document.activeElement);
  if (event.key === 'ArrowDown') items[(at + 1) % items.length].focus();
  else if (event.key === 'ArrowUp') items[(at - 1 + items.length) % items.length].focus();
  else if (event.key === 'Home') items[0].focus();
  else if (event.key === 'End') items[items.length - 1].focus();
  else if (event.key === 'Enter' || event.key === ' ') runItem(document.activeElement);
  else if (event.key === 'Escape' || event.key === 'Tab') closeMenu(true);
  else return;
  event.preventDefault();
  event.stopPropagation();
});
scroller.addEventListener('keydown', (event) => {
  const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
  const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page };
  if (event.key in moves) select((selected < 0 ? 0 : selected + moves[event.key]), true);
  else if (event.key === 'Home') select(0, true);
  else if (event.key === 'End') select(data.nodes.length - 1, true);
  else if ((event.key === 'F10' && event.shiftKey) || event.key === 'ContextMenu' || event.key === 'Enter') { if (selected >= 0) openMenu(selected); }
  else return;
  event.preventDefault();
});
window.addEventListener('message', (event) => {
  if (!event.data || event.data.type !== 'graph') return;
  loaded = true;
  setData(event.data.graph);
  document.getElementById('loading').hidden = true;
  // The frame drawn with the data: the host measures its command's time to the first one, and sends the rest after it.
  requestAnimationFrame(() => vscode.postMessage({ type: 'painted', rows: rowsEl.childElementCount }));
});

document.getElementById('empty').hidden = true;
const firstRows = document.getElementById('first-rows');
if (firstRows) {
  loaded = true;
  setData(JSON.parse(firstRows.textContent));
  document.getElementById('loading').hidden = true;
  requestAnimationFrame(() => vscode.postMessage({ type: 'painted', rows: rowsEl.childElementCount }));
}
vscode.postMessage({ type: 'ready' });
`;
