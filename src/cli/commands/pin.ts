// `lockstep pin REF` / `lockstep unpin REF`: keep a checkpoint restorable past retention (the engine's hold and its cost), or let it go.

import { isLockstepError, LockstepError } from '../../base/errors';
import type { Checkpoint } from '../../core/checkpoint';
import { displayText, displayTitle } from '../../core/journalText';
import { pinCheckpoint, pinTaggedCheckpoints, unpinCheckpoint, type Pin } from '../../core/pins';
import type { Project } from '../../core/project';
import { resolveRef } from '../../core/refs';
import { parse } from '../args';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';

const PIN_USAGE = `Usage: lockstep pin REF [--json]
       lockstep pin --tags [--json]
       lockstep pin --list [--json]

Keeps the checkpoint REF restorable past retention: \`prune\` (and the
background upkeep) never removes it, whatever --keep says. REF as \`restore\`
takes it: a checkpoint id (or unique prefix), a commit sha, an ISO time.
What the engine holds for it, and what that costs, is printed:
  local       its base backup and the WAL from that backup's start to the
              checkpoint stay on disk (the full range, in MB)
  Neon        a snapshot of the branch at the checkpoint (the plan's snapshot
              quota applies: 1 on free plans, 10 on paid ones)
  pageserver  an LSN lease, renewed by prune and the upkeep while pinned
A checkpoint that can no longer be restored cannot be pinned (exit 2).
Pinning a pinned checkpoint changes nothing. \`lockstep unpin REF\` lets go.

  --tags   pin now the checkpoint of every tagged commit (what the pinTags
           setting does before each prune)
  --list   the pinned checkpoints and what each holds
  --json   the pin as JSON: {checkpointId, pinnedAt, engine, hold: {ref,
           summary, bytes?}, tag?} plus "already"; --list: an array of pins;
           --tags: {pinned: [pins], skipped: [lines], unrestorable: [lines]}`;

const UNPIN_USAGE = `Usage: lockstep unpin REF [--json]

Lets go of a pinned checkpoint: the engine releases what it held (Neon deletes
the snapshot; the local engine's next prune may remove its base backup and WAL;
a pageserver lease is no longer renewed). The checkpoint itself stays in the
list while the newest --keep checkpoints include it. Not pinned: nothing changes.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean; tags?: boolean; list?: boolean }>(
    args,
    { json: { type: 'boolean' }, tags: { type: 'boolean' }, list: { type: 'boolean' } },
    PIN_USAGE,
  );
  if (help) {
    io.out(PIN_USAGE);
    return 0;
  }
  const modes = [values.tags, values.list, positionals.length > 0].filter(Boolean).length;
  if (modes === 0) throw new LockstepError('BAD_INPUT', 'which checkpoint? (REF missing)', { hint: PIN_USAGE.split('\n')[0] });
  if (modes > 1) throw new LockstepError('BAD_INPUT', 'give one of REF, --tags and --list', { hint: PIN_USAGE.split('\n')[0] });
  if (positionals.length > 1) throw new LockstepError('BAD_INPUT', 'give one REF', { hint: PIN_USAGE.split('\n')[0] });
  const { project } = await openProject(io);
  try {
    project.config(); // "not set up" before anything else
    if (values.list) return list(project, io, values.json === true);
    if (values.tags) {
      const outcome = await pinTaggedCheckpoints(project, { onProgress: progress(io) });
      if (values.json) io.out(JSON.stringify(outcome, null, 2));
      else {
        for (const pin of outcome.pinned) io.out(`pinned ${pin.checkpointId} (tag ${displayText(pin.tag ?? '', 80)}): ${displayText(pin.hold.summary, 1000)}`);
        if (outcome.pinned.length === 0) io.out('no tagged commit has a checkpoint that is not pinned yet');
      }
      for (const line of [...outcome.skipped, ...outcome.unrestorable]) io.err(`lockstep: not pinned: ${displayText(line, 1000)}`);
      return 0;
    }
    const checkpoint = await resolveRef(project.repo, positionals[0]!, project.journal.list());
    const { pin, already } = await pinCheckpoint(project, checkpoint, { onProgress: progress(io) });
    if (values.json) io.out(JSON.stringify({ ...pin, already }, null, 2));
    else io.out(already ? `${checkpoint.id} "${displayTitle(checkpoint)}" is pinned already (since ${pin.pinnedAt}): ${displayText(pin.hold.summary, 1000)}` : `pinned ${checkpoint.id} "${displayTitle(checkpoint)}": ${displayText(pin.hold.summary, 1000)}`);
    return 0;
  } finally {
    await project.close();
  }
}

/** `lockstep unpin REF`. */
export async function runUnpin(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean }>(args, { json: { type: 'boolean' } }, UNPIN_USAGE);
  if (help) {
    io.out(UNPIN_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new LockstepError('BAD_INPUT', positionals.length === 0 ? 'which checkpoint? (REF missing)' : 'give one REF', { hint: UNPIN_USAGE.split('\n')[0] });
  const { project } = await openProject(io);
  try {
    project.config();
    const id = await pinnedIdOf(project, positionals[0]!);
    const pin = await unpinCheckpoint(project, id, { onProgress: progress(io) });
    if (values.json) io.out(JSON.stringify({ checkpointId: id, unpinned: pin !== undefined, pin: pin ?? null }, null, 2));
    else io.out(pin ? `unpinned ${id}: released ${displayText(pin.hold.summary, 1000)}` : `${id} was not pinned: nothing changed`);
    return 0;
  } finally {
    await project.close();
  }
}

/**
 * The checkpoint REF names; a pin whose checkpoint left the journal (a hand
 * edit) is still found by its id or a unique prefix, so it can be let go.
 */
async function pinnedIdOf(project: Project, ref: string): Promise<string> {
  try {
    return (await resolveRef(project.repo, ref, project.journal.list())).id;
  } catch (error) {
    if (!isLockstepError(error, 'UNKNOWN_REF')) throw error;
    const text = ref.trim().toLowerCase();
    const matches = text.length >= 4 ? project.pins.list().filter((p) => p.checkpointId.startsWith(text)) : [];
    if (matches.length === 1) return matches[0]!.checkpointId;
    throw error;
  }
}

function list(project: Project, io: CliIo, json: boolean): number {
  const pins = project.pins.list();
  if (json) {
    io.out(JSON.stringify(pins, null, 2));
    return 0;
  }
  if (pins.length === 0) {
    io.err('No pinned checkpoints: `lockstep pin REF` keeps one past retention.');
    return 0;
  }
  const byId = new Map<string, Checkpoint>(project.journal.list().map((c) => [c.id, c]));
  for (const pin of pins) io.out(pinLine(pin, byId.get(pin.checkpointId)));
  return 0;
}

function pinLine(pin: Pin, checkpoint: Checkpoint | undefined): string {
  const title = checkpoint ? `"${displayTitle(checkpoint)}"` : '(no longer in the journal)';
  const by = pin.tag ? ` by tag ${displayText(pin.tag, 80)}` : '';
  return `${pin.checkpointId}  ${title}  pinned ${pin.pinnedAt}${by} — ${displayText(pin.hold.summary, 1000)}`;
}
