// The journal of checkpoints and the audit trail of operations, both kept outside the database they describe.

import { isCheckpoint, type Checkpoint } from './checkpoint';
import { JsonLinesFile } from './jsonLines';
import type { Log } from '../base/log';
import type { LockstepPaths } from './paths';

/** Rough lower bound of one checkpoint line, used to skip counting when the file cannot be over the limit. */
const MIN_CHECKPOINT_LINE_BYTES = 180;

export interface PruneResult {
  removed: Checkpoint[];
  kept: number;
}

/**
 * Checkpoints, newest first. Appends are atomic under concurrent writers (two
 * worktrees, an agent and a person committing at once). Markers reclaim no
 * data, so pruning is about clutter: keep the newest `keep` plus the pinned
 * ones (what a restore serves and its undo point).
 */
export class Journal {
  private readonly file: JsonLinesFile<Checkpoint>;
  private pending: (journal: readonly Checkpoint[]) => Checkpoint[] = () => [];

  constructor(paths: LockstepPaths, log: Log) {
    this.file = new JsonLinesFile(paths.journal, paths.journalLock, isCheckpoint, log);
  }

  /**
   * Where commits the hook spooled but nobody folded in yet come from
   * (core/pending.ts): `list` shows them, so no commit is missing meanwhile.
   */
  showPending(source: (journal: readonly Checkpoint[]) => Checkpoint[]): void {
    this.pending = source;
  }

  async append(checkpoint: Checkpoint): Promise<void> {
    await this.file.append([checkpoint]);
  }

  /**
   * Adds checkpoints made elsewhere (the hook's spool) that the journal does
   * not hold yet, then runs `after` (removing their spool files), under the
   * journal's lock. Returns what was added.
   */
  async fold(checkpoints: readonly Checkpoint[], after?: () => void): Promise<Checkpoint[]> {
    return this.file.appendNew(checkpoints, (c) => c.id, after);
  }

  /** Newest first, with the spooled commits not folded in yet. Unreadable lines are skipped with a warning. */
  list(): Checkpoint[] {
    return sortNewestFirst(this.withPending(this.file.read().records));
  }

  private withPending(records: Checkpoint[]): Checkpoint[] {
    const spooled = this.pending(records);
    if (spooled.length === 0) return records;
    const ids = new Set(records.map((c) => c.id));
    return [...records, ...spooled.filter((c) => !ids.has(c.id))];
  }

  /** Moves unreadable lines to `journal.unreadable.jsonl` beside the journal; returns how many and where. */
  async setAsideUnreadable(): Promise<{ moved: number; file: string }> {
    const file = this.file.file.replace(/\.jsonl$/, '') + '.unreadable.jsonl';
    return { moved: await this.file.setAsideUnreadable(file), file };
  }

  /** Lines that could not be read, for `lockstep status`. */
  unreadableLines(): number[] {
    return this.file.read().skippedLines;
  }

  /** The newest checkpoints appended, read from the end of the file only (the commit hook's path). */
  recent(): Checkpoint[] {
    return sortNewestFirst(this.file.readTail(16 * 1024));
  }

  /** Only what the journal file holds, newest first: no spooled commits. */
  listWritten(): Checkpoint[] {
    return sortNewestFirst(this.file.read().records);
  }

  async remove(ids: readonly string[]): Promise<Checkpoint[]> {
    const drop = new Set(ids);
    const removed: Checkpoint[] = [];
    await this.file.rewrite((records) =>
      records.filter((c) => {
        if (!drop.has(c.id)) return true;
        removed.push(c);
        return false;
      }),
    );
    return removed;
  }

  /** Keep the newest `keep` checkpoints and every pinned one; drop the rest. */
  async prune(keep: number, pinned: ReadonlySet<string> = new Set()): Promise<PruneResult> {
    const removed: Checkpoint[] = [];
    let kept = 0;
    await this.file.rewrite((records) => {
      const keepIds = new Set(
        sortNewestFirst(records)
          .slice(0, keep)
          .map((c) => c.id),
      );
      const next = records.filter((c) => {
        if (keepIds.has(c.id) || pinned.has(c.id)) return true;
        removed.push(c);
        return false;
      });
      kept = next.length;
      return next;
    });
    return { removed, kept };
  }

  /** Whether there are more than `keep` checkpoints; by file size alone when that settles it (the hook asks on every commit). */
  exceeds(keep: number): boolean {
    if (this.file.sizeBytes() <= keep * MIN_CHECKPOINT_LINE_BYTES) return false;
    return this.file.read().records.length > keep;
  }
}

export function sortNewestFirst(checkpoints: readonly Checkpoint[]): Checkpoint[] {
  // ISO 8601 UTC times sort as plain strings. (Not localeCompare: setting up
  // ICU collation costs ~8 ms, paid by every commit through the hook.)
  // Array sort is stable: reversed first, equal times keep later appends first.
  // The file is nearly in order already, which the sort handles in about linear time.
  return [...checkpoints].reverse().sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

export type AuditOperation = 'restore' | 'prune' | 'delete' | 'init' | 'record-failed' | 'pin' | 'unpin';
export type AuditPhase = 'started' | 'finished' | 'failed' | 'compensated' | 'compensation-failed';

export interface AuditEvent {
  at: string;
  op: AuditOperation;
  phase: AuditPhase;
  /** Groups the events of one operation. */
  operationId: string;
  /** Checkpoint the operation is about (restore target). */
  checkpointId?: string;
  /** The pre-restore checkpoint that undoes this restore. */
  undoCheckpointId?: string;
  /** A finished restore's own changes beside data and code, so that its undo can take them back. */
  restore?: RestoreFootprint;
  detail?: string;
}

/** What a finished restore made besides moving data and code: its undo puts these back. */
export interface RestoreFootprint {
  /** The stash it made of uncommitted work (full sha). */
  stash?: string;
  /** The `lockstep/restore-*` branch it created, and the commit it was created at. */
  createdBranch?: string;
  targetSha?: string;
}

function isAuditEvent(value: unknown): value is AuditEvent {
  if (typeof value !== 'object' || value === null) return false;
  const e = value as Record<string, unknown>;
  return typeof e.at === 'string' && typeof e.op === 'string' && typeof e.phase === 'string' && typeof e.operationId === 'string';
}

const AUDIT_KEEP = 1000;

/** Operations that changed state, newest last on disk, newest first when listed. */
export class AuditTrail {
  private readonly file: JsonLinesFile<AuditEvent>;

  constructor(paths: LockstepPaths, log: Log) {
    this.file = new JsonLinesFile(paths.audit, paths.audit, isAuditEvent, log);
  }

  async append(event: Omit<AuditEvent, 'at'>): Promise<AuditEvent> {
    const full: AuditEvent = { at: new Date().toISOString(), ...event };
    await this.file.append([full]);
    if (this.file.sizeBytes() > AUDIT_KEEP * 400) {
      await this.file.rewrite((records) => records.slice(-AUDIT_KEEP));
    }
    return full;
  }

  /** Newest first. */
  list(limit = Number.POSITIVE_INFINITY): AuditEvent[] {
    const records = this.file.read().records;
    return records.slice(Math.max(0, records.length - limit)).reverse();
  }
}
