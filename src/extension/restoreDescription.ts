// What a restore will change and what it did, in words: the preview document, the confirmation and the result message (no VS Code API here).
import { displayText, displayTitle } from '../core/journalText';
import { relativeTime } from '../core/relativeTime';
import type { RestoreMode, RestorePreview, RestoreResult } from '../core/restore';
import { describeSchemaDiff, isEmptyDiff, type SchemaDiff } from '../core/schemaDiff';
import { differs, restoreChangeWords, rowChangesFootnote, tableChangeWords, tableLabel, type RowChanges } from './rowDiffText';

export const MODE_WORDS: Record<RestoreMode, string> = {
  both: 'code and data',
  'data-only': 'data only',
  'code-only': 'code only',
};

/** The confirmation's buttons: the dirty-tree choice is made in the same modal. */
export const RESTORE = 'Restore';
export const STASH_AND_RESTORE = 'Stash and Restore';

export interface Confirmation {
  message: string;
  detail: string;
  button: typeof RESTORE | typeof STASH_AND_RESTORE;
}

/** The modal's question and what will change, short enough for a dialog; the preview document has the rest. */
export function confirmation(preview: RestorePreview): Confirmation {
  const title = displayTitle(preview.target);
  const lines: string[] = [];
  if (preview.data) {
    lines.push(`Data: the database goes back to timeline ${preview.data.to.timelineId} @ ${preview.data.to.lsn ?? `${preview.data.to.createdAt} (by time)`} (now timeline ${preview.data.from.timelineId} @ ${preview.data.from.lsn}); the connection string stays the same.`);
    const rows = rowsOf(preview);
    if (preview.schema || rows) {
      // Exact row changes, when the engine could read them, replace the schema comparison's estimated counts.
      const schema = preview.schema ? schemaLines(preview.schema, rows !== undefined) : [];
      const changed = rows ? rows.tables.filter(differs).map((t) => `${tableLabel(t)}: ${restoreChangeWords(t)}`) : [];
      const changes = [...schema, ...changed];
      if (changes.length === 0) lines.push(rows ? '  No change in tables, columns or rows.' : '  No change in tables, columns or row counts.');
      for (const change of changes.slice(0, 6)) lines.push(`  ${change}`);
      if (changes.length > 6) lines.push(`  …and ${changes.length - 6} more (see the preview)`);
      if (rows?.partial) lines.push('  Some counts are “at least”: the time to count them ran out (see the preview).');
    }
  } else {
    lines.push('Data: unchanged.');
  }
  if (preview.code) {
    if (preview.code.unchanged) lines.push(`Code: already at ${preview.code.to.slice(0, 7)}.`);
    else {
      const files = preview.code.diff ? `; ${preview.code.diff.files.length} file(s) differ` : '';
      lines.push(`Code: checks out ${preview.code.to.slice(0, 7)} ${checkoutWords(preview)}${files}.`);
    }
  } else {
    lines.push('Code: unchanged.');
  }
  if (preview.willStash) {
    const count = preview.tree.modified.length + preview.tree.untracked.length;
    lines.push(`Uncommitted work: ${count} file(s) will be stashed (untracked included) and stay in the stash list.`);
  }
  if (preview.undoes) {
    const extras = [preview.undoes.stash ? 're-applies the work it stashed' : '', preview.undoes.createdBranch ? `deletes its branch ${displayText(preview.undoes.createdBranch)} if nothing was committed on it` : ''].filter(Boolean);
    lines.push(`This undoes the restore to ${preview.undoes.checkpointId ?? 'a checkpoint'}${extras.length > 0 ? `: it also ${extras.join(' and ')}` : ''}.`);
  }
  for (const warning of preview.warnings) lines.push(`Warning: ${message(warning)}.`);
  lines.push('', 'The undo point is taken at the end of the current history: Undo Restore puts code and data back, every acknowledged write included.');
  return {
    message: `Restore ${MODE_WORDS[preview.mode]} to “${title}”?`,
    detail: lines.join('\n'),
    button: preview.willStash ? STASH_AND_RESTORE : RESTORE,
  };
}

/** The read-only preview document: everything the dry run found, as Markdown that also reads well as source. */
export function previewMarkdown(preview: RestorePreview, now = Date.now()): string {
  const t = preview.target;
  const out: string[] = [];
  out.push(`# Restore preview: ${displayTitle(t)}`, '');
  out.push(`Checkpoint \`${t.id}\` (${t.kind}), ${t.commitSha ? `commit \`${t.commitSha.slice(0, 7)}\`` : 'no commit'}, taken ${relativeTime(t.createdAt, now)} (${t.createdAt}).`);
  out.push(`Restores ${MODE_WORDS[preview.mode]}${preview.mode !== preview.requestedMode ? ` (asked for ${MODE_WORDS[preview.requestedMode]})` : ''}. Nothing has changed yet.`, '');

  out.push('## Database', '');
  if (preview.data) {
    out.push(`Now timeline \`${preview.data.from.timelineId}\` @ \`${preview.data.from.lsn}\` → timeline \`${preview.data.to.timelineId}\` @ ${preview.data.to.lsn === null ? `\`${preview.data.to.createdAt}\` (by time)` : `\`${preview.data.to.lsn}\``}, on the same connection string.`, '');
    const exact = rowsOf(preview);
    if (exact) {
      const schema = preview.schema ? schemaLines(preview.schema, true) : [];
      for (const line of schema) out.push(`- ${line}`);
      if (schema.length > 0) out.push('');
      const tables = exact.tables.filter(differs);
      if (tables.length === 0) out.push('No row changed since the checkpoint.', '');
      else {
        out.push('| table | since the checkpoint | the restore | rows now | rows then |', '| --- | --- | --- | ---: | ---: |');
        for (const t of tables) out.push(`| ${cellText(tableLabel(t))} | ${cellText(tableChangeWords(t))} | ${cellText(restoreChangeWords(t))} | ${exactCount(t.nowRows)} | ${exactCount(t.thenRows)} |`);
        out.push('');
      }
      const same = exact.tables.length - tables.length;
      if (same > 0) out.push(`${same} other table(s) unchanged.`, '');
      out.push(`*${rowChangesFootnote(exact)}*`, '');
    } else if (preview.schema) {
      if (isEmptyDiff(preview.schema)) out.push('No change in tables, columns or row counts.', '');
      else {
        for (const line of describeSchemaDiff(preview.schema)) out.push(`- ${line.trim()}`);
        out.push('');
      }
      const rows = preview.schema.rows;
      if (rows.length > 0) {
        out.push('| table | rows now | rows at the checkpoint |', '| --- | ---: | ---: |');
        for (const row of rows) out.push(`| ${row.table} | ${count(row.now)} | ${count(row.then)} |`);
        out.push('');
      }
    }
  } else {
    out.push('Unchanged.', '');
  }

  out.push('## Code', '');
  if (preview.code) {
    const from = preview.code.from.branch ? `${displayText(preview.code.from.branch)} @ ${preview.code.from.sha?.slice(0, 7) ?? '(no commit)'}` : `${preview.code.from.sha?.slice(0, 7)} (detached)`;
    if (preview.code.unchanged) out.push(`Already at \`${preview.code.to.slice(0, 7)}\`.`, '');
    else {
      out.push(`\`${from}\` → \`${preview.code.to.slice(0, 7)}\` ${checkoutWords(preview, '`')}.`, '');
      const stat = preview.code.diff?.text.trimEnd();
      if (stat) out.push('```', ...stat.split('\n').map((line) => message(line.trim())), '```', '');
    }
  } else {
    out.push('Unchanged.', '');
  }

  if (preview.mode !== 'data-only') {
    out.push('## Working tree', '');
    if (!preview.dirty) out.push('Clean.', '');
    else {
      const files = [...preview.tree.modified, ...preview.tree.untracked];
      out.push(`${files.length} uncommitted file(s)${preview.willStash ? ': they will be stashed (untracked included) and stay in the stash list.' : '.'}`, '');
      for (const file of files.slice(0, 20)) out.push(`- ${displayText(file)}`);
      if (files.length > 20) out.push(`- …and ${files.length - 20} more`);
      out.push('');
    }
  }
  if (preview.warnings.length > 0 || preview.blockers.length > 0) {
    out.push('## Before you go on', '');
    for (const warning of preview.warnings) out.push(`- Warning: ${message(warning)}`);
    for (const blocker of preview.blockers) out.push(`- Blocked: ${message(blocker.message)}${blocker.hint ? ` (${message(blocker.hint)})` : ''}`);
    out.push('');
  }
  out.push('---', '', 'A pre-restore checkpoint at the end of the current history is the undo point: **Undo Restore** puts code and data back, every acknowledged write included. If a step fails, what changed is put back and checked before Lockstep says so.', '');
  return out.join('\n');
}

/** The result notification's text. */
export function resultMessage(result: RestoreResult): string {
  const what = MODE_WORDS[result.mode];
  const parts = [`Restored ${what} to “${displayTitle(result.target)}” in ${(result.durationMs / 1000).toFixed(1)} s.`];
  if (result.checkout) parts.push(result.checkout.branch ? `Now on branch ${displayText(result.checkout.branch)}.` : `HEAD is detached at ${result.checkout.sha.slice(0, 7)}.`);
  if (result.stash) parts.push(`Your uncommitted work is stashed (git stash apply ${result.stash.sha.slice(0, 12)}).`);
  for (const note of result.undid) parts.push(`${message(note.charAt(0).toUpperCase() + note.slice(1))}.`);
  for (const warning of result.warnings) parts.push(`Warning: ${message(warning)}.`);
  return parts.join(' ');
}

/** Where the commit is checked out: its own branch when that still points at it, else a new restore branch, or detached. */
function checkoutWords(preview: RestorePreview, quote = ''): string {
  if (preview.checkout !== 'branch' || !preview.code) return 'detached';
  return preview.code.branch ? `on its branch ${quote}${displayText(preview.code.branch)}${quote}` : `on a new branch ${quote}lockstep/restore-${preview.code.to.slice(0, 7)}${quote}`;
}

/** Lockstep's own sentences that quote git or journal text: one line each, longer than a title may be. */
function message(text: string): string {
  return displayText(text, 1000);
}

/** The exact row changes the preview carries when the engine could read the past. */
export function rowsOf(preview: RestorePreview): RowChanges | undefined {
  return preview.rows;
}

/**
 * The schema comparison's lines; with exact row changes beside them, only the
 * column changes (tables that come or go, and their rows, are in the row
 * changes, counted).
 */
function schemaLines(schema: SchemaDiff, exactRows: boolean): string[] {
  const lines = describeSchemaDiff(schema).map((line) => line.trim());
  return exactRows ? lines.filter((line) => !line.startsWith('rows ') && !/^[+-] table /.test(line)) : lines;
}

/** Text inside a Markdown table cell: a pipe would end the cell, and emphasis, code and HTML are kept as text (parentheses need nothing: the words read well as source too). */
function cellText(text: string): string {
  return message(text).replace(/[\\`*_|<>[\]&$]/g, '\\$&');
}

function exactCount(n: number | null): string {
  return n === null ? '—' : String(n);
}

function count(n: number | null): string {
  return n === null ? '—' : n < 0 ? '?' : `~${n}`;
}
