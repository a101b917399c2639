// `lockstep record`: what the post-commit hook (and, with --push, the pre-push hook) runs. Strictly best-effort: always exits 0, within a hard time bound.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Engine } from '../../core/engine';
import { describeError } from '../../base/errors';
import { displayText } from '../../core/journalText';
import { writeHookConf } from '../../core/hookConf';
import { foldPending, parsePushLines, recordCommit, recordPush, remoteDisplayName, type PushRecordOutcome } from '../../core/markers';
import { notePendingReason, readPending } from '../../core/pending';
import type { Project } from '../../core/project';
import { noPositionals, parse } from '../args';
import type { CliIo } from '../io';
import { openProject } from '../project';

const USAGE = `Usage: lockstep record [--commit SHA] [--quiet]
       lockstep record --fold
       lockstep record --push=REMOTE [--url=URL] < git's pre-push lines

Takes a checkpoint of HEAD's commit (or of --commit SHA, a full sha or unique
prefix): the database's (timeline, LSN) now, paired with the commit. The
post-commit hook runs it after every commit it could not measure with psql. It
never fails a commit: it always exits 0 and gives up after ${'1.5'} s; the commit
is then recorded by its time (the hook spooled it first), with one line on
stderr and in .git/lockstep/lockstep.log. A stopped database is recorded where
it stopped. During a rebase it records nothing (the replayed commits are old work).

--fold  adds the commits the hook spooled to the journal (any command that
        writes the journal does too), and starts a base backup when one is due.
--push  what the pre-push hook runs (\`lockstep hook install --pre-push\`): reads
        git's lines (<local ref> <sha> <remote ref> <sha>) on stdin and takes a
        "push" checkpoint for each pushed ref: the database's position now
        paired with the pushed commit, labelled "pushed main to origin".
        Deleted refs record nothing. Gives up after 3.7 s; exit 0 always.`;

/** Below the hook's own kill timer (1.7 s after it starts us), so that we can still say why we gave up. */
export const RECORD_BUDGET_MS = 1500;
/** The same for the pre-push hook's (4 s: PUSH_RECORD_TERM_MS in src/git/hook.ts says why longer). */
export const PUSH_RECORD_BUDGET_MS = 3700;

export async function run(args: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parse<{ quiet?: boolean; commit?: string; fold?: boolean; push?: string; url?: string }>(
      args,
      { quiet: { type: 'boolean', short: 'q' }, commit: { type: 'string' }, fold: { type: 'boolean' }, push: { type: 'string' }, url: { type: 'string' } },
      USAGE,
    );
    if (parsed.help) {
      io.out(USAGE);
      return 0;
    }
    noPositionals(parsed.positionals, USAGE);
  } catch (error) {
    io.err(`lockstep: ${describeError(error)}`);
    return 0;
  }
  if (parsed.values.fold) return fold(io);
  if (parsed.values.push !== undefined) return push(io, parsed.values.push, parsed.values.url, parsed.values.quiet === true);
  const fromHook = Boolean(io.env.LOCKSTEP_HOOK);
  const quiet = parsed.values.quiet === true || fromHook;
  // The hook's spool file for this commit: while it stands, the commit is recorded by its time.
  const pending = io.env.LOCKSTEP_PENDING || undefined;
  let project: Project | undefined;

  // Counted from this process's start, as the hook's kill timer is: Node's start-up and
  // loading this command (slow on a loaded machine, or with VS Code's binary as Node) spend the budget too.
  const giveUp = setTimeout(() => {
    fail(io, project, `the database did not answer within ${RECORD_BUDGET_MS / 1000} s`, pending);
    process.exit(0);
  }, Math.max(0, RECORD_BUDGET_MS - performance.now()));
  giveUp.unref();
  // The hook stops us with SIGTERM when even that was too slow: still one line
  // and a log entry, and exit 0 so that the shell reports no killed job.
  process.once('SIGTERM', () => {
    fail(io, project, 'stopped by the commit hook after 1.7 s', pending);
    process.exit(0);
  });

  try {
    ({ project } = await openProject(io, { interrupted: 'detect' }));
    const outcome = await recordCommit(project, { commit: parsed.values.commit, pending });
    if (outcome.recorded) {
      if (!quiet) io.out(`${outcome.checkpoint.id} ${outcome.checkpoint.commitSha?.slice(0, 7) ?? ''} timeline ${outcome.checkpoint.timelineId} @ ${outcome.checkpoint.lsn}`);
      if (outcome.stopped) io.err(`lockstep: the database is stopped: this commit is recorded where it stopped (timeline ${outcome.checkpoint.timelineId} @ ${outcome.checkpoint.lsn})`);
      const engine = await project.engine();
      // Recorded, but not restorable until archiving works again: one line, even from the hook.
      for (const warning of engine.warnings?.() ?? []) io.err(`lockstep: warning: ${warning}`);
      // The next commit reads its position without Node when it can (the hook had no, or a stale, hook.conf).
      refreshHookConf(project, engine);
      if (outcome.maintenanceDue) startBackgroundBackup(io);
    } else if (!outcome.quiet || !quiet) {
      io.err(`lockstep: not recorded: ${outcome.reason}`);
    }
  } catch (error) {
    fail(io, project, describeError(error).split('\n')[0] ?? 'unknown error', pending);
  } finally {
    clearTimeout(giveUp);
    await project?.close();
  }
  return 0;
}

/**
 * What the pre-push hook runs: git's lines on stdin, one `push` checkpoint per
 * pushed ref. Bounded as `record` is, a little longer (the hook's watchdog stops it after 4 s),
 * never fails: a push the database cannot be read for is pushed all the same,
 * with one line on stderr and in the log saying it was not recorded.
 */
async function push(io: CliIo, remote: string, url: string | undefined, quietFlag: boolean): Promise<number> {
  const quiet = quietFlag || Boolean(io.env.LOCKSTEP_HOOK);
  let project: Project | undefined;
  const giveUp = setTimeout(() => {
    failPush(io, project, remote, `the database did not answer within ${PUSH_RECORD_BUDGET_MS / 1000} s`);
    process.exit(0);
  }, Math.max(0, PUSH_RECORD_BUDGET_MS - performance.now()));
  giveUp.unref();
  process.once('SIGTERM', () => {
    failPush(io, project, remote, 'stopped by the pre-push hook after 4 s');
    process.exit(0);
  });
  try {
    // Run by hand at a terminal there are no lines to wait for.
    const lines = process.stdin.isTTY ? '' : fs.readFileSync(0, 'utf8');
    if (isDryRunPush(io.env.LOCKSTEP_GIT_PID)) {
      if (!quiet) io.err('lockstep: not recorded: a dry run (git push --dry-run) pushes nothing');
      return 0;
    }
    const refs = parsePushLines(lines);
    ({ project } = await openProject(io, { interrupted: 'detect' }));
    const outcome: PushRecordOutcome = await recordPush(project, { remote, url, refs });
    if (outcome.recorded) {
      if (!quiet) {
        for (const c of outcome.checkpoints) io.out(`${c.id} ${c.commitSha?.slice(0, 7) ?? ''} timeline ${c.timelineId} @ ${c.lsn} ${c.label ?? ''}`);
      }
      const first = outcome.checkpoints[0]!;
      if (outcome.stopped) io.err(`lockstep: the database is stopped: this push is recorded where it stopped (timeline ${first.timelineId} @ ${first.lsn})`);
      for (const why of outcome.skipped) io.err(`lockstep: not recorded: ${why}`);
      const engine = await project.engine();
      for (const warning of engine.warnings?.() ?? []) io.err(`lockstep: warning: ${warning}`);
      if (outcome.maintenanceDue) startBackgroundBackup(io);
    } else if (!outcome.quiet || !quiet) {
      io.err(`lockstep: not recorded: ${outcome.reason}`);
    }
  } catch (error) {
    failPush(io, project, remote, describeError(error).split('\n')[0] ?? 'unknown error');
  } finally {
    clearTimeout(giveUp);
    await project?.close();
  }
  return 0;
}

/**
 * git runs pre-push for `git push --dry-run` (-n) too, and says so nowhere but in
 * its own arguments: read from /proc (Linux). Elsewhere, or through an alias
 * that hides the flag, a dry run is recorded like a push.
 */
export function isDryRunPush(gitPid: string | undefined): boolean {
  if (!gitPid || !/^\d+$/.test(gitPid)) return false;
  let args: string[];
  try {
    args = fs.readFileSync(`/proc/${gitPid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return dryRunInPushArgs(args);
}

/** Whether git's arguments (`git [-c x=y] push [options] [remote] [refs]`) ask for a dry run. */
export function dryRunInPushArgs(args: readonly string[]): boolean {
  const start = args.indexOf('push');
  if (start < 0) return false;
  for (const arg of args.slice(start + 1)) {
    if (arg === '--') break;
    if (arg === '--dry-run') return true;
    // A cluster of short options (-fn); -o takes the rest of the word as its value.
    if (/^-[^-]/.test(arg) && /^[^o]*n/.test(arg.slice(1))) return true;
  }
  return false;
}

/** The push was not recorded: one line on stderr and the same in the log, as for a commit. */
function failPush(io: CliIo, project: Project | undefined, remote: string, why: string): void {
  io.err(`lockstep: could not record a checkpoint for this push: ${why}`);
  appendLog(project, `record failed: push to ${displayText(remoteDisplayName(remote), 80)}: ${why}`);
}

function appendLog(project: Project | undefined, line: string): void {
  if (!project) return;
  try {
    if (!fs.existsSync(project.paths.root)) return;
    rotate(project.paths.log);
    fs.appendFileSync(project.paths.log, `${new Date().toISOString()} ${line}\n`, { mode: 0o600 });
  } catch {
    // the log is a courtesy; the push must not pay for it
  }
}

/**
 * One clear line on stderr, and the same in the log that `lockstep status` and
 * the extension show. With the hook's spool file the commit is still recorded,
 * by its time, and the line says so.
 */
function fail(io: CliIo, project: Project | undefined, why: string, pending: string | undefined): void {
  const spooled = pending !== undefined && fs.existsSync(pending);
  if (spooled) {
    notePendingReason(pending, why);
    io.err(`lockstep: ${why}: this commit is recorded by its time and restored to that moment (lockstep list marks it "time-based")`);
  } else {
    io.err(`lockstep: could not record a checkpoint for this commit: ${why}`);
  }
  if (!project) return;
  const { paths } = project;
  try {
    if (!fs.existsSync(paths.root)) return;
    rotate(paths.log);
    fs.appendFileSync(paths.log, `${new Date().toISOString()} record failed: ${why}${spooled ? '; recorded by time' : ''}\n`, { mode: 0o600 });
  } catch {
    // the log is a courtesy; the commit must not pay for it
  }
}

/**
 * The background half of the hook's fast path: fold the spool into the journal
 * (with each commit's subject), and start a base backup when one is due. One
 * at a time: the hook made LOCKSTEP_FOLDING (a directory) before starting us,
 * and we remove it when done; what arrives meanwhile is folded before we go.
 */
async function fold(io: CliIo): Promise<number> {
  const token = io.env.LOCKSTEP_FOLDING || undefined;
  let held = token !== undefined;
  let project: Project | undefined;
  try {
    ({ project } = await openProject(io, { interrupted: 'detect' }));
    refreshHookConf(project, await project.engine());
    for (let round = 0; round < 10; round++) {
      // Started by a hook that is about to exit: its own commit is folded once it has.
      await foldPending(project, { waitForHooks: true });
      // The policy is checked against where the database is now, whatever this fold found: a command run meanwhile
      // (`list`, the extension's tree) folds the spool too, and the commit it took is this hook's all the same. A
      // database that does not answer needs no base backup now (one cannot be taken): the next commit checks again.
      const engine = await project.engine();
      const head = await engine.head().catch(() => undefined);
      if (head && engine.maintenanceDue?.(head)) startBackgroundBackup(io);
      if (token) fs.rmSync(token, { recursive: true, force: true });
      held = false;
      // A commit spooled after our last look, whose hook saw the directory and did not start a folder.
      if (readPending(project.paths.root).length === 0) break;
      if (token) {
        try {
          fs.mkdirSync(token);
          held = true;
        } catch {
          break; // another folder took over
        }
      }
    }
  } catch (error) {
    io.err(`lockstep: could not fold the hook's spool: ${describeError(error).split('\n')[0]}`);
  } finally {
    if (token && held) fs.rmSync(token, { recursive: true, force: true });
    await project?.close();
  }
  return 0;
}

function refreshHookConf(project: Project, engine: Engine): void {
  try {
    writeHookConf(project.paths.root, engine.hookFastPath?.());
  } catch {
    // the hook keeps running `lockstep record`, which is slower but records the same
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
