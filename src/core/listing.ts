// Checkpoints as the faces show them: newest first, whether each can still be restored, and which one serves now.

import type { Checkpoint, CheckpointListing } from './checkpoint';
import type { Engine, Position, Restorability, Unrestorable } from './engine';
import type { AuditEvent } from './journal';
import { foldPending } from './markers';
import type { Project } from './project';

export interface ListedCheckpoint extends Checkpoint {
  restorable: boolean;
  /** Why not, when `restorable` is false. */
  unrestorable?: Unrestorable;
  /** The checkpoint the serving database descends from most recently, and its data has not moved since. */
  serving: boolean;
  /** The checkpoint the serving database descends from most recently, but it has changed since ("descends from"). */
  descends: boolean;
  /** Pinned (core/pins.ts): kept restorable past retention. */
  pinned: boolean;
  /** When it stops being restorable, when that is known and the checkpoint is not pinned (core/expiry.ts). */
  expiry?: Expiry;
}

/** When a checkpoint's data leaves retention. */
export interface Expiry {
  /** ISO time it expires (time-based retention: Neon's window, a pageserver lease's end). */
  at?: string;
  /** Count-based retention (local: the newest `keep` checkpoints): how many newer checkpoints push it out. */
  afterCheckpoints?: number;
  /** Within the warning horizon: the faces warn ("expires in 40 minutes: pin it to keep it"). */
  soon: boolean;
  /** A few words: "expires in 40 minutes", "expires after 3 more checkpoints". */
  text: string;
}

export interface ListOptions {
  limit?: number;
  /** The serving position, when the caller already knows it (saves a round trip). */
  head?: Position;
}

/**
 * Restorability is judged by retention and known timelines, in one batch, so
 * that 10,000 checkpoints list quickly and without a database connection.
 */
export async function listCheckpoints(project: Project, options: ListOptions = {}): Promise<ListedCheckpoint[]> {
  // Commits the hook spooled are folded in first (a no-op when the spool is empty), so each shows with its timeline and subject.
  if (project.initialised) await foldPending(project).catch((error: unknown) => project.log.warn(`could not fold the hook's spool: ${(error as Error).message}`));
  const all = project.journal.list();
  const shown = options.limit === undefined ? all : all.slice(0, options.limit);
  let verdicts: Restorability[] = [];
  let engine: Engine | undefined;
  if (project.initialised && shown.length > 0) {
    engine = await project.engine();
    verdicts = engine.restorableMany ? await engine.restorableMany(shown) : await Promise.all(shown.map((c) => engine!.restorability(c)));
  }
  const servingId = options.head ? servingCheckpointId(all, options.head.timelineId, project.audit.list(50)) : undefined;
  // The journal parsed these objects for this call alone: completing them in place spares 10,000 copies.
  return shown.map((c, i) => {
    const verdict = verdicts[i] ?? { restorable: true };
    return Object.assign(c, { restorable: verdict.restorable, serving: c.id === servingId, descends: false, pinned: false }, verdict.restorable ? {} : { unrestorable: verdict });
  });
}

/**
 * Which checkpoint the data serving now descends from: the newest checkpoint
 * taken on the serving timeline since the last restore, else that restore's
 * target. (Neon keeps the branch id across an in-place restore, so the
 * timeline alone cannot tell.)
 */
export function servingCheckpointId(newestFirst: readonly Checkpoint[], servingTimeline: string, auditNewestFirst: readonly AuditEvent[]): string | undefined {
  const lastRestore = auditNewestFirst.find((e) => e.op === 'restore' && e.phase === 'finished');
  const since = lastRestore?.at ?? '';
  const onTimeline = newestFirst.find((c) => c.timelineId === servingTimeline && c.createdAt > since && c.kind !== 'pre-restore');
  return onTimeline?.id ?? lastRestore?.checkpointId;
}

/** The fields of `lockstep list --json`: a contract other tools rely on. */
export function toListing(c: ListedCheckpoint): CheckpointListing {
  return {
    id: c.id,
    kind: c.kind,
    commitSha: c.commitSha,
    timelineId: c.timelineId,
    lsn: c.lsn,
    label: c.label,
    createdAt: c.createdAt,
    command: c.command ?? null,
    agent: c.agent ?? null,
    restorable: c.restorable,
    unrestorable: c.unrestorable ? { reason: c.unrestorable.reason, message: c.unrestorable.message } : null,
  };
}

/** A checkpoint that cannot be restored now, in two words for a list or a tree: not yet (its WAL is not archived), or expired (code only). */
export function unrestorableLabel(verdict: Unrestorable | undefined, timeBased = false): string {
  if (timeBased && verdict?.reason !== 'not-archived') return 'not recorded';
  return verdict?.reason === 'not-archived' ? 'not yet restorable' : 'expired';
}
