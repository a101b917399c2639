// The WAL archive: how Postgres writes to it and reads from it, timeline histories, and waiting for a segment.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { fsyncPath } from '../../base/files';
import { parseLsn, walFileName } from '../../base/lsn';
import { chownTree, type PostgresAccount } from './osUser';

/**
 * A value for postgresql.conf: single-quoted, quotes doubled, backslashes
 * escaped, and line breaks written as escapes (a quoted value cannot span lines).
 */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

/** A word for sh: single-quoted, embedded quotes closed and escaped. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Archiving through Postgres' own `basic_archive` module (15+): it copies to a
 * temporary name, fsyncs and renames, never overwrites a different file and
 * accepts an identical one (so a re-archive after a crash does not block).
 */
export function archiveSettings(archiveDir: string): string[] {
  return [
    'wal_level = replica',
    'archive_mode = on',
    "archive_library = 'basic_archive'",
    `basic_archive.archive_directory = ${confQuote(archiveDir)}`,
    // The recent WAL stays in pg_wal after it is archived, so that "serving" can read what was written since a checkpoint
    // (pg_walinspect; dataChanges.ts) across the base backups' checkpoints, which would otherwise recycle it.
    "wal_keep_size = '64MB'",
  ];
}

/**
 * The restore_command that copies from `archiveDir`. Read twice: Postgres
 * first replaces %f, %p, %r and %% (so a repository such as `100%free` would
 * have its `%f` replaced by a WAL file name), then sh runs the result.
 */
export function restoreCommand(archiveDir: string): string {
  return `cp ${percentLiteral(shellQuote(archiveDir))}/%f %p`;
}

/** Text for a Postgres command template (restore_command, archive_cleanup_command, recovery_end_command) that must stay as it is: each % doubled. */
function percentLiteral(text: string): string {
  return text.replace(/%/g, '%%');
}

export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

export interface HistoryEntry {
  /** An ancestor timeline… */
  timeline: number;
  /** …and the LSN where its history stops belonging to this one. */
  switchLsn: bigint;
}

/**
 * The ancestors of `timeline`, oldest first, from its history file in the
 * archive. Timeline 1 has none. Throws TIMELINE_UNKNOWN when a later timeline
 * has no history file.
 */
export function readHistory(archiveDir: string, timeline: number): HistoryEntry[] {
  if (timeline === 1) return [];
  let text: string;
  try {
    text = fs.readFileSync(path.join(archiveDir, historyFileName(timeline)), 'utf8');
  } catch {
    throw new LockstepError('TIMELINE_UNKNOWN', `timeline ${timeline} is not known to this database's archive`);
  }
  const entries: HistoryEntry[] = [];
  for (const line of text.split('\n')) {
    const match = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (match) entries.push({ timeline: Number(match[1]), switchLsn: parseLsn(match[2]!) });
  }
  return entries;
}

/** Every timeline with a history file in the archive, plus 1. */
export function archivedTimelines(archiveDir: string): number[] {
  const timelines = new Set<number>([1]);
  for (const name of safeReaddir(archiveDir)) {
    const match = /^([0-9A-F]{8})\.history$/.exec(name);
    if (match) timelines.add(Number.parseInt(match[1]!, 16));
  }
  return [...timelines].sort((a, b) => a - b);
}

/** Reads timeline histories from the archive, each file once per reader (they never change once archived). */
export type HistoryReader = (timeline: number) => HistoryEntry[];

export function historyReader(archiveDir: string): HistoryReader {
  const cache = new Map<number, HistoryEntry[]>();
  return (timeline) => {
    let entries = cache.get(timeline);
    if (!entries) {
      entries = readHistory(archiveDir, timeline);
      cache.set(timeline, entries);
    }
    return entries;
  };
}

/**
 * Whether position `lsn` on `timeline` lies on the ancestry of `descendant`:
 * true when they are the same timeline, or when `timeline` is an ancestor and
 * the descendant branched off it at or after `lsn`.
 */
export function isOnAncestry(history: HistoryReader, descendant: number, timeline: number, lsn: bigint): boolean {
  if (descendant === timeline) return true;
  const entry = history(descendant).find((e) => e.timeline === timeline);
  return entry !== undefined && lsn <= entry.switchLsn;
}

export function isArchived(archiveDir: string, walFile: string): boolean {
  return fs.existsSync(path.join(archiveDir, walFile));
}

/** A directory's entries; none when it cannot be read. */
export function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/** A segment a data directory's Postgres has marked ready for the archiver, and since when. */
export interface AwaitingArchive {
  segment: string;
  readySince: number;
}

/** The segments waiting for the archiver (`pg_wal/archive_status/<segment>.ready`); none when the directory cannot be read. */
export function segmentsAwaitingArchive(dataDir: string): AwaitingArchive[] {
  const statusDir = path.join(dataDir, 'pg_wal', 'archive_status');
  const found: AwaitingArchive[] = [];
  for (const name of safeReaddir(statusDir)) {
    const match = /^([0-9A-F]{24})\.ready$/.exec(name);
    if (!match) continue;
    try {
      found.push({ segment: match[1]!, readySince: fs.statSync(path.join(statusDir, name)).mtimeMs });
    } catch {
      // archived (renamed to .done) while we looked
    }
  }
  return found;
}

export interface ArchiverStatus {
  failedCount: number;
  lastArchivedTime: string | null;
  lastFailedWal: string | null;
  lastFailedTime: string | null;
}

/**
 * Wait until `walFile` is in the archive. A bounded wait: archiving is strictly
 * in order, so one segment that cannot be archived stops every later one. Fails
 * fast, with the archiver's own error, once Postgres reports a new failure.
 */
export async function waitForArchived(
  archiveDir: string,
  walFile: string,
  options: { timeoutMs: number; signal?: AbortSignal; archiverStatus?: () => Promise<ArchiverStatus | undefined>; archiverError?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  const initial = await options.archiverStatus?.().catch(() => undefined);
  let delay = 5;
  let nextCheck = Date.now() + 200;
  while (!isArchived(archiveDir, walFile)) {
    throwIfAborted(options.signal, 'waiting for the WAL archive');
    const timedOut = Date.now() > deadline;
    if (timedOut || (options.archiverStatus && Date.now() >= nextCheck)) {
      nextCheck = Date.now() + 200;
      const status = await options.archiverStatus?.().catch(() => undefined);
      const newFailure = status !== undefined && initial !== undefined && status.failedCount > initial.failedCount && archiverFailing(status);
      if (timedOut || newFailure) {
        const failure = status?.lastFailedWal ? ` Postgres failed to archive ${status.lastFailedWal} ${status.failedCount} time(s), last at ${status.lastFailedTime}` : '';
        const reason = options.archiverError?.();
        throw new LockstepError(
          'ARCHIVE_STUCK',
          newFailure && !timedOut
            ? `WAL cannot be archived:${failure}${reason ? `: ${reason}` : ''}.`
            : `WAL segment ${walFile} did not reach the archive within ${Math.round(options.timeoutMs / 1000)} s.${failure}${reason ? `: ${reason}` : ''}`,
          { hint: `Check free disk space and permissions of ${archiveDir}, and the server log. Nothing was changed.` },
        );
      }
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
}

/** The archiver's own words for its last failure, from a server log excerpt (basic_archive's error, or the archive command's). */
export function archiverErrorIn(log: string): string | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    // Passing over "failed too many times, will try again later", which says no why.
    if (/archiv/i.test(line) && /\b(ERROR|FATAL|WARNING|LOG):/.test(line) && !/archive_mode|archiver process|failed too many times/.test(line)) {
      return line.replace(/^.*?\b(ERROR|FATAL|WARNING|LOG):\s*/, '');
    }
  }
  return undefined;
}

/** "<segment> failed N time(s), last at <time>": the archiver's failure in its own figures. */
export function describeArchiverFailure(status: ArchiverStatus): string {
  return `${status.lastFailedWal} failed ${status.failedCount} time(s), last at ${status.lastFailedTime}`;
}

/** Whether the archiver's last attempt failed (a failure newer than the last success). */
export function archiverFailing(status: ArchiverStatus): boolean {
  if (!status.lastFailedTime) return false;
  if (!status.lastArchivedTime) return true;
  return Date.parse(status.lastFailedTime) > Date.parse(status.lastArchivedTime);
}

/**
 * Copy into the archive what a cleanly stopped timeline wrote and the archiver
 * did not take: the segments still marked ready, and the last, partial one
 * (with the shutdown checkpoint at `endLsn`), which Postgres never archives.
 * Atomic per file (temporary name, fsync, rename), never overwriting.
 */
export function archiveTail(dataDir: string, archiveDir: string, timeline: number, endLsn: bigint, segmentBytes: number, account: PostgresAccount): void {
  const wal = path.join(dataDir, 'pg_wal');
  const names = new Set(segmentsAwaitingArchive(dataDir).map((s) => s.segment));
  // The checkpoint record is about 120 bytes; it may cross into the next segment.
  names.add(walFileName(timeline, endLsn, segmentBytes));
  names.add(walFileName(timeline, endLsn + 512n, segmentBytes));
  let wrote = false;
  for (const name of [...names].sort()) {
    if (fs.existsSync(path.join(archiveDir, name))) continue;
    const source = path.join(wal, name);
    if (!fs.existsSync(source)) continue;
    try {
      copyIntoArchive(source, archiveDir, name, account);
    } catch (error) {
      throw new LockstepError('ARCHIVE_STUCK', `could not copy WAL segment ${name} into the archive: ${(error as Error).message}`, {
        hint: `Check free disk space and permissions of ${archiveDir}.`,
        cause: error,
      });
    }
    wrote = true;
  }
  if (wrote) fsyncPath(archiveDir);
}

/**
 * Put a file into the archive as Postgres' own archiving would: under a
 * temporary name, fsynced, owned by the Postgres account, then renamed, so a
 * reader (restore_command, basic_archive comparing) never sees half of it.
 */
export function copyIntoArchive(source: string, archiveDir: string, name: string, account: PostgresAccount): void {
  const staging = path.join(archiveDir, `.${name}.${process.pid}.tmp`);
  try {
    fs.copyFileSync(source, staging);
    fsyncPath(staging);
    fs.chmodSync(staging, 0o600);
    chownTree(staging, account);
    fs.renameSync(staging, path.join(archiveDir, name));
  } catch (error) {
    fs.rmSync(staging, { force: true });
    throw error;
  }
}

/** Take back files `archiveTail` wrote, before their timeline goes on (it will archive longer versions itself). */
export function removeArchivedFiles(archiveDir: string, names: readonly string[]): void {
  for (const name of names) fs.rmSync(path.join(archiveDir, name), { force: true });
}
