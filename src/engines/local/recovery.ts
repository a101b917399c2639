// A fork, start to end: check the target, take the copy a preview keeps there (promote it, no replay), or copy a base backup (or claim its prepared copy), recover and promote it out of the app's reach, verify, publish its history, stop it.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { OperationOptions, PointInHistory, Position, TimelineHandle } from '../../core/engine';
import { describeError, isLockstepError, LockstepError } from '../../base/errors';
import { faultPoint } from '../../core/faults';
import { removeTree } from '../../base/files';
import { formatLsn, isLsn, parseLsn } from '../../base/lsn';
import { confQuote, copyIntoArchive, historyFileName, readHistory, restoreCommand, safeReaddir } from './archive';
import type { BackupMeta } from './baseBackup';
import { firstFatal, RECOVERY_CONF } from './cluster';
import { withClusterLock, type LocalContext } from './context';
import { copyTree, type CopyResult } from './copyTree';
import { claimPastCopy, dropPastCopy, formatBytes, settlePastCopy } from './keptCopy';
import type { LocalState, PastCopyRecord } from './layout';
import { chownTree } from './osUser';
import { archivedEnd, checkTarget, describeStop, type RecoveryStop } from './restorability';
import { archiveServing, engineDown, verifyServing } from './server';

/** Replay runs at 60–175 MB/s here; allow far slower disks before calling a recovery stuck. */
const MIN_REPLAY_BYTES_PER_SECOND = 5 * 1024 * 1024;

/**
 * A fork is recovered and promoted where no client can reach it — a private
 * socket directory, no TCP listener — while the old server keeps serving,
 * then stopped cleanly. What is left for `repoint` is the cut-over alone.
 */
export async function fork(engine: LocalContext, at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
  const { layout, cluster } = engine;
  return withClusterLock(layout, async () => {
    await settlePastCopy(engine);
    const { timeline, stop, backup } = await checkTarget(engine, at, options);
    const state = layout.readState();
    const kept = await claimPastCopy(engine, timeline, stop);
    if (kept) {
      try {
        return await promoteKeptCopy(engine, state, kept, options);
      } catch (error) {
        // Cancelled, or an internal failure (a bug, an injected fault), is not hidden behind a second attempt.
        if (isLockstepError(error, 'CANCELLED') || isLockstepError(error, 'INTERNAL')) throw error;
        // Whatever went wrong with it, a fresh recovery may still work: said in the log, then done as always.
        engine.log.warn(`the preview copy in ${kept.name} could not be promoted (${describeError(error)}); recovering a new copy`);
        await dropFork(engine, kept.name);
        fs.rmSync(kept.socketDir, { recursive: true, force: true });
      }
    }
    if (timeline === state.servingTimeline && cluster.runningPid(state.serving) !== undefined) {
      // The copy replays from the archive: the WAL up to the target (and a record after it) must be there first.
      options.onProgress?.('Archiving WAL');
      // By time, recovery stops only at a commit later than the moment; an idle database has none until this one.
      if (stop.kind === 'time') await commitNow(engine);
      await archiveServing(engine, options.signal);
    }
    const socketDir = privateSocketDir(engine);
    try {
      let recovered: RecoveredFork;
      try {
        recovered = await recoverFork(engine, state, backup, timeline, stop, socketDir, options);
      } catch (error) {
        const end = endByTime(engine, state, timeline, stop, error);
        options.onProgress?.(`No commit after ${describeStop(stop)} on timeline ${timeline}: recovering to its end, ${formatLsn(end)}`);
        recovered = await recoverFork(engine, state, backup, timeline, { kind: 'lsn', lsn: end }, socketDir, options);
      }
      return {
        engine: 'local',
        role: 'fork',
        timelineId: recovered.head.timelineId,
        at: recovered.at,
        ref: { dataDir: recovered.name, backupId: backup.id, prepared: recovered.prepared, promoted: true },
      };
    } finally {
      fs.rmSync(socketDir, { recursive: true, force: true });
    }
  });
}

/**
 * The copy a preview kept paused at this very target: resumed, which ends
 * recovery there and promotes it (no second replay), then verified, its
 * history published and stopped cleanly without its recovery settings:
 * exactly the state `recoverFork` leaves (the caller holds the cluster lock and has claimed it).
 */
async function promoteKeptCopy(engine: LocalContext, state: LocalState, kept: PastCopyRecord, options: OperationOptions): Promise<TimelineHandle> {
  const { layout, cluster } = engine;
  const name = kept.name;
  options.onProgress?.('Promoting the preview copy (no replay)');
  const client = await cluster.connect({ host: kept.socketDir, database: 'postgres' });
  try {
    await client.query('SELECT pg_wal_replay_resume()');
  } finally {
    await client.end().catch(() => undefined);
  }
  const head = await verifyServing(engine, name, state, undefined, Date.now() + 60_000, options.signal);
  publishHistory(engine, name, Number(head.timelineId));
  faultPoint('after-promote');
  await cluster.stop(name, 'fast');
  fs.rmSync(path.join(layout.dataDir(name), RECOVERY_CONF), { force: true });
  fs.rmSync(kept.socketDir, { recursive: true, force: true });
  const at = kept.stop.kind === 'lsn' ? { timelineId: String(kept.timeline), lsn: kept.stop.lsn } : stoppedAt(engine, Number(head.timelineId));
  return {
    engine: 'local',
    role: 'fork',
    timelineId: head.timelineId,
    at,
    ref: { dataDir: name, backupId: kept.backupId, prepared: false, promoted: true, reusedPreview: true },
  };
}

interface RecoveredFork {
  name: string;
  prepared: boolean;
  /** The fork's own head: its new timeline. */
  head: Position;
  /** Where recovery stopped, on the timeline it followed: the target LSN, or for a moment the replay's end. */
  at: Position;
}

/** One attempt: a new data directory from `backup`, recovered to `stop` and promoted privately; removed again if it fails. */
async function recoverFork(
  engine: LocalContext,
  state: LocalState,
  backup: BackupMeta,
  timeline: number,
  stop: RecoveryStop,
  socketDir: string,
  options: OperationOptions,
): Promise<RecoveredFork> {
  const { layout, cluster } = engine;
  const name = allocateDataDir(engine);
  try {
    options.onProgress?.(startingCopy(engine, backup));
    const prepared = await materialise(engine, backup, name, { socketDir, timeline, stop, action: 'promote' }, { usePrepared: true });
    options.onProgress?.(`Replaying WAL to ${describeStop(stop)} out of the app's reach`);
    const head = await promotePrivately(engine, state, name, backup, { timeline, stop }, options);
    const at = stop.kind === 'lsn' ? { timelineId: String(timeline), lsn: formatLsn(stop.lsn) } : stoppedAt(engine, Number(head.timelineId));
    return { name, prepared, head, at };
  } catch (error) {
    await cluster.stop(name, 'immediate').catch(() => undefined);
    removeTree(layout.dataDir(name));
    settleFork(engine, name);
    throw error;
  }
}

/**
 * Where a recovery by time stopped: the switch point its new timeline's history
 * file records (the end of the last record replayed, what
 * `pg_last_wal_replay_lsn()` says), on the timeline it was following.
 */
function stoppedAt(engine: LocalContext, newTimeline: number): Position {
  const last = readHistory(engine.layout.archive, newTimeline).at(-1);
  if (!last) throw new LockstepError('INTERNAL', `the history file of timeline ${newTimeline} names no parent`);
  return { timelineId: String(last.timeline), lsn: formatLsn(last.switchLsn) };
}

/** A transaction that commits now on the serving server: the commit record a recovery by time stops at. */
export async function commitNow(engine: LocalContext): Promise<void> {
  const client = await engine.cluster.connect({ database: 'postgres' }).catch((error: unknown) => {
    throw engineDown(engine.config.port, error);
  });
  try {
    // Takes a transaction id, so its commit writes a commit record (with its time) to the WAL.
    await client.query('SELECT pg_current_xact_id()');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Whether a recovery failed because its target was never reached: by time, no commit after the moment in the WAL replayed. */
function targetNotReached(error: unknown): boolean {
  return error instanceof LockstepError && error.code === 'RECOVERY_FAILED' && /recovery ended before configured recovery target was reached/.test(error.message);
}

/**
 * After a recovery by time found no commit later than the moment: where to
 * recover instead, or the error that says why it cannot. A timeline that
 * stopped serving was sealed at its end (its WAL up to there is archived); no
 * commit after the moment on it means every commit on it is at or before the
 * moment, so the data at that moment is the timeline's end. Any other failure
 * is rethrown as it is.
 */
export function endByTime(engine: LocalContext, state: LocalState, timeline: number, stop: RecoveryStop, error: unknown): bigint {
  if (stop.kind !== 'time' || !targetNotReached(error)) throw error;
  const end = timeline !== state.servingTimeline ? state.timelines[String(timeline)]?.endLsn : undefined;
  if (end && isLsn(end)) return parseLsn(end);
  const stopped = timeline === state.servingTimeline && engine.cluster.runningPid(state.serving) === undefined;
  throw new LockstepError('RECOVERY_FAILED', `no transaction committed after ${stop.time} is in the archive of timeline ${timeline}, so recovery by time cannot tell where that moment ends`, {
    hint: stopped
      ? 'Start the database (`lockstep db start`) and restore again: the restore then commits a transaction after that time before it recovers. Nothing was changed.'
      : `Timeline ${timeline}'s end is not known. Server logs: ${engine.layout.logs}. Nothing was changed: the database serves as before.`,
    cause: error,
  });
}

/** The last position a recovery to `stop` on `timeline` can replay to, for its deadline: the target, or the timeline's archived end. */
export function replayBound(engine: LocalContext, timeline: number, stop: RecoveryStop): bigint {
  if (stop.kind === 'lsn') return stop.lsn;
  return archivedEnd(safeReaddir(engine.layout.archive), timeline, engine.layout.readState().walSegmentBytes);
}

/** Drop a fork that will not be served; one that serves now is not ours to drop. */
export async function discard(engine: LocalContext, handle: TimelineHandle): Promise<void> {
  if (handle.role !== 'fork') return;
  const name = String(handle.ref.dataDir);
  await withClusterLock(engine.layout, async () => {
    await settlePastCopy(engine);
    if (engine.layout.readState().serving === name) return; // it serves now: not ours to drop
    await dropFork(engine, name);
  });
}

/** After an interrupted restore: every fork no restore serves, including one whose handle was never returned. */
export async function abandonForks(engine: LocalContext): Promise<string[]> {
  return withClusterLock(engine.layout, async () => {
    const removed: string[] = [];
    const kept = await dropPastCopy(engine);
    if (kept) removed.push(kept);
    const state = engine.layout.readState();
    for (const name of Object.keys(state.pendingForks ?? {})) {
      if (name === state.serving) continue;
      await dropFork(engine, name);
      removed.push(name);
    }
    return removed;
  });
}

/** Stop a fork's server (on its private socket or the port), remove its socket directory and data, forget it (the caller holds the cluster lock). */
async function dropFork(engine: LocalContext, name: string): Promise<void> {
  const endpoint = engine.cluster.endpointOf(name);
  await engine.cluster.stop(name, 'immediate');
  if (endpoint.private) fs.rmSync(endpoint.host, { recursive: true, force: true });
  removeTree(engine.layout.dataDir(name));
  settleFork(engine, name);
}

/** A fresh directory only Postgres' account can enter, for a server no client may reach. */
export function privateSocketDir(engine: LocalContext): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-'));
  fs.chmodSync(dir, 0o700);
  chownTree(dir, engine.postgresAccount());
  return dir;
}

/** A new `data-<n>` name, recorded as a pending fork (abandonForks and prune know it is ours and in the making). */
export function allocateDataDir(engine: LocalContext): string {
  let name = '';
  engine.layout.updateState((s) => {
    while (fs.existsSync(engine.layout.dataDir(`data-${s.nextDataDir}`))) s.nextDataDir++;
    name = `data-${s.nextDataDir}`;
    s.nextDataDir++;
    s.pendingForks = { ...s.pendingForks, [name]: new Date().toISOString() };
  });
  return name;
}

export function settleFork(engine: LocalContext, name: string): void {
  engine.layout.updateState((s) => {
    if (s.pendingForks) delete s.pendingForks[name];
  });
}

/** A new data directory that recovers from `backup` to `stop` on `timeline`, then promotes or pauses. */
export async function materialise(
  engine: LocalContext,
  backup: BackupMeta,
  name: string,
  recovery: { socketDir: string; timeline: number; stop: RecoveryStop; action: 'promote' | 'pause' },
  { usePrepared }: { usePrepared: boolean },
): Promise<boolean> {
  const { layout } = engine;
  const dir = layout.dataDir(name);
  // Claim the prepared copy with one rename (atomic: a second claimer, or the
  // upkeep replacing it, finds it gone), else copy the backup now.
  let prepared = false;
  if (usePrepared) {
    try {
      fs.renameSync(layout.preparedDir(backup.id), dir);
      prepared = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    // A prepared copy only ever appears whole (made under another name, then
    // renamed) and only ever leaves by a rename: this check is a last guard.
    if (prepared && !isCompleteCopy(dir)) {
      engine.log.warn(`the prepared copy of base backup ${backup.id} was incomplete; copying the backup instead`);
      removeTree(dir);
      prepared = false;
    }
  }
  try {
    if (!prepared) {
      const started = performance.now();
      const copied = await copyBackup(path.join(layout.backupDir(backup.id), 'data'), dir, layout.root);
      const seconds = (performance.now() - started) / 1000;
      // Small copies say little about the disk's pace: only a copy of some size sets the next estimate.
      if (copied.bytes >= 64 * 1024 * 1024 && seconds > 0) {
        layout.updateState((s) => {
          s.copyBytesPerSecond = Math.round(copied.bytes / seconds);
        });
      }
    }
    faultPoint('copying');
    const settings = [
      '# Written by Lockstep for one recovery; removed once the database is promoted.',
      `restore_command = ${confQuote(restoreCommand(layout.archive))}`,
      ...recoveryTarget(recovery.stop),
      // Never 'latest': the target names its own timeline, and history files lead there.
      `recovery_target_timeline = '${recovery.timeline}'`,
      `recovery_target_action = '${recovery.action}'`,
      // Out of every client's reach until the cut-over: no TCP listener, one socket in a private directory.
      "listen_addresses = ''",
      `unix_socket_directories = ${confQuote(recovery.socketDir)}`,
      '',
    ];
    fs.writeFileSync(path.join(dir, RECOVERY_CONF), settings.join('\n'), { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'recovery.signal'), '', { mode: 0o600 });
    fs.chmodSync(dir, 0o700);
    if (prepared) {
      for (const file of [RECOVERY_CONF, 'recovery.signal']) engine.cluster.giveToPostgres(path.join(dir, file));
    } else {
      chownTree(dir, engine.postgresAccount());
    }
  } catch (error) {
    removeTree(dir);
    throw error;
  }
  return prepared;
}

function recoveryTarget(stop: RecoveryStop): string[] {
  if (stop.kind === 'lsn') {
    // The marker is the insert position: the next commit's record starts exactly there.
    return [`recovery_target_lsn = '${formatLsn(stop.lsn)}'`, 'recovery_target_inclusive = off'];
  }
  // By time: stop just before the first commit later than the moment, so every commit at or before it is kept.
  return [`recovery_target_time = ${confQuote(postgresTime(stop.time))}`, 'recovery_target_inclusive = on'];
}

/** An ISO time as recovery_target_time takes it: Postgres 15 refuses the trailing "Z" ("invalid value"), not "+00:00". */
export function postgresTime(iso: string): string {
  // Microseconds (a moment given with --at) are kept: Postgres commits to the microsecond, a Date holds milliseconds.
  const micro = /\.\d{3}(\d{1,3})Z$/.exec(iso)?.[1];
  const text = new Date(Date.parse(iso)).toISOString();
  return (micro ? text.replace(/Z$/, `${micro}Z`) : text).replace(/Z$/, '+00:00');
}

/** A data directory copied from a base backup has its version file and the backup's label. */
function isCompleteCopy(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'PG_VERSION')) && fs.existsSync(path.join(dir, 'backup_label')) && fs.existsSync(path.join(dir, 'global', 'pg_control'));
}

/** Start a materialised fork on its private socket, wait for its promotion, publish its history, stop it cleanly. */
async function promotePrivately(
  engine: LocalContext,
  state: LocalState,
  name: string,
  backup: BackupMeta,
  target: { timeline: number; stop: RecoveryStop },
  options: OperationOptions,
): Promise<Position> {
  const { layout, cluster } = engine;
  const deadline = replayDeadline(backup, replayBound(engine, target.timeline, target.stop));
  let head: Position;
  try {
    await cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
    faultPoint('replay');
    head = await verifyServing(engine, name, state, undefined, deadline, options.signal);
  } catch (error) {
    // The server exits when recovery fails (target not reached, WAL missing, disk full): say so, with Postgres' own reason.
    // A connection it dropped as it exited (ECONNRESET while verifying) is the same failure.
    const serverFailed =
      error instanceof LockstepError ? error.code === 'ENGINE_DOWN' || error.code === 'RECOVERY_FAILED' : await exitsWithin(engine, name, 2_000);
    if (serverFailed) {
      const reason = firstFatal(cluster.logTail(name, 40)) ?? describeError(error);
      throw new LockstepError('RECOVERY_FAILED', `recovery to ${describeStop(target.stop)} failed: ${reason}`, {
        hint: `Server log: ${layout.serverLog(name)}. Nothing was changed: the database serves as before.`,
        cause: error,
      });
    }
    throw error;
  }
  // A later restore picks its timeline id from the archived history files: two
  // forks would get the same id if this one's history were not archived yet.
  publishHistory(engine, name, Number(head.timelineId));
  faultPoint('after-promote');
  await cluster.stop(name, 'fast');
  // Without its recovery settings it serves on the app's port at its next start.
  fs.rmSync(path.join(layout.dataDir(name), RECOVERY_CONF), { force: true });
  return head;
}

/** Whether the server of `name` has exited, or does within `ms`. */
export async function exitsWithin(engine: LocalContext, name: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (engine.cluster.runningPid(name) !== undefined) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/** Copy the new timeline's history file into the archive now, atomically, owned by the Postgres account. */
function publishHistory(engine: LocalContext, dataDirName: string, timeline: number): void {
  const file = historyFileName(timeline);
  if (fs.existsSync(path.join(engine.layout.archive, file))) return;
  copyIntoArchive(path.join(engine.layout.dataDir(dataDirName), 'pg_wal', file), engine.layout.archive, file, engine.postgresAccount());
}

/** When a restore may give up waiting for a copy to replay from `backup` to `lsn`: a minute, plus the WAL at a slow disk's pace. */
export function replayDeadline(backup: BackupMeta, lsn: bigint): number {
  const bytes = lsn - parseLsn(backup.stopLsn);
  return Date.now() + 60_000 + Number((bytes > 0n ? bytes : 0n) / BigInt(MIN_REPLAY_BYTES_PER_SECOND)) * 1000;
}

/** Copying a base backup when the last copy's pace is unknown (ext4 here: 1 GB in about 3 s). */
const DEFAULT_COPY_BYTES_PER_SECOND = 300 * 1024 * 1024;

/** The progress line before a copy is materialised: the prepared copy is taken, or the backup copied, with its size and an estimate. */
export function startingCopy(engine: LocalContext, backup: BackupMeta): string {
  if (fs.existsSync(engine.layout.preparedDir(backup.id))) return `Taking the prepared copy of base backup ${backup.id}`;
  const rate = engine.layout.readState().copyBytesPerSecond ?? DEFAULT_COPY_BYTES_PER_SECOND;
  const seconds = Math.max(1, Math.round(backup.bytes / rate));
  return `Copying base backup ${backup.id} (${formatBytes(backup.bytes)}, about ${seconds} s)`;
}

/** The base backup copied into the fork's directory; a full disk is said as such, with what to do. */
async function copyBackup(from: string, to: string, root: string): Promise<CopyResult> {
  try {
    return await copyTree(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw error;
    throw new LockstepError('RECOVERY_FAILED', describeError(error), { hint: `Free space on the disk that holds ${root}, then restore again.`, cause: error });
  }
}
