// The Checkpoints tree's words without VS Code: serving vs descends from, undo points named after what they undo, restores grouped with them, redraw times.
import * as assert from 'node:assert/strict';
import type { Checkpoint } from '../../src/core/checkpoint';
import type { AuditEvent } from '../../src/core/journal';
import { servingOf, type ListedCheckpoint } from '../../src/core/listing';
import { relativeTime } from '../../src/core/relativeTime';
import { finishedRestores } from '../../src/core/restoreHistory';
import { preRestoreLabel, undoneTitle } from '../../src/core/undoLabel';
import { checkpointDescription, groupRows, nextTimeChangeMs, restoreRowLabel, undoRowLabel } from '../../src/extension/views/checkpointRows';

const NOW = Date.parse('2026-12-02T12:00:00.000Z');
const at = (secondsAgo: number): string => new Date(NOW - secondsAgo * 1000).toISOString();

let serial = 0;
function checkpoint(fields: Partial<Checkpoint> = {}): Checkpoint {
  serial++;
  return {
    id: `c${String(serial).padStart(11, '0')}`,
    kind: 'commit',
    commitSha: 'a'.repeat(40),
    branch: 'main',
    subject: `commit ${serial}`,
    author: 'A',
    filesChanged: 1,
    label: null,
    createdAt: at(600 - serial),
    engine: 'local',
    timelineId: '1',
    lsn: `0/${(0x3000000 + serial * 0x100).toString(16).toUpperCase()}`,
    ...fields,
  };
}

function listed(c: Checkpoint, fields: Partial<ListedCheckpoint> = {}): ListedCheckpoint {
  return { ...c, restorable: true, serving: false, descends: false, pinned: false, ...fields };
}

function finished(target: Checkpoint, undo: Checkpoint | undefined, fields: Partial<AuditEvent> & { served?: { timelineId: string; lsn: string } } = {}): AuditEvent {
  return { at: at(30), op: 'restore', phase: 'finished', operationId: `op${serial++}`, checkpointId: target.id, ...(undo ? { undoCheckpointId: undo.id } : {}), detail: 'code-and-data on main', ...fields };
}

/** servingOf's verdict without `from` (the position it compared, which the listing hands to Engine.dataChangedSince). */
function verdictOf(...args: Parameters<typeof servingOf>): { id: string; unmoved: boolean } | undefined {
  const found = servingOf(...args);
  return found && { id: found.id, unmoved: found.unmoved };
}

describe('serving or descends from (core/listing.ts servingOf)', () => {
  it('a checkpoint on the serving line serves while the head is exactly its position, and descends once the data moved', () => {
    const c = checkpoint({ timelineId: '2', lsn: '0/3000060' });
    assert.deepEqual(verdictOf([c], { timelineId: '2', lsn: '0/3000060' }, []), { id: c.id, unmoved: true });
    // The same LSN written another way is the same position.
    assert.deepEqual(verdictOf([c], { timelineId: '2', lsn: '0/03000060' }, []), { id: c.id, unmoved: true });
    assert.deepEqual(verdictOf([c], { timelineId: '2', lsn: '0/3000100' }, []), { id: c.id, unmoved: false });
    // Moved: the listing asks the engine whether only the engine wrote since this position.
    assert.deepEqual(servingOf([c], { timelineId: '2', lsn: '0/3000100' }, [])?.from, { timelineId: '2', lsn: '0/3000060' });
  });

  it("a restore target serves while the head is where the restore left it (its `served`), else descends", () => {
    const target = checkpoint({ timelineId: '1', lsn: '0/3000100', createdAt: at(500) });
    const undo = checkpoint({ kind: 'pre-restore', timelineId: '1', lsn: '0/4000000', createdAt: at(40) });
    const event = finished(target, undo, { served: { timelineId: '3', lsn: '0/5000028' } });
    assert.deepEqual(verdictOf([undo, target], { timelineId: '3', lsn: '0/5000028' }, [event]), { id: target.id, unmoved: true });
    assert.deepEqual(verdictOf([undo, target], { timelineId: '3', lsn: '0/5000A00' }, [event]), { id: target.id, unmoved: false });
  });

  it('a restore recorded without its position (before issue 12), a time-based checkpoint, cannot be called serving', () => {
    const target = checkpoint({ createdAt: at(500) });
    assert.deepEqual(verdictOf([target], { timelineId: '3', lsn: '0/5000028' }, [finished(target, undefined)]), { id: target.id, unmoved: false });
    const timeBased = checkpoint({ timelineId: '4', lsn: null });
    assert.deepEqual(verdictOf([timeBased], { timelineId: '4', lsn: '0/5000028' }, []), { id: timeBased.id, unmoved: false });
  });

  it('a checkpoint taken on the line after the restore takes over from the target; a code-only restore leaves the data where it was', () => {
    const target = checkpoint({ createdAt: at(500) });
    const after = checkpoint({ timelineId: '3', lsn: '0/5000100', createdAt: at(10) });
    const event = finished(target, undefined, { served: { timelineId: '3', lsn: '0/5000028' } });
    assert.deepEqual(verdictOf([after, target], { timelineId: '3', lsn: '0/5000100' }, [event]), { id: after.id, unmoved: true });
    const onLine = checkpoint({ timelineId: '3', lsn: '0/5000028', createdAt: at(200) });
    const codeOnly = finished(target, undefined, { detail: 'code-only on main' });
    assert.deepEqual(verdictOf([onLine, target], { timelineId: '3', lsn: '0/5000028' }, [codeOnly]), { id: onLine.id, unmoved: true });
  });

  it('nothing serves when there is no checkpoint on the line and no restore', () => {
    assert.equal(servingOf([checkpoint({ timelineId: '1' })], { timelineId: '9', lsn: '0/1' }, []), undefined);
  });
});

describe('undo points named after what they undo (core/undoLabel.ts)', () => {
  it("names the target's title in quotes, not its id", () => {
    const target = checkpoint({ kind: 'snapshot', label: 'before price bulk update', subject: 'add stock and orders' });
    assert.equal(preRestoreLabel(target), "Before restoring 'before price bulk update'");
    assert.equal(preRestoreLabel(checkpoint({ subject: 'add stock and orders' })), "Before restoring 'add stock and orders'");
  });

  it('undoing a restore does not nest: "Before undoing …", however many times', () => {
    const first = checkpoint({ kind: 'pre-restore', label: "Before restoring 'v2'" });
    const second = checkpoint({ kind: 'pre-restore', label: preRestoreLabel(first) });
    assert.equal(second.label, "Before undoing 'v2'");
    assert.equal(preRestoreLabel(second), "Before undoing 'v2'");
  });

  it('reads what old undo points (before issue 12) undid', () => {
    assert.equal(undoneTitle(checkpoint({ kind: 'pre-restore', label: 'Before restoring 67bcb04bbbd1 (add stock and orders)' })), 'add stock and orders');
    assert.equal(undoneTitle(checkpoint({ kind: 'pre-restore', label: 'Before restoring 67bcb04bbbd1' })), '67bcb04bbbd1');
    assert.equal(undoneTitle(checkpoint({ kind: 'pre-restore', label: 'Before restoring to 10 minutes ago' })), '10 minutes ago');
  });

  it('keeps control characters of a commit subject out of the label', () => {
    const label = preRestoreLabel(checkpoint({ subject: 'evil\u001b[2Jsubject\nsecond line' }));
    assert.doesNotMatch(label, /[\u0000-\u001f]/);
    assert.match(label, /^Before restoring '/);
  });
});

describe('restores grouped with their undo points (views/checkpointRows.ts)', () => {
  it("puts each finished restore in its undo point's place, with the undo point as its child", () => {
    const v1 = checkpoint({ kind: 'snapshot', label: 'v1', createdAt: at(300) });
    const undo = checkpoint({ kind: 'pre-restore', label: 'Before restoring 67bcb04bbbd1 (v1)', createdAt: at(100) });
    const failedUndo = checkpoint({ kind: 'pre-restore', label: "Before restoring 'v1'", createdAt: at(50) });
    const newer = checkpoint({ createdAt: at(20) });
    const restores = finishedRestores([{ at: at(90), op: 'restore', phase: 'finished', operationId: 'r1', checkpointId: v1.id, undoCheckpointId: undo.id }]);
    const page = [newer, failedUndo, undo, v1].map((c) => listed(c));
    const rows = groupRows(page, restores, (id) => [v1, undo].find((c) => c.id === id));
    assert.deepEqual(
      rows.map((r) => (r.kind === 'restore' ? `restore ${r.undo.id}` : r.checkpoint.id)),
      [newer.id, failedUndo.id, `restore ${undo.id}`, v1.id],
    );
    const row = rows[2]!;
    assert.ok(row.kind === 'restore');
    assert.equal(restoreRowLabel(row), "Restored 'v1'");
    // An old label still reads in words under its restore.
    assert.equal(undoRowLabel(row.undo, row.target), "Before restoring 'v1'");
  });

  it('an undo (a restore to an undo point) reads as one', () => {
    const undoPoint = checkpoint({ kind: 'pre-restore', label: "Before restoring 'v2'" });
    const next = checkpoint({ kind: 'pre-restore', label: "Before undoing 'v2'" });
    assert.equal(restoreRowLabel({ undo: next, target: undoPoint }), "Undid the restore of 'v2'");
    assert.equal(undoRowLabel(next, undoPoint), "Before undoing 'v2'");
  });
});

describe('row descriptions and their redraw (views/checkpointRows.ts)', () => {
  it('are short: time and state, no sha', () => {
    const c = listed(checkpoint({ createdAt: at(120) }), { serving: true });
    assert.equal(checkpointDescription(c, NOW), '2 minutes ago · serving');
    assert.equal(checkpointDescription({ ...c, serving: false, descends: true }, NOW), '2 minutes ago · descends from');
    assert.equal(checkpointDescription({ ...c, serving: false, pinned: true }, NOW), '2 minutes ago · pinned');
    const expiring = { ...c, serving: false, expiry: { soon: true, text: 'expires in 40 minutes', at: at(-2400) } };
    assert.equal(checkpointDescription(expiring, NOW), '2 minutes ago · expires in 40 minutes');
    assert.doesNotMatch(checkpointDescription(c, NOW), /aaaaaaa/);
    // A listing is kept while its files do not change: the time left is counted again at each redraw.
    assert.equal(checkpointDescription(expiring, NOW + 10 * 60_000), '12 minutes ago · expires in 30 minutes');
    assert.equal(checkpointDescription(expiring, NOW + 41 * 60_000), '43 minutes ago · expires any moment now');
    const byCount = { ...c, serving: false, expiry: { soon: true, text: 'expires after 2 more checkpoints', afterCheckpoints: 2 } };
    assert.equal(checkpointDescription(byCount, NOW + 3_600_000), '1 hour ago · expires after 2 more checkpoints');
  });

  it('are redrawn when the first shown time would read differently, so the tree says what the picker says', () => {
    // 40 s ago reads "just now" until 45 s: the redraw is due within 5 s (whole seconds, rounded up).
    const times = [at(40), at(3000)];
    const delay = nextTimeChangeMs(times, NOW);
    assert.equal(delay, 5000);
    assert.equal(relativeTime(times[0]!, NOW), 'just now');
    assert.equal(relativeTime(times[0]!, NOW + delay), '1 minute ago');
    // Nothing changes soon: at most 30 s.
    assert.equal(nextTimeChangeMs([at(86400 * 3)], NOW), 30_000);
    assert.equal(nextTimeChangeMs([], NOW), 30_000);
  });

  it('at every redraw, the tree text equals what the picker (asked then) would say', () => {
    const times = [at(10), at(70), at(100), at(3500)];
    let now = NOW;
    for (let i = 0; i < 20; i++) {
      const delay = nextTimeChangeMs(times, now);
      // Between redraws no text changes: the tree is never behind the picker by more than the stepping second.
      for (let ms = 0; ms < delay - 1000; ms += 250) {
        for (const t of times) assert.equal(relativeTime(t, now + ms), relativeTime(t, now), `${t} changed ${ms} ms after a redraw at ${now}`);
      }
      now += delay;
    }
  });
});
