// `lockstep status`: the engine, the hook, the checkpoints and the last operations, at a glance.

import * as fs from 'node:fs';
import type { Checkpoint } from '../../core/checkpoint';
import { readJsonFile } from '../../base/files';
import type { Engine, Retention } from '../../core/engine';
import { expiryOf } from '../../core/expiry';
import { displayText, displayTitle } from '../../core/journalText';
import type { Expiry } from '../../core/listing';
import { pinnedCheckpoints } from '../../core/markers';
import type { Project } from '../../core/project';
import { processAlive } from '../../base/locks';
import { hookStatus } from '../../git/hook';
import { keeperState } from '../guard/keeperClient';
import { noPositionals, parse } from '../args';
import { relativeTime } from '../../core/relativeTime';
import { reachOf } from '../../core/target';
import type { CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep status [--json]
       lockstep status --set-aside

Engine state (with a warning when WAL archiving fails), hook state, checkpoint
count, pinned ones and the newest one, a warning for checkpoints that expire
soon (\`lockstep pin REF\` keeps one), retention, a restore still in progress, the last
operations (restores, prunes) and recent failures to record. A restore whose
process died is finished or reverted first, and said.

--set-aside  moves journal lines that cannot be read (a torn write, a hand
             edit) to .git/lockstep/journal.unreadable.jsonl, where they can be
             repaired; the journal keeps every readable checkpoint.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean; 'set-aside'?: boolean }>(args, { json: { type: 'boolean' }, 'set-aside': { type: 'boolean' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  const { project } = await openProject(io);
  try {
    if (values['set-aside']) {
      const { moved, file } = await project.journal.setAsideUnreadable();
      io.out(moved === 0 ? 'the journal has no unreadable lines' : `moved ${moved} unreadable journal line(s) to ${file}`);
      return 0;
    }
    const config = project.tryConfig();
    const checkpoints = project.journal.list();
    const engine = config ? await project.engine() : undefined;
    const [engineStatus, retention, hook] = await Promise.all([
      engine?.status(),
      engine?.retention().catch((error: Error) => ({ summary: `unknown (${error.message})` })),
      hookStatus(project.repo),
    ]);
    // Which checkpoints are about to go (core/expiry.ts): by the keep count, and by the engine's history window when it has one.
    const soon = config && engine ? await soonToExpire(project, engine, checkpoints, retention && 'windowSeconds' in retention ? retention : undefined, config.keep).catch(() => []) : [];
    const pinnedCount = config ? project.pins.list().length : 0;
    const operations = project.audit.list(10);
    const recordFailures = readTail(project.paths.log, 5);
    const unreadable = project.journal.unreadableLines();
    const keeper = config?.engine === 'local' ? keeperState(project.paths.root) : undefined;
    // Left only when its process still runs, or when settling it failed (openProject tried).
    const restoring = readJsonFile<{ step: string; pid: number; target: Checkpoint; startedAt: string }>(project.paths.restoreRecord);
    const restoreLine = restoring
      ? `restore in progress: to ${restoring.target.id} "${displayTitle(restoring.target)}", step "${displayText(restoring.step)}", started ${restoring.startedAt} by pid ${restoring.pid}${
          processAlive(restoring.pid) ? '' : ' (gone: `lockstep restore --continue` or `--abort` settles it)'
        }`
      : undefined;
    if (values.json) {
      io.out(
        JSON.stringify(
          {
            repository: project.repo.topLevel,
            initialised: Boolean(config),
            engine: engineStatus ?? null,
            retention: retention ? { ...retention, ...('oldest' in retention || 'windowSeconds' in retention ? { since: reachOf(retention).since } : {}) } : null,
            hook: { state: hook.state, file: hook.hookFile, problems: hook.problems },
            checkpoints: {
              count: checkpoints.length,
              keep: config?.keep ?? null,
              newest: checkpoints[0] ?? null,
              unreadableLines: unreadable,
              pinned: pinnedCount,
              expiringSoon: soon.map((c) => ({ id: c.id, title: displayTitle(c), expiry: c.expiry })),
            },
            operations,
            restoreInProgress: restoring ?? null,
            keeper: keeper ?? null,
            recordFailures,
          },
          null,
          2,
        ),
      );
      return 0;
    }
    io.out(`repository: ${project.repo.topLevel}`);
    if (!config) {
      io.out('Lockstep is not set up here: run `lockstep init`.');
      return 0;
    }
    if (restoreLine) io.out(restoreLine);
    io.out(`engine: ${engineStatus!.engine} — ${engineStatus!.summary}`);
    for (const warning of engineStatus!.warnings ?? []) io.out(`  warning: ${warning}`);
    for (const kept of engineStatus!.kept ?? []) io.out(`  kept: ${kept}`);
    if (retention) io.out(`retention: ${'oldest' in retention || 'windowSeconds' in retention ? `${reachOf(retention).summary} — ${retention.summary}` : retention.summary}`);
    io.out(`hook: ${hook.state}${hook.problems.length ? ` (${displayText(hook.problems.join('; '), 1000)})` : ''}`);
    if (keeper) io.out(`keeper: pid ${keeper.pid} holds a connection for the agents' guard since ${keeper.since}; ends after ${keeper.idleSeconds} s without a question (\`lockstep keeper --stop\`)`);
    const newest = checkpoints[0];
    io.out(`checkpoints: ${checkpoints.length} (keeping ${config.keep}${pinnedCount > 0 ? `, ${pinnedCount} pinned` : ''})${newest ? `; newest ${newest.id} "${displayTitle(newest)}" ${relativeTime(newest.createdAt)}` : ''}`);
    const oldestSoon = soon[soon.length - 1];
    if (oldestSoon) {
      const when = oldestSoon.expiry.text.replace(/^expires /, '');
      io.out(`  warning: ${soon.length} checkpoint${soon.length === 1 ? ' expires' : 's expire'} soon (oldest: '${displayTitle(oldestSoon)}' ${when}): \`lockstep pin REF\` keeps one`);
    }
    if (unreadable.length) io.out(`  ${unreadable.length} unreadable journal line(s) skipped: ${unreadable.slice(0, 20).join(', ')} (\`lockstep status --set-aside\` moves them to a file of their own)`);
    if (operations.length) {
      io.out('last operations:');
      // The audit's details quote subjects and branch names as they were.
      for (const op of operations.slice(0, 5)) io.out(`  ${op.at}  ${op.op} ${op.phase}${op.checkpointId ? ` ${op.checkpointId}` : ''}${op.detail ? ` — ${displayText(op.detail, 1000)}` : ''}`);
    }
    if (recordFailures.length) {
      io.out('recent failures to record:');
      for (const line of recordFailures) io.out(`  ${displayText(line, 1000)}`);
    }
    return 0;
  } finally {
    await project.close();
  }
}

/**
 * The checkpoints about to go (core/expiry.ts), oldest last: judged like the listing, but without folding the
 * hook's spool first, so that `status` changes nothing.
 */
async function soonToExpire(project: Project, engine: Engine, checkpoints: readonly Checkpoint[], retention: Pick<Retention, 'windowSeconds'> | undefined, keep: number): Promise<(Checkpoint & { expiry: Expiry })[]> {
  const verdicts = engine.restorableMany ? await engine.restorableMany(checkpoints) : [];
  const pinned = project.pins.ids();
  const candidates = checkpoints.map((c, i) => ({ id: c.id, createdAt: c.createdAt, pinned: pinned.has(c.id), restorable: verdicts[i]?.restorable ?? true }));
  const expiries = expiryOf(candidates, retention, keep, Date.now(), { neverByCount: pinnedCheckpoints(project) });
  return checkpoints.flatMap((c, i) => {
    const expiry = expiries[i];
    return expiry?.soon ? [{ ...c, expiry }] : [];
  });
}

function readTail(file: string, lines: number): string[] {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
  } catch {
    return [];
  }
}
