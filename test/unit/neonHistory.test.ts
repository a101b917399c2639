// Where a Neon checkpoint's history lives after restores: the mapping, the preserved branch names, what prune may delete, which pin's snapshot holds a point.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import {
  loadNeonState,
  pinFor,
  preservedBranchName,
  preservedBranchesToDelete,
  resolveSource,
  saveNeonState,
  type NeonRestoreRecord,
  type NeonState,
} from '../../src/engines/neon/history';

const MAIN = 'br-main-1';

function restoreAt(startedAt: string, finishedAt: string | null, preservedBranchId: string | null, extra: Partial<NeonRestoreRecord> = {}): NeonRestoreRecord {
  return {
    branchId: MAIN,
    sourceBranchId: MAIN,
    sourceLsn: '0/100',
    preservedName: `lockstep-pre-restore-${startedAt}`,
    preservedBranchId,
    preservedHeadLsn: '0/900',
    startedAt,
    finishedAt,
    status: 'finished',
    ...extra,
  };
}

const state = (restores: NeonRestoreRecord[]): NeonState => ({ version: 1, projectId: 'p-1', restores });

describe('neon history: where a checkpoint lives now', function () {
  // Two restores of main: R1 preserved br-p1, R2 preserved br-p2.
  const s = state([
    restoreAt('2026-11-22T10:00:00.000Z', '2026-11-22T10:00:05.000Z', 'br-p1'),
    restoreAt('2026-11-22T11:00:00.000Z', '2026-11-22T11:00:05.000Z', 'br-p2'),
  ]);
  const at = (createdAt: string | undefined, timelineId = MAIN) => ({ timelineId, lsn: '0/200', ...(createdAt ? { createdAt } : {}) });

  it('a checkpoint before the first restore lives on the branch that restore preserved', () => {
    assert.deepEqual(resolveSource(s, MAIN, at('2026-11-22T09:00:00.000Z')), { kind: 'branch', branchId: 'br-p1', headLsn: '0/900', preservedBy: s.restores[0] });
  });

  it('a checkpoint between two restores lives on the branch the second preserved', () => {
    const r = resolveSource(s, MAIN, at('2026-11-22T10:30:00.000Z'));
    assert.equal(r.kind === 'branch' && r.branchId, 'br-p2');
  });

  it('a checkpoint after every restore lives on the branch itself', () => {
    assert.deepEqual(resolveSource(s, MAIN, at('2026-11-22T12:00:00.000Z')), { kind: 'branch', branchId: MAIN });
  });

  it('the boundaries: at the start of a restore is before it; while it ran is before it; at its end is after it', () => {
    const branchOf = (t: string) => {
      const r = resolveSource(s, MAIN, at(t));
      return r.kind === 'branch' ? r.branchId : r.kind;
    };
    assert.equal(branchOf('2026-11-22T10:00:00.000Z'), 'br-p1');
    assert.equal(branchOf('2026-11-22T10:00:04.999Z'), 'br-p1');
    assert.equal(branchOf('2026-11-22T10:00:05.000Z'), 'br-p2');
  });

  it('checkpoints on other branches, or without a time, are not moved', () => {
    assert.deepEqual(resolveSource(s, MAIN, at('2026-11-22T09:00:00.000Z', 'br-other')), { kind: 'branch', branchId: 'br-other' });
    assert.deepEqual(resolveSource(s, MAIN, at(undefined)), { kind: 'branch', branchId: MAIN });
  });

  it('only restores of this branch count', () => {
    const other = state([restoreAt('2026-11-22T10:00:00.000Z', '2026-11-22T10:00:05.000Z', 'br-q', { branchId: 'br-dev' })]);
    assert.deepEqual(resolveSource(other, MAIN, at('2026-11-22T09:00:00.000Z')), { kind: 'branch', branchId: MAIN });
  });

  it('a restore whose outcome is unknown is reported, not guessed', () => {
    const unsure = state([restoreAt('2026-11-22T10:00:00.000Z', null, null, { status: 'unconfirmed' })]);
    assert.equal(resolveSource(unsure, MAIN, at('2026-11-22T09:00:00.000Z')).kind, 'unconfirmed');
    assert.equal(resolveSource(unsure, MAIN, at('2026-11-22T10:00:01.000Z')).kind, 'branch');
  });

  it('a pruned preserved branch, or one never learnt, means the history is gone', () => {
    const pruned = state([restoreAt('2026-11-22T10:00:00.000Z', '2026-11-22T10:00:05.000Z', 'br-p1', { deletedAt: '2026-11-23T00:00:00.000Z' })]);
    const r = resolveSource(pruned, MAIN, at('2026-11-22T09:00:00.000Z'));
    assert.equal(r.kind, 'gone');
    assert.match(r.kind === 'gone' ? r.reason : '', /pruned/);
    const unknown = state([restoreAt('2026-11-22T10:00:00.000Z', '2026-11-22T10:00:05.000Z', null)]);
    assert.equal(resolveSource(unknown, MAIN, at('2026-11-22T09:00:00.000Z')).kind, 'gone');
  });

  it('restores are taken in time order whatever the file order', () => {
    const shuffled = state([...s.restores].reverse());
    const r = resolveSource(shuffled, MAIN, at('2026-11-22T09:00:00.000Z'));
    assert.equal(r.kind === 'branch' && r.branchId, 'br-p1');
  });
});

describe('neon history: preserved branch names', function () {
  it('readable, with the time to the second, and never reused', () => {
    const now = new Date('2026-11-22T15:04:05.678Z');
    assert.equal(preservedBranchName(now, new Set()), 'lockstep-pre-restore-2026-11-22T15-04-05Z');
    const taken = new Set(['lockstep-pre-restore-2026-11-22T15-04-05Z', 'lockstep-pre-restore-2026-11-22T15-04-05Z-2']);
    assert.equal(preservedBranchName(now, taken), 'lockstep-pre-restore-2026-11-22T15-04-05Z-3');
  });
});

describe('neon history: what prune may delete', function () {
  const records = [1, 2, 3, 4].map((n) => restoreAt(`2026-11-22T1${n}:00:00.000Z`, `2026-11-22T1${n}:00:01.000Z`, `br-p${n}`));

  it('keeps the newest N and every branch a kept checkpoint needs', () => {
    const doomed = preservedBranchesToDelete(state(records), 2, new Set(['br-p1']));
    assert.deepEqual(doomed.map((r) => r.preservedBranchId), ['br-p2']);
  });

  it('skips what is already deleted or not confirmed', () => {
    const mixed = state([
      { ...records[0]!, deletedAt: '2026-11-23T00:00:00.000Z' },
      { ...records[1]!, status: 'unconfirmed', preservedBranchId: null },
      records[2]!,
      records[3]!,
    ]);
    assert.deepEqual(preservedBranchesToDelete(mixed, 1, new Set()).map((r) => r.preservedBranchId), ['br-p3']);
  });

  it('keeping zero deletes every unneeded one', () => {
    assert.equal(preservedBranchesToDelete(state(records), 0, new Set()).length, 4);
  });
});

describe('neon history: the state file', function () {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-neon-state-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips, private to its owner, and starts empty', () => {
    const file = path.join(dir, 'neon-state.json');
    assert.deepEqual(loadNeonState(file, 'p-1'), state([]));
    const s = state([restoreAt('2026-11-22T10:00:00.000Z', '2026-11-22T10:00:05.000Z', 'br-p1')]);
    saveNeonState(file, s);
    assert.deepEqual(loadNeonState(file, 'p-1'), s);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('refuses a file of another project or a broken one, with a hint', () => {
    const file = path.join(dir, 'neon-state.json');
    saveNeonState(file, state([]));
    assert.throws(() => loadNeonState(file, 'p-2'), (e: unknown) => isLockstepError(e, 'CONFIG') && /p-1/.test(e.message));
    fs.writeFileSync(file, '{ not json');
    assert.throws(() => loadNeonState(file, 'p-1'), (e: unknown) => isLockstepError(e, 'CONFIG') && e.hint !== undefined);
  });
});

describe('neon history: the pin that holds a point', function () {
  const state: NeonState = {
    version: 1,
    projectId: 'p-1',
    restores: [],
    pins: [
      { snapshotId: 'snap-1', snapshotName: 'a', checkpointId: 'c1', timelineId: MAIN, lsn: '0/100', createdAt: '2026-11-22T10:00:00.000Z', sourceBranchId: MAIN, takenAt: '2026-11-22T10:00:01.000Z' },
      { snapshotId: 'snap-2', snapshotName: 'b', checkpointId: 'c2', timelineId: MAIN, lsn: null, createdAt: '2026-11-22T11:00:00.000Z', sourceBranchId: MAIN, takenAt: '2026-11-22T11:00:01.000Z' },
    ],
  };

  it('by branch and LSN, whatever the time the point carries', () => {
    assert.equal(pinFor(state, { timelineId: MAIN, lsn: '0/100', createdAt: '2020-01-01T00:00:00Z' })?.snapshotId, 'snap-1');
    assert.equal(pinFor(state, { timelineId: MAIN, lsn: '0/101' }), undefined);
    assert.equal(pinFor(state, { timelineId: 'br-other', lsn: '0/100' }), undefined, 'the same LSN on another branch is another point');
  });

  it('a moment by its exact time only', () => {
    assert.equal(pinFor(state, { timelineId: MAIN, lsn: null, createdAt: '2026-11-22T11:00:00.000Z' })?.snapshotId, 'snap-2');
    assert.equal(pinFor(state, { timelineId: MAIN, lsn: null, createdAt: '2026-11-22T11:00:00.001Z' }), undefined);
  });

  it('a state file without pins (written before pins existed) holds none', () => {
    assert.equal(pinFor({ version: 1, projectId: 'p-1', restores: [] }, { timelineId: MAIN, lsn: '0/100' }), undefined);
  });
});
