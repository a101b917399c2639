// The history graph's layout: lines split by restores (whatever the engine does with timeline ids), forks, lanes, the undo points, the serving line.
import * as assert from 'node:assert/strict';
import type { CheckpointKind } from '../../src/core/checkpoint';
import { buildHistoryGraph, type HistoryGraph } from '../../src/core/historyGraph';
import type { ListedCheckpoint } from '../../src/core/listing';
import type { RestoreEvent } from '../../src/core/restoreHistory';

const T0 = Date.parse('2026-12-02T09:00:00.000Z');
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();

function checkpoint(id: string, kind: CheckpointKind, minute: number, timelineId: string, extra: Partial<ListedCheckpoint> = {}): ListedCheckpoint {
  return {
    id,
    kind,
    timelineId,
    lsn: `0/${(0x1000000 + minute * 0x100).toString(16).toUpperCase()}`,
    commitSha: kind === 'commit' ? `${id}${'0'.repeat(40 - id.length)}` : null,
    branch: 'main',
    subject: kind === 'commit' ? `subject ${id}` : null,
    author: null,
    filesChanged: null,
    label: kind === 'pre-restore' ? `Before restoring ${id}` : kind === 'commit' ? null : `label ${id}`,
    createdAt: at(minute),
    engine: 'local',
    restorable: true,
    serving: false,
    descends: false,
    pinned: false,
    ...extra,
  };
}

function restore(operationId: string, minute: number, targetId: string, undoId: string, detail = 'both on main'): RestoreEvent {
  return { operationId, at: at(minute), startedAt: at(minute - 0.5), targetId, undoId, detail };
}

/** Ids per row, a line's ids top to bottom. */
const rows = (graph: HistoryGraph): string[] => graph.nodes.map((n) => n.id);
const lineIds = (graph: HistoryGraph, line: number): string[] => graph.nodes.filter((n) => n.line === line).map((n) => n.id);
const node = (graph: HistoryGraph, id: string) => graph.nodes.find((n) => n.id === id)!;

/**
 * Three commits, a restore to the first, a commit, a restore to the second,
 * a commit, then an undo of that last restore (a restore of its pre-restore
 * checkpoint). Timelines as the local engine numbers them: one per restore.
 */
function twoRestoresAndAnUndo(timelines: [string, string, string, string]): { checkpoints: ListedCheckpoint[]; restores: RestoreEvent[] } {
  const [t1, t2, t3, t4] = timelines;
  const oldestFirst = [
    checkpoint('c1', 'commit', 1, t1),
    checkpoint('c2', 'commit', 2, t1),
    checkpoint('s3', 'snapshot', 3, t1),
    checkpoint('p1', 'pre-restore', 4, t1),
    checkpoint('c4', 'commit', 6, t2),
    checkpoint('p2', 'pre-restore', 7, t2, { serving: true }),
    checkpoint('c5', 'commit', 9, t3),
    checkpoint('p3', 'pre-restore', 10, t3),
  ];
  void t4;
  const restores = [restore('rC', 11, 'p2', 'p3'), restore('rB', 8, 'c2', 'p2'), restore('rA', 5, 'c1', 'p1')];
  return { checkpoints: oldestFirst.reverse(), restores };
}

describe('buildHistoryGraph', () => {
  it('draws one line in one lane when nothing was restored', () => {
    const checkpoints = [checkpoint('c3', 'commit', 3, '1', { serving: true }), checkpoint('c2', 'snapshot', 2, '1'), checkpoint('c1', 'commit', 1, '1')];
    const graph = buildHistoryGraph(checkpoints, []);
    assert.deepEqual(rows(graph), ['c3', 'c2', 'c1']);
    assert.equal(graph.lines.length, 1);
    assert.equal(graph.lanes, 1);
    assert.equal(graph.servingLine, 0);
    assert.ok(graph.lines[0]!.serving);
    assert.equal(graph.lines[0]!.fork, undefined);
    assert.deepEqual(
      graph.edges.map((e) => [e.fromRow, e.toRow, e.fork, e.serving]),
      [
        [0, 1, false, true],
        [1, 2, false, true],
      ],
    );
    assert.ok(node(graph, 'c3').serving);
    assert.equal(node(graph, 'c2').sha, null);
    assert.equal(node(graph, 'c1').sha, 'c100000');
  });

  it('forks a line per restore from its target, ends the line it left at the undo point, and puts the serving line leftmost', () => {
    const { checkpoints, restores } = twoRestoresAndAnUndo(['1', '2', '3', '4']);
    const graph = buildHistoryGraph(checkpoints, restores);
    assert.deepEqual(rows(graph), ['rC', 'p3', 'c5', 'rB', 'p2', 'c4', 'rA', 'p1', 's3', 'c2', 'c1']);
    assert.equal(graph.lines.length, 4);
    assert.deepEqual(lineIds(graph, 0), ['p1', 's3', 'c2', 'c1']);
    assert.deepEqual(lineIds(graph, 1), ['p2', 'c4', 'rA']);
    assert.deepEqual(lineIds(graph, 2), ['p3', 'c5', 'rB']);
    assert.deepEqual(lineIds(graph, 3), ['rC']);
    // Forks: each restore's line from its target's row.
    assert.equal(graph.lines[0]!.fork, undefined);
    assert.equal(graph.lines[1]!.fork!.nodeId, 'c1');
    assert.equal(graph.lines[2]!.fork!.nodeId, 'c2');
    assert.equal(graph.lines[3]!.fork!.nodeId, 'p2');
    // The undo points end the lines the restores left.
    assert.deepEqual(graph.nodes.filter((n) => n.undo).map((n) => n.id), ['p3', 'p2', 'p1']);
    assert.deepEqual(graph.lines.map((l) => l.ended), [true, true, true, false]);
    // The serving line: the newest, in column 0; the undo continues the column of the line it went back to.
    assert.equal(graph.servingLine, 3);
    assert.equal(graph.lines[3]!.lane, 0);
    assert.equal(graph.lines[1]!.lane, 0, 'the undo goes back to the line it undid the restore from: same column');
    assert.equal(graph.lines[2]!.lane, 1);
    assert.equal(graph.lines[0]!.lane, 2);
    assert.equal(graph.lanes, 3);
    // The serving mark moves from the restored checkpoint (another line) to the restore row that began the serving line.
    assert.ok(node(graph, 'rC').serving);
    assert.ok(!node(graph, 'p2').serving);
    // Restore rows say what they restored, in words.
    assert.equal(node(graph, 'rA').title, "Restored 'subject c1'");
    assert.equal(node(graph, 'rC').title, "Undid the restore of 'subject c2'");
    // Fork strokes: from the line's oldest row into the parent's column at the target's row.
    const forks = graph.edges.filter((e) => e.fork).map((e) => [e.fromRow, e.fromLane, e.toRow, e.toLane, e.serving]);
    assert.deepEqual(forks, [
      [0, 0, 4, 0, true],
      [3, 1, 9, 2, false],
      [6, 0, 10, 2, false],
    ]);
    // No two lines share a column over the rows they span (a fork's stroke runs in the child's column down to the row above its target).
    const spans = graph.lines.map((l) => ({ lane: l.lane, from: l.top, to: l.fork && l.fork.lane !== l.lane ? l.fork.row - 1 : l.bottom }));
    for (const a of spans) for (const b of spans) if (a !== b && a.lane === b.lane) assert.ok(a.to < b.from || b.to < a.from, `lines overlap in lane ${a.lane}`);
  });

  it('finds the same lines when the engine keeps one timeline id across restores (Neon in place)', () => {
    const local = twoRestoresAndAnUndo(['1', '2', '3', '4']);
    const neon = twoRestoresAndAnUndo(['br-main', 'br-main', 'br-main', 'br-main']);
    const a = buildHistoryGraph(local.checkpoints, local.restores);
    const b = buildHistoryGraph(neon.checkpoints, neon.restores);
    assert.deepEqual(
      b.nodes.map((n) => [n.id, n.row, n.line, n.lane]),
      a.nodes.map((n) => [n.id, n.row, n.line, n.lane]),
    );
    assert.deepEqual(b.edges, a.edges);
  });

  it('splits a line where the timeline changes with no restore recorded (the audit trail no longer holds it)', () => {
    const checkpoints = [checkpoint('c3', 'commit', 3, '2'), checkpoint('c2', 'commit', 2, '1'), checkpoint('c1', 'commit', 1, '1')];
    const graph = buildHistoryGraph(checkpoints, []);
    assert.equal(graph.lines.length, 2);
    assert.deepEqual(lineIds(graph, 1), ['c3']);
    assert.equal(graph.lines[1]!.fork, undefined, 'its origin is unknown: no fork is drawn');
    assert.equal(graph.servingLine, 1);
    assert.equal(graph.lines[1]!.lane, 0);
    assert.equal(graph.lines[0]!.lane, 0, 'the lines do not overlap: they share column 0');
  });

  it('forks nothing for a code-only restore (the data did not move)', () => {
    const checkpoints = [checkpoint('c2', 'commit', 3, '1'), checkpoint('p1', 'pre-restore', 1.5, '1'), checkpoint('c1', 'commit', 1, '1')];
    const graph = buildHistoryGraph(checkpoints, [restore('r', 2, 'c1', 'p1', 'code-only on main')]);
    assert.equal(graph.lines.length, 1);
    assert.deepEqual(rows(graph), ['c2', 'p1', 'c1']);
  });

  it('greys the strokes between checkpoints whose data is gone, and marks pinned and expiring ones', () => {
    const checkpoints = [
      checkpoint('c4', 'commit', 4, '1'),
      checkpoint('c3', 'commit', 3, '1', { expiry: { afterCheckpoints: 1, soon: true, text: 'expires after 1 more checkpoint' } }),
      checkpoint('c2', 'commit', 2, '1', { restorable: false, unrestorable: { restorable: false, reason: 'expired', message: 'past retention' } }),
      checkpoint('c1', 'commit', 1, '1', { restorable: false, pinned: true, unrestorable: { restorable: false, reason: 'expired', message: 'past retention' } }),
    ];
    const graph = buildHistoryGraph(checkpoints, []);
    assert.deepEqual(
      graph.edges.map((e) => e.expired),
      [false, false, true],
    );
    assert.equal(node(graph, 'c3').expiresSoon, 'expires after 1 more checkpoint');
    assert.ok(node(graph, 'c1').pinned);
  });

  it('keeps a restore whose target is no longer listed as a line with no fork, saying so', () => {
    const checkpoints = [checkpoint('c2', 'commit', 3, '2'), checkpoint('p1', 'pre-restore', 1.5, '1'), checkpoint('c1', 'commit', 1, '1')];
    const graph = buildHistoryGraph(checkpoints, [restore('r', 2, 'gone12345678', 'p1')]);
    assert.equal(graph.lines.length, 2);
    assert.equal(graph.lines[1]!.fork, undefined);
    assert.equal(node(graph, 'r').title, 'Restored gone12345678 (no longer listed)');
  });

  it('shows the serving line after a restore with no checkpoint since: one restore row', () => {
    const checkpoints = [checkpoint('p1', 'pre-restore', 2, '1'), checkpoint('c1', 'commit', 1, '1', { serving: true })];
    const graph = buildHistoryGraph(checkpoints, [restore('r', 3, 'c1', 'p1')]);
    assert.deepEqual(rows(graph), ['r', 'p1', 'c1']);
    assert.equal(graph.servingLine, 1);
    assert.ok(node(graph, 'r').serving);
    assert.equal(graph.lines[1]!.lane, 0);
    assert.equal(graph.lines[0]!.lane, 1);
  });

  it('lays out 10,000 checkpoints with a restore every 1,000 in few columns', () => {
    const checkpoints: ListedCheckpoint[] = [];
    const restores: RestoreEvent[] = [];
    let timeline = 1;
    for (let i = 0; i < 10_000; i++) {
      if (i > 0 && i % 1000 === 0) {
        checkpoints.push(checkpoint(`p${i}`, 'pre-restore', i - 0.2, String(timeline)));
        restores.push(restore(`r${i}`, i - 0.1, `c${i - 500}`, `p${i}`));
        timeline += 1;
      }
      checkpoints.push(checkpoint(`c${i}`, 'commit', i, String(timeline)));
    }
    const graph = buildHistoryGraph(checkpoints.reverse(), restores.reverse());
    assert.equal(graph.nodes.length, 10_000 + 9 * 2);
    assert.equal(graph.lines.length, 10);
    assert.equal(graph.lanes, 2, 'each line overlaps only the one it forked from');
    assert.equal(graph.nodes[0]!.id, 'c9999');
    assert.equal(graph.nodes[0]!.lane, 0);
  });
});
