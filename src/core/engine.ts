// The engine interface: what the core needs from the data side, whichever Postgres is behind it.

import type { Client } from 'pg';
import { LockstepError, type ErrorCode } from '../base/errors';
import type { Lsn } from '../base/lsn';
import type { HookFastPath } from './hookConf';
import type { Log } from '../base/log';

export type EngineKind = 'local' | 'neon' | 'pageserver';

export const ENGINE_KINDS: readonly EngineKind[] = ['local', 'neon', 'pageserver'];

/** A point in the database's history: one timeline, one byte position on it. */
export interface Position {
  /** Postgres' timeline id (`"1"`, `"2"`…) for local; a branch or timeline id elsewhere. */
  timelineId: string;
  lsn: Lsn;
}

/** A position plus when it was taken, which some engines need to find where that history lives now. */
export interface PositionInHistory extends Position {
  /** ISO time the marker was taken. */
  createdAt?: string;
}

/**
 * A moment on a timeline whose position was never read: the commit hook could
 * not reach the database within its budget, so the commit was recorded with its
 * time. Engines find it by the clock: the last transaction committed at or
 * before `createdAt` (local: recovery_target_time; Neon: a timestamp; a
 * pageserver: its LSN-by-timestamp lookup).
 */
export interface MomentInHistory {
  timelineId: string;
  lsn: null;
  /** ISO time, to the millisecond. */
  createdAt: string;
}

/** Where a fork starts: a position, or, for a time-based checkpoint, a moment. */
export type PointInHistory = PositionInHistory | MomentInHistory;

export function isMoment(at: PointInHistory): at is MomentInHistory {
  return at.lsn === null;
}

/** "1 at 0/3000028", or "1 at 2026-12-01T10:00:00.000Z (by time)": for messages. */
export function describePoint(at: PointInHistory): string {
  return at.lsn === null ? `${at.timelineId} at ${at.createdAt} (by time)` : `${at.timelineId} at ${at.lsn}`;
}

/**
 * A timeline the engine can make the compute serve: either a fork that `fork()`
 * prepared, or the one serving now (so a failed restore can come back to it).
 * JSON-serialisable so the orchestration can write it to the audit trail.
 */
export interface TimelineHandle {
  engine: EngineKind;
  role: 'fork' | 'serving';
  /** The timeline this handle will serve (for a local fork: the id Postgres will assign). */
  timelineId: string;
  /** Where the fork starts; absent for a serving handle. */
  at?: Position;
  /** Engine-private details (data directory, source branch…). */
  ref: Record<string, string | number | boolean | null>;
}

export type EngineState = 'running' | 'stopped' | 'unreachable' | 'not-initialised';

export interface EngineStatus {
  engine: EngineKind;
  state: EngineState;
  /** One line for a person: "running on 127.0.0.1:5433, timeline 2". */
  summary: string;
  head?: Position;
  /** The address clients use, with the password removed. */
  address?: string;
  serverVersion?: string;
  /** Problems a person should know of while it runs (WAL archiving failing): one line each. */
  warnings?: string[];
  /** What the engine keeps ready for a restore that follows (a preview's recovered copy): one line each, with its size and when it goes. */
  kept?: string[];
}

export interface Retention {
  /** The oldest position a fork can still reach, on the serving timeline's ancestry. */
  oldest?: Position & { time?: string };
  /** For time-based retention (Neon): how far back history is kept. */
  windowSeconds?: number;
  /** One line for a person. */
  summary: string;
}

/**
 * Why a point cannot be forked now: past retention, on a timeline that is gone,
 * beyond the end of its timeline, or (for now) not archived yet while archiving
 * fails.
 */
export type UnrestorableReason = 'expired' | 'unknown-timeline' | 'beyond-head' | 'not-archived';

export interface Unrestorable {
  restorable: false;
  reason: UnrestorableReason;
  message: string;
  /** What the user can do about it, when the engine knows (e.g. raise retention). */
  hint?: string;
}

export type Restorability = { restorable: true } | Unrestorable;

const UNRESTORABLE_CODES: Record<UnrestorableReason, ErrorCode> = {
  expired: 'EXPIRED',
  'unknown-timeline': 'TIMELINE_UNKNOWN',
  'beyond-head': 'LSN_BEYOND_HEAD',
  'not-archived': 'ARCHIVE_STUCK',
};

/** The one place a restorability verdict becomes an error, for every engine and the core. */
export function restorabilityError(verdict: Unrestorable, at: PointInHistory): LockstepError {
  return new LockstepError(UNRESTORABLE_CODES[verdict.reason], `${describePoint(at)} cannot be restored: ${verdict.message}`, verdict.hint ? { hint: verdict.hint } : {});
}

export interface ColumnSummary {
  name: string;
  type: string;
}

export interface TableSummary {
  schema: string;
  name: string;
  columns: ColumnSummary[];
  /** Approximate (planner statistics or a bounded count); -1 when unknown. */
  approxRows: number;
}

export interface SchemaSummary {
  tables: TableSummary[];
}

/**
 * The database as of a point in its history, open for reading: a diff reads
 * rows from it, a one-table restore copies rows out of it. Released, the
 * engine may keep it (bounded) for the restore that follows.
 */
export interface PastDatabase {
  /** Where the copy stands: the point asked for (a moment stays a moment). */
  at: PointInHistory;
  /**
   * The copy is a physical fork of the serving database's own past (the point
   * lies on the history that leads to now), so both share transaction ids up
   * to `at`: a row version now whose xmin precedes the copy's snapshot existed
   * then, unchanged. False whenever the engine cannot tell.
   */
  ancestorOfNow: boolean;
  /** How the copy came to be, one line for progress and status: "kept from the last preview", "recovered from the prepared copy of base backup …". */
  origin: string;
  /** A read-only connection to the app's database as of `at` (as a superuser where the engine has one). The caller ends it. */
  connect(): Promise<Client>;
  /** Done reading. The engine keeps the copy for a restore that follows (bounded in time and disk), or drops it. */
  release(): Promise<void>;
}

/**
 * What an engine holds so that a pinned checkpoint stays restorable past
 * retention (local: its base backup and WAL are exempt from pruning; Neon: a
 * snapshot; pageserver: an LSN lease kept renewed). core/pins.ts stores it in
 * `pins.json` beside the journal; the engine keeps what it needs to restore
 * from it in its own state.
 */
export interface PinHold {
  /** Engine-private details to release it (Neon: the snapshot id; pageserver: timeline and leased LSN). JSON. */
  ref: Record<string, string | number | boolean | null>;
  /** One line for a person: "base backup 20261202T0910 (254 MB) and 12 MB of WAL kept", "Neon snapshot snap-abc". */
  summary: string;
  /** Disk (or storage) the pin keeps that nothing else needs, when the engine can tell. */
  bytes?: number;
}

/** Who the pin is for: the checkpoint's id and a name for the engine's side (a Neon snapshot's name). */
export interface PinRequest {
  checkpointId: string;
  /** "lockstep pin 1a2b3c4d5e6f: before price bulk update" (engines may shorten it). */
  name: string;
}

export interface OperationOptions {
  signal?: AbortSignal;
  /** Named steps for progress UIs: "Archiving WAL", "Replaying to 0/3000028"… */
  onProgress?: (step: string) => void;
}

export interface RepointOptions extends OperationOptions {
  /**
   * Called at the cut-over, once the old timeline has stopped for good (and,
   * to keep the app's gap short, once the target serves), with where it ended:
   * every acknowledged commit lies before `end`, so it is the exact undo point.
   * Engines that cannot tell never call it; the core then keeps the marker it
   * took before the restore.
   */
  onCutOver?: (end: Position) => Promise<void>;
}

export interface PruneOptions extends OperationOptions {
  /**
   * The background upkeep's prune: keep what served just before the last
   * restore (the local engine's previous data directory holds any write that
   * raced the restore). `lockstep prune` removes it too.
   */
  keepPrevious?: boolean;
}

export interface PruneReport {
  /** What was removed, one line each, for the audit trail. */
  removed: string[];
  bytesFreed: number;
}

export interface Engine {
  readonly kind: EngineKind;

  /** `repoint` reports where the old timeline ended (`RepointOptions.onCutOver`): the undo point is taken there. */
  readonly reportsCutOverEnd?: boolean;

  /** The durable position to pin now. Must be cheap (a marker, not a copy) and write nothing. */
  head(options?: OperationOptions): Promise<Position>;

  /**
   * Where a cleanly stopped database stands (it cannot have moved since it
   * stopped), read without starting it; undefined when it runs, crashed, or the
   * engine cannot tell. The commit hook records a commit made meanwhile there.
   */
  positionWhileStopped?(): Position | undefined;

  /**
   * How the commit hook can read the position without Node (psql over a
   * private socket), or undefined when it cannot; written to hook.conf.
   */
  hookFastPath?(): HookFastPath | undefined;

  /** The timeline serving now, when the engine knows it without asking the database (a time-based checkpoint belongs to it). */
  servingTimelineId?(): string | undefined;

  /** What the last `head()` noticed that makes new checkpoints unsafe (WAL archiving failing): one line each. */
  warnings?(): string[];

  /**
   * Prepare the database as of `at` as a new timeline without serving it. `at`
   * names its own timeline: after one restore an older marker forks from the
   * timeline it was taken on, not from the one serving now.
   */
  fork(at: PointInHistory, options?: OperationOptions): Promise<TimelineHandle>;

  /** The timeline serving now, as a handle `repoint` can come back to. */
  serving(options?: OperationOptions): Promise<TimelineHandle>;

  /**
   * Make the compute serve `target` at the same address. Done means the target
   * timeline answers, not the old one. Returns the new head. On failure, the
   * timeline that served before serves again (or the error says it could not).
   */
  repoint(target: TimelineHandle, options?: RepointOptions): Promise<Position>;

  /** Drop a fork that will not be served (after a failed or cancelled restore). */
  discard(handle: TimelineHandle): Promise<void>;

  /**
   * After a restore was interrupted before its cut-over: stop and remove every
   * fork no restore serves, including one whose handle was never returned (the
   * process died while it recovered). Returns what was removed, in words.
   */
  abandonForks?(): Promise<string[]>;

  /**
   * Whether the app's data changed after `since` (the serving timeline's
   * position a checkpoint or a restore left it at), looking past what the
   * engine itself writes (a base backup's checkpoint, an archive switch).
   * Undefined when it cannot tell; the faces then compare positions.
   */
  dataChangedSince?(since: Position, head: Position, options?: OperationOptions): Promise<boolean | undefined>;

  /** Whether a fork at `at` is possible now, and why not. */
  restorability(at: PointInHistory, options?: OperationOptions): Promise<Restorability>;

  /**
   * The same question for many markers at once, for listings (10,000 rows):
   * cheap, by retention and known timelines, without asking the database.
   */
  restorableMany?(points: readonly PointInHistory[]): Promise<Restorability[]>;

  status(options?: OperationOptions): Promise<EngineStatus>;

  retention(options?: OperationOptions): Promise<Retention>;

  /** Open the database as of `at` for reading (row diffs, one-table restores). Engines that cannot leave it out. */
  openPast?(at: PointInHistory, options?: OperationOptions): Promise<PastDatabase>;

  /** A connection to the serving app database with the engine's strongest role (local: Lockstep's superuser). The caller ends it. */
  connectNow?(options?: OperationOptions): Promise<Client>;

  /** Tables, columns and approximate rows now, or as of `at` (for restore previews). */
  describe(at?: PointInHistory, options?: OperationOptions): Promise<SchemaSummary>;

  /** Reclaim what no kept position needs. Engines without storage of their own report nothing. */
  prune(keep: readonly PointInHistory[], options?: PruneOptions): Promise<PruneReport>;

  /**
   * Keep `at` restorable past retention (see PinHold). Refuses with a clear
   * error (QUOTA for an engine quota) and changes nothing when it cannot.
   */
  pin?(at: PointInHistory, request: PinRequest, options?: OperationOptions): Promise<PinHold>;

  /** Release what `pin` held (idempotent: gone already is fine). */
  unpin?(hold: PinHold, options?: OperationOptions): Promise<void>;

  /** Release connections and timers (never stops a database). */
  close(): Promise<void>;

  /** The connection string clients use (with its password): what "Copy Connection String" copies. */
  connectionUrl?(): Promise<string>;

  /** Engines that run the database themselves (local) can start and stop it. */
  start?(options?: OperationOptions): Promise<Position>;
  stop?(options?: OperationOptions): Promise<void>;

  /**
   * Background upkeep (local: base backups by policy). `maintenanceDue` must be
   * cheap (the commit hook asks it); `maintain` may take long and is never run
   * inside the hook's time budget.
   */
  maintenanceDue?(head: Position): boolean;
  /** Does the upkeep when due (or always, with `force`); returns what it did, in words, or undefined. */
  maintain?(options?: OperationOptions & { force?: boolean }): Promise<string | undefined>;
}

/** What every engine is given: where Lockstep keeps its files, and where to log. */
export interface EngineContext {
  /** `.git/lockstep` of the repository (git common dir), shared by worktrees. */
  lockstepDir: string;
  log: Log;
  /** Secrets from the face that runs the engine (SecretStorage, env, credentials file). */
  secrets: SecretSource;
}

export interface SecretSource {
  get(name: string): Promise<string | undefined>;
}
