// Text in the journal that Lockstep did not write (labels, commit subjects, branch and author names): which labels are accepted, and how any of it is printed on one line.

import { checkpointTitle, type Checkpoint } from './checkpoint';
import { LockstepError } from '../base/errors';

/** The longest label a snapshot may carry, in characters. */
export const MAX_LABEL_LENGTH = 200;
/** The longest journal text printed whole; longer text ends in `…`. */
export const MAX_DISPLAY_LENGTH = 200;

/**
 * Characters that can forge or hide what a terminal or an editor shows: C0
 * controls (newline, tab, ESC, BEL…), DEL and C1 controls; the bidi marks,
 * embeddings, overrides and isolates; line and paragraph separators; and
 * invisible characters that join or hide text (zero-width space, word joiner,
 * invisible operators, BOM, the interlinear annotation marks, tag characters).
 * Zero-width (non-)joiners stay allowed: scripts and emoji need them, and they
 * cannot move or hide other text.
 */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\u{e0000}-\u{e007f}]|[\ud800-\udfff]/u;
const UNSAFE_GLOBAL = new RegExp(UNSAFE.source, 'gu');

const NAMES: Record<number, string> = {
  0x00: 'NUL',
  0x07: 'BEL, a bell',
  0x08: 'a backspace',
  0x09: 'a tab',
  0x0a: 'a newline',
  0x0b: 'a vertical tab',
  0x0c: 'a form feed',
  0x0d: 'a carriage return',
  0x1b: 'ESC, an escape',
  0x7f: 'DEL',
  0x9b: 'CSI, an escape',
  0x061c: 'the Arabic letter mark',
  0x180e: 'the Mongolian vowel separator',
  0x200b: 'a zero-width space',
  0x200e: 'the left-to-right mark',
  0x200f: 'the right-to-left mark',
  0x2028: 'a line separator',
  0x2029: 'a paragraph separator',
  0x202a: 'a left-to-right embedding',
  0x202b: 'a right-to-left embedding',
  0x202c: 'a pop directional formatting',
  0x202d: 'a left-to-right override',
  0x202e: 'a right-to-left override',
  0x2060: 'a word joiner',
  0x2066: 'a left-to-right isolate',
  0x2067: 'a right-to-left isolate',
  0x2068: 'a first strong isolate',
  0x2069: 'a pop directional isolate',
  0xfeff: 'a zero-width no-break space',
};

function codePointName(cp: number): string {
  const hex = cp.toString(16).toUpperCase().padStart(4, '0');
  const name = NAMES[cp] ?? (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ? 'a control character' : cp >= 0xd800 && cp <= 0xdfff ? 'half a surrogate pair' : 'an invisible formatting character');
  return `U+${hex} (${name})`;
}

/** Why a label is refused, or undefined when it is fine. Positions count characters from 1. */
export function labelProblem(label: string): string | undefined {
  let position = 0;
  for (const char of label) {
    position++;
    if (UNSAFE.test(char)) {
      return `the label contains ${codePointName(char.codePointAt(0)!)} at position ${position}: labels must be one line of visible text, without control or text-direction characters`;
    }
  }
  if (position > MAX_LABEL_LENGTH) return `the label is ${position} characters long; at most ${MAX_LABEL_LENGTH} are allowed`;
  return undefined;
}

/**
 * The label a checkpoint stores: trimmed, null when empty. Throws BAD_INPUT
 * when it could forge output (a newline, ESC, a right-to-left override…) or
 * is too long. Every face calls this (through the markers), so an agent's
 * `lockstep snapshot -m` and a person's input box are held to the same rule.
 */
export function checkLabel(label: string | null | undefined): string | null {
  if (label === null || label === undefined) return null;
  const problem = labelProblem(label);
  if (problem) throw new LockstepError('BAD_INPUT', problem, { hint: 'Give a shorter label on one line, e.g. -m "before the seed script".' });
  const trimmed = label.trim();
  return trimmed === '' ? null : trimmed;
}

function escapeChar(char: string): string {
  const cp = char.codePointAt(0)!;
  if (cp <= 0xff) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/**
 * Any journal text made safe to print on one line: control and direction
 * characters become visible escapes (`\x1b`, `\n`→`\x0a`, `\u202e`), and text
 * longer than `max` characters is cut to `max`, its last one `…`. The raw
 * text stays in the journal (and in `--json`).
 */
export function displayText(text: string | null | undefined, max = MAX_DISPLAY_LENGTH): string {
  if (!text) return '';
  // The common case, and 10,000 rows of `lockstep list`: nothing to escape, nothing to cut.
  if (text.length <= max && !UNSAFE.test(text)) return text;
  const escaped = text.replace(UNSAFE_GLOBAL, escapeChar);
  const chars = [...escaped];
  if (chars.length <= max) return escaped;
  // Cut before an escape rather than through it.
  let end = max - 1;
  const head = chars.slice(0, end).join('');
  const partial = /\\(x[0-9a-f]?|u(\{[0-9a-f]*|[0-9a-f]{0,3})?)?$/.exec(head);
  if (partial) end -= [...partial[0]].length;
  return `${chars.slice(0, end).join('')}…`;
}

/** A checkpoint's title (subject, label, or what it is for), safe to print on one line. */
export function displayTitle(c: Checkpoint, max = MAX_DISPLAY_LENGTH): string {
  return displayText(checkpointTitle(c), max);
}
