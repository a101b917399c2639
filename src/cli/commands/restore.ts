// `lockstep restore REF`: preview, confirm, and restore code and data together (or one of them).

import { LockstepError } from '../../base/errors';
import { parseMoment } from '../../core/target';
import { previewRestore, readRestoreRecord, restore, settleInterruptedRestore, withSchemaChanges, type RestoreMode } from '../../core/restore';
import { oneOf, parse } from '../args';
import { renderPlan, renderResult } from '../format';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';
import { upkeepDueAfterPast } from '../../core/pastData';
import { startBackgroundBackup } from './record';
import { parseTableList, runTableRestore } from './restoreTables';

const USAGE = `Usage: lockstep restore REF|--to REF [--dry-run] [--data-only|--code-only] [--yes] [--stash] [--checkout branch|detached]
       lockstep restore --at TIME|LSN [--dry-run] [--yes]
       lockstep restore REF|--at TIME --tables a,b [--with-dependents] [--dry-run] [--yes]
       lockstep restore --continue | --abort

REF is a checkpoint id (or unique prefix), a commit sha (or prefix: its newest
checkpoint), or an ISO time (the newest checkpoint at or before it); --to REF
says the same. With the pre-push hook (\`lockstep hook install --pre-push\`),
REF may name a push: \`push\` (or \`pushed\`) the last one, \`push~1\` the one
before, \`push:origin/main\` the last push to that remote branch (\`push:origin\`
to that remote); \`restore --to push --yes\` brings back the code and the data
the last push shipped with. (A branch named push is refs/heads/push.)
--at restores the data (only: the code stays) to any moment within retention,
not only a checkpoint: an ISO time (2026-12-02T10:15:00Z; without a zone it is
local time), a relative time ("10 minutes ago", "2h ago", "1 day ago"), or an
LSN (0/3000028 on the timeline serving now; 2@0/3000028 on timeline 2, as
\`lockstep list\` prints it). A time goes to the last
transaction committed at or before it, on the timeline that served then.
\`lockstep list\` says how far back is restorable.

Restores the database to the checkpoint's (timeline, LSN) on the same
connection string, and checks out its commit on a new branch
lockstep/restore-<sha7> (or detached). The database is recovered where no
client can reach it while it keeps serving; apps see one short gap at the
cut-over. The undo point is a pre-restore checkpoint at the end of the old
timeline: restoring it undoes the restore, every acknowledged write included.
If a step fails, what changed is put back and checked; whatever is not back is
named, with the command that finishes it.

  --dry-run      show what would change (tables, columns, rows, files) and change nothing
  --data-only    restore the database only;  --code-only  the code only
  --stash        stash uncommitted work (untracked files included) instead of refusing
  --checkout M   branch (default, from the configuration) or detached
  --yes          do not ask for confirmation (required when no one is at the terminal)
  --continue     finish a restore that was interrupted after its cut-over
  --abort        revert a restore that was interrupted (before or after its cut-over)
  --tables a,b   put only these tables back as they were (dropped ones re-created), in one
                 transaction on the serving database; other tables and the code stay as they are
  --with-dependents  also restore the tables foreign keys tie to them (else a restore that would
                 leave dangling rows, or rows pointing at gone parents, refuses and names them)

A restore whose process died is settled by the next lockstep command: finished
when it had passed the cut-over, else reverted; --continue and --abort choose.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{
    'dry-run'?: boolean;
    'data-only'?: boolean;
    'code-only'?: boolean;
    yes?: boolean;
    stash?: boolean;
    checkout?: string;
    continue?: boolean;
    abort?: boolean;
    at?: string;
    tables?: string;
    'with-dependents'?: boolean;
    to?: string;
  }>(
    args,
    {
      'dry-run': { type: 'boolean' },
      'data-only': { type: 'boolean' },
      'code-only': { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      stash: { type: 'boolean' },
      checkout: { type: 'string' },
      continue: { type: 'boolean' },
      abort: { type: 'boolean' },
      at: { type: 'string' },
      tables: { type: 'string' },
      'with-dependents': { type: 'boolean' },
      to: { type: 'string' },
    },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  if (values.to !== undefined) {
    // --to REF is the positional REF by another name (as `rollback --to` reads): one or the other.
    if (positionals.length > 0) throw new LockstepError('BAD_INPUT', 'give the checkpoint once: REF or --to REF, not both', { hint: USAGE.split('\n')[0] });
    positionals.push(values.to);
  }
  if (values.continue || values.abort) {
    if (values.continue && values.abort) throw new LockstepError('BAD_INPUT', '--continue and --abort exclude each other');
    if (positionals.length > 0) throw new LockstepError('BAD_INPUT', `--${values.continue ? 'continue' : 'abort'} takes no REF`, { hint: USAGE.split('\n')[1]?.trim() });
    return settle(io, values.continue ? 'continue' : 'abort');
  }
  const at = values.at;
  if (at !== undefined) {
    if (positionals.length > 0) throw new LockstepError('BAD_INPUT', 'give a checkpoint (REF) or a moment (--at), not both', { hint: USAGE.split('\n')[1]?.trim() });
    if (values['code-only']) throw new LockstepError('BAD_INPUT', '--at restores the data only: a moment has no code of its own', { hint: 'Restore a checkpoint (REF) with --code-only.' });
    // Checked before opening anything: a typo or a future time is bad input (exit 2), with examples.
    parseMoment(at);
  } else if (positionals.length !== 1) {
    throw new LockstepError('BAD_INPUT', positionals.length === 0 ? 'which checkpoint? (REF missing)' : 'give one REF', { hint: USAGE.split('\n')[0] });
  }
  if (values['data-only'] && values['code-only']) throw new LockstepError('BAD_INPUT', '--data-only and --code-only exclude each other');
  if (values.tables !== undefined || values['with-dependents']) {
    // One-table restore (src/cli/commands/restoreTables.ts): data of the chosen tables only.
    if (values.tables === undefined) throw new LockstepError('BAD_INPUT', '--with-dependents goes with --tables');
    const excluded = (['code-only', 'stash', 'checkout'] as const).filter((f) => values[f] !== undefined);
    if (excluded.length > 0) throw new LockstepError('BAD_INPUT', `--tables restores the data of those tables only (the code stays): --${excluded[0]} does not apply`);
    const tables = parseTableList(values.tables);
    const withDependents = values['with-dependents'] === true;
    return runTableRestore(io, at !== undefined ? { at, tables, withDependents } : { ref: positionals[0]!, tables, withDependents }, { dryRun: values['dry-run'] === true, yes: values.yes === true });
  }
  const mode: RestoreMode = values['data-only'] || at !== undefined ? 'data-only' : values['code-only'] ? 'code-only' : 'both';
  const checkout = oneOf(values.checkout, '--checkout', ['branch', 'detached'] as const);
  const request = at !== undefined ? { at, mode, checkout, stash: values.stash === true } : { ref: positionals[0]!, mode, checkout, stash: values.stash === true };
  const onProgress = progress(io);

  const { project } = await openProject(io);
  try {
    if (values['dry-run']) {
      const preview = await previewRestore(project, request, { onProgress });
      io.out(['(dry run: nothing was changed)', ...renderPlan(preview)].join('\n'));
      // The preview may have claimed the prepared copy: the upkeep makes the next one.
      if (preview.rows && (await upkeepDueAfterPast(project))) startBackgroundBackup(io);
      return 0;
    }
    if (!values.yes && !io.interactive) {
      throw new LockstepError('BAD_INPUT', 'a restore needs a confirmation: pass --yes, or run it in a terminal', {
        hint: 'See what it would change first with --dry-run.',
      });
    }
    const result = await restore(project, request, {
      onProgress,
      confirm: values.yes
        ? undefined
        : async (plan) => {
            // A person at the terminal: the plan restore() made, with the schema comparison, then ask.
            const preview = await withSchemaChanges(project, plan, { onProgress });
            io.err(renderPlan(preview).join('\n'));
            const changes = plan.mode === 'data-only' ? 'the database' : plan.mode === 'code-only' ? 'the code (checks out a commit)' : 'the database and checks out code';
            const answer = await io.ask(`Restore? This changes ${changes}. [y/N] `);
            return /^y(es)?$/i.test(answer.trim());
          },
    });
    io.out(renderResult(result).join('\n'));
    if (result.maintenanceDue) startBackgroundBackup(io);
    return 0;
  } finally {
    await project.close();
  }
}


async function settle(io: CliIo, how: 'continue' | 'abort'): Promise<number> {
  const { project } = await openProject(io, { interrupted: 'none' });
  try {
    const record = readRestoreRecord(project);
    if (!record) throw new LockstepError('BAD_INPUT', 'no restore is in progress in this repository');
    const outcome = await settleInterruptedRestore(project, how, { onProgress: progress(io) });
    if (!outcome) throw new LockstepError('BUSY', `the restore to ${record.target.id} is still running (pid ${record.pid})`, { hint: 'Wait for it to finish.' });
    io.out(outcome.summary);
    return outcome.ok ? 0 : 1;
  } finally {
    await project.close();
  }
}
