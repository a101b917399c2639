// The pageserver engine (self-hosted Neon): checkpoints are (timeline, LSN); a fork is a child timeline; the compute's owner repoints.

import { randomBytes } from 'node:crypto';
import { describeCompute, withCompute, withoutPassword } from '../../core/compute';
import type { PageserverEngineConfig } from '../../core/config';
import {
  isMoment,
  restorabilityError,
  type Engine,
  type EngineContext,
  type EngineStatus,
  type MomentInHistory,
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
import { LockstepError, describeError, isLockstepError, throwIfAborted } from '../../base/errors';
import { RemoteCallError, sleep, type RetryPolicy } from '../../core/http';
import { scopedLog, type Log } from '../../base/log';
import { compareLsn, isLsn } from '../../base/lsn';
import { engineStateFile } from '../../core/paths';
import {
  COMPUTE_PASSWORD_SECRET,
  ComputeConfigEndpoint,
  PAGESERVER_TOKEN_SECRET,
  PageserverApi,
  REPOINT_TOKEN_SECRET,
  type TimelineInfo,
} from './api';
import { forksToDelete, loadPageserverState, savePageserverState, type PageserverState } from './state';

const EXPIRED_HINT = "Run `lockstep prune` regularly so kept checkpoints hold LSN leases, or raise the tenant's pitr_interval.";

/** A moment not yet reached (or not a time): the verdict, else undefined. */
function momentInFuture(at: MomentInHistory): Verdict | undefined {
  const time = Date.parse(at.createdAt);
  if (Number.isNaN(time)) return { restorable: false, reason: 'unknown-timeline', message: `"${at.createdAt}" is not a time` };
  if (time > Date.now()) return { restorable: false, reason: 'beyond-head', message: `${at.createdAt} is in the future of timeline ${at.timelineId} (it is ${new Date().toISOString()} now)` };
  return undefined;
}

export interface PageserverEngineOptions {
  retry?: Partial<RetryPolicy>;
  requestTimeoutMs?: number;
  /** How long to keep polling a timeline deletion (the pageserver deletes in the background). */
  deleteTimeoutMs?: number;
  /** Wait between deletion polls. */
  deletePollMs?: number;
  computeTimeoutMs?: number;
}

/** A fresh timeline id as the pageserver spells them: 32 lowercase hex digits. */
export function newTimelineId(): string {
  return randomBytes(16).toString('hex');
}

type Verdict = Unrestorable;

/** Where a fork would start (a moment found by the clock first), or why it cannot. */
type Found = { verdict: Verdict } | { at: Position };

/**
 * - `head()` is the serving timeline's `last_record_lsn` (one GET, no writes);
 * - `fork(at)` creates a child of `at`'s own timeline at `at.lsn`, so a
 *   checkpoint on a timeline that no longer serves forks from where it was taken;
 * - `repoint` asks the compute's owner (`repointUrl`) to serve the new timeline
 *   and records which one serves in `pageserver-state.json`;
 * - `prune` renews LSN leases on the kept checkpoints and deletes the forks no
 *   kept checkpoint needs.
 */
export class PageserverEngine implements Engine {
  readonly kind = 'pageserver' as const;
  private readonly api: PageserverApi;
  private readonly endpoint: ComputeConfigEndpoint;
  private readonly log: Log;
  private readonly stateFile: string;
  private readonly deleteTimeoutMs: number;
  private readonly deletePollMs: number;
  private readonly computeTimeoutMs: number;

  constructor(
    private readonly config: PageserverEngineConfig,
    private readonly ctx: EngineContext,
    options: PageserverEngineOptions = {},
  ) {
    this.log = scopedLog(ctx.log, 'pageserver');
    const http = {
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.requestTimeoutMs ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
    };
    this.api = new PageserverApi(config.apiUrl, config.tenantId, () => ctx.secrets.get(PAGESERVER_TOKEN_SECRET), this.log, http);
    this.endpoint = new ComputeConfigEndpoint(config.repointUrl, () => ctx.secrets.get(REPOINT_TOKEN_SECRET), this.log, http);
    this.stateFile = engineStateFile(ctx.lockstepDir, 'pageserver');
    this.deleteTimeoutMs = options.deleteTimeoutMs ?? 120_000;
    this.deletePollMs = options.deletePollMs ?? 1_000;
    this.computeTimeoutMs = options.computeTimeoutMs ?? 20_000;
  }

  async head(options: OperationOptions = {}): Promise<Position> {
    const serving = this.state().serving;
    const info = await this.servingTimeline(serving, options.signal);
    return { timelineId: serving, lsn: info.last_record_lsn };
  }

  async fork(at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
    throwIfAborted(options.signal, 'the fork');
    const found = await this.find(at, options.signal);
    if ('verdict' in found) throw restorabilityError(found.verdict, at);
    // A moment is branched at the LSN the pageserver found for it; the handle says which.
    const { lsn } = found.at;
    const timelineId = newTimelineId();
    // Recorded first: if we die after the pageserver created it, prune still knows it is ours.
    this.updateState((s) => s.forks.push({ timelineId, ancestorTimelineId: at.timelineId, ancestorLsn: lsn, createdAt: new Date().toISOString() }));
    options.onProgress?.(`Branching timeline ${at.timelineId} at ${lsn}${isMoment(at) ? ` (found for ${at.createdAt})` : ''}`);
    try {
      await this.api.createTimeline(
        { new_timeline_id: timelineId, ancestor_timeline_id: at.timelineId, ancestor_start_lsn: lsn },
        {
          signal: options.signal,
          onNotFound: (message) => new LockstepError('TIMELINE_UNKNOWN', `the pageserver has no timeline ${at.timelineId} (${message})`),
          onNotAcceptable: (message) =>
            /gc|garbage|cutoff/i.test(message)
              ? new LockstepError('EXPIRED', `${at.timelineId} at ${lsn} is below the pageserver's GC cutoff (${message})`)
              : new LockstepError('REMOTE', `the pageserver refused to branch ${at.timelineId} at ${lsn} (${message})`),
        },
      );
    } catch (error) {
      if (!(error instanceof RemoteCallError && error.mayHaveActed)) {
        this.updateState((s) => (s.forks = s.forks.filter((f) => f.timelineId !== timelineId)));
      }
      throw error;
    }
    return {
      engine: 'pageserver',
      role: 'fork',
      timelineId,
      at: found.at,
      ref: { tenantId: this.config.tenantId, ancestorTimelineId: at.timelineId, ancestorLsn: lsn },
    };
  }

  async serving(): Promise<TimelineHandle> {
    const serving = this.state().serving;
    return { engine: 'pageserver', role: 'serving', timelineId: serving, ref: { tenantId: this.config.tenantId } };
  }

  async repoint(target: TimelineHandle, options: OperationOptions = {}): Promise<Position> {
    throwIfAborted(options.signal, 'the repoint');
    if (target.engine !== 'pageserver') throw new LockstepError('BAD_INPUT', `this handle is for the ${target.engine} engine`);
    const timelineId = target.timelineId;
    await this.api.getTimeline(timelineId, {
      signal: options.signal,
      onNotFound: (message) => new LockstepError('TIMELINE_UNKNOWN', `the pageserver has no timeline ${timelineId} to serve (${message})`),
    });
    options.onProgress?.(`Asking the compute's owner to serve timeline ${timelineId}`);
    try {
      await this.endpoint.repoint(this.config.tenantId, timelineId, { signal: options.signal });
    } catch (error) {
      if (error instanceof RemoteCallError && error.mayHaveActed) {
        throw new LockstepError(error.code, `${error.message}; the compute may serve either timeline now`, {
          hint: `Ask the compute's owner which timeline it serves (before: ${this.state().serving}, requested: ${timelineId}).`,
        });
      }
      throw error;
    }
    this.updateState((s) => {
      s.serving = timelineId;
      const fork = s.forks.find((f) => f.timelineId === timelineId);
      if (fork) fork.servedAt = new Date().toISOString();
    });
    await this.checkComputeServes(timelineId, options);
    return this.head(options);
  }

  async discard(handle: TimelineHandle): Promise<void> {
    if (handle.role !== 'fork') return;
    if (handle.timelineId === this.state().serving) {
      throw new LockstepError('BAD_INPUT', `timeline ${handle.timelineId} serves now; it cannot be discarded`);
    }
    await this.deleteTimeline(handle.timelineId, undefined);
  }

  async restorability(at: PointInHistory, options: OperationOptions = {}): Promise<Restorability> {
    return (await this.judge(at, options.signal)) ?? { restorable: true };
  }

  /** For listings: one call for every timeline of the tenant, then each checkpoint judged against its timeline. */
  async restorableMany(points: readonly PointInHistory[]): Promise<Restorability[]> {
    let timelines: Map<string, TimelineInfo>;
    try {
      timelines = new Map((await this.api.listTimelines()).map((t) => [t.timeline_id, t]));
    } catch (error) {
      this.log.warn(`listing without the pageserver's timelines: ${describeError(error)}`);
      return points.map((at): Restorability => (isMoment(at) || isLsn(at.lsn) ? { restorable: true } : { restorable: false, reason: 'unknown-timeline', message: `"${at.lsn}" is not an LSN` }));
    }
    return points.map((at): Restorability => {
      const info = timelines.get(at.timelineId);
      if (isMoment(at)) {
        // Cheap, as listings must be: a known timeline and a moment not ahead of now. Its LSN is looked up when restored.
        if (!info) return { restorable: false, reason: 'unknown-timeline', message: `the pageserver has no timeline ${at.timelineId}` };
        return momentInFuture(at) ?? { restorable: true };
      }
      if (!info || !isLsn(at.lsn)) return { restorable: false, reason: 'unknown-timeline', message: `the pageserver has no timeline ${at.timelineId}` };
      if (compareLsn(at.lsn, info.min_readable_lsn) < 0) return { restorable: false, reason: 'expired', message: `below what timeline ${at.timelineId} still keeps (${info.min_readable_lsn})` };
      if (compareLsn(at.lsn, info.last_record_lsn) > 0) return { restorable: false, reason: 'beyond-head', message: `beyond the end of timeline ${at.timelineId} (${info.last_record_lsn})` };
      return { restorable: true };
    });
  }

  /** The compute's connection string with the password from the secret store: what "Copy Connection String" copies. */
  async connectionUrl(): Promise<string> {
    if (!this.config.connectionString) {
      throw new LockstepError('CONFIG', 'no pageserver.connectionString is configured', {
        hint: 'Add the compute\'s connection string (without the password) to the pageserver section of .git/lockstep/config.json.',
      });
    }
    return this.computeUrl();
  }

  async status(options: OperationOptions = {}): Promise<EngineStatus> {
    const where = `pageserver ${this.config.apiUrl}, tenant ${this.config.tenantId}`;
    try {
      await this.api.health({ signal: options.signal });
      const head = await this.head(options);
      const lease = this.state()
        .leases.map((l) => l.validUntil)
        .sort()[0];
      const status: EngineStatus = {
        engine: 'pageserver',
        state: 'running',
        summary: `${where}, timeline ${head.timelineId} at ${head.lsn}${lease ? `; earliest lease ends ${lease}` : ''}`,
        head,
      };
      if (this.config.connectionString) status.address = withoutPassword(this.config.connectionString);
      return status;
    } catch (error) {
      if (isLockstepError(error, 'CANCELLED')) throw error;
      return { engine: 'pageserver', state: 'unreachable', summary: `${where}: ${describeError(error)}` };
    }
  }

  /**
   * The oldest LSN a fork can reach on the serving timeline's ancestry: follow
   * ancestors while the history below a branch point is still readable there.
   */
  async retention(options: OperationOptions = {}): Promise<Retention> {
    const serving = this.state().serving;
    let info = await this.servingTimeline(serving, options.signal);
    for (let depth = 0; depth < 16 && info.ancestor_timeline_id && info.ancestor_lsn; depth++) {
      const ancestor = await this.api.getTimeline(info.ancestor_timeline_id, { signal: options.signal }).catch((error: unknown) => {
        if (isLockstepError(error, 'NOT_FOUND')) return undefined;
        throw error;
      });
      if (!ancestor || compareLsn(ancestor.min_readable_lsn, info.ancestor_lsn) > 0) break;
      info = ancestor;
    }
    const cutoff = info.applied_gc_cutoff_lsn ? `, GC cutoff ${info.applied_gc_cutoff_lsn}` : '';
    return {
      oldest: { timelineId: info.timeline_id, lsn: info.min_readable_lsn },
      summary: `forks reach back to ${info.min_readable_lsn} on timeline ${info.timeline_id}${cutoff}; leases keep kept checkpoints above it`,
    };
  }

  /** The serving database's tables, through the compute. A past position has no compute to ask until it is repointed. */
  async describe(at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
    if (at) {
      throw new LockstepError('BAD_INPUT', 'the pageserver engine can describe only the serving database, not a past position', {
        hint: 'A schema preview needs a compute on the fork; the pageserver API has no schema endpoint.',
      });
    }
    if (!this.config.connectionString) {
      throw new LockstepError('CONFIG', 'no pageserver.connectionString is configured, so Lockstep cannot read the schema', {
        hint: 'Add the compute\'s connection string (without the password; store that as the pageserver.password secret).',
      });
    }
    return describeCompute(await this.computeUrl(), { signal: options.signal, timeoutMs: this.computeTimeoutMs, what: 'the compute' });
  }

  /**
   * Renews an LSN lease on each kept checkpoint that is still readable, so GC
   * does not pass it while it is kept. Leases last as long as the pageserver
   * says (`valid_until`); call this again before they end (prune does).
   */
  async protect(keep: readonly PointInHistory[], options: OperationOptions = {}): Promise<{ leased: number; validUntil?: string }> {
    if (this.state().leasesUnsupported) return { leased: 0 };
    const leases: { timelineId: string; lsn: string; validUntil: string }[] = [];
    const seen = new Set<string>();
    for (const at of keep) {
      const key = `${at.timelineId}@${at.lsn ?? at.createdAt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      throwIfAborted(options.signal, 'renewing leases');
      const found = await this.find(at, options.signal);
      if ('verdict' in found) continue;
      const lsn = found.at.lsn;
      const validUntil = await this.api.leaseLsn(at.timelineId, lsn, { signal: options.signal });
      if (validUntil === undefined) {
        this.log.info('this pageserver offers no LSN leases; checkpoints are kept only as long as its GC horizon allows');
        this.updateState((s) => (s.leasesUnsupported = true));
        return { leased: 0 };
      }
      leases.push({ timelineId: at.timelineId, lsn, validUntil });
    }
    this.updateState((s) => (s.leases = leases));
    const earliest = leases.map((l) => l.validUntil).sort()[0];
    return earliest === undefined ? { leased: leases.length } : { leased: leases.length, validUntil: earliest };
  }

  async prune(keep: readonly PointInHistory[], options: PruneOptions = {}): Promise<PruneReport> {
    await this.protect(keep, options).catch((error: unknown) => {
      if (isLockstepError(error, 'CANCELLED')) throw error;
      this.log.warn(`could not renew leases: ${describeError(error)}`);
    });
    const removed: string[] = [];
    // Newest first: a fork can only be the child of an older one, and the pageserver deletes no parent.
    for (const fork of forksToDelete(this.state(), keep.map((at) => at.timelineId)).reverse()) {
      throwIfAborted(options.signal, 'pruning');
      try {
        if (await this.deleteTimeline(fork.timelineId, options.signal)) {
          removed.push(`timeline ${fork.timelineId} (forked from ${fork.ancestorTimelineId} at ${fork.ancestorLsn} on ${fork.createdAt})`);
        }
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED')) throw error;
        this.log.warn(`prune: kept timeline ${fork.timelineId}: ${describeError(error)}`);
      }
    }
    return { removed, bytesFreed: 0 };
  }

  async close(): Promise<void> {
    await Promise.all([this.api.close(), this.endpoint.close()]);
  }

  // ── helpers ────────────────────────────────────────────────────────────────

  /** Undefined when a fork at `at` is possible. */
  private async judge(at: PointInHistory, signal: AbortSignal | undefined): Promise<Verdict | undefined> {
    const found = await this.find(at, signal);
    return 'verdict' in found ? found.verdict : undefined;
  }

  /** Where a fork at `at` starts: its LSN, or for a moment the LSN the pageserver finds for its time; else the verdict. */
  private async find(at: PointInHistory, signal: AbortSignal | undefined): Promise<Found> {
    if (!isMoment(at) && !isLsn(at.lsn)) throw new LockstepError('BAD_LSN', `"${at.lsn}" is not an LSN`);
    if (!/^[0-9a-f]{32}$/i.test(at.timelineId)) {
      return { verdict: { restorable: false, reason: 'unknown-timeline', message: `"${at.timelineId}" is not a pageserver timeline id` } };
    }
    const info = await this.api
      .getTimeline(at.timelineId, { signal, onNotFound: (message) => new LockstepError('TIMELINE_UNKNOWN', message) })
      .catch((error: unknown) => {
        if (isLockstepError(error, 'TIMELINE_UNKNOWN')) return undefined;
        throw error;
      });
    if (!info) return { verdict: { restorable: false, reason: 'unknown-timeline', message: `the pageserver has no timeline ${at.timelineId} in tenant ${this.config.tenantId}` } };
    let lsn: string;
    let where: string;
    if (isMoment(at)) {
      const resolved = await this.lsnOfMoment(at, signal);
      if ('verdict' in resolved) return resolved;
      lsn = resolved.lsn;
      where = `${lsn} (found for ${at.createdAt})`;
    } else {
      lsn = at.lsn;
      where = lsn;
    }
    if (compareLsn(lsn, info.last_record_lsn) > 0) {
      return { verdict: { restorable: false, reason: 'beyond-head', message: `${where} is beyond the end of timeline ${at.timelineId} (${info.last_record_lsn})` } };
    }
    if (compareLsn(lsn, info.min_readable_lsn) < 0) {
      return {
        verdict: {
          restorable: false,
          reason: 'expired',
          message: `${where} is below what timeline ${at.timelineId} still keeps (${info.min_readable_lsn}); the pageserver's GC has passed it`,
          hint: EXPIRED_HINT,
        },
      };
    }
    return { at: { timelineId: at.timelineId, lsn } };
  }

  /**
   * A time-based checkpoint's LSN, from the pageserver's LSN-by-timestamp
   * lookup: `present` is the LSN just before the first commit after the
   * moment; `future` (no commit after it yet, up to now) is the timeline's last
   * record, which holds every commit before it. `past` and `nodata` give no
   * position that is the moment's, so they are verdicts.
   */
  private async lsnOfMoment(at: MomentInHistory, signal: AbortSignal | undefined): Promise<{ verdict: Verdict } | { lsn: string }> {
    const ahead = momentInFuture(at);
    if (ahead) return { verdict: ahead };
    const found = await this.api.lsnByTimestamp(at.timelineId, at.createdAt, {
      signal,
      onNotFound: (message) => new LockstepError('TIMELINE_UNKNOWN', `the pageserver has no timeline ${at.timelineId} (${message})`),
    });
    switch (found.kind) {
      case 'present':
      case 'future':
        if (!isLsn(found.lsn)) throw new LockstepError('REMOTE', `the pageserver answered "${found.lsn}" for ${at.createdAt}, which is not an LSN`);
        return { lsn: found.lsn };
      case 'past':
        return {
          verdict: {
            restorable: false,
            reason: 'expired',
            message: `${at.createdAt} is before the history timeline ${at.timelineId} still keeps (it starts at ${found.lsn}); the pageserver's GC has passed it`,
            hint: EXPIRED_HINT,
          },
        };
      case 'nodata':
        return {
          verdict: {
            restorable: false,
            reason: 'unknown-timeline',
            message: `timeline ${at.timelineId} has no commit with a time the pageserver can find ${at.createdAt} by (its answer: nodata), so the moment has no known position`,
          },
        };
    }
  }

  private servingTimeline(timelineId: string, signal: AbortSignal | undefined): Promise<TimelineInfo> {
    return this.api.getTimeline(timelineId, {
      signal,
      onNotFound: (message) =>
        new LockstepError('NOT_FOUND', `the pageserver has no timeline ${timelineId} in tenant ${this.config.tenantId} (${message})`, {
          hint: 'Check pageserver.apiUrl, tenantId and timelineId in .git/lockstep/config.json.',
        }),
    });
  }

  /** True when the timeline is gone (or was already). */
  private async deleteTimeline(timelineId: string, signal: AbortSignal | undefined): Promise<boolean> {
    const deadline = Date.now() + this.deleteTimeoutMs;
    for (;;) {
      const status = await this.api.deleteTimeline(timelineId, { signal });
      if (status === 404) {
        this.updateState((s) => {
          s.forks = s.forks.filter((f) => f.timelineId !== timelineId);
          s.leases = s.leases.filter((l) => l.timelineId !== timelineId);
        });
        return true;
      }
      if (status === 412) {
        this.log.warn(`timeline ${timelineId} has children (or the tenant is missing); kept`);
        return false;
      }
      if (Date.now() > deadline) {
        throw new LockstepError('TIMEOUT', `timeline ${timelineId} is still being deleted after ${Math.round(this.deleteTimeoutMs / 1000)} s`);
      }
      await sleep(this.deletePollMs, signal, `deleting timeline ${timelineId}`);
    }
  }

  /**
   * On a Neon compute, `neon.timeline_id` names the timeline it serves: when we
   * can read it, the repoint is done only once it names the new one.
   */
  private async checkComputeServes(timelineId: string, options: OperationOptions): Promise<void> {
    if (!this.config.connectionString) return;
    const url = await this.computeUrl();
    for (let attempt = 1; ; attempt++) {
      let served: string | null | undefined;
      try {
        served = await withCompute(url, { signal: options.signal, timeoutMs: this.computeTimeoutMs, what: 'the compute' }, async (client) => {
          const result = await client.query<{ id: string | null }>("SELECT current_setting('neon.timeline_id', true) AS id");
          return result.rows[0]?.id ?? null;
        });
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED') || attempt >= 10) throw error;
        served = undefined;
      }
      if (served === null || served === '' || served === timelineId) return;
      if (attempt >= 10) {
        throw new LockstepError('REMOTE', `the compute still serves timeline ${served ?? 'unknown'} after the repoint to ${timelineId}`, {
          hint: 'The compute owner accepted the request but has not restarted the compute yet; check it, then run `lockstep status`.',
        });
      }
      await sleep(500 * attempt, options.signal, 'waiting for the compute');
    }
  }

  private async computeUrl(): Promise<string> {
    const url = new URL(this.config.connectionString!);
    if (!url.password) {
      const password = await this.ctx.secrets.get(COMPUTE_PASSWORD_SECRET);
      if (password) url.password = encodeURIComponent(password);
    }
    return url.toString();
  }

  private state(): PageserverState {
    return loadPageserverState(this.stateFile, this.config.tenantId, this.config.timelineId);
  }

  private updateState(change: (state: PageserverState) => void): void {
    const state = this.state();
    change(state);
    savePageserverState(this.stateFile, state);
  }
}

