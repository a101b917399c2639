// Checkpoints as the faces show them: newest first, whether each can still be restored, and which one serves now.

import type { Checkpoint, CheckpointListing } from './checkpoint';
import type { Engine, Position, Restorability, Retention, Unrestorable } from './engine';
import { expiryOf } from './expiry';
import type { AuditEvent } from './journal';
import { parseLsn } from '../base/lsn';
import { foldPending, pinnedCheckpoints } from './markers';
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
  /**
   * The engine's retention, for the expiry of time-window engines, when the caller has it (the extension's state, `status`);
   * undefined: asked of the engine (a cached or file read for local and Neon); null: not asked (count-based expiry only).
   */
  retention?: Retention | null;
  /** The clock expiry is judged by (ms); tests fix it. */
  now?: number;
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
  const serving = options.head ? servingOf(all, options.head, project.audit.list(50)) : undefined;
  // The head moved: by the app's writes, or only by what the engine itself wrote (a base backup, an archive switch)?
  if (serving && !serving.unmoved && serving.from && options.head && engine?.dataChangedSince) {
    const changed = await engine.dataChangedSince(serving.from, options.head).catch(() => undefined);
    if (changed === false) serving.unmoved = true;
  }
  const pinned = project.initialised ? project.pins.ids() : new Set<string>();
  const expiries = project.initialised && shown.length > 0 ? await expiriesOf(project, engine, shown, verdicts, pinned, options) : [];
  // The journal parsed these objects for this call alone: completing them in place spares 10,000 copies.
  return shown.map((c, i) => {
    const verdict = verdicts[i] ?? { restorable: true };
    const expiry = expiries[i];
    return Object.assign(c, { restorable: verdict.restorable, serving: c.id === serving?.id && serving.unmoved, descends: c.id === serving?.id && !serving.unmoved, pinned: pinned.has(c.id) }, verdict.restorable ? {} : { unrestorable: verdict }, expiry ? { expiry } : {});
  });
}

/** core/expiry.ts over the listed prefix: the keep count from the configuration, a time window from the retention. */
async function expiriesOf(project: Project, engine: Engine | undefined, shown: readonly Checkpoint[], verdicts: readonly Restorability[], pinned: ReadonlySet<string>, options: ListOptions) {
  let retention = options.retention ?? undefined;
  if (options.retention === undefined && engine) {
    retention = await engine.retention().catch((error: unknown) => {
      project.log.debug(`expiry without the engine's retention: ${(error as Error).message}`);
      return undefined;
    });
  }
  const candidates = shown.map((c, i) => ({ id: c.id, createdAt: c.createdAt, pinned: pinned.has(c.id), restorable: verdicts[i]?.restorable ?? true }));
  return expiryOf(candidates, retention, project.config().keep, options.now ?? Date.now(), { neverByCount: pinnedCheckpoints(project) });
}

/**
 * Which checkpoint the data serving now descends from: the newest checkpoint
 * taken on the serving timeline since the last restore of the data, else that
 * restore's target. (Neon keeps the branch id across an in-place restore, so
 * the timeline alone cannot tell.)
 */
export function servingCheckpointId(newestFirst: readonly Checkpoint[], servingTimeline: string, auditNewestFirst: readonly AuditEvent[]): string | undefined {
  const lastRestore = auditNewestFirst.find(isDataRestore);
  const since = lastRestore?.at ?? '';
  const onTimeline = newestFirst.find((c) => c.timelineId === servingTimeline && c.createdAt > since && c.kind !== 'pre-restore');
  return onTimeline?.id ?? lastRestore?.checkpointId;
}

/** A finished restore's audit event, with where its data served when it finished (core/restore.ts writes it). */
export type FinishedRestoreEvent = AuditEvent & { served?: Position };

/**
 * The checkpoint the data descends from, and whether the data is still
 * exactly that checkpoint ("serving") or has moved since ("descends from"):
 * unmoved while the head is the checkpoint's own position (one taken on this
 * line) or the position the restore left it at (a restore target). A
 * time-based checkpoint, or a restore written before its position was
 * recorded, cannot be compared: it descends. The head moves with any WAL,
 * including the engine's own upkeep (a base backup's checkpoint): `from` is
 * where it was left, so that the listing can ask the engine whether only the
 * engine wrote since (Engine.dataChangedSince); without that answer this errs
 * towards "descends from", never towards a false "serving".
 */
export function servingOf(newestFirst: readonly Checkpoint[], head: Position, auditNewestFirst: readonly AuditEvent[]): { id: string; unmoved: boolean; from?: Position } | undefined {
  const lastRestore = auditNewestFirst.find(isDataRestore) as FinishedRestoreEvent | undefined;
  const since = lastRestore?.at ?? '';
  const onTimeline = newestFirst.find((c) => c.timelineId === head.timelineId && c.createdAt > since && c.kind !== 'pre-restore');
  if (onTimeline) {
    if (onTimeline.lsn === null) return { id: onTimeline.id, unmoved: false };
    const from = { timelineId: onTimeline.timelineId, lsn: onTimeline.lsn };
    return { id: onTimeline.id, unmoved: samePosition(from, head), from };
  }
  if (!lastRestore?.checkpointId) return undefined;
  if (!lastRestore.served) return { id: lastRestore.checkpointId, unmoved: false };
  return { id: lastRestore.checkpointId, unmoved: samePosition(lastRestore.served, head), from: lastRestore.served };
}

/** A finished restore that moved the data (a code-only restore leaves the data where it was). */
function isDataRestore(e: AuditEvent): boolean {
  return e.op === 'restore' && e.phase === 'finished' && !e.detail?.startsWith('code-only');
}

function samePosition(a: Position, b: Position): boolean {
  if (a.timelineId !== b.timelineId) return false;
  try {
    return parseLsn(a.lsn) === parseLsn(b.lsn);
  } catch {
    return a.lsn === b.lsn;
  }
}

/** The fields of `lockstep list --json`: a contract other tools rely on (fields are only ever added: `pinned` came with pins). */
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
    pinned: c.pinned,
  };
}

/** A checkpoint that cannot be restored now, in two words for a list or a tree: not yet (its WAL is not archived), or expired (code only). */
export function unrestorableLabel(verdict: Unrestorable | undefined, timeBased = false): string {
  if (timeBased && verdict?.reason !== 'not-archived') return 'not recorded';
  return verdict?.reason === 'not-archived' ? 'not yet restorable' : 'expired';
}
