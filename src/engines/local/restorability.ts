// Whether a checkpoint can be restored, and from which base backup: a verdict for every point, an error only where a fork must stop.

import { isMoment, restorabilityError, type MomentInHistory, type OperationOptions, type PointInHistory, type Position, type Restorability, type Unrestorable } from '../../core/engine';
import { isLockstepError, LockstepError } from '../../base/errors';
import { formatLsn, isLsn, parseLsn } from '../../base/lsn';
import { archivedTimelines, archiverFailing, historyReader, safeReaddir, segmentsAwaitingArchive, type AwaitingArchive, type HistoryReader } from './archive';
import { chooseBackup, chooseBackupAt, listBackups, type BackupMeta } from './baseBackup';
import type { LocalContext } from './context';
import type { LocalState } from './layout';
import { archiverError, archiverFailure } from './server';

/** What restorability depends on, read once (for one point or 10,000). */
export interface HistoryView {
  state: LocalState;
  known: Set<number>;
  backups: BackupMeta[];
  history: HistoryReader;
  /** While archiving fails: where the serving timeline's archived WAL ends, and the archiver's own words. */
  gap?: ArchiveGap;
}

export interface ArchiveGap {
  timeline: number;
  /** The end of the newest segment of `timeline` in the archive: a point at or past it cannot be replayed yet. */
  archivedEnd: bigint;
  /** Since when (ms) the archiver has failed, as far as can be told: its last success, or when the stuck segment became ready. */
  failingSince: number;
  /** The archiver's failure, in its own words. */
  failure: string;
  message: string;
  hint: string;
}

/**
 * Where recovery stops: just before a position (`recovery_target_lsn`, not
 * inclusive), or, for a time-based checkpoint, after the last transaction
 * committed at or before a moment (`recovery_target_time`, inclusive).
 */
export type RecoveryStop = { kind: 'lsn'; lsn: bigint } | { kind: 'time'; time: string };

/** A restorable point: the timeline recovery follows, where it stops, and the base backup it starts from. */
export interface Target {
  timeline: number;
  stop: RecoveryStop;
  backup: BackupMeta;
}

/** The stop in words, for progress and errors: "0/3000028", or "2026-12-01T10:00:00.000Z (by time)". */
export function describeStop(stop: RecoveryStop): string {
  return stop.kind === 'lsn' ? formatLsn(stop.lsn) : `${stop.time} (by time)`;
}

export function historyView(engine: LocalContext, options: { archiver?: boolean } = {}): HistoryView {
  const { layout } = engine;
  const state = layout.readState();
  const known = new Set(archivedTimelines(layout.archive));
  known.add(state.servingTimeline);
  const gap = options.archiver === false ? undefined : archiveGap(engine, state);
  return { state, known, backups: listBackups(layout.backups), history: historyReader(layout.archive), ...(gap ? { gap } : {}) };
}

/** The full question, for one point: a target on the serving timeline is bounded by the head the server reports. */
export async function restorability(engine: LocalContext, at: PointInHistory, options: OperationOptions = {}): Promise<Restorability> {
  const assessed = await assess(engine, at, options);
  if (!isTarget(assessed)) return assessed;
  // Even a point that is archived: the cut-over needs the current timeline's end in the archive, so a restore would
  // recover a fork and then refuse. Said now, before anything changes (the caller has just read the head and the archiver).
  const gap = historyView(engine).gap;
  if (gap) return unrestorable('not-archived', `WAL archiving fails, and a restore cuts over only once the current timeline's WAL is archived (${gap.failure})`, gap.hint);
  return { restorable: true };
}

/**
 * For listings: every point against one view, without the database (a target
 * past the head is found when restored). Whether archiving fails is what this
 * process last read of the archiver (`head` or `status`), else guessed from
 * the serving data directory (see `archiveGap`).
 */
export function restorableMany(engine: LocalContext, points: readonly PointInHistory[]): Restorability[] {
  const view = historyView(engine);
  return points.map((p): Restorability => {
    const assessed = assessTarget(view, p, undefined);
    return isTarget(assessed) ? { restorable: true } : assessed;
  });
}

/**
 * For a fork or a preview: the target, or the verdict as the error every engine
 * throws for it. Not judged by the archiver's last failure: the fork archives
 * the WAL it needs itself and refuses at the archiver's next failure, so an
 * archive fixed a moment ago (Postgres retries only after a minute) works.
 */
export async function checkTarget(engine: LocalContext, at: PointInHistory, options: OperationOptions = {}): Promise<Target> {
  // A malformed LSN is bad input, not a verdict on the point (as the other engines say it).
  if (!isMoment(at) && !isLsn(at.lsn)) throw new LockstepError('BAD_LSN', `"${at.lsn}" is not an LSN`);
  const assessed = await assess(engine, at, options, { archiverVerdict: false });
  if (!isTarget(assessed)) throw restorabilityError(assessed, at);
  return assessed;
}

async function assess(engine: LocalContext, at: PointInHistory, options: OperationOptions, how: { archiverVerdict: boolean } = { archiverVerdict: true }): Promise<Target | Unrestorable> {
  const state = engine.layout.readState();
  // Reading the head also reads pg_stat_archiver: the view then judges by the archiver's state now.
  const head = Number(at.timelineId) === state.servingTimeline && engine.cluster.runningPid(state.serving) !== undefined ? await engine.head(options) : undefined;
  return assessTarget(historyView(engine, { archiver: how.archiverVerdict }), at, head);
}

function isTarget(assessed: Target | Unrestorable): assessed is Target {
  return !('restorable' in assessed);
}

function unrestorable(reason: Unrestorable['reason'], message: string, hint?: string): Unrestorable {
  return { restorable: false, reason, message, ...(hint ? { hint } : {}) };
}

/**
 * Whether `at` can be restored, and from which backup. `head` bounds targets
 * on the serving timeline when the server answers; abandoned timelines are
 * bounded by where their archived WAL ends. Messages never repeat the point:
 * `restorabilityError` names it.
 */
export function assessTarget(view: HistoryView, at: PointInHistory, head: Position | undefined): Target | Unrestorable {
  const timeline = Number(at.timelineId);
  if (!Number.isInteger(timeline) || timeline < 1) return unrestorable('unknown-timeline', 'not a timeline of the local database');
  if (isMoment(at)) return assessMoment(view, at, timeline, Date.now());
  if (!isLsn(at.lsn)) return unrestorable('unknown-timeline', 'not an LSN');
  const lsn = parseLsn(at.lsn);
  if (!view.known.has(timeline)) return unrestorable('unknown-timeline', 'its timeline is not known to the local database');
  const end = view.state.timelines[String(timeline)]?.endLsn;
  const limit = head ? parseLsn(head.lsn) : timeline !== view.state.servingTimeline && end ? parseLsn(end) : undefined;
  if (limit !== undefined && lsn > limit) {
    return unrestorable('beyond-head', `beyond ${head ? 'the current head' : 'the end of its timeline'} (${formatLsn(limit)})`);
  }
  let backup: BackupMeta | undefined;
  try {
    backup = chooseBackup(view.backups, view.history, timeline, lsn);
  } catch (error) {
    // A timeline on the way there whose history file is missing from the archive.
    if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return unrestorable('unknown-timeline', error.message);
    throw error;
  }
  if (!backup) return unrestorable('expired', 'older than every base backup kept', 'Its base backup was pruned; the code side can still be restored (`--code-only`).');
  // Healthy archiving takes the WAL at the fork (it switches segments and waits); failing archiving never will.
  const gap = view.gap;
  if (gap && timeline === gap.timeline && lsn >= gap.archivedEnd) return unrestorable('not-archived', gap.message, gap.hint);
  return { timeline, stop: { kind: 'lsn', lsn }, backup };
}

/**
 * A time-based checkpoint, judged by the clock: its timeline known, the moment
 * not after that timeline's end (now, for the serving one; when it stopped
 * serving, for an abandoned one), a base backup finished before it on the
 * timeline's ancestry, and the archive not failing since before it.
 */
function assessMoment(view: HistoryView, at: MomentInHistory, timeline: number, now: number): Target | Unrestorable {
  const time = Date.parse(at.createdAt);
  if (Number.isNaN(time)) return unrestorable('unknown-timeline', `"${at.createdAt}" is not a time`);
  if (!view.known.has(timeline)) return unrestorable('unknown-timeline', 'its timeline is not known to the local database');
  const abandonedAt = view.state.timelines[String(timeline)]?.abandonedAt;
  if (timeline === view.state.servingTimeline) {
    if (time > now) return unrestorable('beyond-head', `in the future of the current head (it is ${new Date(now).toISOString()} now)`);
  } else if (abandonedAt && time > Date.parse(abandonedAt)) {
    return unrestorable('beyond-head', `after the end of its timeline (timeline ${timeline} stopped serving at ${abandonedAt})`);
  }
  let backup: BackupMeta | undefined;
  try {
    backup = chooseBackupAt(view.backups, view.history, timeline, time);
  } catch (error) {
    if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return unrestorable('unknown-timeline', error.message);
    throw error;
  }
  if (!backup) {
    return unrestorable('expired', 'older than every base backup kept (none finished before that time)', 'Its base backup was pruned; the code side can still be restored (`--code-only`).');
  }
  const gap = view.gap;
  if (gap && timeline === gap.timeline && gap.failingSince <= time) {
    return unrestorable('not-archived', `${gap.message}; it has failed since ${new Date(gap.failingSince).toISOString()}, before that time`, gap.hint);
  }
  return { timeline, stop: { kind: 'time', time: at.createdAt }, backup };
}

/**
 * While archiving fails, where the serving timeline's archive ends and why.
 * Failing is pg_stat_archiver's word when this process has read it (a failure
 * newer than the last success). A process that has not (`list --json`, which
 * asks no database) reads the serving data directory instead: a segment still
 * waiting in archive_status after a second, with an archiver error in the
 * server log, is one the archiver failed on (a working archiver takes each
 * within milliseconds). Only the serving timeline can lag: a timeline stops
 * serving only after its end is archived (the cut-over refuses otherwise).
 */
function archiveGap(engine: LocalContext, state: LocalState): ArchiveGap | undefined {
  const { layout, cluster } = engine;
  if (cluster.runningPid(state.serving) === undefined) return undefined;
  let failure: string | undefined;
  let failingSince = 0;
  const seen = engine.archiverSeen();
  if (seen) {
    if (archiverFailing(seen)) {
      failure = archiverFailure(engine, seen);
      // Failing since its last success (never: since ever); a time before that found its WAL archived.
      failingSince = seen.lastArchivedTime ? Date.parse(seen.lastArchivedTime) : 0;
    }
  } else {
    const stuck = oldestWaitingSegment(segmentsAwaitingArchive(layout.dataDir(state.serving)), Date.now(), STUCK_AFTER_MS);
    const reason = stuck ? archiverError(engine, state.serving) : undefined;
    if (stuck && reason) {
      failure = `Postgres cannot archive WAL: ${stuck.segment} waits since ${new Date(stuck.readySince).toISOString()}: ${reason}`;
      failingSince = stuck.readySince;
    }
  }
  if (!failure) return undefined;
  return {
    timeline: state.servingTimeline,
    failingSince: Number.isNaN(failingSince) ? 0 : failingSince,
    archivedEnd: archivedEnd(safeReaddir(layout.archive), state.servingTimeline, state.walSegmentBytes),
    failure,
    message: `its WAL is not archived yet (${failure})`,
    hint: `Check free disk space and permissions of ${layout.archive}, and the server log (${layout.logs}). Once Postgres archives again (it retries within a minute), it is restorable.`,
  };
}

/** How long a segment may wait for the archiver before the listing calls archiving stuck. */
const STUCK_AFTER_MS = 1_000;

/** The end of the newest complete segment of `timeline` among the archive's file names (0 when it has none). */
export function archivedEnd(names: readonly string[], timeline: number, segmentBytes: number): bigint {
  const segmentsPerId = 0x100000000n / BigInt(segmentBytes);
  let end = 0n;
  for (const name of names) {
    const match = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/.exec(name);
    if (!match || Number.parseInt(match[1]!, 16) !== timeline) continue;
    const segmentEnd = (BigInt(`0x${match[2]}`) * segmentsPerId + BigInt(`0x${match[3]}`) + 1n) * BigInt(segmentBytes);
    if (segmentEnd > end) end = segmentEnd;
  }
  return end;
}

/** The oldest segment marked ready for the archiver that has waited at least `minAgeMs`, if any. */
export function oldestWaitingSegment(ready: readonly AwaitingArchive[], now: number, minAgeMs: number): AwaitingArchive | undefined {
  const waiting = ready.filter((r) => now - r.readySince >= minAgeMs).sort((a, b) => (a.segment < b.segment ? -1 : 1));
  return waiting[0];
}
