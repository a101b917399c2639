// The preview copy kept for the restore that follows, start to end: its record in state.json, when it goes, and how a restore claims it.

import * as fs from 'node:fs';
import { describePoint } from '../../core/engine';
import { removeTree } from '../../base/files';
import { formatLsn, parseLsn } from '../../base/lsn';
import { withClusterLock, type LocalContext } from './context';
import type { PastCopyRecord } from './layout';
import type { RecoveryStop } from './restorability';

/**
 * A preview recovers a copy to its point and pauses it there (never
 * promoted: it takes no timeline id), on a private socket. The copy is kept,
 * one at a time, so that the restore that follows promotes it instead of
 * replaying again. Its steps, recorded as `state.pastCopy` (its directory is
 * also in `pendingForks`, so an interrupted restore's `abandonForks` removes it):
 *
 *   recovering  record written (ready: false) under the cluster lock; data-<n>
 *               made (the prepared copy renamed, or the base backup copied); replaying
 *   kept        paused at its point (ready: true) until `keepUntil`; readers
 *               connect over its socket; `openPast` at the same point reuses it
 *   claimed     a restore's `fork` at the same point: record removed (the directory
 *               stays pending), replay resumed, which ends recovery and promotes it;
 *               then stopped cleanly without its recovery settings, a fork like any other
 *   dropped     server stopped, directory and socket removed, record and pending entry gone:
 *               by `openPast` at another point, `prune`, `db stop`, `abandonForks`,
 *               `release()` when the disk is short, or when its time is up
 *
 * Recovery: every engine call that holds the cluster lock (openPast, fork,
 * discard, abandonForks, prune, start, stop) and the upkeep settle first: a
 * record not ready (its maker held the lock, so it died), whose server is not
 * running, or past `keepUntil`, is dropped. It never listens on TCP: its
 * recovery settings say `listen_addresses = ''` until a fork has promoted
 * and stopped it and removed them.
 */

/** How long a preview's copy is kept for the restore that follows. */
export const PAST_COPY_KEEP_MS = 10 * 60_000;

/** What keeping a preview's copy may cost, and for how long. */
export interface PastCopyPolicy {
  keepMs: number;
  /** Kept only while the disk keeps at least this much free… */
  minFreeBytes: number;
  /** …and at least this share of the filesystem. */
  minFreeFraction: number;
}

export const DEFAULT_PAST_COPY_POLICY: PastCopyPolicy = { keepMs: PAST_COPY_KEEP_MS, minFreeBytes: 1024 ** 3, minFreeFraction: 0.05 };

export function pastCopyPolicy(engine: LocalContext): PastCopyPolicy {
  return engine.pastCopyPolicy ?? DEFAULT_PAST_COPY_POLICY;
}

export function storedStop(stop: RecoveryStop): PastCopyRecord['stop'] {
  return stop.kind === 'lsn' ? { kind: 'lsn', lsn: formatLsn(stop.lsn) } : { kind: 'time', time: stop.time };
}

/** Whether the copy was asked for the same target: the same timeline and the same stop. */
export function sameTarget(record: PastCopyRecord, timeline: number, stop: RecoveryStop): boolean {
  if (record.timeline !== timeline || record.stop.kind !== stop.kind) return false;
  return stop.kind === 'lsn' ? record.stop.kind === 'lsn' && parseLsn(record.stop.lsn) === stop.lsn : record.stop.kind === 'time' && record.stop.time === stop.time;
}

/** Whether keeping a copy leaves the disk above the margin. */
export function roomToKeep(engine: LocalContext): boolean {
  const policy = pastCopyPolicy(engine);
  try {
    const fsStats = fs.statfsSync(engine.layout.root);
    const free = fsStats.bavail * fsStats.bsize;
    const total = fsStats.blocks * fsStats.bsize;
    return free >= policy.minFreeBytes && free >= total * policy.minFreeFraction;
  } catch {
    return false;
  }
}

/** Ready and paused at its point (asked of the server itself): what reuse and a claim need. */
export async function pausedAndReady(engine: LocalContext, record: PastCopyRecord): Promise<boolean> {
  if (!record.ready || engine.cluster.runningPid(record.name) === undefined) return false;
  try {
    const client = await engine.cluster.connect({ host: record.socketDir, database: 'postgres', timeoutMs: 2000 });
    try {
      const { rows } = await client.query<{ paused: boolean }>("SELECT pg_is_in_recovery() AND pg_get_wal_replay_pause_state() = 'paused' AS paused");
      return rows[0]?.paused === true;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch {
    return false;
  }
}

/** Stop and remove the kept copy (the caller holds the cluster lock). Returns what went, in words, or undefined when there was none. */
export async function dropPastCopy(engine: LocalContext): Promise<string | undefined> {
  const { layout, cluster } = engine;
  const state = layout.readState();
  const record = state.pastCopy;
  if (!record) return undefined;
  if (record.name !== state.serving) {
    await cluster.stop(record.name, 'immediate');
    removeTree(layout.dataDir(record.name));
  }
  fs.rmSync(record.socketDir, { recursive: true, force: true });
  layout.updateState((s) => {
    if (s.pastCopy?.name === record.name) delete s.pastCopy;
    if (s.pendingForks && record.name !== s.serving) delete s.pendingForks[record.name];
  });
  return `the preview copy of ${describePoint(record.at)} in ${record.name}`;
}

/** Drop the kept copy when it is past its time, was left half-made, or its server is gone (the caller holds the cluster lock). */
export async function settlePastCopy(engine: LocalContext, now = Date.now()): Promise<string | undefined> {
  const record = engine.layout.readState().pastCopy;
  if (!record) return undefined;
  const stale = !record.ready || Date.parse(record.keepUntil) <= now || engine.cluster.runningPid(record.name) === undefined;
  if (!stale) return undefined;
  const dropped = await dropPastCopy(engine);
  if (dropped) engine.log.info(`dropped ${dropped}: ${record.ready ? 'its time was up or its server was gone' : 'left half-made'}`);
  return dropped;
}

/** For the upkeep, which holds no cluster lock: settle when the lock is free, else leave it to its holder. */
export async function settlePastCopyIfIdle(engine: LocalContext): Promise<string | undefined> {
  if (!engine.layout.readState().pastCopy) return undefined;
  try {
    return await withClusterLock(engine.layout, () => settlePastCopy(engine), 0);
  } catch {
    return undefined; // busy: whoever holds the lock settles it
  }
}

/** Cheap (the commit hook asks): whether a kept copy is past its time, so the upkeep should run to drop it. */
export function pastCopyExpired(engine: LocalContext, now = Date.now()): boolean {
  try {
    const record = engine.layout.readState().pastCopy;
    return record !== undefined && Date.parse(record.keepUntil) <= now;
  } catch {
    return false;
  }
}

/**
 * A restore's fork at the copy's target takes it: the record goes (the
 * directory stays in `pendingForks`) before anything changes, so an
 * interruption from here on is an interrupted fork (the caller holds the cluster lock).
 */
export async function claimPastCopy(engine: LocalContext, timeline: number, stop: RecoveryStop): Promise<PastCopyRecord | undefined> {
  const record = engine.layout.readState().pastCopy;
  if (!record || !sameTarget(record, timeline, stop) || !(await pausedAndReady(engine, record))) return undefined;
  engine.layout.updateState((s) => {
    delete s.pastCopy;
  });
  return record;
}

/** One line for `status`: "preview copy of 1 at 0/3000028 (412 MB), kept until 10:42". */
export function pastCopyStatus(engine: LocalContext, now = Date.now()): string | undefined {
  let record: PastCopyRecord | undefined;
  try {
    record = engine.layout.readState().pastCopy;
  } catch {
    return undefined;
  }
  if (!record || !record.ready || Date.parse(record.keepUntil) <= now || engine.cluster.runningPid(record.name) === undefined) return undefined;
  const until = new Date(record.keepUntil);
  const hhmm = `${String(until.getHours()).padStart(2, '0')}:${String(until.getMinutes()).padStart(2, '0')}`;
  return `preview copy of ${describePoint(record.at)} (${formatBytes(record.bytes)}), kept until ${hhmm}`;
}

/** "412 MB", "1.1 GB": for progress and status. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}
