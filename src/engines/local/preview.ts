// The past, open for reading: a copy recovered to a point and paused there (a prepared restore, kept for the restore that follows; see keptCopy.ts), and schema summaries from it.

import type { Client } from 'pg';
import type { OperationOptions, PastDatabase, PointInHistory, SchemaSummary } from '../../core/engine';
import { isLockstepError, LockstepError } from '../../base/errors';
import { directorySize, removeTree } from '../../base/files';
import { formatLsn, isLsn, parseLsn } from '../../base/lsn';
import { describeDatabase } from '../../core/postgresSchema';
import { historyReader, isOnAncestry } from './archive';
import type { BackupMeta } from './baseBackup';
import { firstFatal } from './cluster';
import { withClusterLock, type LocalContext } from './context';
import { dropPastCopy, pastCopyPolicy, pausedAndReady, roomToKeep, sameTarget, settlePastCopy, storedStop } from './keptCopy';
import type { PastCopyRecord } from './layout';
import { allocateDataDir, commitNow, endByTime, exitsWithin, materialise, privateSocketDir, replayBound, replayDeadline, startingCopy } from './recovery';
import { checkTarget, describeStop, type RecoveryStop, type Target } from './restorability';
import { archiveServing, engineDown } from './server';

/** Tables, columns and approximate rows: now from the serving server, or as of `at` from the copy `openPast` keeps there. */
export async function describe(engine: LocalContext, at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
  if (!at) {
    const client = await connectNow(engine);
    try {
      return await describeDatabase(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const past = await openPast(engine, at, options);
  try {
    const client = await past.connect();
    try {
      return await describeDatabase(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  } finally {
    await past.release();
  }
}

/** Lockstep's superuser on the serving app database. */
export async function connectNow(engine: LocalContext): Promise<Client> {
  return engine.cluster.connect().catch((error: unknown) => {
    throw engineDown(engine.config.port, error);
  });
}

/**
 * The database as of `at`: the copy kept from the last preview when it is
 * there, else a new one (the old one dropped first), recovered and paused
 * on a private socket, never promoted. Kept after `release()` (see keptCopy.ts).
 */
export async function openPast(engine: LocalContext, at: PointInHistory, options: OperationOptions = {}): Promise<PastDatabase> {
  const { layout, cluster } = engine;
  const { record, origin } = await withClusterLock(layout, async () => {
    await settlePastCopy(engine);
    const target = await checkTarget(engine, at, options);
    const kept = layout.readState().pastCopy;
    if (kept && sameTarget(kept, target.timeline, target.stop) && (await pausedAndReady(engine, kept))) {
      const keepUntil = new Date(Date.now() + pastCopyPolicy(engine).keepMs).toISOString();
      layout.updateState((s) => {
        if (s.pastCopy?.name === kept.name) s.pastCopy.keepUntil = keepUntil;
      });
      options.onProgress?.(`Using the copy kept from the last preview (${describeStop(target.stop)}, no replay)`);
      return { record: { ...kept, keepUntil }, origin: 'kept from the last preview' };
    }
    if (kept) await dropPastCopy(engine);
    const made = await recoverPastCopy(engine, at, target, options);
    return { record: made, origin: made.fromPrepared ? `recovered from the prepared copy of base backup ${made.backupId}` : `recovered from a copy of base backup ${made.backupId}` };
  });
  let released = false;
  return {
    at,
    ancestorOfNow: ancestorOfNow(engine, record),
    origin,
    connect: () => cluster.connect({ host: record.socketDir }),
    release: async () => {
      if (released) return;
      released = true;
      await releasePastCopy(engine, record.name);
    },
  };
}

/**
 * Whether the copy's point lies on the history that leads to the serving
 * timeline: the same timeline, or an ancestor at or before where the serving
 * line branched off it (its history file says where). Then both share
 * transaction ids up to the point.
 */
function ancestorOfNow(engine: LocalContext, record: PastCopyRecord): boolean {
  try {
    const serving = engine.layout.readState().servingTimeline;
    if (record.timeline === serving) return true;
    const lsn = record.stop.kind === 'lsn' ? record.stop.lsn : record.pausedAt;
    if (lsn === undefined || !isLsn(lsn)) return false;
    return isOnAncestry(historyReader(engine.layout.archive), serving, record.timeline, parseLsn(lsn));
  } catch {
    return false; // a history file missing: cannot tell
  }
}

/** Done reading: kept for the restore that follows (its time starts again), or dropped when the disk is short. */
async function releasePastCopy(engine: LocalContext, name: string): Promise<void> {
  const { layout } = engine;
  await withClusterLock(layout, async () => {
    const record = layout.readState().pastCopy;
    if (record?.name !== name) return; // claimed by a restore, or dropped already
    const policy = pastCopyPolicy(engine);
    if (!record.keep || policy.keepMs <= 0) {
      await dropPastCopy(engine);
      return;
    }
    layout.updateState((s) => {
      if (s.pastCopy?.name === name) s.pastCopy.keepUntil = new Date(Date.now() + policy.keepMs).toISOString();
    });
  });
}

/** A new copy, recorded before it is made (the caller holds the cluster lock); removed again if it cannot reach the point. */
async function recoverPastCopy(engine: LocalContext, at: PointInHistory, target: Target, options: OperationOptions): Promise<PastCopyRecord> {
  const { layout, cluster } = engine;
  const { timeline, stop, backup } = target;
  const state = layout.readState();
  if (timeline === state.servingTimeline && cluster.runningPid(state.serving) !== undefined) {
    // The copy replays from the archive: the WAL up to the target (and a record after it) must be there first.
    options.onProgress?.('Archiving WAL');
    // By time, recovery pauses only at a commit later than the moment; an idle database has none until this one.
    if (stop.kind === 'time') await commitNow(engine);
    await archiveServing(engine, options.signal);
  }
  const name = allocateDataDir(engine);
  const socketDir = privateSocketDir(engine);
  const record: PastCopyRecord = {
    name,
    socketDir,
    at,
    timeline,
    stop: storedStop(stop),
    backupId: backup.id,
    fromPrepared: false,
    startedAt: new Date().toISOString(),
    ready: false,
    keepUntil: new Date(Date.now() + pastCopyPolicy(engine).keepMs).toISOString(),
    bytes: backup.bytes,
    keep: true,
  };
  layout.updateState((s) => {
    s.pastCopy = record;
  });
  try {
    let paused: { fromPrepared: boolean; pausedAt: string };
    try {
      paused = await recoverAndPause(engine, record, backup, stop, options);
    } catch (error) {
      // No commit after the moment on a timeline that ended: the data at that moment is the timeline's end (see `endByTime`).
      const end = endByTime(engine, state, timeline, stop, error);
      await cluster.stop(name, 'immediate').catch(() => undefined);
      removeTree(layout.dataDir(name));
      paused = await recoverAndPause(engine, record, backup, { kind: 'lsn', lsn: end }, options);
    }
    const ready: PastCopyRecord = {
      ...record,
      ...paused,
      ready: true,
      bytes: directorySize(layout.dataDir(name)),
      keep: roomToKeep(engine),
      keepUntil: new Date(Date.now() + pastCopyPolicy(engine).keepMs).toISOString(),
    };
    layout.updateState((s) => {
      s.pastCopy = ready;
    });
    return ready;
  } catch (error) {
    await dropPastCopy(engine).catch(() => undefined);
    throw error;
  }
}

/** Materialise the copy from `backup` (the prepared copy when it is for that backup), start it, and wait until replay pauses at `stop`. */
async function recoverAndPause(
  engine: LocalContext,
  record: PastCopyRecord,
  backup: BackupMeta,
  stop: RecoveryStop,
  options: OperationOptions,
): Promise<{ fromPrepared: boolean; pausedAt: string }> {
  const { cluster } = engine;
  const { name, socketDir, timeline } = record;
  options.onProgress?.(startingCopy(engine, backup));
  const fromPrepared = await materialise(engine, backup, name, { socketDir, timeline, stop, action: 'pause' }, { usePrepared: true });
  options.onProgress?.(`Recovering a preview copy to ${describeStop(stop)}`);
  try {
    const deadline = replayDeadline(backup, replayBound(engine, timeline, stop));
    await cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
    for (;;) {
      const client = await cluster.connectWhenReady(name, { database: 'postgres', deadline, signal: options.signal });
      try {
        const { rows } = await client.query<{ paused: boolean; replayed: string | null }>(
          "SELECT pg_get_wal_replay_pause_state() = 'paused' AS paused, pg_last_wal_replay_lsn()::text AS replayed",
        );
        const row = rows[0];
        if (row?.paused) return { fromPrepared, pausedAt: row.replayed ?? formatLsn(stop.kind === 'lsn' ? stop.lsn : 0n) };
      } finally {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new LockstepError('TIMEOUT', 'the preview copy did not reach the checkpoint in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (error) {
    if (isLockstepError(error, 'CANCELLED')) throw error;
    // The copy exits when recovery fails (by time: no commit after the moment): said in Postgres' own words.
    const fatal = (await exitsWithin(engine, name, 2_000)) ? firstFatal(cluster.logTail(name, 40)) : undefined;
    if (fatal) throw new LockstepError('RECOVERY_FAILED', `the preview copy could not recover to ${describeStop(stop)}: ${fatal}`, { cause: error });
    throw error;
  }
}
