// `lockstep diff REF`: which rows changed since a checkpoint (or a moment), table by table, and the rows themselves.

import { LockstepError } from '../../base/errors';
import { upkeepDueAfterPast, withPastAndNow } from '../../core/pastData';
import { diffRows, tableRows } from '../../core/rowDiff';
import { resolveTarget } from '../../core/target';
import { integer, parse } from '../args';
import { renderRowDiff, renderTableRows } from '../format';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';
import { startBackgroundBackup } from './record';

const USAGE = `Usage: lockstep diff REF [--table T] [--limit N] [--json]
       lockstep diff --at TIME|LSN [--table T] [--limit N] [--json]

Rows inserted, deleted and changed since a checkpoint (REF: a checkpoint id or
prefix, a commit sha, an ISO time) or any moment within retention (--at: an
ISO time, "10 minutes ago", or an LSN X/Y), table by table: exact, matched by
primary key (whole rows where a table has none), with column changes, dropped
and new tables. Nothing is changed: the database as it was is read from a copy
(which the local engine keeps for a restore that follows).

  --table T   the rows of one table (schema.table, or table): changed ones
              (key, then → now of the columns that changed), inserted, deleted
  --limit N   rows shown per kind with --table (default 20)
  --json      machine-readable: the diff, or the table's rows`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ at?: string; table?: string; limit?: string; json?: boolean }>(
    args,
    { at: { type: 'string' }, table: { type: 'string' }, limit: { type: 'string' }, json: { type: 'boolean' } },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  if (positionals.length > 1) throw new LockstepError('BAD_INPUT', 'give one REF', { hint: USAGE.split('\n')[0] });
  const limit = integer(values.limit, '--limit', 0, 100_000) ?? 20;
  if (values.table !== undefined && values.table.trim() === '') throw new LockstepError('BAD_INPUT', '--table needs a table name');
  if (values.limit !== undefined && values.table === undefined) throw new LockstepError('BAD_INPUT', '--limit goes with --table (the rows of one table)');
  const onProgress = progress(io);

  const { project } = await openProject(io);
  try {
    const { checkpoint, point } = await resolveTarget(project, { ref: positionals[0], at: values.at }, { onProgress });
    const started = Date.now();
    const code = await withPastAndNow(project, point, { onProgress }, async (past, then, now) => {
      onProgress(`Comparing rows (${past.origin})`);
      if (values.table !== undefined) {
        const rows = await tableRows(then, now, values.table.trim(), { limit, ancestorOfNow: past.ancestorOfNow });
        if (values.json) io.out(JSON.stringify({ target: checkpoint, at: point, ms: Date.now() - started, ...rows }, null, 2));
        else io.out(renderTableRows(checkpoint, rows, limit).join('\n'));
        return 0;
      }
      const diff = await diffRows(then, now, { ancestorOfNow: past.ancestorOfNow });
      if (values.json) io.out(JSON.stringify({ target: checkpoint, at: point, ...diff }, null, 2));
      else io.out(renderRowDiff(checkpoint, diff, positionals[0] ?? `--at '${values.at}'`).join('\n'));
      return 0;
    });
    // Opening the past may have claimed the prepared copy: the upkeep makes the next one.
    if (await upkeepDueAfterPast(project)) startBackgroundBackup(io);
    return code;
  } finally {
    await project.close();
  }
}
