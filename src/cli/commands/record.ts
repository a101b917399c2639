// `lockstep record`: what the post-commit hook runs. Strictly best-effort: always exits 0, within a hard time bound.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { describeError } from '../../core/errors';
import { recordCommit } from '../../core/markers';
import type { Project } from '../../core/project';
import { noPositionals, parse } from '../args';
import type { CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep record [--commit SHA] [--quiet]

Takes a checkpoint of HEAD's commit (or of --commit SHA, a full sha or unique
prefix): the database's (timeline, LSN) now, paired with the commit. The post-commit hook runs it after every commit. It never
fails a commit: it always exits 0, gives up after ${'1.5'} s, and when it could not
record it prints one line to stderr and notes it in .git/lockstep/lockstep.log.
During a rebase it records nothing (the replayed commits are old work).`;

/** Below the hook's own kill timer (1.7 s after it starts us), so that we can still say why we gave up. */
export const RECORD_BUDGET_MS = 1500;

export async function run(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parse<{ quiet?: boolean; commit?: string }>(args, { quiet: { type: 'boolean', short: 'q' }, commit: { type: 'string' } }, USAGE);
    if (parsed.help) {
      io.out(USAGE);
      return 0;
    }
    noPositionals(parsed.positionals, USAGE);
  } catch (error) {
    io.err(`lockstep: ${describeError(error)}`);
    return 0;
  }
  const fromHook = Boolean(io.env.LOCKSTEP_HOOK);
  const quiet = parsed.values.quiet === true || fromHook;
  let project: Project | undefined;

  // Counted from this process's start, as the hook's kill timer is: Node's start-up and
  // loading this command (slow on a loaded machine, or with VS Code's binary as Node) spend the budget too.
  const giveUp = setTimeout(() => {
    fail(io, project, `the database did not answer within ${RECORD_BUDGET_MS / 1000} s`);
    process.exit(0);
  }, Math.max(0, RECORD_BUDGET_MS - performance.now()));
  giveUp.unref();
  // The hook stops us with SIGTERM when even that was too slow: still one line
  // and a log entry, and exit 0 so that the shell reports no killed job.
  process.once('SIGTERM', () => {
    fail(io, project, 'stopped by the commit hook after 1.7 s');
    process.exit(0);
  });

  try {
    ({ project } = await openProject(io, { interrupted: 'detect' }));
    const outcome = await recordCommit(project, { commit: parsed.values.commit });
    if (outcome.recorded) {
      if (!quiet) io.out(`${outcome.checkpoint.id} ${outcome.checkpoint.commitSha?.slice(0, 7) ?? ''} timeline ${outcome.checkpoint.timelineId} @ ${outcome.checkpoint.lsn}`);
      // Recorded, but not restorable until archiving works again: one line, even from the hook.
      for (const warning of (await project.engine()).warnings?.() ?? []) io.err(`lockstep: warning: ${warning}`);
      if (outcome.maintenanceDue) startBackgroundBackup(io);
    } else if (!outcome.quiet || !quiet) {
      io.err(`lockstep: not recorded: ${outcome.reason}`);
    }
  } catch (error) {
    fail(io, project, describeError(error).split('\n')[0] ?? 'unknown error');
  } finally {
    clearTimeout(giveUp);
    await project?.close();
  }
  return 0;
}

/** One clear line on stderr, and the same in the log that `lockstep status` and the extension show. */
function fail(io: CliIo, project: Project | undefined, why: string): void {
  io.err(`lockstep: could not record a checkpoint for this commit: ${why}`);
  if (!project) return;
  const { paths } = project;
  try {
    if (!fs.existsSync(paths.root)) return;
    rotate(paths.log);
    fs.appendFileSync(paths.log, `${new Date().toISOString()} record failed: ${why}\n`, { mode: 0o600 });
  } catch {
    // the log is a courtesy; the commit must not pay for it
  }
}

function rotate(file: string): void {
  try {
    if (fs.statSync(file).size > 256 * 1024) {
      const text = fs.readFileSync(file, 'utf8');
      fs.writeFileSync(file, text.slice(text.length / 2).replace(/^[^\n]*\n/, ''), { mode: 0o600 });
    }
  } catch {
    // no log yet
  }
}

/**
 * A base backup is due: take it in a detached process, never inside the
 * commit's time budget. It outlives this process and writes nothing to the terminal.
 */
export function startBackgroundBackup(io: CliIo): void {
  const child = spawn(process.execPath, [process.argv[1] ?? '', 'db', 'backup', '--if-due', '--quiet'], {
    cwd: io.cwd,
    detached: true,
    stdio: 'ignore',
    env: { ...io.env, LOCKSTEP_HOOK: '' },
  });
  child.on('error', () => undefined);
  child.unref();
}
