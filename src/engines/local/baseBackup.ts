// Base backups with Postgres' low-level backup API (the npm binaries have no pg_basebackup), and choosing one for a target.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { readJsonFile, writeJsonFile } from '../../base/files';
import { formatLsn, parseLsn, walFileName } from '../../base/lsn';
import { isOnAncestry, waitForArchived, type HistoryReader } from './archive';
import type { LocalCluster } from './cluster';
import { RECOVERY_CONF } from './cluster';
import { copyTree, type CopyRule } from './copyTree';

export interface BackupMeta {
  id: string;
  /** Timeline the backup was taken on. */
  timeline: number;
  /** Where replay must start (the backup's checkpoint redo point). */
  startLsn: string;
  /** Where the backup becomes consistent: the earliest position it can recover to. */
  stopLsn: string;
  createdAt: string;
  bytes: number;
  pgMajor: number;
}

/**
 * What a base backup leaves out, per Postgres' documentation of the low-level
 * API: WAL (replayed from the archive), the pid file, and directories whose
 * contents are rebuilt at start-up.
 */
const backupRule: CopyRule = (rel, isDirectory) => {
  if (!rel.includes('/')) {
    if (['postmaster.pid', 'postmaster.opts', 'backup_label', 'tablespace_map', 'backup_label.old', 'recovery.signal', 'standby.signal', RECOVERY_CONF, 'current_logfiles'].includes(rel)) {
      return 'skip';
    }
    if (isDirectory && ['pg_wal', 'pg_replslot', 'pg_dynshmem', 'pg_notify', 'pg_serial', 'pg_snapshots', 'pg_stat_tmp', 'pg_subtrans'].includes(rel)) {
      return 'empty-dir';
    }
  }
  if (/(^|\/)pgsql_tmp/.test(rel)) return 'skip';
  return 'copy';
};

export function listBackups(backupsDir: string): BackupMeta[] {
  let names: string[];
  try {
    names = fs.readdirSync(backupsDir);
  } catch {
    return [];
  }
  const metas: BackupMeta[] = [];
  for (const name of names) {
    if (name.startsWith('.')) continue; // in progress
    const meta = readJsonFile<BackupMeta>(path.join(backupsDir, name, 'meta.json'));
    if (meta) metas.push(meta);
  }
  return metas.sort((a, b) => (parseLsn(a.stopLsn) < parseLsn(b.stopLsn) ? -1 : 1));
}

/**
 * The backup to restore `lsn` on `timeline` from: on that timeline's ancestry
 * (a backup from a sibling timeline fails with a misleading "could not locate
 * required checkpoint record"), consistent at or before the target (else
 * "recovery stop point is before consistent recovery point"), and the newest
 * such one, so the least WAL is replayed.
 */
export function chooseBackup(backups: readonly BackupMeta[], history: HistoryReader, timeline: number, lsn: bigint): BackupMeta | undefined {
  let best: BackupMeta | undefined;
  let bestStop = -1n;
  for (const b of backups) {
    const stop = stopOf(b);
    if (stop > lsn || stop <= bestStop) continue;
    if (!isOnAncestry(history, timeline, b.timeline, stop)) continue;
    best = b;
    bestStop = stop;
  }
  return best;
}

/**
 * The backup to restore the moment `time` (ms) on `timeline` from, for a
 * time-based checkpoint: on that timeline's ancestry, and finished at or before
 * the moment. `createdAt` is written after `pg_backup_stop` and the archive
 * wait, so every commit before the backup's consistent point is older than the
 * moment: recovery by time cannot stop before it. The newest such one.
 */
export function chooseBackupAt(backups: readonly BackupMeta[], history: HistoryReader, timeline: number, time: number): BackupMeta | undefined {
  let best: BackupMeta | undefined;
  let bestStop = -1n;
  for (const b of backups) {
    const stop = stopOf(b);
    if (!(Date.parse(b.createdAt) <= time) || stop <= bestStop) continue;
    if (!isOnAncestry(history, timeline, b.timeline, stop)) continue;
    best = b;
    bestStop = stop;
  }
  return best;
}

/** Parsed once per backup: a listing asks for 10,000 checkpoints at a time. */
const stops = new WeakMap<BackupMeta, bigint>();
function stopOf(b: BackupMeta): bigint {
  let stop = stops.get(b);
  if (stop === undefined) {
    stop = parseLsn(b.stopLsn);
    stops.set(b, stop);
  }
  return stop;
}

function parseLabel(label: string): { timeline: number; startLsn: string } {
  const start = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/i.exec(label);
  const timeline = /START TIMELINE: (\d+)/.exec(label);
  if (!start || !timeline) throw new LockstepError('BACKUP_FAILED', `unexpected backup label:\n${label}`);
  return { timeline: Number(timeline[1]), startLsn: start[1]! };
}

export interface TakeBackupOptions {
  signal?: AbortSignal;
  onProgress?: (step: string) => void;
  archiveTimeoutMs?: number;
}

/**
 * Take a base backup of the running server in ONE session (the non-exclusive
 * API ties the backup to the session that started it). The copy goes to a
 * hidden directory and is renamed when complete, so a half-taken backup is
 * never chosen for a restore.
 */
export async function takeBaseBackup(cluster: LocalCluster, pgMajor: number, segmentBytes: number, options: TakeBackupOptions = {}): Promise<BackupMeta> {
  const layout = cluster.layout;
  const id = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z') + '-' + Math.random().toString(16).slice(2, 6);
  const staging = path.join(layout.backups, `.${id}`);
  const client = await cluster.connect({ database: 'postgres' });
  fs.mkdirSync(layout.backups, { recursive: true, mode: 0o700 });
  let started = false;
  try {
    options.onProgress?.('Starting base backup (checkpoint)');
    const startFn = pgMajor >= 15 ? 'pg_backup_start($1, true)' : 'pg_start_backup($1, true, false)';
    await client.query(`SELECT ${startFn}`, [`lockstep ${id}`]);
    started = true;
    throwIfAborted(options.signal, 'the base backup');
    options.onProgress?.('Copying the data directory');
    const copied = await copyTree(layout.dataDir(stateServing(cluster)), path.join(staging, 'data'), backupRule);
    fs.mkdirSync(path.join(staging, 'data', 'pg_wal', 'archive_status'), { recursive: true, mode: 0o700 });
    throwIfAborted(options.signal, 'the base backup');
    const stopFn = pgMajor >= 15 ? 'pg_backup_stop(false)' : 'pg_stop_backup(false, false)';
    // We wait for the archive ourselves, with a bound: pg_backup_stop(true) would wait forever on a stuck archiver.
    const { rows } = await client.query<{ lsn: string; labelfile: string; spcmapfile: string | null }>(
      `SELECT lsn::text AS lsn, labelfile, spcmapfile FROM ${stopFn}`,
    );
    started = false;
    const row = rows[0]!;
    if (row.spcmapfile && row.spcmapfile.trim() !== '') {
      throw new LockstepError('BACKUP_FAILED', 'the database uses tablespaces outside its data directory, which Lockstep does not copy');
    }
    fs.writeFileSync(path.join(staging, 'data', 'backup_label'), row.labelfile, { mode: 0o600 });
    const { timeline, startLsn } = parseLabel(row.labelfile);
    const stop = parseLsn(row.lsn);
    options.onProgress?.('Waiting for the WAL archive');
    await waitForArchived(layout.archive, walFileName(timeline, stop - 1n, segmentBytes), {
      timeoutMs: options.archiveTimeoutMs ?? 60_000,
      signal: options.signal,
    });
    const meta: BackupMeta = {
      id,
      timeline,
      startLsn,
      stopLsn: formatLsn(stop),
      createdAt: new Date().toISOString(),
      bytes: copied.bytes,
      pgMajor,
    };
    writeJsonFile(path.join(staging, 'meta.json'), meta, 0o600);
    fs.renameSync(staging, layout.backupDir(id));
    return meta;
  } catch (error) {
    if (started) {
      const stopFn = pgMajor >= 15 ? 'pg_backup_stop(false)' : 'pg_stop_backup(false, false)';
      await client.query(`SELECT ${stopFn}`).catch(() => undefined);
    }
    fs.rmSync(staging, { recursive: true, force: true });
    if (error instanceof LockstepError) throw error;
    throw new LockstepError('BACKUP_FAILED', `base backup failed: ${(error as Error).message}`, { cause: error });
  } finally {
    await client.end().catch(() => undefined);
  }
}

function stateServing(cluster: LocalCluster): string {
  return cluster.layout.readState().serving;
}
