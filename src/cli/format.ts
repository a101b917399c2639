// How the CLI prints checkpoints, restore plans and results for a person.

import type { Checkpoint } from '../core/checkpoint';
import { displayText, displayTitle } from '../core/journalText';
import { relativeTime } from '../core/relativeTime';
import type { ListedCheckpoint } from '../core/listing';
import type { RestorePlan, RestorePreview, RestoreResult } from '../core/restore';
import { describeRowDiff, describeTableRowDiff, describeColumnChanges, displayTableName, type Row, type RowDiff, type TableRows } from '../core/rowDiff';
import { describeSchemaDiff, isEmptyDiff } from '../core/schemaDiff';

/**
 * Every piece of journal or git text below (subjects, labels, branch names,
 * file names, messages that quote them) goes through displayText: one row per
 * checkpoint, whatever a commit subject holds. Lockstep's own composed
 * messages may be longer than one title, hence the wider limit.
 */
const MESSAGE_LENGTH = 1000;
const message = (text: string): string => displayText(text, MESSAGE_LENGTH);

const KIND_MARK: Record<Checkpoint['kind'], string> = { commit: 'commit', snapshot: 'snap', safety: 'safety', 'pre-restore': 'undo', push: 'push' };

/** One row of `lockstep list`; `pinTag`: the tag that pinned it, when `pinTags` did. */
export function checkpointLine(c: ListedCheckpoint, pinTag?: string): string {
  // '+': the data descends from it but has changed since (core/listing.ts servingOf); '*': it is exactly what serves.
  const marks = `${c.serving ? '*' : c.descends ? '+' : ' '}${c.restorable ? ' ' : c.unrestorable?.reason === 'not-archived' ? '~' : '!'}`;
  const sha = c.commitSha ? c.commitSha.slice(0, 7) : '-------';
  // A time-based checkpoint has no position: it is restored to its moment, which the age column shows.
  const where = c.lsn === null ? `${c.timelineId}@time-based` : `${c.timelineId}@${c.lsn}`;
  const title = c.lsn === null && !c.restorable ? `${displayTitle(c)} — not recorded: ${message([c.unmeasured, c.unrestorable?.message].filter(Boolean).join('; '))}` : displayTitle(c);
  // A safety point names who asked for it (the command is its label).
  const asked = c.kind === 'safety' && c.agent ? ` (${displayText(c.agent.name, 40)})` : '';
  return `${marks} ${c.id}  ${KIND_MARK[c.kind].padEnd(6)} ${sha}  ${where.padEnd(16)} ${relativeTime(c.createdAt).padEnd(15)} ${title}${asked}${keepingNote(c, pinTag)}`;
}

/** After the title: pinned (and by which tag, for one `pinTags` pinned), or when it expires if that is soon. Not a mark column: scripts read the marks' two places. */
function keepingNote(c: ListedCheckpoint, pinTag: string | undefined): string {
  if (c.pinned) return pinTag ? `  [pinned: tag ${displayText(pinTag, 60)}]` : '  [pinned]';
  return c.expiry?.soon ? `  [${c.expiry.text}]` : '';
}

/** Where a plan's data goes or comes from: a position, or the moment of a time-based checkpoint. */
function positionText(at: { timelineId: string; lsn: string | null; createdAt?: string }): string {
  return at.lsn === null ? `timeline ${at.timelineId} as of ${at.createdAt ?? 'its moment'} (time-based)` : `timeline ${at.timelineId} @ ${at.lsn}`;
}

export function describeTarget(c: Checkpoint): string {
  if (c.at !== undefined) {
    // A moment given with --at, not a checkpoint: its id is in no journal, so it is not shown.
    const given = c.at === c.createdAt || c.at === c.lsn ? '' : ` ("${displayText(c.at, 80)}")`;
    return c.lsn === null ? `the moment ${c.createdAt}${given}` : `timeline ${c.timelineId} at ${c.lsn}${given}`;
  }
  const sha = c.commitSha ? `commit ${c.commitSha.slice(0, 7)}` : 'no commit';
  return `${c.id} "${displayTitle(c)}" (${c.kind}, ${sha}, ${c.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})`;
}

/** The plan (and, for a dry run, the schema comparison) as indented lines. */
export function renderPlan(plan: RestorePlan | RestorePreview): string[] {
  const lines = [`Restore to ${describeTarget(plan.target)}`];
  if (plan.data) {
    lines.push(`  data: ${positionText(plan.data.to)}  (now: ${positionText(plan.data.from)})`);
    const rows = 'rows' in plan ? plan.rows : undefined;
    if (rows) {
      // Exact row changes replace the schema comparison's estimated counts.
      const schema = 'schema' in plan && plan.schema ? describeSchemaDiff({ ...plan.schema, rows: [] }) : [];
      const changed = describeRowDiff(rows);
      if (schema.length === 0 && changed.length === 0) lines.push('    no change in tables, columns or rows');
      for (const line of schema) lines.push(`    ${line}`);
      if (changed.length > 0) {
        lines.push(`    rows changed since then (the restore takes them back), in ${(rows.ms / 1000).toFixed(1)} s:`);
        for (const line of changed) lines.push(`      ${message(line)}`);
      }
      if (rows.partial) lines.push('    some figures are "at least": the time to compare them ran out (`lockstep diff` takes its time)');
    } else if ('schema' in plan && plan.schema) {
      const diff = describeSchemaDiff(plan.schema);
      if (isEmptyDiff(plan.schema)) lines.push('    no change in tables, columns or row counts');
      for (const line of diff) lines.push(`    ${line}`);
    }
  } else if (plan.mode === 'code-only') {
    lines.push('  data: unchanged (code only)');
  }
  if (plan.code) {
    const from = plan.code.from.branch ? `${displayText(plan.code.from.branch)}@${plan.code.from.sha?.slice(0, 7) ?? '(unborn)'}` : `${plan.code.from.sha?.slice(0, 7)} (detached)`;
    if (plan.code.unchanged) {
      lines.push(`  code: already at ${plan.code.to.slice(0, 7)}`);
    } else {
      const to =
        plan.checkout === 'detached'
          ? `${plan.code.to.slice(0, 7)} (detached)`
          : plan.code.branch
            ? `branch ${displayText(plan.code.branch)} (where it still points)`
            : `branch lockstep/restore-${plan.code.to.slice(0, 7)}`;
      lines.push(`  code: ${from} → ${to}`);
      const stat = plan.code.diff?.text.trimEnd();
      if (stat) for (const line of stat.split('\n')) lines.push(`    ${message(line.trim())}`);
    }
  } else if (plan.mode === 'data-only') {
    lines.push('  code: unchanged (data only)');
  }
  if (plan.mode !== 'data-only') {
    if (!plan.dirty) lines.push('  working tree: clean');
    else {
      const files = [...plan.tree.modified, ...plan.tree.untracked];
      lines.push(`  working tree: ${files.length} uncommitted file(s)${plan.willStash ? ' — will be stashed (untracked included)' : ''}`);
    }
  }
  for (const w of plan.warnings) lines.push(`  warning: ${message(w)}`);
  for (const b of plan.blockers) lines.push(`  blocked: ${message(b.message)}${b.hint ? ` (${message(b.hint)})` : ''}`);
  if (plan.undoes) {
    const extras = [plan.undoes.stash ? `re-applies the work it stashed (${plan.undoes.stash.slice(0, 12)})` : '', plan.undoes.createdBranch ? `deletes its branch ${displayText(plan.undoes.createdBranch)} if nothing was committed on it` : ''].filter(Boolean);
    lines.push(`  undoes the restore to ${plan.undoes.checkpointId ?? 'a checkpoint'}${extras.length > 0 ? `: also ${extras.join(', and ')}` : ''}`);
  }
  return lines;
}

export function renderResult(result: RestoreResult): string[] {
  const lines = [`Restored ${result.mode === 'both' ? 'code and data' : result.mode === 'data-only' ? 'data' : 'code'} to ${describeTarget(result.target)} in ${(result.durationMs / 1000).toFixed(1)} s`];
  if (result.head) lines.push(`  database: timeline ${result.head.timelineId} @ ${result.head.lsn} (same connection string)`);
  if (result.checkout) lines.push(`  code: ${result.checkout.branch ? `on branch ${displayText(result.checkout.branch)}` : `detached at ${result.checkout.sha.slice(0, 7)}`}`);
  if (result.stash) lines.push(`  your uncommitted work is stashed: ${message(result.stash.message)} (git stash apply ${result.stash.sha.slice(0, 12)})`);
  for (const note of result.undid) lines.push(`  undone: ${message(note)}`);
  for (const w of result.warnings) lines.push(`  warning: ${message(w)}`);
  if (result.undo) lines.push(`  undo: lockstep restore ${result.undo.id}`);
  lines.push(`  steps: ${result.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(2)} s`).join(', ')}`);
  return lines;
}

/** `lockstep diff`: one line per table that differs, its column changes, then how to see the rows. */
export function renderRowDiff(target: Checkpoint, diff: RowDiff, ref: string): string[] {
  const lines = [`Changes since ${describeTarget(target)}:`];
  const changed = describeRowDiff(diff);
  if (changed.length === 0) lines.push('  no row, column or table changed');
  for (const line of changed) lines.push(`  ${message(line)}`);
  const how = diff.method === 'xmin' ? 'only rows written since were read' : 'every row compared';
  lines.push(`  (${diff.tables.length} table(s) compared in ${(diff.ms / 1000).toFixed(1)} s; ${how})`);
  const first = diff.tables.find((t) => t.inserted + t.deleted + t.changed > 0);
  if (first) lines.push(`The rows of a table: lockstep diff ${ref} --table ${displayText(displayTableName(first))}`);
  return lines;
}

const VALUE_LENGTH = 60;

/** A value as a person reads it: NULL, or the text, escaped and cut. */
function valueText(value: string | null | undefined): string {
  if (value === null || value === undefined) return 'NULL';
  const shown = displayText(value, VALUE_LENGTH);
  return value.length > VALUE_LENGTH ? `${shown} (${value.length} characters)` : shown;
}

function rowText(row: Row): string {
  return Object.entries(row)
    .map(([name, value]) => `${displayText(name, 60)}=${valueText(value)}`)
    .join(', ');
}

/** `lockstep diff --table T`: changed rows (key, then → now of what changed), inserted, deleted. */
export function renderTableRows(target: Checkpoint, rows: TableRows, limit: number): string[] {
  const t = rows.table;
  const lines = [`${displayText(displayTableName(t))} since ${describeTarget(target)}: ${message(describeTableRowDiff(t) ?? 'no row changed')}`];
  for (const c of describeColumnChanges(t)) lines.push(`  ${message(c)}`);
  if (rows.changed.length > 0) {
    lines.push(`changed (then → now):`);
    for (const c of rows.changed) {
      const parts = c.columns.map((name) => {
        // A renamed column: then's value is under its old name.
        const before = c.then[c.renamed?.[name] ?? name];
        return `${displayText(name, 60)}: ${valueText(before)} → ${valueText(c.now[name])}`;
      });
      lines.push(`  ${rowText(c.key)}  ${parts.join('; ')}`);
    }
  }
  if (rows.inserted.length > 0) {
    lines.push('inserted:');
    for (const r of rows.inserted) lines.push(`  ${rowText(r)}`);
  }
  if (rows.deleted.length > 0) {
    lines.push('deleted:');
    for (const r of rows.deleted) lines.push(`  ${rowText(r)}`);
  }
  if (rows.truncated) lines.push(`(the first ${limit} of each kind; --limit N shows more)`);
  return lines;
}
