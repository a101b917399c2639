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
import { leaseFinder, leaseIsValid, leaseOf, leaseWarnings, pinPoint, renewalDue } from './leases';
import { forksToDelete, loadPageserverState, savePageserverState, type LeaseRecord, type PageserverState } from './state';

const EXPIRED_HINT =
  "Kept checkpoints hold LSN leases that `lockstep prune` and the upkeep after commits renew; a lease lapses when neither runs within the tenant's lsn_lease_length (raise it, or pitr_interval).";

/**
 * The pageserver's rule for a point below `min_readable_lsn` (its GC cutoff):
 * a holder of a valid lease on exactly that (timeline, LSN) can still branch
 * and read there; anyone else cannot, and no new lease is granted there. So:
 * restorable while the lease Lockstep holds is valid, expired once it lapsed.
 */
function belowCutoff(lease: LeaseRecord | undefined, at: PointInHistory, where: string, minReadable: string, now: number): { verdict: Verdict } | { lease: LeaseRecord } {
  if (lease && leaseIsValid(lease, now)) return { lease };
  const lapsed = lease ? `; its LSN lease lapsed at ${lease.validUntil}` : '';
  return {
    verdict: {
      restorable: false,
      reason: 'expired',
      message: `${where} is below what timeline ${at.timelineId} still keeps (${minReadable})${lapsed}; the pageserver's GC has passed it`,
      hint: EXPIRED_HINT,
    },
  };
}

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
  /** The clock leases are judged by (ms); tests move it to make leases lapse. */
  now?: () => number;
}

/** A fresh timeline id as the pageserver spells them: 32 lowercase hex digits. */
export function newTimelineId(): string {
  return randomBytes(16).toString('hex');
}

type Verdict = Unrestorable;

/** Where a fork would start (a moment found by the clock first), or why it cannot; `lease` when only a lease Lockstep holds keeps it reachable. */
type Found = { verdict: Verdict } | { at: Position; lease?: LeaseRecord };

/**
 * - `head()` is the serving timeline's `last_record_lsn` (one GET, no writes);
 * - `fork(at)` creates a child of `at`'s own timeline at `at.lsn`, so a
 *   checkpoint on a timeline that no longer serves forks from where it was taken;
 * - `repoint` asks the compute's owner (`repointUrl`) to serve the new timeline
 *   and records which one serves in `pageserver-state.json`;
 * - `prune` renews LSN leases on the kept and pinned checkpoints and deletes
 *   the forks no kept checkpoint needs; the upkeep (`maintain`) renews them
 *   between prunes, once half a lease's length has passed;
 * - a checkpoint below the GC cutoff stays restorable while its lease is
 *   valid (the pageserver branches there for a lease holder), and a pin is a
 *   lease kept renewed until it is unpinned.
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
  private readonly now: () => number;

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
    this.now = options.now ?? Date.now;
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
    if (found.lease) {
      // Below the GC cutoff only the lease keeps it reachable: renew it first (a valid lease is always renewed)
      // so it cannot lapse between this check and the branch.
      options.onProgress?.(`Renewing the LSN lease on ${at.timelineId} at ${lsn} (below the GC cutoff)`);
      await this.renewLease(found.lease, options.signal).catch((error: unknown) => {
        throw isLockstepError(error, 'EXPIRED') ? restorabilityError({ restorable: false, reason: 'expired', message: error.message, hint: EXPIRED_HINT }, at) : error;
      });
    }
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
    const leaseAt = leaseFinder(this.state());
    const now = this.now();
    return points.map((at): Restorability => {
      const info = timelines.get(at.timelineId);
      if (isMoment(at)) {
        // Cheap, as listings must be: a known timeline and a moment not ahead of now. Its LSN is looked up when restored.
        if (!info) return { restorable: false, reason: 'unknown-timeline', message: `the pageserver has no timeline ${at.timelineId}` };
        // A moment leased once is known by its LSN: below the cutoff it is judged by its lease like any position.
        const lease = leaseAt(at);
        if (lease && compareLsn(lease.lsn, info.min_readable_lsn) < 0) {
          const below = belowCutoff(lease, at, at.createdAt, info.min_readable_lsn, now);
          if ('verdict' in below) return below.verdict;
        }
        return momentInFuture(at) ?? { restorable: true };
      }
      if (!info || !isLsn(at.lsn)) return { restorable: false, reason: 'unknown-timeline', message: `the pageserver has no timeline ${at.timelineId}` };
      if (compareLsn(at.lsn, info.last_record_lsn) > 0) return { restorable: false, reason: 'beyond-head', message: `beyond the end of timeline ${at.timelineId} (${info.last_record_lsn})` };
      if (compareLsn(at.lsn, info.min_readable_lsn) < 0) {
        const below = belowCutoff(leaseAt(at), at, at.lsn, info.min_readable_lsn, now);
        if ('verdict' in below) return below.verdict;
      }
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
      const state = this.state();
      const now = this.now();
      const lease = state.leases
        .filter((l) => leaseIsValid(l, now))
        .map((l) => l.validUntil)
        .sort()[0];
      const status: EngineStatus = {
        engine: 'pageserver',
        state: 'running',
        summary: `${where}, timeline ${head.timelineId} at ${head.lsn}${lease ? `; earliest lease ends ${lease}` : ''}`,
        head,
      };
      const warnings = leaseWarnings(state, now);
      if (warnings.length > 0) status.warnings = warnings;
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
      summary: `forks reach back to ${info.min_readable_lsn} on timeline ${info.timeline_id}${cutoff}; kept checkpoints below it stay reachable while their LSN leases are valid`,
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
   * Takes or renews an LSN lease on each kept and each pinned checkpoint the
   * pageserver can still branch at (above the GC cutoff, or below it under a
   * lease still valid), so GC does not take it while it is kept. Leases last
   * as long as the pageserver says (`valid_until`, the tenant's
   * lsn_lease_length); prune and the upkeep renew them before they end. The
   * state then holds the leases of exactly these points (and the lapsed ones
   * of kept points, so that a listing can say why they expired).
   */
  async protect(keep: readonly PointInHistory[], options: OperationOptions = {}): Promise<{ leased: number; validUntil?: string; lapsed?: number }> {
    const before = this.state();
    if (before.leasesUnsupported) return { leased: 0 };
    const points = [...keep, ...(before.pins ?? []).map(pinPoint)];
    const leases: LeaseRecord[] = [];
    const seen = new Set<string>();
    let lapsed = 0;
    for (const at of points) {
      const key = `${at.timelineId}@${at.lsn ?? at.createdAt}`;
      if (seen.has(key)) continue;
      seen.add(key);
      throwIfAborted(options.signal, 'renewing leases');
      const found = await this.find(at, options.signal, before);
      if ('verdict' in found) {
        const old = leaseOf(before, at);
        if (found.verdict.reason === 'expired' && old) {
          // Lapsed below the cutoff: lost for good, remembered so the listing can say why.
          leases.push({ ...old, lost: true });
          lapsed++;
        }
        continue;
      }
      const lsn = found.at.lsn;
      let validUntil: string | undefined;
      const grantedAt = new Date(this.now()).toISOString();
      try {
        validUntil = await this.api.leaseLsn(at.timelineId, lsn, { signal: options.signal });
      } catch (error) {
        if (!isLockstepError(error, 'EXPIRED')) throw error;
        // Our record said valid, the pageserver says gone (its clock, or GC dropped it): lapsed, said so.
        this.log.warn(describeError(error));
        if (found.lease) {
          leases.push({ ...found.lease, validUntil: new Date(Math.min(this.now(), Date.parse(found.lease.validUntil))).toISOString(), lost: true });
          lapsed++;
        }
        continue;
      }
      if (validUntil === undefined) {
        this.log.info('this pageserver offers no LSN leases; checkpoints are kept only as long as its GC horizon allows');
        this.updateState((s) => (s.leasesUnsupported = true));
        return { leased: 0 };
      }
      leases.push({ timelineId: at.timelineId, lsn, validUntil, grantedAt, ...(isMoment(at) ? { moment: at.createdAt } : {}) });
    }
    this.updateState((s) => {
      // A pin taken meanwhile (pins.json has its own lock, prune does not hold it) keeps its lease.
      const added = s.leases.filter((l) => (s.pins ?? []).some((p) => p.timelineId === l.timelineId && p.lsn === l.lsn) && !leases.some((k) => k.timelineId === l.timelineId && k.lsn === l.lsn));
      s.leases = [...leases, ...added];
    });
    const now = this.now();
    const held = leases.filter((l) => leaseIsValid(l, now));
    const earliest = held.map((l) => l.validUntil).sort()[0];
    return { leased: held.length, ...(earliest === undefined ? {} : { validUntil: earliest }), ...(lapsed > 0 ? { lapsed } : {}) };
  }

  /** Cheap (one small file, no network), as the commit hook needs: a lease Lockstep holds is within half its length of its end. */
  maintenanceDue(_head: Position): boolean {
    try {
      return renewalDue(this.state(), this.now());
    } catch {
      return false;
    }
  }

  /**
   * The upkeep between prunes: renews the leases Lockstep holds (those of the
   * kept and pinned checkpoints as of the last prune or pin) once half a
   * lease's length has passed, or always with `force`. A lease that lapsed
   * (Lockstep did not run for longer than the lease) is asked for again: the
   * pageserver grants it while GC has not passed the LSN; refused, it is lost.
   */
  async maintain(options: OperationOptions & { force?: boolean } = {}): Promise<string | undefined> {
    const state = this.state();
    if (state.leasesUnsupported || state.leases.length === 0) return undefined;
    if (!options.force && !renewalDue(state, this.now())) return undefined;
    const renewed: LeaseRecord[] = [];
    const refused: string[] = [];
    for (const lease of state.leases) {
      if (lease.lost) continue;
      throwIfAborted(options.signal, 'renewing leases');
      options.onProgress?.(`Renewing the LSN lease on ${lease.timelineId} at ${lease.lsn}`);
      try {
        renewed.push(await this.renewLease(lease, options.signal));
      } catch (error) {
        if (isLockstepError(error, 'CANCELLED')) throw error;
        if (isLockstepError(error, 'EXPIRED')) {
          this.updateState((s) => {
            s.leases = s.leases.map((l) => (l.timelineId === lease.timelineId && l.lsn === lease.lsn ? { ...l, lost: true } : l));
          });
        }
        refused.push(`${lease.timelineId} at ${lease.lsn}: ${describeError(error)}`);
      }
    }
    for (const line of refused) this.log.warn(`upkeep: lease not renewed: ${line}`);
    if (renewed.length === 0) return refused.length > 0 ? `no LSN lease renewed (${refused.length} refused; see the log)` : undefined;
    const earliest = renewed.map((l) => l.validUntil).sort()[0]!;
    return `renewed ${renewed.length} LSN lease(s), the earliest now ends ${earliest}${refused.length > 0 ? `; ${refused.length} refused (see the log)` : ''}`;
  }

  /**
   * A pin is an LSN lease on the checkpoint, taken now and kept renewed by
   * prune and the upkeep until it is unpinned (whether or not prune is told
   * to keep it). It holds the pageserver's layers at that LSN; their size is
   * not something the API tells per lease, so no `bytes`.
   */
  async pin(at: PointInHistory, request: PinRequest, options: OperationOptions = {}): Promise<PinHold> {
    throwIfAborted(options.signal, 'the pin');
    if (this.state().leasesUnsupported) {
      throw new LockstepError('BAD_INPUT', 'this pageserver offers no LSN leases, so a checkpoint cannot be pinned on it', {
        hint: 'A pageserver with the lsn_lease endpoint (Neon storage from mid-2024 on) can pin; otherwise raise the tenant\'s pitr_interval.',
      });
    }
    const found = await this.find(at, options.signal);
    if ('verdict' in found) throw restorabilityError(found.verdict, at);
    const lsn = found.at.lsn;
    options.onProgress?.(`Taking an LSN lease on ${at.timelineId} at ${lsn}`);
    const grantedAt = new Date(this.now()).toISOString();
    const validUntil = await this.api.leaseLsn(at.timelineId, lsn, { signal: options.signal }).catch((error: unknown) => {
      throw isLockstepError(error, 'EXPIRED') ? restorabilityError({ restorable: false, reason: 'expired', message: error.message, hint: EXPIRED_HINT }, at) : error;
    });
    if (validUntil === undefined) {
      this.updateState((s) => (s.leasesUnsupported = true));
      throw new LockstepError('BAD_INPUT', 'this pageserver offers no LSN leases (the lsn_lease endpoint is missing), so a checkpoint cannot be pinned on it');
    }
    const moment = isMoment(at) ? { moment: at.createdAt } : {};
    this.updateState((s) => {
      s.leases = s.leases.filter((l) => !(l.timelineId === at.timelineId && l.lsn === lsn));
      s.leases.push({ timelineId: at.timelineId, lsn, validUntil, grantedAt, ...moment });
      s.pins = (s.pins ?? []).filter((p) => p.checkpointId !== request.checkpointId);
      s.pins.push({ checkpointId: request.checkpointId, timelineId: at.timelineId, lsn, ...moment, pinnedAt: grantedAt });
    });
    const length = Date.parse(validUntil) - Date.parse(grantedAt);
    // Lockstep runs no daemon: a lease shorter than a day lapses over a weekend without commits.
    const short =
      length < 86_400_000
        ? `; it lapses if Lockstep does not run for ${Math.max(1, Math.round(length / 60_000))} min: raise the tenant's lsn_lease_length to keep it across idle days`
        : '';
    return {
      ref: { timelineId: at.timelineId, lsn, checkpointId: request.checkpointId },
      summary: `an LSN lease on timeline ${at.timelineId} at ${lsn}, valid until ${validUntil}, renewed by prune and the upkeep${short}`,
    };
  }

  /**
   * Drops the pin: its lease leaves the set renewed for pins. The pageserver
   * has no call to release a lease, so it lapses at its `valid_until` once
   * nothing renews it (prune still renews it while the checkpoint is kept).
   */
  async unpin(hold: PinHold, _options: OperationOptions = {}): Promise<void> {
    const { checkpointId, timelineId, lsn } = hold.ref;
    this.updateState((s) => {
      s.pins = (s.pins ?? []).filter((p) => (typeof checkpointId === 'string' ? p.checkpointId !== checkpointId : !(p.timelineId === timelineId && p.lsn === lsn)));
    });
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

  /**
   * Where a fork at `at` starts: its LSN, or for a moment the LSN the
   * pageserver finds for its time (or, once GC passed it, the LSN its lease
   * holds); else the verdict. Below the GC cutoff, the lease that keeps it.
   */
  private async find(at: PointInHistory, signal: AbortSignal | undefined, state?: PageserverState): Promise<Found> {
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
      if ('verdict' in resolved) {
        // `past`: GC passed it, so the pageserver no longer finds it by time; a valid lease still holds its LSN.
        if (resolved.verdict.reason !== 'expired') return resolved;
        const below = belowCutoff(leaseOf(state ?? this.state(), at), at, at.createdAt, info.min_readable_lsn, this.now());
        if ('verdict' in below) return below;
        return { at: { timelineId: at.timelineId, lsn: below.lease.lsn }, lease: below.lease };
      }
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
      const point: PointInHistory = isMoment(at) ? at : { timelineId: at.timelineId, lsn };
      const below = belowCutoff(leaseOf(state ?? this.state(), point), point, where, info.min_readable_lsn, this.now());
      if ('verdict' in below) return below;
      return { at: { timelineId: at.timelineId, lsn }, lease: below.lease };
    }
    return { at: { timelineId: at.timelineId, lsn } };
  }

  /** Renews a lease Lockstep holds and records its new end; EXPIRED when the pageserver no longer has it and GC passed its LSN. */
  private async renewLease(lease: LeaseRecord, signal: AbortSignal | undefined): Promise<LeaseRecord> {
    const grantedAt = new Date(this.now()).toISOString();
    const validUntil = await this.api.leaseLsn(lease.timelineId, lease.lsn, { signal });
    if (validUntil === undefined) throw new LockstepError('REMOTE', `the pageserver no longer offers LSN leases (renewing ${lease.lsn} on timeline ${lease.timelineId})`);
    const { lost: _lost, ...held } = lease;
    const renewed: LeaseRecord = { ...held, validUntil, grantedAt };
    this.updateState((s) => {
      s.leases = s.leases.map((l) => (l.timelineId === lease.timelineId && l.lsn === lease.lsn ? renewed : l));
    });
    return renewed;
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

