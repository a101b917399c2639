// The local engine's verdicts: which points can be restored, why not (never repeating the point), and when WAL is not archived yet.

import * as assert from 'node:assert/strict';
import { restorabilityError, type PointInHistory, type Unrestorable } from '../../src/core/engine';
import type { ListedCheckpoint } from '../../src/core/listing';
import { toListing, unrestorableLabel } from '../../src/core/listing';
import { parseLsn } from '../../src/base/lsn';
import type { BackupMeta } from '../../src/engines/local/baseBackup';
import { archivedEnd, assessTarget, oldestWaitingSegment, type HistoryView } from '../../src/engines/local/restorability';

const SEGMENT = 16 * 1024 * 1024;

function backup(id: string, timeline: number, stopLsn: string): BackupMeta {
  return { id, timeline, startLsn: stopLsn, stopLsn, createdAt: '2026-01-01T00:00:00Z', bytes: 1 } as BackupMeta;
}

function view(overrides: Partial<HistoryView> = {}): HistoryView {
  return {
    state: { version: 1, serving: 'data-1', servingTimeline: 1, timelines: { '1': { dataDir: 'data-1' } }, walSegmentBytes: SEGMENT, nextDataDir: 2 },
    known: new Set([1]),
    backups: [backup('b1', 1, '0/2000100')],
    history: () => [],
    ...overrides,
  };
}

function verdict(v: HistoryView, at: PointInHistory, head?: string): Unrestorable | undefined {
  const assessed = assessTarget(v, at, head ? { timelineId: at.timelineId, lsn: head } : undefined);
  return 'restorable' in assessed ? assessed : undefined;
}

describe('local engine: restorability verdicts', () => {
  it('judges a point as restorable from the newest backup before it', () => {
    const assessed = assessTarget(view(), { timelineId: '1', lsn: '0/3000000' }, undefined);
    assert.ok(!('restorable' in assessed));
    assert.equal(assessed.backup.id, 'b1');
  });

  it('gives each reason a verdict whose message names no point (the error does)', () => {
    const cases: [PointInHistory, string | undefined, Unrestorable['reason'], string][] = [
      [{ timelineId: 'x', lsn: '0/3000000' }, undefined, 'unknown-timeline', 'not a timeline of the local database'],
      [{ timelineId: '1', lsn: 'zz' }, undefined, 'unknown-timeline', 'not an LSN'],
      [{ timelineId: '7', lsn: '0/3000000' }, undefined, 'unknown-timeline', 'its timeline is not known to the local database'],
      [{ timelineId: '1', lsn: '0/5000000' }, '0/4000000', 'beyond-head', 'beyond the current head (0/4000000)'],
      [{ timelineId: '1', lsn: '0/1000000' }, undefined, 'expired', 'older than every base backup kept'],
    ];
    for (const [at, head, reason, message] of cases) {
      const v = verdict(view(), at, head);
      assert.deepEqual([v?.reason, v?.message], [reason, message], JSON.stringify(at));
    }
    const expired = verdict(view(), { timelineId: '1', lsn: '0/1000000' })!;
    const error = restorabilityError(expired, { timelineId: '1', lsn: '0/1000000' });
    assert.equal(error.code, 'EXPIRED');
    assert.equal(error.message, '1 at 0/1000000 cannot be restored: older than every base backup kept');
    assert.match(error.hint ?? '', /--code-only/);
  });

  it('judges a moment (a time-based checkpoint) by the clock: backup finished before it, timeline end, archiver failing since', () => {
    const moment = (timelineId: string, createdAt: string): PointInHistory => ({ timelineId, lsn: null, createdAt });
    const backups = [{ ...backup('b1', 1, '0/2000100'), createdAt: '2026-01-01T00:00:00.000Z' }, { ...backup('b2', 1, '0/6000100'), createdAt: '2026-01-02T00:00:00.000Z' }];
    const assessed = assessTarget(view({ backups }), moment('1', '2026-01-01T12:00:00.000Z'), undefined);
    assert.ok(!('restorable' in assessed), JSON.stringify(assessed));
    assert.equal(assessed.backup.id, 'b1', 'the newest backup that finished before the moment, not the later one');
    assert.deepEqual(assessed.stop, { kind: 'time', time: '2026-01-01T12:00:00.000Z' });
    assert.equal((assessTarget(view({ backups }), moment('1', '2026-01-03T00:00:00.000Z'), undefined) as { backup: BackupMeta }).backup.id, 'b2');

    const before = verdict(view({ backups }), moment('1', '2025-12-31T00:00:00.000Z'));
    assert.equal(before?.reason, 'expired');
    assert.match(before?.message ?? '', /none finished before that time/);
    assert.equal(verdict(view({ backups }), moment('1', new Date(Date.now() + 3_600_000).toISOString()))?.reason, 'beyond-head');
    assert.equal(verdict(view({ backups }), moment('7', '2026-01-01T12:00:00.000Z'))?.reason, 'unknown-timeline');
    assert.equal(verdict(view({ backups }), moment('1', 'yesterday'))?.reason, 'unknown-timeline');

    // An abandoned timeline ends when it stopped serving.
    const abandoned = view({
      backups,
      known: new Set([1, 2]),
      state: { ...view().state, servingTimeline: 2, serving: 'data-2', timelines: { '1': { endLsn: '0/7000000', abandonedAt: '2026-01-02T06:00:00.000Z' }, '2': { dataDir: 'data-2' } } },
      history: (t) => (t === 2 ? [{ timeline: 1, switchLsn: parseLsn('0/6800000') }] : []),
    });
    assert.equal(verdict(abandoned, moment('1', '2026-01-02T05:00:00.000Z')), undefined);
    const late = verdict(abandoned, moment('1', '2026-01-02T07:00:00.000Z'));
    assert.equal(late?.reason, 'beyond-head');
    assert.match(late?.message ?? '', /stopped serving at 2026-01-02T06:00:00.000Z/);

    // While archiving fails: a moment after it began failing is not archived; one before is.
    const gap = { timeline: 1, archivedEnd: parseLsn('0/4000000'), failingSince: Date.parse('2026-01-02T00:00:00.000Z'), failure: 'Permission denied', message: 'its WAL is not archived yet (Permission denied)', hint: 'Check …' };
    assert.equal(verdict(view({ backups, gap }), moment('1', '2026-01-01T12:00:00.000Z')), undefined);
    const stuck = verdict(view({ backups, gap }), moment('1', '2026-01-02T12:00:00.000Z'));
    assert.equal(stuck?.reason, 'not-archived');
    assert.match(stuck?.message ?? '', /failed since 2026-01-02T00:00:00.000Z/);
    assert.equal(restorabilityError(stuck!, moment('1', '2026-01-02T12:00:00.000Z')).message.startsWith('1 at 2026-01-02T12:00:00.000Z (by time) cannot be restored'), true);
  });

  it('bounds an abandoned timeline by where its WAL ends', () => {
    const v = view({ known: new Set([1, 2]), state: { ...view().state, servingTimeline: 2, timelines: { '1': { endLsn: '0/4000000' }, '2': {} } } });
    assert.equal(verdict(v, { timelineId: '1', lsn: '0/4000001' })?.message, 'beyond the end of its timeline (0/4000000)');
  });

  it('marks points at or past the archived end of the serving timeline as not archived, while archiving fails', () => {
    const gap = { timeline: 1, archivedEnd: parseLsn('0/4000000'), failingSince: 0, failure: 'Postgres cannot archive WAL: …: Permission denied', message: 'its WAL is not archived yet (Postgres cannot archive WAL: …: Permission denied)', hint: 'Check …' };
    const v = view({ gap });
    assert.equal(verdict(v, { timelineId: '1', lsn: '0/3FFFFF0' }), undefined, 'inside the archive: restorable');
    const notYet = verdict(v, { timelineId: '1', lsn: '0/4000000' });
    assert.deepEqual(notYet, { restorable: false, reason: 'not-archived', message: gap.message, hint: gap.hint });
    assert.equal(restorabilityError(notYet!, { timelineId: '1', lsn: '0/4000000' }).code, 'ARCHIVE_STUCK');
    assert.equal(verdict(view({ gap: { ...gap, timeline: 2 } }), { timelineId: '1', lsn: '0/5000000' }), undefined, 'another timeline: archived at its seal');
  });

  it('finds the end of the newest archived segment of a timeline', () => {
    const names = ['000000010000000000000002', '000000010000000000000003', '000000010000000000000004.partial', '000000020000000000000004', '00000002.history', '000000010000000000000003.00000028.backup'];
    assert.equal(archivedEnd(names, 1, SEGMENT), parseLsn('0/4000000'));
    assert.equal(archivedEnd(names, 2, SEGMENT), parseLsn('0/5000000'));
    assert.equal(archivedEnd(names, 3, SEGMENT), 0n);
    assert.equal(archivedEnd(['0000000100000001000000FF'], 1, SEGMENT), parseLsn('2/0'));
  });

  it('calls a segment stuck once it has waited for the archiver a while', () => {
    const ready = [
      { segment: '000000010000000000000005', readySince: 9_500 },
      { segment: '000000010000000000000004', readySince: 8_000 },
    ];
    assert.equal(oldestWaitingSegment(ready, 10_000, 1_000)?.segment, '000000010000000000000004');
    assert.equal(oldestWaitingSegment(ready, 8_500, 1_000), undefined, 'just completed: the archiver has not had its chance');
    assert.equal(oldestWaitingSegment([], 10_000, 1_000), undefined);
  });

  it('lists a not-archived checkpoint as not yet restorable, with its reason in --json', () => {
    const unrestorable: Unrestorable = { restorable: false, reason: 'not-archived', message: 'its WAL is not archived yet (…)' };
    assert.equal(unrestorableLabel(unrestorable), 'not yet restorable');
    assert.equal(unrestorableLabel({ ...unrestorable, reason: 'expired' }), 'expired');
    const listed = {
      id: 'a', kind: 'snapshot', commitSha: null, branch: null, subject: null, author: null, filesChanged: null, label: 'x',
      createdAt: '2026-01-01T00:00:00Z', engine: 'local', timelineId: '1', lsn: '0/4000000', restorable: false, unrestorable, serving: false, descends: false, pinned: false,
    } satisfies ListedCheckpoint;
    assert.deepEqual(toListing(listed).unrestorable, { reason: 'not-archived', message: 'its WAL is not archived yet (…)' });
    assert.equal(toListing({ ...listed, restorable: true, unrestorable: undefined }).unrestorable, null);
  });
});
