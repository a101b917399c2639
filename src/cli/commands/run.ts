// `lockstep run [-m LABEL] -- CMD…`: a safety point, then the command, its exit status passed through; on failure, what changed and how to undo it.

import { spawn } from 'node:child_process';
import * as os from 'node:os';
import type { SchemaSummary } from '../../core/engine';
import { describeError, LockstepError } from '../../base/errors';
import { checkLabel, displayText } from '../../core/journalText';
import type { Project } from '../../core/project';
import { noPositionals, parse } from '../args';
import type { CliIo } from '../io';
import { shellQuote } from '../../git/hook';
import { openProject } from '../project';

const USAGE = `Usage: lockstep run [-m LABEL] -- COMMAND [ARGS…]

Takes a safety point (a checkpoint of the database and HEAD, labelled with the
command), then runs COMMAND with this terminal (no shell: write
\`-- sh -c '…'\` for one) and exits with its exit status (128+n when a signal
ended it). When the command fails, it prints what changed in the database since
the safety point (tables, row counts) and the command that puts the data back.

When no safety point can be taken (the database down, Lockstep not set up), the
command is not run and the exit status is 1: run it without \`lockstep run\` if
you want it anyway.`;

/** Row counts before the command: bounded, so that a large database does not hold the command up for long. */
const SUMMARY_BUDGET_MS = 3000;

export async function run(args: string[], io: CliIo): Promise<number> {
  const split = args.indexOf('--');
  const own = split < 0 ? args : args.slice(0, split);
  const argv = split < 0 ? [] : args.slice(split + 1);
  const { values, positionals, help } = parse<{ message?: string }>(own, { message: { type: 'string', short: 'm' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  if (argv.length === 0 || argv[0] === '') {
    throw new LockstepError('BAD_INPUT', split < 0 ? 'the command goes after `--`' : 'no command after `--`', { hint: USAGE.split('\n')[0] });
  }
  const label = checkLabel(values.message);
  const command = argv.map(shellWord).join(' ');

  let id: string;
  let before: SchemaSummary | undefined;
  {
    const { project } = await openProject(io);
    try {
      const { takeSafetyPoint, summarizeDatabase } = await import('../../core/safety');
      const checkpoint = await takeSafetyPoint(project, { label: label ?? undefined, command, agent: { name: 'lockstep run' } }).catch((error: unknown) => {
        // Exit status 1 (never 2, which the command itself may use): the world was in the way, not the request.
        throw new LockstepError(error instanceof LockstepError && !error.isBadInput ? error.code : 'INTERNAL', `no safety point could be taken, so the command was not run: ${describeError(error)}`, {
          hint: `to run it without a safety point: ${displayText(command, 1000)}`,
        });
      });
      id = checkpoint.id;
      before = await summarizeDatabase(project, { budgetMs: SUMMARY_BUDGET_MS }).catch(() => undefined);
      for (const warning of (await project.engine()).warnings?.() ?? []) io.err(`lockstep: warning: ${warning}`);
    } finally {
      // Nothing of ours stays connected to the database while the command works on it.
      await project.close();
    }
  }

  const status = await runCommand(argv, io);
  if (status.code === 0) return 0;

  if (status.notRun) return status.code;
  io.err(`lockstep: ${displayText(command, 200)} ${status.signal ? `was ended by ${status.signal}` : `failed (exit status ${status.code})`}`);
  await printChanges(io, before, id);
  io.err(`lockstep: to put the data back as it was before the command: lockstep restore ${id}`);
  io.err(`          (add --data-only to keep the code as it is now; --dry-run shows what it would change)`);
  return status.code;
}

interface Status {
  code: number;
  signal?: NodeJS.Signals;
  /** The command could not be started at all (not found, not executable). */
  notRun?: boolean;
}

/** Runs argv with our stdio; signals sent to us go to it. A shell's conventions: 127 not found, 126 not executable, 128+n for signal n. */
function runCommand(argv: string[], io: CliIo): Promise<Status> {
  return new Promise((resolve) => {
    // Ctrl-C at a terminal reaches the whole foreground group, the command too: forwarding it would send it twice.
    const forwarded: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', ...(process.stdin.isTTY ? [] : (['SIGINT'] as const))];
    // Caught before the command starts: one that came between its start and our handler would end us and orphan it.
    let child: ReturnType<typeof spawn> | undefined;
    const early: NodeJS.Signals[] = [];
    const handlers = forwarded.map((signal) => {
      const handler = () => (child ? child.kill(signal) : early.push(signal));
      process.on(signal, handler);
      return [signal, handler] as const;
    });
    child = spawn(argv[0]!, argv.slice(1), { cwd: io.cwd, env: io.env, stdio: 'inherit' });
    for (const signal of early.splice(0)) child.kill(signal);
    // Our own Ctrl-C does nothing to us: the command decides, and we report its status.
    const ignoreInt = () => undefined;
    if (process.stdin.isTTY) process.on('SIGINT', ignoreInt);
    const done = (status: Status) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      process.off('SIGINT', ignoreInt);
      resolve(status);
    };
    child.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code === 'ENOENT' ? 127 : 126;
      io.err(`lockstep: could not run ${displayText(argv[0]!)}: ${error.code === 'ENOENT' ? 'command not found' : error.message}`);
      done({ code, notRun: true });
    });
    child.once('exit', (code, signal) => {
      if (signal) done({ code: 128 + (os.constants.signals[signal] ?? 0), signal });
      else done({ code: code ?? 1 });
    });
  });
}

async function printChanges(io: CliIo, before: SchemaSummary | undefined, id: string): Promise<void> {
  let project: Project | undefined;
  try {
    ({ project } = await openProject(io, { interrupted: 'detect' }));
    const { summarizeDatabase, databaseChangesSince } = await import('../../core/safety');
    const after = await summarizeDatabase(project, { budgetMs: SUMMARY_BUDGET_MS });
    if (!before) {
      io.err(`lockstep: what changed in the database since safety point ${id} is unknown (it could not be read before the command)`);
      return;
    }
    const lines = databaseChangesSince(before, after);
    if (lines.length === 0) {
      io.err(`lockstep: no table was created or dropped and no row count changed since safety point ${id}`);
    } else {
      io.err(`lockstep: changed in the database since safety point ${id}:`);
      for (const line of lines) io.err(`  ${displayText(line, 300)}`);
    }
  } catch (error) {
    io.err(`lockstep: could not read what changed in the database: ${describeError(error).split('\n')[0]}`);
  } finally {
    await project?.close();
  }
}

/** One argument as a POSIX shell reads it back (plain words bare): the label and the journal show a command a person can run again. */
function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : shellQuote(arg);
}
