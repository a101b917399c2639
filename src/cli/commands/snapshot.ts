// `lockstep snapshot`: a manual checkpoint of now, at HEAD, optionally labelled.

import { checkLabel, displayText } from '../../core/journalText';
import { takeMarker } from '../../core/markers';
import { noPositionals, oneOf, parse } from '../args';
import type { CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep snapshot [-m LABEL] [--kind snapshot|safety] [--json]

Takes a checkpoint now: the database's position and HEAD's commit. A marker,
not a copy: it costs milliseconds whatever the database's size. Agents may take
snapshots freely (e.g. --kind safety before a risky migration).`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ message?: string; kind?: string; json?: boolean }>(
    args,
    { message: { type: 'string', short: 'm' }, kind: { type: 'string' }, json: { type: 'boolean' } },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  const kind = oneOf(values.kind, '--kind', ['snapshot', 'safety'] as const) ?? 'snapshot';
  // Before the repository is opened: a forged label is bad input wherever it is run (the markers check it again).
  const label = checkLabel(values.message);
  const { project } = await openProject(io);
  try {
    const checkpoint = await takeMarker(project, { kind, label });
    io.out(values.json ? JSON.stringify(checkpoint) : `${checkpoint.id} ${kind} timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}${checkpoint.label ? ` "${displayText(checkpoint.label)}"` : ''}`);
    for (const warning of (await project.engine()).warnings?.() ?? []) io.err(`lockstep: warning: ${warning}`);
    return 0;
  } finally {
    await project.close();
  }
}
