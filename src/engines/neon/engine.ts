// The Neon engine: checkpoints are (branch, LSN) markers; a restore is Neon's restore in place, so the connection string stays.

import { describeCompute, readInsertLsn, withoutPassword } from '../../core/compute';
import {
  describePoint,
  isMoment,
  restorabilityError,
  type Engine,
  type EngineContext,
  type EngineStatus,
  type OperationOptions,
  type PinHold,
  type PinRequest,
  type PointInHistory,
  type Position,
  type PruneOptions,
  type PruneReport,
  type Restorability,
  type Retention,
  type Unrestorable,
  type SchemaSummary,
  type TimelineHandle,
} from '../../core/engine';
import type { NeonEngineConfig } from '../../core/config';
import { LockstepError, describeError, isLockstepError, throwIfAborted } from '../../base/errors';
import { RemoteCallError, sleep, type RetryPolicy } from '../../core/http';
import { scopedLog, type Log } from '../../base/log';
import { compareLsn, isLsn } from '../../base/lsn';
import { engineStateFile } from '../../core/paths';
import { NEON_API_KEY_SECRET, NeonApi, neonApiUrl, type NeonProject } from './api';
import {
  loadNeonState,
  pinFor,
  preservedBranchName,
  preservedBranchesToDelete,
  resolveSource,
  saveNeonState,
  type NeonPinRecord,
  type NeonRestoreRecord,
  type NeonSnapshotRestoreRecord,
  type NeonState,
  type SourceResolution,
} from './history';
import { DEFAULT_POLL, waitForOperations, type PollPolicy } from './operations';

export const DEFAULT_KEEP_PRESERVED_BRANCHES = 5;

/** Neon's manual snapshots per project: 1 on the free plans, 10 on the paid ones. */
export const SNAPSHOT_LIMIT = { free: 1, paid: 10 } as const;

/** Where a checkpoint restores from: its branch's history, or (past the window) the snapshot its pin holds. */
type Located =
  | { restorable: true; sourceBranchId: string; snapshot?: NeonPinRecord }
  | { restorable: false; verdict: Unrestorable };

export interface NeonEngineOptions {
  retry?: Partial<RetryPolicy>;
  poll?: Partial<PollPolicy>;
  requestTimeoutMs?: number;
  /** Connect and statement limit for the compute queries (a suspended compute takes a few seconds to wake). */
  computeTimeoutMs?: number;
  /** Where `LOCKSTEP_NEON_API_URL` is read from; the process environment by default. */
  env?: Record<string, string | undefined>;
}

/**
 * Maps the engine interface onto Neon's restore in place:
 * - `fork(at)` only works out which branch holds `at` now (no server change);
 * - `repoint(handle)` restores the configured branch from there, preserving the
 *   state it replaces under a readable name, and waits for every operation;
 * - the restores and their preserved branches are kept in `neon-state.json`, so
 *   a checkpoint taken before a restore is restored from the branch that holds
 *   its history now;
 * - a pin is a Neon snapshot at the checkpoint's point (`pin`), which outlives
 *   the history window; past the window such a checkpoint is restored the way
 *   Neon's snapshots-as-checkpoints demo does it: snapshot restore with
 *   `target_branch_id` and `finalize_restore`, which moves the computes (and
 *   so the connection string) to a new branch; the serving branch id changes
 *   and is kept in `neon-state.json`.
 */
export class NeonEngine implements Engine {
  readonly kind = 'neon' as const;
  private readonly api: NeonApi;
  private readonly log: Log;
  private readonly stateFile: string;
  private readonly poll: PollPolicy;
  private readonly computeTimeoutMs: number;
  private branchId: string | undefined;
  private connectionString: string | undefined;
  private project: { value: NeonProject; readAt: number } | undefined;

  constructor(
    private readonly config: NeonEngineConfig,
    ctx: EngineContext,
    options: NeonEngineOptions = {},
  ) {
    this.log = scopedLog(ctx.log, 'neon');
    this.api = new NeonApi(neonApiUrl(config, options.env), config.projectId, () => ctx.secrets.get(NEON_API_KEY_SECRET), this.log, {
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    });
    this.stateFile = engineStateFile(ctx.lockstepDir, 'neon');
    this.poll = { ...DEFAULT_POLL, ...options.poll };
    this.computeTimeoutMs = options.computeTimeoutMs ?? 20_000;
  }

  async head(options: OperationOptions = {}): Promise<Position> {
    const branchId = await this.servingBranch(options.signal);
    const lsn = await readInsertLsn(await this.connection(options.signal), {
      signal: options.signal,
      timeoutMs: this.computeTimeoutMs,
      what: `the compute of Neon branch ${branchId}`,
    }).catch((error: unknown) => {
      throw this.scrubbed(error);
    });
    return { timelineId: branchId, lsn };
  }

  async fork(at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
    throwIfAborted(options.signal, 'preparing the restore');
    const branchId = await this.servingBranch(options.signal);
    const found = await this.locate(at, options.signal);
    if (!found.restorable) throw restorabilityError(found.verdict, at);
    if (found.snapshot) {
      const pin = found.snapshot;
      options.onProgress?.(`Past Neon's history window: restoring from the pin's snapshot ${pin.snapshotName} (${pin.snapshotId})`);
      return {
        engine: 'neon',
        role: 'fork',
        timelineId: branchId,
        ...(at.lsn !== null ? { at: { timelineId: at.timelineId, lsn: at.lsn } } : {}),
        ref: { snapshotId: pin.snapshotId, snapshotName: pin.snapshotName, sourceBranchId: pin.sourceBranchId },
      };
    }
    const from = found.sourceBranchId === branchId ? 'the branch itself' : `branch ${found.sourceBranchId}`;
    if (isMoment(at)) {
      // Neon finds the moment itself (`source_timestamp`); where that is becomes known only on its side.
      options.onProgress?.(`Restoring from ${from} as of ${at.createdAt} (by time)`);
      return { engine: 'neon', role: 'fork', timelineId: branchId, ref: { sourceBranchId: found.sourceBranchId, sourceTimestamp: at.createdAt } };
    }
    options.onProgress?.(`Restoring from ${from} at ${at.lsn}`);
    return {
      engine: 'neon',
      role: 'fork',
      timelineId: branchId,
      at: { timelineId: at.timelineId, lsn: at.lsn },
      ref: { sourceBranchId: found.sourceBranchId, sourceLsn: at.lsn },
    };
  }

  async serving(options: OperationOptions = {}): Promise<TimelineHandle> {
    const head = await this.head(options);
    return {
      engine: 'neon',
      role: 'serving',
      timelineId: head.timelineId,
      ref: { sourceBranchId: head.timelineId, sourceLsn: head.lsn, takenAt: new Date().toISOString() },
    };
  }

  async repoint(target: TimelineHandle, options: OperationOptions = {}): Promise<Position> {
    throwIfAborted(options.signal, 'the restore');
    const branchId = await this.servingBranch(options.signal);
    if (target.engine !== 'neon' || target.timelineId !== branchId) {
      throw new LockstepError('BAD_INPUT', `this handle is for ${target.engine} timeline ${target.timelineId}, not Neon branch ${branchId}`);
    }
    if (target.role === 'fork' && target.ref.snapshotId !== undefined) {
      return this.restoreFromSnapshot(branchId, stringRef(target, 'snapshotId'), options);
    }
    let sourceBranchId = stringRef(target, 'sourceBranchId');
    if (target.role === 'fork' && target.ref.sourceTimestamp !== undefined) {
      return this.restoreInPlace(branchId, sourceBranchId, { timestamp: stringRef(target, 'sourceTimestamp') }, options);
    }
    const sourceLsn = stringRef(target, 'sourceLsn');
    if (target.role === 'serving') {
      // Coming back to what served when the handle was taken: if a restore ran since, that history is preserved elsewhere.
      const takenAt = stringRef(target, 'takenAt');
      const found = await this.locate({ timelineId: sourceBranchId, lsn: sourceLsn, createdAt: takenAt }, options.signal);
      if (!found.restorable) throw restorabilityError(found.verdict, { timelineId: sourceBranchId, lsn: sourceLsn });
      if (found.sourceBranchId === branchId) {
        this.log.info(`branch ${branchId} still serves the history of ${takenAt}; nothing to restore`);
        return this.head(options);
      }
      sourceBranchId = found.sourceBranchId;
    }
    return this.restoreInPlace(branchId, sourceBranchId, { lsn: sourceLsn }, options);
  }

  async discard(handle: TimelineHandle): Promise<void> {
    // fork() creates nothing on Neon's side: an unused handle leaves nothing behind.
    this.log.debug(`discard ${handle.role} handle for ${handle.timelineId}: nothing to remove`);
  }

  async restorability(at: PointInHistory, options: OperationOptions = {}): Promise<Restorability> {
    const found = await this.locate(at, options.signal);
    return found.restorable ? { restorable: true } : found.verdict;
  }

  /**
   * For listings: by the retention window and the restore history alone (one
   * cached project read, no query per checkpoint). A checkpoint on a branch
   * Lockstep knows nothing of counts as restorable until asked in full.
   */
  async restorableMany(points: readonly PointInHistory[]): Promise<Restorability[]> {
    let window: number | undefined;
    try {
      window = (await this.projectInfo(undefined)).history_retention_seconds;
    } catch (error) {
      this.log.warn(`listing without Neon's retention window: ${this.scrub(describeError(error))}`);
    }
    const state = this.state();
    return points.map((at): Restorability => {
      if (!isMoment(at) && !isLsn(at.lsn)) return { restorable: false, reason: 'unknown-timeline', message: `"${at.lsn}" is not an LSN` };
      if (isMoment(at) && !(Date.parse(at.createdAt) <= Date.now())) return momentVerdict(at);
      const verdict = ((): Restorability => {
        if (window !== undefined && at.createdAt && (Date.now() - Date.parse(at.createdAt)) / 1000 > window) {
          return { restorable: false, reason: 'expired', message: `older than the ${formatDuration(window)} of history Neon keeps for this project` };
        }
        const replaced = (state.snapshotRestores ?? []).find((r) => r.replacedBranchId === at.timelineId && r.deletedAt);
        if (replaced) return { restorable: false, reason: 'unknown-timeline', message: `its branch ${at.timelineId}, replaced by the snapshot restore of ${replaced.startedAt}, was pruned on ${replaced.deletedAt}` };
        const resolution = resolveSource(state, at.timelineId, at);
        if (resolution.kind === 'gone') return { restorable: false, reason: 'unknown-timeline', message: resolution.reason };
        if (resolution.kind === 'branch' && resolution.headLsn && at.lsn !== null && compareLsn(at.lsn, resolution.headLsn) > 0) {
          return { restorable: false, reason: 'beyond-head', message: `${at.lsn} is beyond the end of its branch's history (${resolution.headLsn})` };
        }
        return { restorable: true };
      })();
      // A pin's snapshot outlives the window and the branches (the listing trusts neon-state.json; a restore checks the snapshot is there).
      if (!verdict.restorable && verdict.reason !== 'beyond-head' && pinFor(state, at)) return { restorable: true };
      return verdict;
    });
  }

  /** The branch's connection string, password included: what "Copy Connection String" copies. */
  async connectionUrl(): Promise<string> {
    return this.connection(undefined);
  }

  async status(options: OperationOptions = {}): Promise<EngineStatus> {
    const where = `Neon project ${this.config.projectId}`;
    try {
      const head = await this.head(options);
      const branch = await this.api.getBranch(head.timelineId, { signal: options.signal });
      const state = this.state();
      const restores = state.restores.filter((r) => r.branchId === head.timelineId && r.status === 'finished').length;
      const moved = this.config.branchId && head.timelineId !== this.config.branchId ? ` (serving since a snapshot restore; the configured branch was ${this.config.branchId})` : '';
      const pins = state.pins?.length ? `, ${state.pins.length} pinned checkpoint(s) held by Neon snapshots` : '';
      return {
        engine: 'neon',
        state: 'running',
        summary: `${where}, branch ${branch.name} (${branch.id})${moved} at ${head.lsn}${restores ? `, restored ${restores} time(s)` : ''}${pins}`,
        head,
        address: withoutPassword(await this.connection(options.signal)),
      };
    } catch (error) {
      if (isLockstepError(error, 'CANCELLED')) throw error;
      return { engine: 'neon', state: 'unreachable', summary: `${where}: ${this.scrub(describeError(error))}` };
    }
  }

  async retention(options: OperationOptions = {}): Promise<Retention> {
    const seconds = (await this.projectInfo(options.signal)).history_retention_seconds;
    return {
      windowSeconds: seconds,
      summary: seconds > 0 ? `Neon keeps ${formatDuration(seconds)} of history (history_retention_seconds = ${seconds})` : 'Neon keeps no history for this project (history_retention_seconds = 0)',
    };
  }

  /**
   * Now: the compute's own catalog (with row estimates). At a checkpoint: Neon's
   * schema endpoint at that LSN of the branch holding it (rows unknown, -1).
   */
  async describe(at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
    if (!at) {
      const branchId = await this.servingBranch(options.signal);
      return describeCompute(await this.connection(options.signal), {
        signal: options.signal,
        timeoutMs: this.computeTimeoutMs,
        what: `the compute of Neon branch ${branchId}`,
      }).catch((error: unknown) => {
        throw this.scrubbed(error);
      });
    }
    const found = await this.locate(at, options.signal);
    if (!found.restorable) throw restorabilityError(found.verdict, at);
    if (found.snapshot) throw snapshotHasNoSchema(found.snapshot);
    const schema = await this.api.branchSchema(found.sourceBranchId, { databaseName: this.config.databaseName, ...pointQuery(at) }, { signal: options.signal });
    if (!schema.json) throw new LockstepError('REMOTE', `Neon returned no JSON schema for branch ${found.sourceBranchId} at ${at.lsn ?? `${at.createdAt} (by time)`}`);
    return {
      tables: schema.json.tables.map((t) => ({ schema: t.schema, name: t.name, columns: t.columns.map((c) => ({ name: c.name, type: c.type })), approxRows: -1 })),
    };
  }

  /** The restore preview: Neon's `compare_schema` of the checkpoint against the branch now, as SQL diff text ('' when equal). */
  async schemaDiff(at: PointInHistory, options: OperationOptions = {}): Promise<string> {
    const branchId = await this.servingBranch(options.signal);
    const found = await this.locate(at, options.signal);
    if (!found.restorable) throw restorabilityError(found.verdict, at);
    if (found.snapshot) throw snapshotHasNoSchema(found.snapshot);
    return this.api.compareSchema(found.sourceBranchId, { databaseName: this.config.databaseName, ...pointQuery(at), baseBranchId: branchId }, { signal: options.signal });
  }

  /**
   * Deletes the branches earlier restores preserved, beyond the newest
   * `keepPreservedBranches`, unless a kept checkpoint's history lives there.
   * Neon frees no bytes Lockstep can count (storage is shared copy-on-write).
   */
  async prune(keep: readonly PointInHistory[], options: PruneOptions = {}): Promise<PruneReport> {
    const branchId = await this.servingBranch(options.signal);
    const needed = new Set<string>();
    for (const at of keep) {
      const resolution = await this.resolve(at, options.signal);
      if (resolution.kind === 'branch') needed.add(resolution.branchId);
      if (resolution.kind === 'unconfirmed') {
        this.log.warn(`prune: the restore of ${resolution.record.startedAt} is unconfirmed; not pruning until it is`);
        return { removed: [], bytesFreed: 0 };
      }
    }
    const keepCount = this.config.keepPreservedBranches ?? DEFAULT_KEEP_PRESERVED_BRANCHES;
    const removed: string[] = [];
    for (const record of preservedBranchesToDelete(this.state(), keepCount, needed)) {
      throwIfAborted(options.signal, 'pruning');
      const id = record.preservedBranchId!;
      try {
        const operations = await this.api.deleteBranch(id, { signal: options.signal });
        if (operations?.length) {
          await waitForOperations(this.api, operations, this.poll, this.log, { signal: options.signal, what: `deleting Neon branch ${id}` });
        }
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED')) throw error;
        this.log.warn(`prune: kept ${record.preservedName} (${id}): ${this.scrub(describeError(error))}`);
        continue;
      }
      this.updateState((state) => {
        const stored = state.restores.find((r) => r.preservedBranchId === id);
        if (stored) stored.deletedAt = new Date().toISOString();
      });
      removed.push(`Neon branch ${record.preservedName} (${id}), the state of ${branchId} before the restore of ${record.startedAt}`);
    }
    // The branches snapshot restores replaced ("<name> (old)") hold the same kind of state: the same rule and count.
    const replaced = (this.state().snapshotRestores ?? [])
      .filter((r) => r.status === 'finished' && !r.deletedAt && r.replacedBranchId !== branchId)
      .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
      .slice(Math.max(0, keepCount))
      .filter((r) => !needed.has(r.replacedBranchId));
    for (const record of replaced) {
      throwIfAborted(options.signal, 'pruning');
      const id = record.replacedBranchId;
      try {
        const operations = await this.api.deleteBranch(id, { signal: options.signal });
        if (operations?.length) {
          await waitForOperations(this.api, operations, this.poll, this.log, { signal: options.signal, what: `deleting Neon branch ${id}` });
        }
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED')) throw error;
        this.log.warn(`prune: kept ${id}, replaced by the snapshot restore of ${record.startedAt}: ${this.scrub(describeError(error))}`);
        continue;
      }
      this.updateState((state) => {
        const stored = (state.snapshotRestores ?? []).find((r) => r.startedAt === record.startedAt && r.snapshotId === record.snapshotId);
        if (stored) stored.deletedAt = new Date().toISOString();
      });
      removed.push(`Neon branch ${id}, the state of ${record.replacedBranchName ?? 'the serving branch'} before the snapshot restore of ${record.startedAt}`);
    }
    return { removed, bytesFreed: 0 };
  }

  async close(): Promise<void> {
    await this.api.close();
  }

  // ── pins: Neon snapshots ───────────────────────────────────────────────────

  /**
   * A Neon snapshot of the branch that holds `at` now, at its LSN (or its
   * time, for a moment), named after the checkpoint. The plan's snapshot limit
   * is checked first (nothing is created when it is reached), and a refusal
   * Neon gives for it anyway is QUOTA too.
   */
  async pin(at: PointInHistory, request: PinRequest, options: OperationOptions = {}): Promise<PinHold> {
    throwIfAborted(options.signal, 'pinning');
    const mine = (this.state().pins ?? []).find((p) => p.checkpointId === request.checkpointId && p.timelineId === at.timelineId);
    if (mine) return holdOf(mine);
    const found = await this.locateInHistory(at, options.signal);
    // A snapshot can only be taken within the history window: what is past it is gone on Neon's side.
    if (!found.restorable) throw restorabilityError(found.verdict, at);
    await this.checkSnapshotQuota(options.signal);
    const name = request.name.slice(0, 100);
    const where = at.lsn ?? `${at.createdAt} (by time)`;
    options.onProgress?.(`Taking a Neon snapshot of branch ${found.sourceBranchId} at ${where}`);
    let created;
    try {
      created = await this.api.createSnapshot(found.sourceBranchId, { ...pointQuery(at), name }, { signal: options.signal });
    } catch (error) {
      throw this.scrubbed(error);
    }
    const record: NeonPinRecord = {
      snapshotId: created.snapshot.id,
      snapshotName: created.snapshot.name,
      checkpointId: request.checkpointId,
      timelineId: at.timelineId,
      lsn: at.lsn,
      ...(at.createdAt ? { createdAt: at.createdAt } : {}),
      sourceBranchId: found.sourceBranchId,
      takenAt: new Date().toISOString(),
    };
    // Written before waiting: if we stop here, the snapshot is still known (and `unpin` can delete it).
    this.updateState((state) => (state.pins ??= []).push(record));
    try {
      await waitForOperations(this.api, created.operations, this.poll, this.log, {
        signal: options.signal,
        onProgress: options.onProgress,
        what: `taking Neon snapshot ${record.snapshotName}`,
      });
    } catch (error) {
      // A snapshot that did not come to be holds nothing, but would count against the plan's limit: remove it.
      await this.dropSnapshot(record.snapshotId, undefined).catch((dropError: unknown) =>
        this.log.warn(`could not delete the unfinished snapshot ${record.snapshotId}: ${this.scrub(describeError(dropError))}`),
      );
      throw this.scrubbed(error);
    }
    return holdOf(record);
  }

  /** Deletes the pin's snapshot; one already gone (deleted in the console, expired) is fine. */
  async unpin(hold: PinHold, options: OperationOptions = {}): Promise<void> {
    const snapshotId = hold.ref.snapshotId;
    if (typeof snapshotId !== 'string' || snapshotId === '') throw new LockstepError('BAD_INPUT', 'this pin names no Neon snapshot');
    options.onProgress?.(`Deleting Neon snapshot ${snapshotId}`);
    await this.dropSnapshot(snapshotId, options.signal);
  }

  private async dropSnapshot(snapshotId: string, signal: AbortSignal | undefined): Promise<void> {
    const operations = await this.api.deleteSnapshot(snapshotId, { signal }).catch((error: unknown) => {
      throw this.scrubbed(error);
    });
    if (operations === undefined) this.log.info(`Neon snapshot ${snapshotId} was already gone`);
    if (operations?.length) await waitForOperations(this.api, operations, this.poll, this.log, { signal, what: `deleting Neon snapshot ${snapshotId}` });
    this.updateState((state) => (state.pins = (state.pins ?? []).filter((p) => p.snapshotId !== snapshotId)));
  }

  /** Refuses (QUOTA) when the project already has as many manual snapshots as its plan keeps. */
  private async checkSnapshotQuota(signal: AbortSignal | undefined): Promise<void> {
    const project = await this.projectInfo(signal);
    const plan = project.owner?.subscription_type;
    if (!plan || plan === 'UNKNOWN') {
      // The owner is optional in the API: without it Neon's own refusal (mapped to QUOTA) is the check.
      this.log.debug('the Neon plan is not known; relying on Neon to refuse a snapshot past its limit');
      return;
    }
    const free = plan.startsWith('free');
    const limit = free ? SNAPSHOT_LIMIT.free : SNAPSHOT_LIMIT.paid;
    // Scheduled snapshots are not what the limit counts; only manual ones (an absent flag counts as manual).
    const snapshots = (await this.api.listSnapshots({ signal })).filter((s) => s.manual !== false);
    if (snapshots.length < limit) return;
    const ours = new Set((this.state().pins ?? []).map((p) => p.snapshotId));
    const pinned = snapshots.filter((s) => ours.has(s.id)).length;
    const others = snapshots.length - pinned;
    const names = snapshots
      .slice(0, 3)
      .map((s) => `"${s.name}"`)
      .join(', ');
    const steps = [
      pinned ? 'unpin a checkpoint (`lockstep unpin REF`; `lockstep list` marks the pinned ones)' : undefined,
      others ? `delete a snapshot in the Neon console (Backup & restore)` : undefined,
      free ? `or move the project to a paid plan (${SNAPSHOT_LIMIT.paid} snapshots)` : undefined,
    ].filter((x): x is string => x !== undefined);
    throw new LockstepError(
      'QUOTA',
      `Neon's ${free ? 'free' : 'paid'} plan (${plan}) keeps ${limit} snapshot${limit === 1 ? '' : 's'} per project and project ${this.config.projectId} has ${snapshots.length} (${names}${snapshots.length > 3 ? ', …' : ''}); nothing was pinned`,
      { hint: `To pin this one, ${steps.join(', ')}.` },
    );
  }

  // ── the restore from a snapshot ────────────────────────────────────────────

  /**
   * As Neon's snapshots-as-checkpoints demo restores: one request with
   * `target_branch_id` = the serving branch and `finalize_restore: true`, every
   * operation polled to a terminal status. Neon makes a new branch from the
   * snapshot and moves the serving branch's computes and name to it, so the
   * connection string stays and the branch id changes. The replaced branch
   * keeps its id (renamed "<name> (old)") and so the state it held, as the
   * in-place restore's preserved branch does.
   */
  private async restoreFromSnapshot(branchId: string, snapshotId: string, options: OperationOptions): Promise<Position> {
    const pin = (this.state().pins ?? []).find((p) => p.snapshotId === snapshotId);
    const label = pin ? `${pin.snapshotName} (${snapshotId})` : snapshotId;
    // Its name now: once finalized the restored branch carries it, which is how a restore we lost track of is recognised.
    const replaced = await this.api.getBranch(branchId, { signal: options.signal }).catch((error: unknown) => {
      throw this.scrubbed(error);
    });
    const record: NeonSnapshotRestoreRecord = {
      snapshotId,
      replacedBranchId: branchId,
      replacedBranchName: replaced.name,
      newBranchId: null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      status: 'requested',
    };
    // Written before the request: if we die after Neon accepted it, the serving branch can still be found (see status()).
    this.updateState((s) => (s.snapshotRestores ??= []).push(record));
    const mark = (patch: Partial<NeonSnapshotRestoreRecord>) =>
      this.updateState((s) => {
        const stored = (s.snapshotRestores ?? []).find((r) => r.startedAt === record.startedAt && r.snapshotId === snapshotId);
        if (stored) Object.assign(stored, patch);
      });
    const what = `the restore of Neon snapshot ${label} onto branch ${branchId}`;
    const restoredName = `lockstep-restored-${record.startedAt.replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')}`;
    options.onProgress?.(`Asking Neon to restore snapshot ${label} and move the computes of ${branchId} to it (the current state stays on ${branchId})`);
    let response;
    try {
      response = await this.api.restoreSnapshot(snapshotId, { name: restoredName, target_branch_id: branchId, finalize_restore: true }, { signal: options.signal });
    } catch (error) {
      if (mayHaveActed(error)) mark({ status: 'unconfirmed' });
      else this.updateState((s) => (s.snapshotRestores = (s.snapshotRestores ?? []).filter((r) => r !== record && !(r.startedAt === record.startedAt && r.snapshotId === snapshotId))));
      throw this.scrubbed(error);
    }
    const newBranchId = response.branch.id;
    mark({ status: 'unconfirmed', newBranchId });
    try {
      await waitForOperations(this.api, response.operations, this.poll, this.log, { signal: options.signal, onProgress: options.onProgress, what });
    } catch (error) {
      if (isLockstepError(error, 'CANCELLED')) {
        throw new LockstepError('CANCELLED', `${what} was cancelled while Neon was still working`, {
          hint: `Neon may still finish it (the restored branch is ${newBranchId}; the state before it stays on ${branchId}). Run \`lockstep status\` to see what serves now.`,
        });
      }
      throw this.scrubbed(error);
    }
    await this.tick(record.startedAt);
    mark({ status: 'finished', finishedAt: new Date().toISOString() });
    this.updateState((s) => (s.serving = { branchId: newBranchId, configuredBranchId: this.config.branchId ?? null }));
    this.log.info(`snapshot ${label} restored: branch ${newBranchId} serves now; ${branchId} keeps the state it replaced`);
    this.branchId = newBranchId;
    // The computes moved with the restore: the string is the same, but ask again rather than assume it.
    this.connectionString = undefined;
    options.onProgress?.('Waiting for the compute to answer');
    return this.headAfterRestart(options);
  }

  // ── the restore ────────────────────────────────────────────────────────────

  /** Restores `branchId` from `sourceBranchId` at an LSN, or for a time-based checkpoint at a time (Neon finds its LSN). */
  private async restoreInPlace(branchId: string, sourceBranchId: string, source: { lsn: string } | { timestamp: string }, options: OperationOptions): Promise<Position> {
    const sourceLsn = 'lsn' in source ? source.lsn : null;
    const where = 'lsn' in source ? source.lsn : `${source.timestamp} (by time)`;
    // Where the history being replaced ends, so "beyond head" can be judged on the preserved branch later.
    const before = await this.head(options).catch((error: unknown) => {
      if (isLockstepError(error, 'CANCELLED')) throw error;
      this.log.warn(`could not read the head before restoring: ${this.scrub(describeError(error))}`);
      return undefined;
    });
    const state = this.state();
    const name = preservedBranchName(new Date(), new Set(state.restores.map((r) => r.preservedName)));
    const record: NeonRestoreRecord = {
      branchId,
      sourceBranchId,
      sourceLsn,
      ...('timestamp' in source ? { sourceTimestamp: source.timestamp } : {}),
      preservedName: name,
      preservedBranchId: null,
      preservedHeadLsn: before?.lsn ?? null,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      status: 'requested',
    };
    // Written before the request: if we die after Neon accepted it, the mapping still knows a restore happened.
    this.updateState((s) => s.restores.push(record));
    const what = `the restore of Neon branch ${branchId}`;
    options.onProgress?.(`Asking Neon to restore ${branchId} to ${where} of ${sourceBranchId === branchId ? 'its own history' : sourceBranchId} (the current state is kept as ${name})`);
    let operations;
    try {
      ({ operations } = await this.api.restoreBranch(
        branchId,
        { source_branch_id: sourceBranchId, ...('lsn' in source ? { source_lsn: source.lsn } : { source_timestamp: source.timestamp }), preserve_under_name: name },
        { signal: options.signal },
      ));
    } catch (error) {
      if (mayHaveActed(error)) this.markRecord(name, { status: 'unconfirmed' });
      else this.updateState((s) => (s.restores = s.restores.filter((r) => r.preservedName !== name)));
      throw this.scrubbed(error);
    }
    this.markRecord(name, { status: 'unconfirmed' });
    try {
      await waitForOperations(this.api, operations, this.poll, this.log, { signal: options.signal, onProgress: options.onProgress, what });
    } catch (error) {
      if (isLockstepError(error, 'CANCELLED')) {
        throw new LockstepError('CANCELLED', `${what} was cancelled while Neon was still working`, {
          hint: `Neon may still finish it; the state before it is kept as branch ${name}. Run \`lockstep status\` to see what serves now.`,
        });
      }
      throw this.scrubbed(error);
    }
    const preserved = await this.findBranchByName(name, options.signal).catch((error: unknown) => {
      if (isLockstepError(error, 'CANCELLED')) throw error;
      this.log.warn(`restore finished, but the preserved branch ${name} could not be looked up: ${this.scrub(describeError(error))}`);
      return undefined;
    });
    if (!preserved) this.log.warn(`restore finished, but Neon lists no branch named ${name}; checkpoints taken before it cannot be restored`);
    // Strictly after startedAt, so a checkpoint taken in the same millisecond as a quick restore still maps one way only.
    await this.tick(record.startedAt);
    this.markRecord(name, { status: 'finished', preservedBranchId: preserved?.id ?? null, finishedAt: new Date().toISOString() });
    options.onProgress?.('Waiting for the compute to answer');
    return this.headAfterRestart(options);
  }

  /** The compute restarts on a restore: give it a few tries before calling the restore a failure. */
  private async headAfterRestart(options: OperationOptions): Promise<Position> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.head(options);
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED') || isLockstepError(error, 'AUTH') || attempt >= 5) throw error;
        await sleep(Math.min(this.poll.maxDelayMs, this.poll.initialDelayMs * attempt), options.signal, 'waiting for the compute');
      }
    }
  }

  // ── where a checkpoint's history lives ─────────────────────────────────────

  /**
   * Where `at` restores from: its branch's history while Neon keeps it (an
   * in-place restore, cheaper), else the snapshot of its pin when Neon still
   * lists that snapshot.
   */
  private async locate(at: PointInHistory, signal: AbortSignal | undefined): Promise<Located> {
    const found = await this.locateInHistory(at, signal);
    if (found.restorable || found.verdict.reason === 'beyond-head') return found;
    const pin = pinFor(this.state(), at);
    if (!pin) return found;
    const snapshot = (await this.api.listSnapshots({ signal })).find((s) => s.id === pin.snapshotId);
    if (!snapshot) {
      return {
        restorable: false,
        verdict: { ...found.verdict, message: `${found.verdict.message}; the Neon snapshot its pin held (${pin.snapshotName}, ${pin.snapshotId}) is gone` },
      };
    }
    return { restorable: true, sourceBranchId: pin.sourceBranchId, snapshot: pin };
  }

  private async locateInHistory(at: PointInHistory, signal: AbortSignal | undefined): Promise<Located> {
    if (!isMoment(at) && !isLsn(at.lsn)) throw new LockstepError('BAD_LSN', `"${at.lsn}" is not an LSN`);
    // A moment after now: nothing was committed there yet (Neon would refuse the timestamp).
    if (isMoment(at) && !(Date.parse(at.createdAt) <= Date.now())) return { restorable: false, verdict: momentVerdict(at) };
    const window = (await this.projectInfo(signal)).history_retention_seconds;
    if (at.createdAt && !Number.isNaN(Date.parse(at.createdAt))) {
      const age = (Date.now() - Date.parse(at.createdAt)) / 1000;
      if (age > window) {
        return {
          restorable: false,
          verdict: {
            restorable: false,
            reason: 'expired',
            message: `taken ${formatDuration(Math.round(age))} ago; Neon keeps ${formatDuration(window)} of history for this project`,
            hint: 'Raise history_retention_seconds in the Neon project settings to keep older checkpoints restorable.',
          },
        };
      }
    }
    const resolution = await this.resolve(at, signal);
    if (resolution.kind === 'gone') {
      return { restorable: false, verdict: { restorable: false, reason: 'unknown-timeline', message: `the history of ${describePoint(at)} is gone: ${resolution.reason}` } };
    }
    if (resolution.kind === 'unconfirmed') {
      throw new LockstepError('BUSY', `the restore of ${resolution.record.startedAt} has not finished yet`, {
        hint: `Wait for it (Neon branch ${resolution.record.preservedName}), then try again.`,
      });
    }
    const branchId = await this.servingBranch(signal);
    const source = resolution.branchId;
    let headLsn: string | null | undefined = resolution.headLsn;
    if (isMoment(at)) {
      // By time, the head bounds nothing: a moment up to now is in the branch's history (Neon keeps it by the clock).
      headLsn = undefined;
      if (source !== branchId && !(await this.branchExists(source, signal))) {
        const why = resolution.preservedBy ? ` (it preserved ${branchId} before the restore of ${resolution.preservedBy.startedAt})` : '';
        return { restorable: false, verdict: { restorable: false, reason: 'unknown-timeline', message: `Neon has no branch ${source}${why}` } };
      }
    } else if (source === branchId) {
      headLsn = (await this.head({ signal })).lsn;
    } else {
      const exists = await this.api
        .getBranch(source, { signal, onNotFound: () => new LockstepError('TIMELINE_UNKNOWN', `Neon has no branch ${source}`) })
        .then(() => true)
        .catch((error: unknown) => {
          if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return false;
          throw error;
        });
      if (!exists) {
        const why = resolution.preservedBy ? ` (it preserved ${branchId} before the restore of ${resolution.preservedBy.startedAt})` : '';
        return { restorable: false, verdict: { restorable: false, reason: 'unknown-timeline', message: `Neon has no branch ${source}${why}` } };
      }
    }
    if (headLsn && at.lsn !== null && compareLsn(at.lsn, headLsn) > 0) {
      return { restorable: false, verdict: { restorable: false, reason: 'beyond-head', message: `${at.lsn} is beyond the end of ${source}'s history (${headLsn})` } };
    }
    return { restorable: true, sourceBranchId: source };
  }

  /** Like `resolveSource`, after settling restores whose outcome was not known (a crash, a timeout). */
  private async resolve(at: PointInHistory, signal: AbortSignal | undefined): Promise<SourceResolution> {
    for (let guard = 0; guard < 100; guard++) {
      // By the point's own branch: after a snapshot restore the branch it was taken on no longer serves, but its restores still map it.
      const resolution = resolveSource(this.state(), at.timelineId, at);
      if (resolution.kind !== 'unconfirmed') return resolution;
      const name = resolution.record.preservedName;
      const preserved = await this.findBranchByName(name, signal);
      if (preserved) {
        // Finished after all; the time it finished is not known, so only what preceded the request maps to it.
        this.markRecord(name, { status: 'finished', preservedBranchId: preserved.id, finishedAt: resolution.record.startedAt });
        this.log.info(`the restore of ${resolution.record.startedAt} did finish; its preserved branch is ${preserved.id}`);
      } else if (Date.now() - Date.parse(resolution.record.startedAt) > this.poll.timeoutMs) {
        this.updateState((s) => (s.restores = s.restores.filter((r) => r.preservedName !== name)));
        this.log.warn(`the restore of ${resolution.record.startedAt} never took effect (no branch ${name}); forgetting it`);
      } else {
        return resolution;
      }
    }
    throw new LockstepError('INTERNAL', 'could not settle the restore history');
  }

  private async branchExists(id: string, signal: AbortSignal | undefined): Promise<boolean> {
    return this.api
      .getBranch(id, { signal, onNotFound: () => new LockstepError('TIMELINE_UNKNOWN', `Neon has no branch ${id}`) })
      .then(() => true)
      .catch((error: unknown) => {
        if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return false;
        throw error;
      });
  }

  private async findBranchByName(name: string, signal: AbortSignal | undefined) {
    const branches = await this.api.listBranches({ search: name, signal });
    return branches.find((b) => b.name === name);
  }

  // ── cached facts ───────────────────────────────────────────────────────────

  /** The configured branch, or the one a snapshot restore moved its computes to (neon-state.json). */
  private knownServingBranch(): string | undefined {
    const serving = this.state().serving;
    if (serving && serving.configuredBranchId === (this.config.branchId ?? null)) return serving.branchId;
    return this.config.branchId;
  }

  /**
   * A snapshot restore whose end we did not see (a crash, a cancel, a
   * timeout) may have moved the computes: it did when the restored branch
   * carries the replaced branch's name. Then it serves; a restore that never
   * took effect is forgotten once Neon would have finished it.
   */
  private async settleSnapshotRestores(signal: AbortSignal | undefined): Promise<void> {
    const pending = (this.state().snapshotRestores ?? []).filter((r) => r.status !== 'finished');
    for (const record of pending) {
      const forget = (why: string) => {
        this.updateState((s) => (s.snapshotRestores = (s.snapshotRestores ?? []).filter((r) => !(r.startedAt === record.startedAt && r.snapshotId === record.snapshotId))));
        this.log.warn(`the restore of snapshot ${record.snapshotId} (${record.startedAt}) ${why}; forgetting it`);
      };
      const overdue = Date.now() - Date.parse(record.startedAt) > this.poll.timeoutMs;
      const adopt = (newBranchId: string) => {
        this.updateState((s) => {
          const stored = (s.snapshotRestores ?? []).find((r) => r.startedAt === record.startedAt && r.snapshotId === record.snapshotId);
          if (stored) Object.assign(stored, { status: 'finished', newBranchId, finishedAt: record.startedAt });
          s.serving = { branchId: newBranchId, configuredBranchId: this.config.branchId ?? null };
        });
        this.log.info(`the restore of snapshot ${record.snapshotId} (${record.startedAt}) did finish: branch ${newBranchId} serves now`);
      };
      const replaced = await this.branchOrUndefined(record.replacedBranchId, signal);
      const renamed = record.replacedBranchName !== undefined && replaced !== undefined && replaced.name !== record.replacedBranchName;
      if (!record.newBranchId) {
        // The answer was lost (a dropped connection): if Neon acted, the replaced branch was renamed and another one carries its name.
        const carrier = renamed
          ? (await this.api.listBranches({ search: record.replacedBranchName, signal })).find((b) => b.name === record.replacedBranchName && b.id !== record.replacedBranchId)
          : undefined;
        if (carrier) adopt(carrier.id);
        else if (overdue) forget('was never answered');
        continue;
      }
      const fresh = await this.branchOrUndefined(record.newBranchId, signal);
      if (fresh && renamed && fresh.name === record.replacedBranchName) {
        adopt(record.newBranchId);
      } else if (!fresh || overdue) {
        forget(fresh ? 'did not move the computes' : 'left no branch');
      } else {
        this.log.warn(`the restore of snapshot ${record.snapshotId} (${record.startedAt}) has not finished yet; branch ${record.replacedBranchId} still serves`);
      }
    }
  }

  private async branchOrUndefined(id: string, signal: AbortSignal | undefined) {
    return this.api
      .getBranch(id, { signal, onNotFound: () => new LockstepError('TIMELINE_UNKNOWN', `Neon has no branch ${id}`) })
      .catch((error: unknown) => {
        if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return undefined;
        throw this.scrubbed(error);
      });
  }

  private async servingBranch(signal: AbortSignal | undefined): Promise<string> {
    if (this.branchId) return this.branchId;
    if ((this.state().snapshotRestores ?? []).some((r) => r.status !== 'finished')) await this.settleSnapshotRestores(signal);
    this.branchId = this.knownServingBranch();
    if (this.branchId) return this.branchId;
    const branches = await this.api.listBranches({ signal });
    const main = branches.find((b) => b.default);
    if (!main) throw new LockstepError('NOT_FOUND', `Neon project ${this.config.projectId} has no default branch`, { hint: 'Set neon.branchId in the configuration.' });
    this.branchId = main.id;
    return main.id;
  }

  private async connection(signal: AbortSignal | undefined): Promise<string> {
    if (this.connectionString) return this.connectionString;
    const branchId = await this.servingBranch(signal);
    this.connectionString = await this.api.connectionUri(
      { branchId, databaseName: this.config.databaseName, roleName: this.config.roleName },
      {
        signal,
        onNotFound: () =>
          new LockstepError('NOT_FOUND', `Neon project ${this.config.projectId} has no branch ${branchId} with database ${this.config.databaseName} and role ${this.config.roleName}`, {
            hint: 'Check neon.branchId, neon.databaseName and neon.roleName in .git/lockstep/config.json.',
          }),
      },
    );
    return this.connectionString;
  }

  /** The retention window changes rarely; one read a minute is plenty. */
  private async projectInfo(signal: AbortSignal | undefined): Promise<NeonProject> {
    if (this.project && Date.now() - this.project.readAt < 60_000) return this.project.value;
    const value = await this.api.getProject({
      signal,
      onNotFound: () =>
        new LockstepError('NOT_FOUND', `Neon has no project ${this.config.projectId} (or the API key cannot see it)`, {
          hint: 'Check neon.projectId in .git/lockstep/config.json and that NEON_API_KEY belongs to the project\'s organisation.',
        }),
    });
    this.project = { value, readAt: Date.now() };
    return value;
  }

  // ── state file ─────────────────────────────────────────────────────────────

  private state(): NeonState {
    return loadNeonState(this.stateFile, this.config.projectId);
  }

  private updateState(change: (state: NeonState) => void): void {
    const state = this.state();
    change(state);
    saveNeonState(this.stateFile, state);
  }

  private markRecord(name: string, patch: Partial<NeonRestoreRecord>): void {
    this.updateState((state) => {
      const record = state.restores.find((r) => r.preservedName === name);
      if (record) Object.assign(record, patch);
    });
  }

  private async tick(after: string): Promise<void> {
    while (Date.now() <= Date.parse(after)) await sleep(1, undefined, 'waiting');
  }

  // ── secrets ────────────────────────────────────────────────────────────────

  private scrub(text: string): string {
    return this.api.http.scrub(text);
  }

  private scrubbed(error: unknown): unknown {
    if (!(error instanceof LockstepError)) return error;
    const message = this.scrub(error.message);
    const hint = error.hint === undefined ? undefined : this.scrub(error.hint);
    if (message === error.message && hint === error.hint) return error;
    return new LockstepError(error.code, message, hint === undefined ? {} : { hint });
  }
}

function holdOf(pin: NeonPinRecord): PinHold {
  return {
    ref: { snapshotId: pin.snapshotId, sourceBranchId: pin.sourceBranchId, lsn: pin.lsn, ...(pin.lsn === null && pin.createdAt ? { timestamp: pin.createdAt } : {}) },
    summary: `Neon snapshot "${pin.snapshotName}" (${pin.snapshotId}) of branch ${pin.sourceBranchId} at ${pin.lsn ?? `${pin.createdAt} (by time)`}; it outlives the history window and counts against the plan's snapshot limit`,
  };
}

/** Neon reads schemas from branches only; past the window the checkpoint lives in a snapshot alone. */
function snapshotHasNoSchema(pin: NeonPinRecord): LockstepError {
  return new LockstepError('EXPIRED', `the checkpoint is past Neon's history window and lives only in its pin's snapshot ${pin.snapshotName} (${pin.snapshotId}); Neon shows no schema of a snapshot`, {
    hint: 'A restore still works: it restores the snapshot.',
  });
}

function stringRef(handle: TimelineHandle, key: string): string {
  const value = handle.ref[key];
  if (typeof value !== 'string' || value === '') throw new LockstepError('BAD_INPUT', `the Neon handle has no ${key}`);
  return value;
}

/** Where in a branch's history, as Neon's schema endpoints take it: `lsn`, or `timestamp` for a moment. */
function pointQuery(at: PointInHistory): { lsn: string } | { timestamp: string } {
  return at.lsn === null ? { timestamp: at.createdAt } : { lsn: at.lsn };
}

/** The verdict on a moment that is not a time, or not yet. */
function momentVerdict(at: { createdAt: string }): Unrestorable {
  if (Number.isNaN(Date.parse(at.createdAt))) return { restorable: false, reason: 'unknown-timeline', message: `"${at.createdAt}" is not a time` };
  return { restorable: false, reason: 'beyond-head', message: `${at.createdAt} is in the future of the branch's history (it is ${new Date().toISOString()} now)` };
}

/** False only when the failure proves Neon did not act (a refusal, or the request never left). */
function mayHaveActed(error: unknown): boolean {
  if (error instanceof RemoteCallError) return error.mayHaveActed;
  return !(error instanceof LockstepError);
}


function formatDuration(seconds: number): string {
  if (seconds % 86_400 === 0 && seconds >= 86_400) return `${seconds / 86_400} day${seconds === 86_400 ? '' : 's'}`;
  if (seconds % 3_600 === 0 && seconds >= 3_600) return `${seconds / 3_600} hour${seconds === 3_600 ? '' : 's'}`;
  if (seconds >= 60) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}
