// The history graph's model: checkpoints and restores as lines, forks and lanes, laid out here so that a face only draws it.

import type { CheckpointKind } from './checkpoint';
import { displayTitle } from './journalText';
import type { ListedCheckpoint } from './listing';
import type { RestoreEvent } from './restoreHistory';

/** A row of the graph: a checkpoint, or a restore (where a line begins). */
export type GraphNodeKind = CheckpointKind | 'restore';

export interface GraphNode {
  /** Top to bottom, newest first. */
  row: number;
  /** The line it belongs to (an index into `HistoryGraph.lines`). */
  line: number;
  /** Its column (the line's lane). */
  lane: number;
  kind: GraphNodeKind;
  /** The checkpoint id; a restore's operation id. */
  id: string;
  /** What a person reads: the checkpoint's `displayTitle`, or “Restored 'v1'”. */
  title: string;
  /** 7 hex digits, or null without a commit (and for restores). */
  sha: string | null;
  /** ISO time it was taken (a restore: when it finished). */
  at: string;
  /** Its data can still be restored (a restore row: true). */
  restorable: boolean;
  pinned: boolean;
  /** The serving data is exactly this point (core/listing.ts `serving`). */
  serving: boolean;
  /** The serving data descends from this point but has moved since. */
  descends: boolean;
  /** A pre-restore checkpoint that ends the line a restore left: restoring it undoes that restore. */
  undo: boolean;
  /** “expires in 40 minutes” when its expiry is near (core/expiry.ts). */
  expiresSoon?: string;
  /** A restore row: the checkpoint it restored (its fork point), when still listed. */
  targetId?: string;
}

export interface GraphLine {
  index: number;
  lane: number;
  /** Row of its newest node. */
  top: number;
  /** Row of its oldest node. */
  bottom: number;
  /** Where it forked from: the restored checkpoint's row and lane. Undefined for the first line and for a line whose origin is no longer listed. */
  fork?: { row: number; lane: number; nodeId: string };
  /** The line the data serves on now: the newest. */
  serving: boolean;
  /** The restore that began it (undefined for the first line, and for a line a timeline change began without a recorded restore). */
  restore?: RestoreEvent;
  /** A restore or a later restore left it: its newest node is the undo point. */
  ended: boolean;
}

/** A stroke between two rows: along a line (same lane) or a fork (into the parent's lane at `toRow`). */
export interface GraphEdge {
  /** The newer end (smaller row). */
  fromRow: number;
  fromLane: number;
  /** The older end. */
  toRow: number;
  toLane: number;
  line: number;
  fork: boolean;
  /** Both ends' data are gone: greyed. */
  expired: boolean;
  /** Part of the serving line: highlighted. */
  serving: boolean;
}

export interface HistoryGraph {
  nodes: GraphNode[];
  lines: GraphLine[];
  edges: GraphEdge[];
  /** Columns used. */
  lanes: number;
  /** Index of the serving line, or -1 with no checkpoints. */
  servingLine: number;
}

/** A line being built, before rows and lanes are known. */
interface Draft {
  restore?: RestoreEvent;
  /** Oldest first. */
  members: GraphNode[];
  timelineId?: string;
}

/**
 * Lines are the history between restores. The engines disagree on timeline
 * ids (the local engine makes a new timeline per restore; Neon keeps its
 * branch id across an in-place restore), so the finished restores' times
 * split the history, and a timeline id that changes with no restore recorded
 * (one the audit trail no longer holds) splits it too. A code-only restore
 * moved no data: it forks nothing.
 */
export function buildHistoryGraph(checkpointsNewestFirst: readonly ListedCheckpoint[], restoresNewestFirst: readonly RestoreEvent[], now = Date.now()): HistoryGraph {
  void now;
  const restores = restoresNewestFirst.filter((r) => !r.detail?.startsWith('code-only')).slice().reverse();
  const restoreTimes = restores.map((r) => r.at);
  const undoIds = new Set(restores.map((r) => r.undoId).filter((id): id is string => id !== undefined));

  // Segment k holds what was taken after the k-th restore (0: before any); each begins with its restore row.
  const segments: Draft[][] = [[{ members: [] }], ...restores.map((restore) => [{ restore, members: [restoreNode(restore)] }])];
  for (let i = checkpointsNewestFirst.length - 1; i >= 0; i--) {
    const c = checkpointsNewestFirst[i]!;
    const drafts = segments[countAtOrBefore(restoreTimes, c.createdAt)]!;
    let draft = drafts[drafts.length - 1]!;
    if (draft.timelineId !== undefined && draft.timelineId !== c.timelineId) {
      draft = { members: [] };
      drafts.push(draft);
    }
    draft.timelineId = c.timelineId;
    draft.members.push(checkpointNode(c, undoIds.has(c.id)));
  }
  const drafts = segments.flat().filter((d) => d.members.length > 0);
  if (drafts.length === 0) return { nodes: [], lines: [], edges: [], lanes: 0, servingLine: -1 };

  // Rows: every node newest first. Within one time a restore row sits above the undo point its line left.
  const nodes = drafts.flatMap((d, line) => d.members.map((n) => Object.assign(n, { line })));
  const order = nodes.map((n, i) => ({ n, i }));
  order.sort((a, b) => (a.n.at < b.n.at ? 1 : a.n.at > b.n.at ? -1 : b.i - a.i));
  const sorted = order.map(({ n }, row) => Object.assign(n, { row }));
  const byId = new Map<string, GraphNode>();
  for (const n of sorted) if (n.kind !== 'restore') byId.set(n.id, n);

  const servingLine = drafts.length - 1;
  const lines: GraphLine[] = drafts.map((d, index) => {
    const rows = d.members.map((m) => m.row);
    const target = d.restore?.targetId ? byId.get(d.restore.targetId) : undefined;
    const bottom = Math.max(...rows);
    const line: GraphLine = { index, lane: 0, top: Math.min(...rows), bottom, serving: index === servingLine, ended: index !== servingLine };
    if (d.restore) line.restore = d.restore;
    // A fork point below the line's oldest node: a target taken later than the restore cannot be its origin.
    if (target && target.row > bottom) line.fork = { row: target.row, lane: 0, nodeId: target.id };
    return line;
  });

  // The serving mark: a checkpoint on the serving line, else the restore row that began it (the listing marks its target).
  const servingRestore = lines[servingLine]?.restore;
  for (const n of sorted) {
    if (n.kind === 'restore' && n.line === servingLine && servingRestore?.targetId) {
      const target = byId.get(servingRestore.targetId);
      const onLine = sorted.some((m) => m.line === servingLine && m.kind !== 'restore' && (m.serving || m.descends));
      if (target && (target.serving || target.descends) && !onLine) {
        n.serving = target.serving;
        n.descends = target.descends;
        target.serving = false;
        target.descends = false;
      }
    }
  }

  const lanes = assignLanes(lines);
  for (const line of lines) if (line.fork) line.fork.lane = lines[byId.get(line.fork.nodeId)!.line]!.lane;
  for (const n of sorted) n.lane = lines[n.line]!.lane;
  titleRestores(sorted, restores);
  return { nodes: sorted, lines, edges: edgesOf(sorted, lines), lanes, servingLine };
}

/**
 * Lanes as git graphs assign columns: the serving line leftmost; a line that
 * forks from the newest node of its parent continues the parent's column
 * (an undo picks up where the line it returns to stopped); the others take the
 * lowest column free over the rows they span (greedy by start: as few columns
 * as the overlaps allow).
 */
function assignLanes(lines: GraphLine[]): number {
  const continuedBy = new Map<number, number>();
  const continues = new Map<number, number>();
  // The serving line claims its parent's column first, then newer lines before older ones.
  const claimOrder = [...lines].sort((a, b) => (a.serving ? -1 : b.serving ? 1 : a.top - b.top));
  const lineOfRow = new Map<number, number>();
  for (const line of lines) lineOfRow.set(line.top, line.index);
  for (const line of claimOrder) {
    if (!line.fork) continue;
    const parent = lineOfRow.get(line.fork.row);
    if (parent === undefined || lines[parent]!.top !== line.fork.row || continuedBy.has(parent) || continues.has(line.index)) continue;
    continuedBy.set(parent, line.index);
    continues.set(line.index, parent);
  }
  // Chains: a line and the lines it continues, oldest last; the column spans from the newest's top to the oldest's end.
  const chains: { members: number[]; start: number; end: number; serving: boolean }[] = [];
  for (const line of lines) {
    if (continuedBy.has(line.index)) continue;
    const members = [line.index];
    for (let at = continues.get(line.index); at !== undefined; at = continues.get(at)) members.push(at);
    const oldest = lines[members[members.length - 1]!]!;
    const end = oldest.fork ? oldest.fork.row - 1 : oldest.bottom;
    chains.push({ members, start: line.top, end: Math.max(end, oldest.bottom), serving: members.some((m) => lines[m]!.serving) });
  }
  chains.sort((a, b) => (a.serving ? -1 : b.serving ? 1 : a.start - b.start));
  const freeFrom: number[] = [];
  for (const chain of chains) {
    // The serving chain comes first, so it gets column 0.
    let lane = freeFrom.findIndex((row) => row < chain.start);
    if (lane < 0) lane = freeFrom.length;
    freeFrom[lane] = chain.end;
    for (const m of chain.members) lines[m]!.lane = lane;
  }
  return freeFrom.length;
}

/** Strokes: each node to the next older one on its line, and each line's oldest node to its fork point. */
function edgesOf(nodes: GraphNode[], lines: GraphLine[]): GraphEdge[] {
  const edges: GraphEdge[] = [];
  const previous = new Map<number, GraphNode>();
  for (const n of nodes) {
    const newer = previous.get(n.line);
    if (newer) edges.push({ fromRow: newer.row, fromLane: newer.lane, toRow: n.row, toLane: n.lane, line: n.line, fork: false, expired: !newer.restorable && !n.restorable, serving: lines[n.line]!.serving });
    previous.set(n.line, n);
  }
  for (const line of lines) {
    if (!line.fork) continue;
    const oldest = previous.get(line.index)!;
    const target = nodes[line.fork.row]!;
    edges.push({ fromRow: oldest.row, fromLane: line.lane, toRow: line.fork.row, toLane: line.fork.lane, line: line.index, fork: true, expired: !target.restorable, serving: line.serving });
  }
  return edges.sort((a, b) => a.fromRow - b.fromRow || a.toRow - b.toRow);
}

function checkpointNode(c: ListedCheckpoint, undo: boolean): GraphNode {
  const node: GraphNode = {
    row: 0,
    line: 0,
    lane: 0,
    kind: c.kind,
    id: c.id,
    title: displayTitle(c),
    sha: c.commitSha ? c.commitSha.slice(0, 7) : null,
    at: c.createdAt,
    restorable: c.restorable,
    pinned: c.pinned,
    serving: c.serving,
    descends: c.descends,
    undo: undo && c.kind === 'pre-restore',
  };
  if (c.expiry?.soon && !c.pinned) node.expiresSoon = c.expiry.text;
  return node;
}

function restoreNode(r: RestoreEvent): GraphNode {
  const node: GraphNode = { row: 0, line: 0, lane: 0, kind: 'restore', id: r.operationId, title: 'Restored', sha: null, at: r.at, restorable: true, pinned: false, serving: false, descends: false, undo: false };
  if (r.targetId) node.targetId = r.targetId;
  return node;
}

/** How many of the sorted times are at or before `at` (ISO strings of one format compare as times). */
function countAtOrBefore(sortedTimes: readonly string[], at: string): number {
  let lo = 0;
  let hi = sortedTimes.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sortedTimes[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Restore rows' titles name what they restored: “Restored 'v1'”, or for a restore of an undo point “Undid the restore of 'v2'”. */
function titleRestores(nodes: GraphNode[], restores: readonly RestoreEvent[]): void {
  const byId = new Map<string, GraphNode>();
  for (const n of nodes) if (n.kind !== 'restore') byId.set(n.id, n);
  const undone = new Map<string, RestoreEvent>();
  for (const r of restores) if (r.undoId) undone.set(r.undoId, r);
  for (const n of nodes) {
    if (n.kind !== 'restore') continue;
    const target = n.targetId ? byId.get(n.targetId) : undefined;
    const undid = target ? undone.get(target.id) : undefined;
    const undidTarget = undid?.targetId ? byId.get(undid.targetId) : undefined;
    if (undid) n.title = undidTarget ? `Undid the restore of '${undidTarget.title}'` : 'Undid a restore';
    else if (target) n.title = `Restored '${target.title}'`;
    else n.title = n.targetId ? `Restored ${n.targetId} (no longer listed)` : 'Restored a moment';
  }
}
