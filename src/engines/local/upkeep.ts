// The background upkeep, start to end: when it is due (cheap, the commit hook asks), base backups by policy, the prepared copy the next restore claims, and a preview's copy whose time is up dropped.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperationOptions, Position } from '../../core/engine';
import { LockstepError } from '../../base/errors';
import { removeTree } from '../../base/files';
import { parseLsn } from '../../base/lsn';
import { historyReader } from './archive';
import { chooseBackup, listBackups, takeBaseBackup as takeBackup, type BackupMeta } from './baseBackup';
import { DEFAULT_ARCHIVE_TIMEOUT_MS, withBackupLock, type LocalContext } from './context';
import { copyTree } from './copyTree';
import { pastCopyExpired, settlePastCopyIfIdle } from './keptCopy';
import { chownTree } from './osUser';

/**
 * Whether a restore to `head` would replay more WAL than the policy allows
 * (or has no backup at all). Cheap: reads small files, never the server.
 */
export function maintenanceDue(engine: LocalContext, head: Position): boolean {
  const backup = newestBackupFor(engine, head);
  return backupDue(engine, head, backup) || (backup !== undefined && !fs.existsSync(engine.layout.preparedDir(backup.id))) || pastCopyExpired(engine);
}

function newestBackupFor(engine: LocalContext, head: Position): BackupMeta | undefined {
  return chooseBackup(listBackups(engine.layout.backups), historyReader(engine.layout.archive), Number(head.timelineId), parseLsn(head.lsn));
}

function backupDue(engine: LocalContext, head: Position, backup: BackupMeta | undefined): boolean {
  if (!backup) return true;
  // pg_backup_stop switches segments: the unused tail of the segment it closes is never replayed.
  const segment = BigInt(engine.layout.readState().walSegmentBytes);
  const replayFrom = ((parseLsn(backup.stopLsn) + segment - 1n) / segment) * segment;
  return parseLsn(head.lsn) - replayFrom > BigInt(engine.config.baseBackupWalBytes);
}

/** Take a base backup now (one at a time; a second caller gets BUSY). */
export async function takeBaseBackup(engine: LocalContext, options: OperationOptions & { waitMs?: number } = {}): Promise<BackupMeta> {
  return withBackupLock(engine.layout, options.waitMs ?? 0, () => backupNow(engine, options));
}

/** The caller holds the backup lock. */
async function backupNow(engine: LocalContext, options: OperationOptions): Promise<BackupMeta> {
  const state = engine.layout.readState();
  if (engine.cluster.runningPid(state.serving) === undefined) {
    throw new LockstepError('ENGINE_DOWN', 'the local database is not running', { hint: 'Run `lockstep db start`.' });
  }
  return takeBackup(engine.cluster, engine.postgresBinaries().major, state.walSegmentBytes, {
    archiveTimeoutMs: engine.config.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS,
    ...options,
  });
}

/**
 * The upkeep the hook starts in the background: a base backup when the
 * policy says one is due (or always, with `force`), then a prepared copy of
 * the newest one, so that the next restore renames it into place instead of
 * copying (on ext4, copying 1 GB was 3 of the 4 seconds of a restore).
 */
export async function maintain(engine: LocalContext, options: OperationOptions & { force?: boolean } = {}): Promise<string | undefined> {
  // First, and not under the backup lock (the cluster lock is always taken before it): a kept preview copy whose time is up.
  const dropped = await settlePastCopyIfIdle(engine);
  // All of it under the backup lock, with the server up: `db stop` waits for
  // this lock, so once it returns nothing writes here until the next start.
  return withBackupLock(engine.layout, options.force ? 60_000 : 0, async () => {
    const done: string[] = dropped ? [`dropped ${dropped}`] : [];
    let head = await engine.head(options);
    if (options.force || backupDue(engine, head, newestBackupFor(engine, head))) {
      const backup = await backupNow(engine, options);
      done.push(`base backup ${backup.id} (timeline ${backup.timeline}, consistent at ${backup.stopLsn}, ${Math.round(backup.bytes / 1024 / 1024)} MB)`);
      head = await engine.head(options);
    }
    const prepared = await prepareCopy(engine, head, options);
    if (prepared) done.push(prepared);
    return done.length > 0 ? done.join('; ') : undefined;
  });
}

/** Make the prepared copy of the newest backup for `head`, and drop older ones (the caller holds the backup lock). */
async function prepareCopy(engine: LocalContext, head: Position, options: OperationOptions): Promise<string | undefined> {
  const { layout } = engine;
  const backup = newestBackupFor(engine, head);
  if (!backup) return undefined;
  const target = layout.preparedDir(backup.id);
  for (const entry of fs.readdirSync(layout.root)) {
    const full = path.join(layout.root, entry);
    // Renamed away before deletion: a restore claiming the same copy by rename gets it whole or not at all.
    if ((entry.startsWith('prepared-') && full !== target) || entry.startsWith('.prepared-')) removeTree(full);
  }
  if (fs.existsSync(target)) return undefined;
  options.onProgress?.(`Preparing a ready copy of base backup ${backup.id}`);
  const staging = path.join(layout.root, `.prepared-${backup.id}.${process.pid}`);
  try {
    await copyTree(path.join(layout.backupDir(backup.id), 'data'), staging);
    fs.chmodSync(staging, 0o700);
    chownTree(staging, engine.postgresAccount());
    fs.renameSync(staging, target);
  } catch (error) {
    removeTree(staging);
    throw error;
  }
  return `a ready copy of base backup ${backup.id} for the next restore`;
}
