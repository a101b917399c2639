// `lockstep list`: checkpoints, newest first; `--json` is the contract other tools read.

import { listCheckpoints, toListing } from '../../core/listing';
import { reachOf, type Reach } from '../../core/target';
import type { Retention } from '../../core/engine';
import type { Project } from '../../core/project';
import { LockstepError } from '../../base/errors';
import { integer, noPositionals, parse } from '../args';
import { checkpointLine } from '../format';
import type { CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep list [--json [--retention]] [--limit N]

Checkpoints, newest first. Columns: marks (* serves now, unchanged since;
+ the data serving descends from it and has changed since; ! no longer
restorable, ~ not yet restorable: its WAL is not archived while archiving
fails), id, kind, commit, timeline@LSN, age, subject or label, then
[pinned] (\`lockstep pin\`: kept past retention; "pinned: tag v1" when the
pinTags setting pinned it) or, for one about to go, when: [expires after 2
more checkpoints] (the configured keep count) or [expires in 40 minutes]
(an engine's history window, Neon's). A commit the hook could not read the
position of in time is "time-based": restored to the moment it was made.
--json prints an array of {id, kind, commitSha, timelineId, lsn, label,
createdAt, command, agent, restorable, unrestorable, pinned}; lsn is null for a
time-based one; command and agent ({name, session?, client?}) are set for
safety points (taken before a risky command), else null;
unrestorable is null or {reason, message}, reason one of expired,
unknown-timeline, beyond-head, not-archived; pinned is true or false.
How far back is restorable (any moment since, not only checkpoints:
\`lockstep restore --at\`) is said after the list; --json --retention prints
{retention: {since, oldest, windowSeconds, summary, detail}, checkpoints: [...]}
instead of the array (since: ISO or null; oldest: {timelineId, lsn, time?} or null).`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean; limit?: string; retention?: boolean }>(
    args,
    { json: { type: 'boolean' }, limit: { type: 'string', short: 'n' }, retention: { type: 'boolean' } },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  const limit = integer(values.limit, '--limit', 1);
  if (values.retention && !values.json) throw new LockstepError('BAD_INPUT', '--retention goes with --json (the list says how far back anyway)', { hint: USAGE.split('\n')[0] });
  const { project } = await openProject(io);
  try {
    project.config(); // a clear "not set up" rather than an empty list
    // The serving mark needs the database's position; the JSON contract does not carry it.
    const head = values.json ? undefined : await (await project.engine()).head().catch(() => undefined);
    // The retention is read once: the text's expiry notes and its "how far back" line both use it; the JSON carries neither.
    const retention = values.json ? undefined : await retentionOf(project);
    const checkpoints = await listCheckpoints(project, { limit, head, retention: retention && 'retention' in retention ? retention.retention : null });
    if (values.json) {
      // One compact object per line: easy to read and to grep, and cheap for 10,000 checkpoints.
      const array = checkpoints.length === 0 ? '[]' : `[\n${checkpoints.map((c) => JSON.stringify(toListing(c))).join(',\n')}\n]`;
      // The array alone is the contract other tools read; the retention comes only when asked for.
      io.out(values.retention ? `{\n"retention": ${JSON.stringify(await reach(project))},\n"checkpoints": ${array}\n}` : array);
      return 0;
    }
    // stdout holds one row per checkpoint; how far back goes with the other notes, to stderr.
    const howFar = reachFrom(retention!);
    if (checkpoints.length === 0) {
      io.err('No checkpoints yet: commit, or run `lockstep snapshot`.');
    } else {
      const tags = new Map(project.pins.list().flatMap((p) => (p.tag ? [[p.checkpointId, p.tag] as const] : [])));
      io.out(checkpoints.map((c) => checkpointLine(c, tags.get(c.id))).join('\n'));
      // Why some are not yet restorable, once: the archiver's words are the same for each.
      const notArchived = checkpoints.find((c) => c.unrestorable?.reason === 'not-archived')?.unrestorable;
      if (notArchived) io.err(`~ not yet restorable: ${notArchived.message}`);
      if (checkpoints.some((c) => c.lsn === null && !c.restorable)) io.err('A commit marked "not recorded" cannot be restored: `lockstep snapshot` records the database as it is now.');
    }
    io.err(howFar.summary.replace(/^./, (c) => c.toUpperCase()));
    return 0;
  } finally {
    await project.close();
  }
}

/** How far back the engine reaches; a listing still shows when the engine cannot say (Neon unreachable). */
async function reach(project: Project): Promise<Reach> {
  return reachFrom(await retentionOf(project));
}

async function retentionOf(project: Project): Promise<{ retention: Retention } | { error: unknown }> {
  try {
    return { retention: await (await project.engine()).retention() };
  } catch (error) {
    return { error };
  }
}

function reachFrom(read: { retention: Retention } | { error: unknown }): Reach {
  if ('retention' in read) return reachOf(read.retention);
  const detail = `unknown (${(read.error as Error).message})`;
  return { since: null, oldest: null, windowSeconds: null, summary: `how far back is restorable is not known: ${detail}`, detail };
}
