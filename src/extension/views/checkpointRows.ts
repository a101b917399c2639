// What the Checkpoints tree's rows say, without VS Code: restores grouped with their undo points, short descriptions, and when the times need redrawing.
import type { Checkpoint } from '../../core/checkpoint';
import { displayText, displayTitle } from '../../core/journalText';
import { durationText } from '../../core/expiry';
import { unrestorableLabel, type Expiry, type ListedCheckpoint } from '../../core/listing';
import { relativeTime } from '../../core/relativeTime';
import { preRestoreLabel, undoneTitle } from '../../core/undoLabel';
import type { RestoreEvent } from '../../core/restoreHistory';

/** A row of the tree: a checkpoint, or a finished restore whose child is its undo point (the pre-restore checkpoint). */
export type CheckpointRow =
  | { kind: 'checkpoint'; checkpoint: ListedCheckpoint }
  | { kind: 'restore'; restore: RestoreEvent; undo: ListedCheckpoint; target: Checkpoint | undefined };

/**
 * Groups each finished restore with its undo point: the restore's row takes
 * the undo point's place (newest first, as the undo point was taken when the
 * restore began) and holds it as its child, so a page keeps its number of
 * checkpoints. A pre-restore checkpoint whose restore did not finish (it
 * failed and was put back) stays a row of its own.
 */
export function groupRows(listed: readonly ListedCheckpoint[], restores: readonly RestoreEvent[], targetOf: (id: string) => Checkpoint | undefined): CheckpointRow[] {
  const byUndo = new Map<string, RestoreEvent>();
  // Newest first: should two restores name one undo point, the newer one groups it.
  for (const restore of restores) if (restore.undoId && !byUndo.has(restore.undoId)) byUndo.set(restore.undoId, restore);
  return listed.map((checkpoint) => {
    const restore = checkpoint.kind === 'pre-restore' ? byUndo.get(checkpoint.id) : undefined;
    if (!restore) return { kind: 'checkpoint', checkpoint };
    return { kind: 'restore', restore, undo: checkpoint, target: restore.targetId ? targetOf(restore.targetId) : undefined };
  });
}

/** "Restored 'v1'", or "Undid the restore of 'v2'" when the restore went to an undo point. */
export function restoreRowLabel(row: { undo: Checkpoint; target: Checkpoint | undefined }): string {
  const { target } = row;
  if (target?.kind === 'pre-restore') return `Undid the restore of '${displayText(undoneTitle(target), 150)}'`;
  if (target) return `Restored '${displayTitle(target, 150)}'`;
  // A moment (restore --at) or a target deleted since: the undo point's label still says what was restored.
  return `Restored '${displayText(undoneTitle(row.undo), 150)}'`;
}

/**
 * The undo point's title in words, as the core names new ones: also for undo
 * points labelled before that ("Before restoring 67bcb04bbbd1 (add stock)"),
 * when the restore's target is known.
 */
export function undoRowLabel(undo: Checkpoint, target: Checkpoint | undefined): string {
  return target ? preRestoreLabel(target) : displayTitle(undo);
}

/**
 * A checkpoint row's description, short enough for the default sidebar
 * width: "2 minutes ago · serving". The sha and the rest are in the tooltip.
 */
export function checkpointDescription(c: ListedCheckpoint, now: number, agent?: string): string {
  const unrestorable = c.restorable ? undefined : unrestorableLabel(c.unrestorable, c.lsn === null);
  return [
    ...(agent ? [agent] : []),
    relativeTime(c.createdAt, now),
    ...(c.serving ? ['serving'] : c.descends ? ['descends from'] : []),
    ...(c.pinned ? ['pinned'] : []),
    ...(!c.pinned && c.expiry?.soon ? [expiryText(c.expiry, now)] : []),
    ...(c.lsn === null && c.restorable ? ['time-based'] : []),
    ...(unrestorable ? [unrestorable] : []),
  ].join(' · ');
}

/**
 * The expiry's words as of `now`: a listing is kept while its files do not
 * change, so "expires in 40 minutes" is counted again at each redraw (the
 * count-based words do not go stale).
 */
export function expiryText(expiry: Expiry, now: number): string {
  if (expiry.at === undefined || !/^expires (in|any moment)/.test(expiry.text)) return expiry.text;
  const left = Date.parse(expiry.at) - now;
  return left <= 0 ? 'expires any moment now' : `expires in ${durationText(left)}`;
}

/** How often relative times are redrawn at most while nothing else changes. */
export const MAX_REDRAW_MS = 30_000;

/**
 * Milliseconds until the first of these times ("2 minutes ago") reads
 * differently, at most `max`: the tree redraws then, so that it says what the
 * QuickPick (the same function, asked when it opens) says.
 */
export function nextTimeChangeMs(times: readonly string[], now: number, max = MAX_REDRAW_MS): number {
  if (times.length === 0) return max;
  const shown = times.map((t) => relativeTime(t, now));
  // Whole seconds: relativeTime rounds to seconds, so a text can only change at a half-second boundary; stepping by 1 s finds it within a second.
  for (let ms = 1000; ms < max; ms += 1000) {
    for (let i = 0; i < times.length; i++) if (relativeTime(times[i]!, now + ms) !== shown[i]) return ms;
  }
  return max;
}
