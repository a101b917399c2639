// The undo point's label, in words ("Before restoring 'v1'"): written by restore, read back by the faces that group restores with their undo points.

import { checkpointTitle, type Checkpoint } from './checkpoint';
import { displayText } from './journalText';

/**
 * The undo point's label, in words: "Before restoring 'before price bulk
 * update'" (the target's title, quoted). Undoing a restore names what it
 * undoes ("Before undoing 'v2'": short, for the sidebar's default width)
 * rather than nesting labels or ids. Built from the title as displayed: git lets a subject hold what a
 * label may not (a newline, ESC, 10 KB).
 */
export function preRestoreLabel(target: Checkpoint): string {
  if (target.at !== undefined) return `Before restoring to ${displayText(target.label ?? target.createdAt, 150)}`;
  if (target.kind === 'pre-restore') return `Before undoing '${displayText(undoneTitle(target), 150)}'`;
  return `Before restoring '${displayText(checkpointTitle(target), 150)}'`;
}

/** What a pre-restore checkpoint's restore went to, from its label: the quoted title, or (labels before issue 12) the subject in brackets or the id. */
export function undoneTitle(preRestore: Checkpoint): string {
  const label = preRestore.label ?? '';
  const quoted = /^Before (?:restoring|undoing(?: the restore of)?) '(.*)'$/s.exec(label);
  if (quoted) return quoted[1]!;
  const old = /^Before restoring (?:to )?([0-9a-f]{6,})?(?: \((.*)\))?$/s.exec(label);
  if (old && (old[2] || old[1])) return old[2] ?? old[1]!;
  return label.replace(/^Before restoring (?:to )?/, '') || checkpointTitle(preRestore);
}
