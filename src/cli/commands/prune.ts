// `lockstep prune`: keep the newest checkpoints, then let the engine reclaim what no kept checkpoint needs.

import { listCheckpoints } from '../../core/listing';
import { withLock } from '../../base/locks';
import { displayText } from '../../core/journalText';
import { pruneJournal } from '../../core/markers';
import { pinTaggedCheckpoints } from '../../core/pins';
import { integer, noPositionals, parse } from '../args';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep prune [--keep N]

Keeps the newest N checkpoints (default: the configured number, 50), plus the
pinned ones (\`lockstep pin\`), the target of the last restore and its undo
point. With pinTags on (config.json "pinTags": true, or the VS Code setting
lockstep.pinTags), the checkpoint of every tagged commit is pinned first.
Markers themselves cost nothing; the local engine then deletes base backups,
archived WAL and old data directories that no kept checkpoint needs, so disk
use stays bounded. (The background upkeep after commits and restores does the
same, but keeps the data directory that served before the last restore, which
holds any write that raced it.) Waits for a running restore to finish.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ keep?: string }>(args, { keep: { type: 'string' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  const keepArg = integer(values.keep, '--keep', 1);
  const { project } = await openProject(io);
  try {
    const config = project.config();
    const keep = keepArg ?? config.keep;
    // Never during a restore: it could remove the fork a restore is about to serve.
    await withLock(project.paths.restoreLock, { waitMs: 120_000, what: 'restores in this repository', hint: 'A restore is running; prune after it.' }, async () => {
      if (config.pinTags) {
        // Before anything is removed: a tagged commit's checkpoint is pinned, then kept like any pinned one.
        const tagged = await pinTaggedCheckpoints(project, { onProgress: progress(io) });
        for (const pin of tagged.pinned) io.out(`pinned ${pin.checkpointId} (tag ${displayText(pin.tag ?? '', 80)}): ${displayText(pin.hold.summary, 1000)}`);
        for (const line of tagged.skipped) io.err(`lockstep: not pinned: ${displayText(line, 1000)}`);
      }
      const removed = await pruneJournal(project, keep);
      const pinned = project.pins.list().length;
      io.out(`checkpoints: removed ${removed.length}, kept ${project.journal.list().length}${pinned > 0 ? ` (${pinned} pinned)` : ''}`);
      const engine = await project.engine();
      const report = await engine.prune(await listCheckpoints(project, { retention: null }), { onProgress: progress(io) });
      for (const line of report.removed) io.out(`  removed ${line}`);
      io.out(`reclaimed ${(report.bytesFreed / 1024 / 1024).toFixed(1)} MB`);
    });
    return 0;
  } finally {
    await project.close();
  }
}
