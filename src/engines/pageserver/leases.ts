// The LSN leases the pageserver engine holds: which one holds a point, whether it is still valid, when it is due for renewal, what to warn about.

import { isMoment, type PointInHistory } from '../../core/engine';
import type { LeaseRecord, PageserverState, PinRecord } from './state';

/**
 * The lease Lockstep holds on `at`, valid or lapsed: by (timeline, LSN), or
 * for a time-based checkpoint by its moment (once GC passed it the pageserver
 * can no longer find its LSN by time, but the lease still names it).
 */
export function leaseOf(state: PageserverState, at: PointInHistory): LeaseRecord | undefined {
  if (isMoment(at)) return state.leases.find((l) => l.timelineId === at.timelineId && l.moment === at.createdAt);
  return state.leases.find((l) => l.timelineId === at.timelineId && l.lsn === at.lsn);
}

/** `leaseOf` for many points (a listing of 10,000): the leases indexed once. */
export function leaseFinder(state: PageserverState): (at: PointInHistory) => LeaseRecord | undefined {
  const byLsn = new Map<string, LeaseRecord>();
  const byMoment = new Map<string, LeaseRecord>();
  for (const l of state.leases) {
    byLsn.set(`${l.timelineId}@${l.lsn}`, l);
    if (l.moment !== undefined) byMoment.set(`${l.timelineId}@${l.moment}`, l);
  }
  return (at) => (isMoment(at) ? byMoment.get(`${at.timelineId}@${at.createdAt}`) : byLsn.get(`${at.timelineId}@${at.lsn}`));
}

/** Valid until its `valid_until`: the pageserver lets its holder branch and read at its LSN below the GC cutoff until then, and renews it. */
export function leaseIsValid(lease: LeaseRecord, now: number): boolean {
  return Date.parse(lease.validUntil) > now;
}

/**
 * When a lease is due for renewal: half its length after it was granted, so
 * one missed upkeep still leaves time. Without a grant time (a file written
 * before it was recorded), at once.
 */
export function renewalTime(lease: LeaseRecord): number {
  const granted = lease.grantedAt === undefined ? Number.NaN : Date.parse(lease.grantedAt);
  const until = Date.parse(lease.validUntil);
  if (Number.isNaN(granted) || Number.isNaN(until) || until <= granted) return 0;
  return granted + (until - granted) / 2;
}

/**
 * Cheap (no network), for the commit hook: is a valid lease within half its
 * length of its end, or did one lapse that may be taken again (after idle
 * time, when GC has not passed its LSN yet)?
 */
export function renewalDue(state: PageserverState, now: number): boolean {
  if (state.leasesUnsupported) return false;
  return state.leases.some((l) => (leaseIsValid(l, now) ? now >= renewalTime(l) : !l.lost));
}

/** The point a pin stands for, as prune and upkeep renew it. */
export function pinPoint(pin: PinRecord): PointInHistory {
  return pin.moment === undefined ? { timelineId: pin.timelineId, lsn: pin.lsn } : { timelineId: pin.timelineId, lsn: null, createdAt: pin.moment };
}

/** The lease a pin holds. */
export function leaseOfPin(state: PageserverState, pin: PinRecord): LeaseRecord | undefined {
  return state.leases.find((l) => l.timelineId === pin.timelineId && l.lsn === pin.lsn);
}

const minutes = (ms: number): string => (ms >= 2 * 3_600_000 ? `${Math.round(ms / 3_600_000)} h` : `${Math.max(1, Math.round(ms / 60_000))} min`);

/**
 * What `status` warns about: a pinned checkpoint's lease that lapsed (or that
 * it never got), kept checkpoints' leases that lapsed, leases close to their
 * end. One line each kind.
 */
export function leaseWarnings(state: PageserverState, now: number): string[] {
  const warnings: string[] = [];
  const pins = state.pins ?? [];
  const pinned = new Set<LeaseRecord>();
  for (const pin of pins) {
    const lease = leaseOfPin(state, pin);
    if (lease) pinned.add(lease);
    if (lease?.lost) {
      warnings.push(
        `the LSN lease of pinned checkpoint ${pin.checkpointId.slice(0, 12)} (timeline ${pin.timelineId} at ${pin.lsn}) lapsed at ${lease.validUntil} and the pageserver's GC has passed it: it can no longer be restored (\`lockstep unpin\` it); raise the tenant's lsn_lease_length above the time between Lockstep runs`,
      );
    } else if (!lease || !leaseIsValid(lease, now)) {
      const when = lease ? ` lapsed at ${lease.validUntil}` : ' is not held';
      warnings.push(
        `the LSN lease of pinned checkpoint ${pin.checkpointId.slice(0, 12)} (timeline ${pin.timelineId} at ${pin.lsn})${when}: once the pageserver's GC passes it, it cannot be restored; raise the tenant's lsn_lease_length above the time between Lockstep runs`,
      );
    }
  }
  const lapsed = state.leases.filter((l) => !pinned.has(l) && !leaseIsValid(l, now)).sort((a, b) => a.validUntil.localeCompare(b.validUntil));
  if (lapsed.length > 0) {
    warnings.push(
      `${lapsed.length} kept checkpoint lease(s) lapsed (the first at ${lapsed[0]!.validUntil}): checkpoints the pageserver's GC has passed since cannot be restored; the upkeep after the next commit (or \`lockstep prune\`) leases the others again`,
    );
  }
  const closing = state.leases.filter((l) => leaseIsValid(l, now) && now >= renewalTime(l)).sort((a, b) => a.validUntil.localeCompare(b.validUntil));
  if (closing.length > 0) {
    warnings.push(
      `${closing.length} LSN lease(s) end soon (the first in ${minutes(Date.parse(closing[0]!.validUntil) - now)}, at ${closing[0]!.validUntil}): the upkeep after the next commit renews them, or run \`lockstep prune\``,
    );
  }
  return warnings;
}
