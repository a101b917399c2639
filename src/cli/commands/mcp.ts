// `lockstep mcp`: the stdio MCP server agents talk to. stdout carries the protocol; everything else goes to stderr.

import * as path from 'node:path';
import { LockstepError } from '../../base/errors';
import { noPositionals, parse } from '../args';
import { cliLog, type CliIo } from '../io';
import { LockstepMcpServer } from '../mcp/server';
import { StdioServerTransport } from '../mcp/sdk';
import { openProject } from '../project';

const USAGE = `Usage: lockstep mcp [--repo DIR]

A Model Context Protocol server on stdin/stdout, for coding agents (Claude
Code, Cursor, VS Code's agent mode…). Tools:

  lockstep_snapshot  take a safety point before a risky step (input: label)
  lockstep_list      checkpoints, newest first
  lockstep_preview   what restoring a checkpoint would change (input: ref; read-only)
  lockstep_restore   restore code and data (input: ref; destructive)

A restore needs a person's yes, asked through the client (MCP elicitation);
a client that cannot ask gets the command the user can run instead. Without a
person, an agent may only restore to a safety point it took in the same
session, with nothing committed, restored or checkpointed since.

  --repo DIR   the repository (default: the current directory)

Logs go to stderr (LOCKSTEP_VERBOSE=1 for each call's time).`;

declare const LOCKSTEP_VERSION: string | undefined;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ repo?: string }>(args, { repo: { type: 'string' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  if (values.repo === '') throw new LockstepError('BAD_INPUT', '--repo needs a directory');
  // Nothing of ours may write to stdout once the protocol runs on it.
  const serverIo: CliIo = {
    cwd: values.repo === undefined ? io.cwd : path.resolve(io.cwd, values.repo),
    env: io.env,
    out: (text) => io.err(text),
    err: (text) => io.err(text),
    interactive: false,
    ask: () => Promise.reject(new LockstepError('INTERNAL', 'the MCP server has no terminal to ask on')),
  };
  const { project } = await openProject(serverIo);
  const log = cliLog(serverIo);
  const server = new LockstepMcpServer(project, log, typeof LOCKSTEP_VERSION === 'string' ? LOCKSTEP_VERSION : 'dev');
  const ended = new Promise<string>((resolve) => {
    // The client closes our stdin (or stops us) when it is done.
    process.stdin.once('end', () => resolve('stdin closed'));
    process.stdin.once('close', () => resolve('stdin closed'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  await server.connect(new StdioServerTransport());
  log.debug(`[mcp] serving ${project.repo.topLevel} (session ${server.session})`);
  const why = await ended;
  log.debug(`[mcp] ${why}: stopping`);
  await server.close();
  return 0;
}
