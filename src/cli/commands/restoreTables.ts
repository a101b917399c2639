// `lockstep restore REF --tables a,b`: chosen tables back as they were, everything else as it is now (the restore command hands over here).

import { LockstepError } from '../../base/errors';
import { displayText } from '../../core/journalText';
import { describeRestoredTable, previewTableRestore, restoreTables, type DependentTable, type RestoredTable, type TableRestorePlan, type TableRestoreRequest, type TableRestoreResult } from '../../core/tableRestore';
import { upkeepDueAfterPast } from '../../core/pastData';
import { describeTarget } from '../format';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';
import { startBackgroundBackup } from './record';

export interface TableRestoreFlags {
  dryRun: boolean;
  yes: boolean;
}

/** `--tables a,b` → names; empty names and an empty list are bad input. */
export function parseTableList(text: string): string[] {
  const names = text.split(',').map((t) => t.trim());
  if (names.length === 0 || names.some((t) => t === '')) throw new LockstepError('BAD_INPUT', `--tables takes table names separated by commas (got "${displayText(text, 80)}")`, { hint: 'e.g. --tables products,public.orders' });
  return names;
}

export async function runTableRestore(io: CliIo, request: TableRestoreRequest, flags: TableRestoreFlags): Promise<number> {
  if (!flags.dryRun && !flags.yes && !io.interactive) {
    throw new LockstepError('BAD_INPUT', 'a restore needs a confirmation: pass --yes, or run it in a terminal', { hint: 'See what it would change first with --dry-run.' });
  }
  const onProgress = progress(io);
  const { project } = await openProject(io);
  try {
    if (flags.dryRun) {
      const plan = await previewTableRestore(project, request, { onProgress });
      io.out(['(dry run: nothing was changed)', ...renderTablePlan(plan)].join('\n'));
      if (await upkeepDueAfterPast(project)) startBackgroundBackup(io);
      return 0;
    }
    const result = await restoreTables(project, request, {
      onProgress,
      confirm: flags.yes
        ? undefined
        : async (plan) => {
            io.err(renderTablePlan(plan).join('\n'));
            const answer = await io.ask('Restore these tables? Other tables and the code stay as they are. [y/N] ');
            return /^y(es)?$/i.test(answer.trim());
          },
    });
    io.out(renderTableResult(result, request).join('\n'));
    if (await upkeepDueAfterPast(project)) startBackgroundBackup(io);
    return 0;
  } finally {
    await project.close();
  }
}

function tableLine(t: RestoredTable): string {
  const text = describeRestoredTable(t);
  const how = t.created ? ' (dropped since)' : t.key ? ` (by ${t.key.join(', ')})` : ' (whole rows: no primary key)';
  return `  ${displayText(text, 300)}${how}`;
}

function needLine(n: DependentTable): string {
  const text =
    n.kind === 'children'
      ? `${n.name}: ${n.rows} row(s) would point at ${n.because} rows that did not exist then (${n.via})`
      : `${n.name}: ${n.because} as it was then has ${n.rows} row(s) pointing at rows of it that are gone now (${n.via})`;
  return `  ${displayText(text, 400)}`;
}

export function renderTablePlan(plan: TableRestorePlan): string[] {
  const lines = [`Restore tables to ${describeTarget(plan.target)} — data of these tables only; other tables and the code stay as they are:`];
  for (const t of plan.tables) lines.push(`${tableLine(t)}${plan.dependents.includes(t.name) ? (plan.refusal ? '  [dependent: only with --with-dependents]' : '  [dependent]') : ''}`);
  if (plan.needs.length > 0) {
    lines.push(plan.refusal ? 'Foreign keys tie other tables to these (pass --with-dependents to restore them too):' : 'Included because foreign keys tie them to these:');
    for (const n of plan.needs) lines.push(needLine(n));
  }
  for (const note of plan.notes) lines.push(`  note: ${displayText(note, 400)}`);
  if (plan.refusal) lines.push(`As asked, this restore would refuse: ${displayText(plan.refusal.message, 1000)}`);
  lines.push('One transaction; an undo point is taken first.');
  return lines;
}

export function renderTableResult(result: TableRestoreResult, request: TableRestoreRequest): string[] {
  const lines = [`Restored ${result.tables.length} table(s) to ${describeTarget(result.target)} in one transaction (${(result.durationMs / 1000).toFixed(1)} s):`];
  for (const t of result.tables) lines.push(tableLine(t));
  if (result.dependents.length > 0) lines.push(`  (with dependents: ${displayText(result.dependents.join(', '), 400)})`);
  if (result.sequences.length > 0) lines.push(`Sequences: ${displayText(result.sequences.join(', '), 400)}`);
  for (const note of result.notes) lines.push(`Note: ${displayText(note, 400)}`);
  const names = result.tables.map((t) => t.name).join(',');
  const created = result.tables.some((t) => t.created);
  lines.push(
    created
      ? `Undo: lockstep restore ${result.undo.id} --data-only (a re-created table did not exist at the undo point, so only a full restore removes it)`
      : `Undo: lockstep restore ${result.undo.id} --tables ${displayText(names, 400)}${result.dependents.length > 0 || request.withDependents ? ' --with-dependents' : ''}  (or --data-only for the whole database)`,
  );
  return lines;
}
