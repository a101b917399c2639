// When a checkpoint stops being restorable: by the journal's count (`keep`) and, for engines with a history window (Neon), by its age.

import type { Retention } from './engine';
import type { Expiry } from './listing';

/** What the rule needs of a listed checkpoint. */
export interface ExpiryCandidate {
  id: string;
  createdAt: string;
  /** Pinned: kept past retention and never pruned by count, so it does not expire. */
  pinned?: boolean;
  /** Not restorable now: it has expired already (or is not archived yet), so no warning is due. */
  restorable?: boolean;
}

export interface ExpiryOptions {
  /** Ids the journal never prunes by count although they are not pinned (the last restore's target and its undo point). */
  neverByCount?: ReadonlySet<string>;
}

/** The share of the keep window, counted from its oldest end, whose checkpoints are "about to go" (at least the oldest two). */
const COUNT_WARNING_SHARE = 0.1;
const COUNT_WARNING_MIN = 2;
/** A time window warns this long before the end: an hour, or a tenth of the window when that is longer (30 days → 3 days). */
const TIME_WARNING_MIN_SECONDS = 3600;
const TIME_WARNING_SHARE = 0.1;

/**
 * For each checkpoint (newest first, as the journal lists them; a prefix of
 * the journal is fine, since indexes count from the newest), when it expires,
 * or undefined when it does not (pinned, already unrestorable) or not soon
 * enough to say (count-based).
 *
 * Count: `lockstep prune` and every new checkpoint keep the newest `keep`
 * (pinned ones and the last restore's included in that count, kept anyway
 * beyond it): the checkpoint at index i goes after `keep - i` more
 * checkpoints. Warned for the oldest 10 % of the window (at least 2).
 *
 * Time (`retention.windowSeconds`, Neon's history window): it expires at
 * createdAt + window, soon once less than max(1 h, 10 % of the window) is left.
 * Both rules apply to a time-window engine (its journal is pruned by count
 * too); the text names the more pressing one.
 */
export function expiryOf(newestFirst: readonly ExpiryCandidate[], retention: Pick<Retention, 'windowSeconds'> | undefined, keep: number, now: number, options: ExpiryOptions = {}): (Expiry | undefined)[] {
  const countMargin = Math.max(COUNT_WARNING_MIN, Math.ceil(keep * COUNT_WARNING_SHARE));
  const window = retention?.windowSeconds;
  const timed = window !== undefined && window > 0 && Number.isFinite(window);
  const horizonMs = timed ? Math.max(TIME_WARNING_MIN_SECONDS, window * TIME_WARNING_SHARE) * 1000 : 0;
  return newestFirst.map((c, index): Expiry | undefined => {
    if (c.pinned || c.restorable === false) return undefined;
    const byCount = !options.neverByCount?.has(c.id) && index >= keep - countMargin ? Math.max(1, keep - index) : undefined;
    const created = Date.parse(c.createdAt);
    const at = timed && !Number.isNaN(created) ? created + window * 1000 : undefined;
    if (byCount === undefined && at === undefined) return undefined;
    const timeSoon = at !== undefined && at - now < horizonMs;
    const countText = byCount === undefined ? undefined : `expires after ${byCount} more checkpoint${byCount === 1 ? '' : 's'}`;
    const timeText = at === undefined ? undefined : at <= now ? 'expires any moment now' : `expires in ${durationText(at - now)}`;
    // The time rule when it is near (or when it is the only one); else the count, which is near whenever it is set.
    const text = timeSoon || countText === undefined ? timeText! : countText;
    // Built field by field, not by spreading: a listing makes 10,000 of these.
    const expiry: Expiry = { soon: timeSoon || byCount !== undefined, text };
    if (at !== undefined) expiry.at = new Date(at).toISOString();
    if (byCount !== undefined) expiry.afterCheckpoints = byCount;
    return expiry;
  });
}

/** "40 minutes", "3 hours", "2 days": rounded down, so a warning is never later than the truth. */
export function durationText(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  if (minutes < 120) return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} hours`;
  return `${Math.floor(hours / 24)} days`;
}

/** The checkpoints that expire soon, oldest last (as listed); what `lockstep status` and the faces warn about. */
export function expiringSoon<T extends { expiry?: Expiry }>(newestFirst: readonly T[]): T[] {
  return newestFirst.filter((c) => c.expiry?.soon === true);
}
