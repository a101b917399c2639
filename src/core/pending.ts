// Commits the post-commit hook wrote to the spool (.git/lockstep/pending/) before, or instead of, the journal.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Checkpoint } from './checkpoint';
import type { EngineKind } from './engine';
import { isLsn } from '../base/lsn';
import { processAlive } from '../base/locks';

/*
 * The hook (src/git/post-commit.sh) writes one file per commit, named
 * `<sha>.<hook pid>`, before anything that can hang:
 *
 *   lockstep-pending 1
 *   sha <40 hex>
 *   time <ISO time, ms>        the moment, taken right after the commit
 *   ref <refs/heads/x | HEAD>  the branch, or HEAD when detached
 *   timeline <id>              } when psql read the position in time
 *   lsn <X/Y>                  }
 *   end                        written with the rest in one printf
 *   why <text>                 appended when the position could not be read
 *
 * `lockstep record` (run by the hook when psql could not) measures the
 * position, appends the checkpoint and removes the file. Whatever is left is
 * folded into the journal by the next Lockstep command that writes it: a
 * measured entry as it is, an unmeasured one as a time-based checkpoint.
 * Until then the journal lists them as they are, so no commit is ever missing
 * from `list` or the tree.
 */

export interface PendingCommit {
  /** The spool file. */
  file: string;
  /** The checkpoint id it becomes: derived from the file's name, so a listing and the fold agree. */
  id: string;
  sha: string;
  time: string;
  /** The branch's short name, or null when HEAD was detached. */
  branch: string | null;
  /** Present when the hook measured the position. */
  timelineId?: string;
  lsn?: string;
  /** Why it was not measured (the last reason given), when it was not. */
  why?: string;
  /** The hook's shell pid, from the file's name: while it lives, `lockstep record` may still measure it. */
  hookPid: number;
}

const NAME = /^([0-9a-f]{40,64})\.(\d+)$/;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Longer than the hook's 2 s bound: an unmeasured entry older than this is not being measured. */
export const HOOK_SETTLED_MS = 5000;

export function pendingDir(lockstepDir: string): string {
  return path.join(lockstepDir, 'pending');
}

export function pendingId(file: string): string {
  return createHash('sha256').update(path.basename(file)).digest('hex').slice(0, 12);
}

/** The complete spool files, oldest first; a file still being written (no `end`) is left for later. */
export function readPending(lockstepDir: string): PendingCommit[] {
  const dir = pendingDir(lockstepDir);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const entries: PendingCommit[] = [];
  for (const name of names) {
    const entry = readPendingFile(path.join(dir, name));
    if (entry) entries.push(entry);
  }
  return entries.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

/** One spool file, when its name and content make a complete entry; undefined when gone, half-written or not ours. */
export function readPendingFile(file: string): PendingCommit | undefined {
  const match = NAME.exec(path.basename(file));
  if (!match) return undefined;
  const entry = parsePending(file, readSmall(file), Number(match[2]));
  return entry && entry.sha === match[1] ? entry : undefined;
}

export function parsePending(file: string, text: string, hookPid: number): PendingCommit | undefined {
  const lines = text.split('\n');
  if (lines[0] !== 'lockstep-pending 1' || !lines.includes('end')) return undefined;
  const fields = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const space = line.indexOf(' ');
    if (space > 0) fields.set(line.slice(0, space), line.slice(space + 1)); // a later `why` replaces an earlier one
  }
  const sha = fields.get('sha');
  const time = fields.get('time');
  if (!sha || !time || !ISO_UTC.test(time)) return undefined;
  const ref = fields.get('ref') ?? '';
  const entry: PendingCommit = {
    file,
    id: pendingId(file),
    sha,
    time,
    branch: ref.startsWith('refs/heads/') ? ref.slice('refs/heads/'.length) : null,
    hookPid,
  };
  const timeline = fields.get('timeline');
  const lsn = fields.get('lsn');
  if (timeline && /^\d+$/.test(timeline) && lsn && isLsn(lsn)) {
    entry.timelineId = timeline;
    entry.lsn = lsn;
  }
  const why = fields.get('why');
  if (why) entry.why = why;
  return entry;
}

/**
 * Whether it may still be measured: unmeasured, young, and its hook alive (psql
 * or `lockstep record` at work), or another hook reading for it (commits made at
 * once share readings; see post-commit.sh).
 */
export function stillMeasuring(entry: PendingCommit, now = Date.now(), readerActive = false): boolean {
  if (entry.lsn !== undefined) return false;
  return Date.parse(entry.time) > now - HOOK_SETTLED_MS && (readerActive || processAlive(entry.hookPid));
}

/** A hook is reading the position for the commits spooled meanwhile (its directory, with its pid, in the spool). */
export function readerActive(lockstepDir: string): boolean {
  try {
    const pid = Number(fs.readFileSync(path.join(pendingDir(lockstepDir), '.reading', 'pid'), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && processAlive(pid);
  } catch {
    return false;
  }
}

/** Why an unmeasured entry has no position, for a person, when the hook did not say. */
const UNSAID = 'the commit hook could not read the database position in time';

/**
 * The checkpoint a spool entry stands for. `timelineId` is needed for a
 * time-based one (the hook cannot know it without the database): the timeline
 * serving when it was made.
 */
export function pendingCheckpoint(entry: PendingCommit, engine: EngineKind, servingTimeline: string | undefined, commit?: { subject: string | null; author: string | null; filesChanged: number | null }): Checkpoint | undefined {
  const measured = entry.lsn !== undefined && entry.timelineId !== undefined;
  const timelineId = measured ? entry.timelineId! : servingTimeline;
  if (timelineId === undefined) return undefined;
  const checkpoint: Checkpoint = {
    id: entry.id,
    kind: 'commit',
    commitSha: entry.sha,
    branch: entry.branch,
    subject: commit?.subject ?? null,
    author: commit?.author ?? null,
    filesChanged: commit?.filesChanged ?? null,
    label: null,
    createdAt: entry.time,
    engine,
    timelineId,
    lsn: measured ? entry.lsn! : null,
  };
  if (!measured) checkpoint.unmeasured = entry.why ?? UNSAID;
  return checkpoint;
}

/** Adds a reason to an unmeasured entry (the last one given wins); best effort. */
export function notePendingReason(file: string, why: string): void {
  try {
    if (fs.existsSync(file)) fs.appendFileSync(file, `why ${why.replace(/[\r\n]+/g, ' ')}\n`);
  } catch {
    // the spool entry still stands for the commit; only the reason is lost
  }
}

export function removePending(file: string): void {
  fs.rmSync(file, { force: true });
}

function readSmall(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').slice(0, 8192);
  } catch {
    return '';
  }
}

/** The spool as the journal lists it before anyone folds it in: no commit is missing from `list` meanwhile. */
export function spooledCheckpoints(lockstepDir: string, engineKind: () => EngineKind | undefined, journal: readonly Checkpoint[]): Checkpoint[] {
  const entries = readPending(lockstepDir);
  if (entries.length === 0) return [];
  const engine = engineKind();
  if (engine === undefined) return [];
  const serving = newestTimeline(journal);
  return entries.flatMap((e) => pendingCheckpoint(e, engine, serving) ?? []);
}

/** The timeline of the newest checkpoint: where a time-based commit lies when the engine cannot say. */
export function newestTimeline(journal: readonly Checkpoint[]): string | undefined {
  let newest: Checkpoint | undefined;
  for (const c of journal) if (!newest || c.createdAt > newest.createdAt) newest = c;
  return newest?.timelineId;
}
