// What a restore, a preview or a diff goes to: a checkpoint (REF), or any moment within retention (`--at TIME|LSN`), as one checkpoint and its point in history.

import { LockstepError } from '../base/errors';
import { compareLsn, formatLsn, isLsn, parseLsn, type Lsn } from '../base/lsn';
import { newCheckpointId, pointOf, type Checkpoint } from './checkpoint';
import { restorabilityError, type OperationOptions, type PointInHistory, type Retention } from './engine';
import type { Project } from './project';
import { resolveRef } from './refs';
import { relativeTime } from './relativeTime';

/** A moment a person typed: a time (UTC ISO, sub-millisecond digits kept as given) or a WAL position (on the serving timeline unless named). */
export type Moment = { kind: 'time'; iso: string } | { kind: 'lsn'; lsn: Lsn; timelineId?: string };

const MOMENT_HINT =
  'Give an ISO time (2026-12-02T10:15:00Z, 2026-12-02T10:15:00+01:00, or 2026-12-02 10:15 in local time), ' +
  'a relative time ("10 minutes ago", "2h ago", "90s ago", "1 day ago"), or an LSN (0/3000028, or 1@0/3000028 as `lockstep list` prints it).';

/** `2026-12-02`, `2026-12-02 10:15`, `2026-12-02T10:15:30.123456+01:00`… (date alone: local midnight). */
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/** `TIMELINE@LSN`, as `lockstep list` prints a position (a local timeline number, a Neon branch id…). */
const TIMELINE_LSN = /^([A-Za-z0-9_-]+)@(\S+)$/;

/** "10 minutes ago", "2h ago", "1h 30m ago", "an hour ago". */
const RELATIVE = /^((?:(?:\d+(?:\.\d+)?|an?)\s*[a-z]+\s*,?\s*(?:and\s+)?)+)ago$/i;
const RELATIVE_PART = /(\d+(?:\.\d+)?|an?)\s*([a-z]+)/gi;

const UNIT_SECONDS: Record<string, number> = {
  s: 1, sec: 1, secs: 1, second: 1, seconds: 1,
  m: 60, min: 60, mins: 60, minute: 60, minutes: 60,
  h: 3600, hr: 3600, hrs: 3600, hour: 3600, hours: 3600,
  d: 86400, day: 86400, days: 86400,
  w: 604800, week: 604800, weeks: 604800,
};

/**
 * What a person typed for `--at`, checked: an ISO time with a zone (one
 * without is local time), a relative time, or an LSN. A time in the future,
 * or anything else, is bad input (with examples); nothing is asked of a
 * database here, so the extension validates its input box with it.
 */
export function parseMoment(text: string, now = new Date()): Moment {
  const input = text.trim();
  if (input === '') throw new LockstepError('BAD_INPUT', 'no moment given', { hint: MOMENT_HINT });
  if (isLsn(input)) return { kind: 'lsn', lsn: formatLsn(parseLsn(input)) };
  const onTimeline = TIMELINE_LSN.exec(input);
  if (onTimeline && isLsn(onTimeline[2]!)) return { kind: 'lsn', lsn: formatLsn(parseLsn(onTimeline[2]!)), timelineId: onTimeline[1]! };

  const relative = RELATIVE.exec(input);
  if (relative) {
    let seconds = 0;
    for (const part of relative[1]!.matchAll(RELATIVE_PART)) {
      const unit = UNIT_SECONDS[part[2]!.toLowerCase()];
      if (unit === undefined) throw new LockstepError('BAD_INPUT', `"${input}": "${part[2]}" is not a unit of time`, { hint: MOMENT_HINT });
      const count = /^an?$/i.test(part[1]!) ? 1 : Number(part[1]);
      seconds += count * unit;
    }
    if (!(seconds > 0)) throw new LockstepError('BAD_INPUT', `"${input}" is not in the past`, { hint: MOMENT_HINT });
    return { kind: 'time', iso: new Date(now.getTime() - Math.round(seconds * 1000)).toISOString() };
  }

  const iso = ISO.exec(input);
  if (iso) return { kind: 'time', iso: isoTime(input, iso, now) };

  throw new LockstepError('BAD_INPUT', `"${input}" is not a moment`, { hint: MOMENT_HINT });
}

function isoTime(input: string, m: RegExpExecArray, now: Date): string {
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? 0 : Number(v))) as [number, number, number, number, number, number];
  const fraction = m[7] ?? '';
  const zone = m[8];
  if (fraction.length > 6) throw new LockstepError('BAD_INPUT', `"${input}": Postgres keeps time to the microsecond; give at most 6 digits after the second`, { hint: MOMENT_HINT });
  const ms = Number(fraction.slice(0, 3).padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    throw new LockstepError('BAD_INPUT', `"${input}" is not a valid time`, { hint: MOMENT_HINT });
  }
  let time: number;
  if (zone) {
    const utc = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    const check = new Date(Date.UTC(year, month - 1, day));
    if (check.getUTCMonth() !== month - 1) throw new LockstepError('BAD_INPUT', `"${input}" is not a valid date`, { hint: MOMENT_HINT });
    time = utc - zoneOffsetMinutes(zone) * 60_000;
  } else {
    // No zone: local time, as a person reads a clock (a date alone is local midnight).
    const local = new Date(year, month - 1, day, hour, minute, second, ms);
    if (local.getMonth() !== month - 1 || local.getDate() !== day) throw new LockstepError('BAD_INPUT', `"${input}" is not a valid date`, { hint: MOMENT_HINT });
    if (local.getHours() !== hour || local.getMinutes() !== minute) {
      throw new LockstepError('BAD_INPUT', `"${input}" does not exist in local time (the clocks skipped it)`, { hint: 'Give the time with its zone, e.g. 2026-03-29T02:30:00+01:00.' });
    }
    time = local.getTime();
  }
  if (time > now.getTime()) {
    throw new LockstepError('BAD_INPUT', `${new Date(time).toISOString()} is in the future (it is ${now.toISOString()} now)`, {
      hint: zone ? 'Give a moment in the past.' : 'A time without a zone is local time; add Z for UTC.',
    });
  }
  const iso = new Date(time).toISOString();
  // Microseconds, when given, are kept: the local engine recovers to them exactly (offsets are whole minutes, so they do not shift).
  return fraction.length > 3 ? iso.replace(/Z$/, `${fraction.slice(3)}Z`) : iso;
}

function zoneOffsetMinutes(zone: string): number {
  if (/^z$/i.test(zone)) return 0;
  const sign = zone.startsWith('-') ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  return sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || '0'));
}

/** A moment in words: "2026-12-02T10:15:00.000Z" or "LSN 0/3000028". */
export function describeMoment(moment: Moment): string {
  return moment.kind === 'time' ? moment.iso : `LSN ${moment.lsn}${moment.timelineId ? ` on timeline ${moment.timelineId}` : ''}`;
}

export interface ResolvedTarget {
  /** The checkpoint named by REF, or, for `at`, a synthetic one (never written to the journal) that carries the moment. */
  checkpoint: Checkpoint;
  point: PointInHistory;
  /** True for `at`: the checkpoint is not in the journal. */
  synthetic: boolean;
}

export interface ResolveTargetOptions extends OperationOptions {
  /** Ask the engine whether the point can be restored (default true); the restore plan asks it itself. */
  check?: boolean;
}

/**
 * REF (a checkpoint id, commit, ISO time: the newest checkpoint at or before
 * it) or `at` (any moment: a time or an LSN) → the checkpoint and its point.
 *
 * An LSN lies on the timeline serving now (or the one it names, `2@0/3000028`). A time lies on the timeline that
 * served then: the one a later restore left (its pre-restore checkpoint names
 * it, taken where that timeline ended), else the one serving now — so "10
 * minutes ago" means what the app saw 10 minutes ago, even across a restore.
 * The point is checked with the engine: beyond the head, expired or unknown is
 * bad input (exit 2), said before anything changes.
 */
export async function resolveTarget(project: Project, request: { ref?: string; at?: string }, options: ResolveTargetOptions = {}): Promise<ResolvedTarget> {
  const hasAt = request.at !== undefined;
  // An empty REF beside --at is no REF; alone, resolveRef says "no checkpoint given".
  const hasRef = request.ref !== undefined && (request.ref.trim() !== '' || !hasAt);
  if (hasRef && hasAt) throw new LockstepError('BAD_INPUT', 'give a checkpoint (REF) or a moment (--at), not both');
  if (!hasRef && !hasAt) throw new LockstepError('BAD_INPUT', 'which checkpoint or moment? (REF or --at missing)', { hint: MOMENT_HINT.replace(/^Give/, 'Give a checkpoint id, a commit sha, or with --at') });
  const checkpoints = project.journal.list();
  if (hasRef) {
    const checkpoint = await resolveRef(project.repo, request.ref!, checkpoints);
    return { checkpoint, point: pointOf(checkpoint), synthetic: false };
  }

  const text = request.at!;
  const moment = parseMoment(text);
  const config = project.config();
  const engine = await project.engine();
  const serving = engine.servingTimelineId?.() ?? (await engine.head(options)).timelineId;
  const timelineId = moment.kind === 'time' ? timelineServingAt(checkpoints, Date.parse(moment.iso), serving) : (moment.timelineId ?? serving);
  const createdAt = moment.kind === 'time' ? moment.iso : new Date().toISOString();
  const before = newestAtOrBefore(checkpoints, moment, timelineId);
  const checkpoint: Checkpoint = {
    id: newCheckpointId(),
    kind: 'snapshot',
    timelineId,
    lsn: moment.kind === 'lsn' ? moment.lsn : null,
    commitSha: before?.commitSha ?? null,
    branch: before?.branch ?? null,
    subject: before?.subject ?? null,
    author: null,
    filesChanged: null,
    label: moment.kind === 'time' ? `the moment ${moment.iso}` : `timeline ${timelineId} at ${moment.lsn}`,
    createdAt,
    engine: config.engine,
    at: text.trim(),
  };
  const point = pointOf(checkpoint);
  if (options.check !== false) {
    const verdict = await engine.restorability(point, options);
    if (!verdict.restorable) throw restorabilityError(verdict, point);
  }
  return { checkpoint, point, synthetic: true };
}

/**
 * The timeline that served at `time`: a restore after it left the timeline its
 * pre-restore checkpoint names (the first such restore; one that failed left
 * nothing, and its checkpoint names the same timeline); none: the one serving now.
 */
export function timelineServingAt(newestFirst: readonly Checkpoint[], time: number, serving: string): string {
  let timeline = serving;
  for (const c of newestFirst) {
    if (c.kind !== 'pre-restore') continue;
    if (Date.parse(c.createdAt) > time) timeline = c.timelineId;
    else break;
  }
  return timeline;
}

/** The newest checkpoint at or before the moment (for its commit, in messages). */
function newestAtOrBefore(newestFirst: readonly Checkpoint[], moment: Moment, timelineId: string): Checkpoint | undefined {
  if (moment.kind === 'time') {
    const time = Date.parse(moment.iso);
    return newestFirst.find((c) => Date.parse(c.createdAt) <= time);
  }
  return newestFirst.find((c) => c.timelineId === timelineId && c.lsn !== null && isLsn(c.lsn) && compareLsn(c.lsn, moment.lsn) <= 0);
}

/** How far back a restore reaches, for `list`, `status` and the tree: a time when the engine can tell one. */
export interface Reach {
  /** The oldest moment a restore can go to (ISO), when the engine can tell; null when it keeps positions only (pageserver) or nothing. */
  since: string | null;
  /** The oldest position, when the engine keeps positions (local, pageserver). */
  oldest: { timelineId: string; lsn: Lsn; time?: string } | null;
  /** Time-based retention (Neon), in seconds. */
  windowSeconds: number | null;
  /** One line for a person: "restorable back to 2026-12-02 05:10:00Z (1 hour ago)…". */
  summary: string;
  /** The engine's own words. */
  detail: string;
}

export function reachOf(retention: Retention, now = Date.now()): Reach {
  const since = retention.oldest?.time ?? (retention.windowSeconds !== undefined && retention.windowSeconds > 0 ? new Date(now - retention.windowSeconds * 1000).toISOString() : null);
  const oldest = retention.oldest ? { timelineId: retention.oldest.timelineId, lsn: retention.oldest.lsn, ...(retention.oldest.time ? { time: retention.oldest.time } : {}) } : null;
  const summary =
    since !== null
      ? `restorable back to ${since.replace('T', ' ').replace(/\.\d+Z$/, 'Z')} (${relativeTime(since, now)}): any moment since, with \`lockstep restore --at\``
      : oldest
        ? `restorable back to ${oldest.lsn} on timeline ${oldest.timelineId}: any position since, with \`lockstep restore --at\``
        : retention.windowSeconds === 0
          ? 'nothing before now is restorable'
          : `how far back is not known: ${retention.summary}`;
  return { since, oldest, windowSeconds: retention.windowSeconds ?? null, summary, detail: retention.summary };
}
