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
  preservedBranchName,
  preservedBranchesToDelete,
  resolveSource,
  saveNeonState,
  type NeonRestoreRecord,
  type NeonState,
  type SourceResolution,
} from './history';
import { DEFAULT_POLL, waitForOperations, type PollPolicy } from './operations';

export const DEFAULT_KEEP_PRESERVED_BRANCHES = 5;

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
 *   its history now.
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
    this.branchId = config.branchId;
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
    const branchId = this.branchId ?? this.config.branchId;
    const state = this.state();
    return points.map((at): Restorability => {
      if (!isMoment(at) && !isLsn(at.lsn)) return { restorable: false, reason: 'unknown-timeline', message: `"${at.lsn}" is not an LSN` };
      if (isMoment(at) && !(Date.parse(at.createdAt) <= Date.now())) return momentVerdict(at);
      if (window !== undefined && at.createdAt && (Date.now() - Date.parse(at.createdAt)) / 1000 > window) {
        return { restorable: false, reason: 'expired', message: `older than the ${formatDuration(window)} of history Neon keeps for this project` };
      }
      if (!branchId) return { restorable: true };
      const resolution = resolveSource(state, branchId, at);
      if (resolution.kind === 'gone') return { restorable: false, reason: 'unknown-timeline', message: resolution.reason };
      if (resolution.kind === 'branch' && resolution.headLsn && at.lsn !== null && compareLsn(at.lsn, resolution.headLsn) > 0) {
        return { restorable: false, reason: 'beyond-head', message: `${at.lsn} is beyond the end of its branch's history (${resolution.headLsn})` };
      }
      return { restorable: true };
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
      const restores = this.state().restores.filter((r) => r.branchId === head.timelineId && r.status === 'finished').length;
      return {
        engine: 'neon',
        state: 'running',
        summary: `${where}, branch ${branch.name} (${branch.id}) at ${head.lsn}${restores ? `, restored ${restores} time(s)` : ''}`,
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
    return { removed, bytesFreed: 0 };
  }

  async close(): Promise<void> {
    await this.api.close();
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

  private async locate(
    at: PointInHistory,
    signal: AbortSignal | undefined,
  ): Promise<{ restorable: true; sourceBranchId: string } | { restorable: false; verdict: Unrestorable }> {
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
    const branchId = await this.servingBranch(signal);
    for (let guard = 0; guard < 100; guard++) {
      const resolution = resolveSource(this.state(), branchId, at);
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

  private async servingBranch(signal: AbortSignal | undefined): Promise<string> {
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
