// How the CLI prints checkpoints, restore plans and results for a person.

import { checkpointTitle, type Checkpoint } from '../core/checkpoint';
import { relativeTime } from '../core/relativeTime';
import type { ListedCheckpoint } from '../core/listing';
import type { RestorePlan, RestorePreview, RestoreResult } from '../core/restore';
import { describeSchemaDiff, isEmptyDiff } from '../core/schemaDiff';


const KIND_MARK: Record<Checkpoint['kind'], string> = { commit: 'commit', snapshot: 'snap', safety: 'safety', 'pre-restore': 'undo' };

export function checkpointLine(c: ListedCheckpoint): string {
  const marks = `${c.serving ? '*' : ' '}${c.restorable ? ' ' : c.unrestorable?.reason === 'not-archived' ? '~' : '!'}`;
  const sha = c.commitSha ? c.commitSha.slice(0, 7) : '-------';
  return `${marks} ${c.id}  ${KIND_MARK[c.kind].padEnd(6)} ${sha}  ${`${c.timelineId}@${c.lsn}`.padEnd(16)} ${relativeTime(c.createdAt).padEnd(15)} ${checkpointTitle(c)}`;
}

export function describeTarget(c: Checkpoint): string {
  const sha = c.commitSha ? `commit ${c.commitSha.slice(0, 7)}` : 'no commit';
  return `${c.id} "${checkpointTitle(c)}" (${c.kind}, ${sha}, ${c.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z')})`;
}

/** The plan (and, for a dry run, the schema comparison) as indented lines. */
export function renderPlan(plan: RestorePlan | RestorePreview): string[] {
  const lines = [`Restore to ${describeTarget(plan.target)}`];
  if (plan.data) {
    lines.push(`  data: timeline ${plan.data.to.timelineId} @ ${plan.data.to.lsn}  (now: timeline ${plan.data.from.timelineId} @ ${plan.data.from.lsn})`);
    if ('schema' in plan && plan.schema) {
      const diff = describeSchemaDiff(plan.schema);
      if (isEmptyDiff(plan.schema)) lines.push('    no change in tables, columns or row counts');
      for (const line of diff) lines.push(`    ${line}`);
    }
  } else if (plan.mode === 'code-only') {
    lines.push('  data: unchanged (code only)');
  }
  if (plan.code) {
    const from = plan.code.from.branch ? `${plan.code.from.branch}@${plan.code.from.sha?.slice(0, 7) ?? '(unborn)'}` : `${plan.code.from.sha?.slice(0, 7)} (detached)`;
    if (plan.code.unchanged) {
      lines.push(`  code: already at ${plan.code.to.slice(0, 7)}`);
    } else {
      const to =
        plan.checkout === 'detached'
          ? `${plan.code.to.slice(0, 7)} (detached)`
          : plan.code.branch
            ? `branch ${plan.code.branch} (where it still points)`
            : `branch lockstep/restore-${plan.code.to.slice(0, 7)}`;
      lines.push(`  code: ${from} → ${to}`);
      const stat = plan.code.diff?.text.trimEnd();
      if (stat) for (const line of stat.split('\n')) lines.push(`    ${line.trim()}`);
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
  for (const w of plan.warnings) lines.push(`  warning: ${w}`);
  for (const b of plan.blockers) lines.push(`  blocked: ${b.message}${b.hint ? ` (${b.hint})` : ''}`);
  if (plan.undoes) {
    const extras = [plan.undoes.stash ? `re-applies the work it stashed (${plan.undoes.stash.slice(0, 12)})` : '', plan.undoes.createdBranch ? `deletes its branch ${plan.undoes.createdBranch} if nothing was committed on it` : ''].filter(Boolean);
    lines.push(`  undoes the restore to ${plan.undoes.checkpointId ?? 'a checkpoint'}${extras.length > 0 ? `: also ${extras.join(', and ')}` : ''}`);
  }
  return lines;
}

export function renderResult(result: RestoreResult): string[] {
  const lines = [`Restored ${result.mode === 'both' ? 'code and data' : result.mode === 'data-only' ? 'data' : 'code'} to ${describeTarget(result.target)} in ${(result.durationMs / 1000).toFixed(1)} s`];
  if (result.head) lines.push(`  database: timeline ${result.head.timelineId} @ ${result.head.lsn} (same connection string)`);
  if (result.checkout) lines.push(`  code: ${result.checkout.branch ? `on branch ${result.checkout.branch}` : `detached at ${result.checkout.sha.slice(0, 7)}`}`);
  if (result.stash) lines.push(`  your uncommitted work is stashed: ${result.stash.message} (git stash apply ${result.stash.sha.slice(0, 12)})`);
  for (const note of result.undid) lines.push(`  undone: ${note}`);
  for (const w of result.warnings) lines.push(`  warning: ${w}`);
  if (result.undo) lines.push(`  undo: lockstep restore ${result.undo.id}`);
  lines.push(`  steps: ${result.steps.map((s) => `${s.step} ${(s.ms / 1000).toFixed(2)} s`).join(', ')}`);
  return lines;
}
