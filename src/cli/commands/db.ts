// `lockstep db start|stop|status|url|backup`: the database behind the engine.

import { describeError, LockstepError } from '../../base/errors';
import { displayText } from '../../core/journalText';
import { listCheckpoints } from '../../core/listing';
import { pinTaggedCheckpoints } from '../../core/pins';
import { noPositionals, parse } from '../args';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep db start|stop|status|url|backup [--json] [--if-due] [--quiet]

  start    start the local database (on its fixed port)
  stop     archive all WAL, then stop it (a restore can still reach every checkpoint)
  status   state, address, timeline and LSN (--json for tools)
  url      the connection URL alone on stdout, password included
  backup   take a base backup now (--if-due: only when the policy says one is due)
           and a ready copy of it for the next restore, then reclaim backups, WAL and
           data directories no kept checkpoint needs (keeping the one that served
           before the last restore: \`lockstep prune\` removes that too); with
           pinTags on, tagged commits' checkpoints are pinned first`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean; 'if-due'?: boolean; quiet?: boolean }>(
    args,
    { json: { type: 'boolean' }, 'if-due': { type: 'boolean' }, quiet: { type: 'boolean', short: 'q' } },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  const [action, ...extra] = positionals;
  noPositionals(extra, USAGE);
  const { project } = await openProject(io);
  try {
    const engine = await project.engine();
    const onProgress = values.quiet ? undefined : progress(io);
    switch (action) {
      case 'start': {
        if (!engine.start) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine's database is not started by Lockstep`);
        const head = await engine.start({ onProgress });
        io.out(`running: timeline ${head.timelineId} @ ${head.lsn}`);
        return 0;
      }
      case 'stop': {
        if (!engine.stop) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine's database is not stopped by Lockstep`);
        await engine.stop({ onProgress });
        io.out('stopped');
        return 0;
      }
      case 'status': {
        const status = await engine.status();
        io.out(values.json ? JSON.stringify(status, null, 2) : `${status.engine}: ${status.summary}${status.address ? `\n  address: ${status.address}` : ''}`);
        return status.state === 'running' ? 0 : 1;
      }
      case 'url': {
        if (!engine.connectionUrl) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine has no connection URL to show`);
        io.out(await engine.connectionUrl());
        return 0;
      }
      case 'backup': {
        if (!engine.maintain) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine keeps its own history; there is nothing to back up`);
        const done = await engine.maintain({ onProgress, force: !values['if-due'] });
        if (!values.quiet) io.out(done ? `taken: ${done}` : 'no base backup due');
        if (done) {
          // Not under the restore lock, so that a person's next restore is never refused for it:
          // the engine leaves a fork that a restore has prepared and not yet served alone.
          // The backup is taken whatever happens here: reclaiming space is left for next time, said in one line.
          try {
            if (project.config().pinTags) {
              // Tagged commits' checkpoints are pinned before the upkeep reclaims anything; a refusal is said and retried next time.
              const tagged = await pinTaggedCheckpoints(project);
              if (!values.quiet) for (const pin of tagged.pinned) io.out(`  pinned ${pin.checkpointId} (tag ${displayText(pin.tag ?? '', 80)})`);
              for (const line of tagged.skipped) io.err(`lockstep: not pinned: ${displayText(line, 1000)}`);
            }
            const report = await engine.prune(await listCheckpoints(project, { retention: null }), { keepPrevious: true });
            if (!values.quiet) for (const line of report.removed) io.out(`  removed ${line}`);
          } catch (error) {
            io.err(`lockstep: the backup is taken; reclaiming old backups is left for later (${describeError(error)})`);
          }
        }
        return 0;
      }
      default:
        throw new LockstepError('BAD_INPUT', action ? `unknown db action "${action}"` : 'which db action?', { hint: USAGE.split('\n')[0] });
    }
  } finally {
    await project.close();
  }
}
