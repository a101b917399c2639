// How the CLI prints checkpoints, restore plans and results for a person.

import type { Checkpoint } from '../core/checkpoint';
import { displayText, displayTitle } from '../core/journalText';
import { relativeTime } from '../core/relativeTime';
import type { ListedCheckpoint } from '../core/listing';
import type { RestorePlan, RestorePreview, RestoreResult } from '../core/restore';
import { describeSchemaDiff, isEmptyDiff } from '../core/schemaDiff';

/**
 * Every piece of journal or git text below (subjects, labels, branch names,
 * file names, messages that quote them) goes through displayText: one row per
 * checkpoint, whatever a commit subject holds. Lockstep's own composed
 * messages may be longer than one title, hence the wider limit.
 */
const MESSAGE_LENGTH = 1000;
const message = (text: string): string => displayText(text, MESSAGE_LENGTH);

const KIND_MARK: Record<Checkpoint['kind'], string> = { commit: 'commit', snapshot: 'snap', safety: 'safety', 'pre-restore': 'undo' };

export function checkpointLine(c: ListedCheckpoint): string {
  const marks = `${c.serving ? '*' : ' '}${c.restorable ? ' ' : c.unrestorable?.reason === 'not-archived' ? '~' : '!'}`;
  const sha = c.commitSha ? c.commitSha.slice(0, 7) : '-------';
  // A time-based checkpoint has no position: it is restored to its moment, which the age column shows.
  const where = c.lsn === null ? `${c.timelineId}@time-based` : `${c.timelineId}@${c.lsn}`;
  const title = c.lsn === null && !c.restorable ? `${displayTitle(c)} — not recorded: ${message([c.unmeasured, c.unrestorable?.message].filter(Boolean).join('; '))}` : displayTitle(c);
  // A safety point names who asked for it (the command is its label).
  const asked = c.kind === 'safety' && c.agent ? ` (${displayText(c.agent.name, 40)})` : '';
  return `${marks} ${c.id}  ${KIND_MARK[c.kind].padEnd(6)} ${sha}  ${where.padEnd(16)} ${relativeTime(c.createdAt).padEnd(15)} ${title}${asked}`;
}

/** Where a plan's data goes or comes from: a position, or the moment of a time-based checkpoint. */
function positionText(at: { timelineId: string; lsn: string | null; createdAt?: string }): string {
  return at.lsn === null ? `timeline ${at.timelineId} as of ${at.createdAt ?? 'its moment'} (time-based)` : `timeline ${at.timelineId} @ ${at.lsn}`;
}

export function describeTarget(c: Checkpoint): string {
  const sha = c.commitSha ? `commit ${c.commitSha.slice(0, 7)}` : 'no commit';
  return `${c.id} "${displayTitle(c)}" (${c.kind}, ${sha}, ${c.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})`;
}

/** The plan (and, for a dry run, the schema comparison) as indented lines. */
export function renderPlan(plan: RestorePlan | RestorePreview): string[] {
  const lines = [`Restore to ${describeTarget(plan.target)}`];
  if (plan.data) {
    lines.push(`  data: ${positionText(plan.data.to)}  (now: ${positionText(plan.data.from)})`);
    if ('schema' in plan && plan.schema) {
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
