// Entry point of the `lockstep` CLI (and of the git hook, which runs `lockstep record`). Loads only the command it runs.

import { describeError, exitCodeFor, LockstepError } from '../base/errors';
import { processIo, type CliIo } from './io';

export type Command = (args: string[], io: CliIo) => Promise<number>;

const USAGE = `lockstep — one undo for your code and your Postgres data

Usage: lockstep <command> [options]

  init      set up this repository: configuration, local database, commit hook
  db        start | stop | status | url | backup — the local database
  record    take a checkpoint of HEAD (what the post-commit hook runs; always exits 0)
  snapshot  take a manual checkpoint, optionally labelled
  list      list checkpoints, newest first
  restore   restore code and data to a checkpoint (with --dry-run: show what would change)
  diff      rows inserted, deleted and changed since a checkpoint, table by table
  hook      install | uninstall | status — the post-commit hook
  status    engine, hook, checkpoints, last operations
  prune     keep the newest checkpoints and reclaim what no kept one needs
  pin       keep a checkpoint restorable past retention (prune never removes it)
  unpin     let a pinned checkpoint go
  run       -- CMD…: a safety point, then the command (its exit status passed through)
  guard     an agent's pre-command hook: a safety point before a risky command
  agent     install | uninstall claude|cursor|copilot — the agents' hook that runs guard
  mcp       serve the MCP tools agents use (snapshot, list, preview, restore) on stdio
  keeper    keep one connection open for the guard (it starts one itself; ends when idle)

Run \`lockstep <command> --help\` for a command's options.
Exit codes: 0 done, 1 failed, 2 bad input.`;

/** A static table so the bundler can see each command and load it only when it runs. */
async function load(name: string): Promise<Command | undefined> {
  switch (name) {
    case 'init':
      return (await import('./commands/init')).run;
    case 'db':
      return (await import('./commands/db')).run;
    case 'record':
      return (await import('./commands/record')).run;
    case 'snapshot':
      return (await import('./commands/snapshot')).run;
    case 'list':
      return (await import('./commands/list')).run;
    case 'restore':
      return (await import('./commands/restore')).run;
    case 'diff':
      return (await import('./commands/diff')).run;
    case 'hook':
      return (await import('./commands/hook')).run;
    case 'status':
      return (await import('./commands/status')).run;
    case 'prune':
      return (await import('./commands/prune')).run;
    case 'pin':
      return (await import('./commands/pin')).run;
    case 'unpin':
      return (await import('./commands/pin')).runUnpin;
    case 'run':
      return (await import('./commands/run')).run;
    case 'guard':
      return (await import('./commands/guard')).run;
    case 'agent':
      return (await import('./commands/agent')).run;
    case 'mcp':
      return (await import('./commands/mcp')).run;
    case 'keeper':
      return (await import('./commands/keeper')).run;
    default:
      return undefined;
  }
}

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-V') {
    io.out(typeof LOCKSTEP_VERSION === 'string' ? LOCKSTEP_VERSION : 'dev');
    return 0;
  }
  try {
    const command = await load(name);
    if (!command) throw new LockstepError('BAD_INPUT', `unknown command "${name}"`, { hint: 'Run `lockstep --help` for the list.' });
    return await command(rest, io);
  } catch (error) {
    // Messages quote git and journal text (file names, subjects): each line is printed escaped.
    const { displayText } = await import('../core/journalText');
    io.err(`lockstep: ${describeError(error).split('\n').map((line) => displayText(line, 2000)).join('\n')}`);
    if (!(error instanceof LockstepError) && error instanceof Error && error.stack && io.env.LOCKSTEP_VERBOSE === '1') io.err(error.stack);
    return exitCodeFor(error);
  }
}

declare const LOCKSTEP_VERSION: string | undefined;

main(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`lockstep: ${describeError(error)}\n`);
    process.exitCode = 1;
  },
);
