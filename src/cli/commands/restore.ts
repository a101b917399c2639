// `lockstep restore REF`: preview, confirm, and restore code and data together (or one of them).

import { LockstepError } from '../../core/errors';
import { previewRestore, restore, withSchemaChanges, type RestoreMode } from '../../core/restore';
import { oneOf, parse } from '../args';
import { renderPlan, renderResult } from '../format';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';
import { startBackgroundBackup } from './record';

const USAGE = `Usage: lockstep restore REF [--dry-run] [--data-only|--code-only] [--yes] [--stash] [--checkout branch|detached]

REF is a checkpoint id (or unique prefix), a commit sha (or prefix: its newest
checkpoint), or an ISO time (the newest checkpoint at or before it).

Restores the database to the checkpoint's (timeline, LSN) on the same
connection string, and checks out its commit on a new branch
lockstep/restore-<sha7> (or detached). Before anything changes it takes a
pre-restore checkpoint of now: restoring that one undoes the restore. If a step
fails, everything is put back as it was.

  --dry-run      show what would change (tables, columns, rows, files) and change nothing
  --data-only    restore the database only;  --code-only  the code only
  --stash        stash uncommitted work (untracked files included) instead of refusing
  --checkout M   branch (default, from the configuration) or detached
  --yes          do not ask for confirmation (required when no one is at the terminal)`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{
    'dry-run'?: boolean;
    'data-only'?: boolean;
    'code-only'?: boolean;
    yes?: boolean;
    stash?: boolean;
    checkout?: string;
  }>(
    args,
    {
      'dry-run': { type: 'boolean' },
      'data-only': { type: 'boolean' },
      'code-only': { type: 'boolean' },
      yes: { type: 'boolean', short: 'y' },
      stash: { type: 'boolean' },
      checkout: { type: 'string' },
    },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new LockstepError('BAD_INPUT', positionals.length === 0 ? 'which checkpoint? (REF missing)' : 'give one REF', { hint: USAGE.split('\n')[0] });
  if (values['data-only'] && values['code-only']) throw new LockstepError('BAD_INPUT', '--data-only and --code-only exclude each other');
  const mode: RestoreMode = values['data-only'] ? 'data-only' : values['code-only'] ? 'code-only' : 'both';
  const checkout = oneOf(values.checkout, '--checkout', ['branch', 'detached'] as const);
  const request = { ref: positionals[0]!, mode, checkout, stash: values.stash === true };
  const onProgress = progress(io);

  const { project } = await openProject(io);
  try {
    if (values['dry-run']) {
      const preview = await previewRestore(project, request, { onProgress });
      io.out(['(dry run: nothing was changed)', ...renderPlan(preview)].join('\n'));
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
            const answer = await io.ask('Restore? This changes the database and checks out code. [y/N] ');
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

