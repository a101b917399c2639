// An agent's pre-command hook (`lockstep guard --agent claude|cursor|copilot`, and dist/guard.js, which the installed hooks
// run): a safety point before a risky command; never a block. Lean on purpose: the agent waits for the whole process.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AgentIdentity } from '../../core/checkpoint';
import { tryLoadConfig } from '../../core/config';
import { describeError } from '../../base/errors';
import { LockstepPaths } from '../../core/paths';
import { classifyCommand, type RiskVerdict } from '../../core/risky';
import { findRepository, type Repository } from '../../git/repository';
import { parse } from '../args';
import type { CliIo } from '../io';

const USAGE = `Usage: lockstep guard --agent claude|cursor|copilot

What an agent's pre-command hook runs (\`lockstep agent install\` sets it up).
Reads the hook's JSON payload on stdin: Claude Code's PreToolUse, Cursor's
beforeShellExecution, or VS Code's (Copilot agent mode) PreToolUse. When the
command is risky (a migration, a reset, psql that writes: \`src/core/risky.ts\`,
plus the configuration's riskyCommands), it takes a safety point first, so that
\`lockstep restore <id>\` can undo what the command does to the data.

It never blocks the agent and never grants it anything: it answers in the
tool's own format without a permission decision (not even Cursor's "allow",
which would skip approvals you configured), so the tool's own approval rules
apply as before. When Lockstep
cannot work (not set up, the database down, a payload it cannot read, more than
${'2.5'} s) the command still runs, and the answer says why in one line.`;

export type AgentTool = 'claude' | 'cursor' | 'copilot';
const TOOLS: readonly AgentTool[] = ['claude', 'cursor', 'copilot'];

/** Counted from this process's start: the agent waits for the whole process, Node's start-up included. */
export const GUARD_BUDGET_MS = 2500;

/** How long the quick path waits for the database, as the commit hook waits for psql. */
const QUICK_READ_MS = 1500;

/** How long a keeper has to answer before the guard reads the position itself (it answers in a few ms). */
const KEEPER_ASK_MS = 300;

/** Tool names of shell commands: Claude Code's, and those of VS Code's agent (which runs hooks for every tool). */
const SHELL_TOOLS = new Set(['Bash', 'run_in_terminal', 'runInTerminal', 'runTerminalCommand']);

/** What the guard read from the payload. */
interface HookCall {
  command?: string;
  session?: string;
  cwd?: string;
}

/** What the guard has to say: to the person (one line), and to the agent. */
interface Note {
  user: string;
  agent?: string;
}

export async function runGuard(args: string[], io: CliIo): Promise<number> {
  let tool: AgentTool | undefined;
  const answered = { done: false };
  const reply = (tool: AgentTool | undefined, note?: Note) => {
    if (answered.done) return;
    answered.done = true;
    answer(tool, note);
  };

  // The budget holds whatever happens below (a hung database, a slow disk): the agent gets its answer.
  const giveUp = setTimeout(() => {
    reply(tool, { user: `lockstep: no safety point before this command: Lockstep did not finish within ${GUARD_BUDGET_MS / 1000} s` });
    process.exit(0);
  }, Math.max(0, GUARD_BUDGET_MS - sinceStart()));
  giveUp.unref();

  try {
    const parsed = parse<{ agent?: string }>(args, { agent: { type: 'string' } }, USAGE);
    if (parsed.help) {
      io.out(USAGE);
      return 0;
    }
    tool = TOOLS.find((t) => t === parsed.values.agent);
    if (!tool || parsed.positionals.length > 0) {
      // Run by an agent: a wrong install must not stop its commands. Nothing on stdout, exit 0: every tool goes on.
      io.err(`lockstep: guard needs --agent claude|cursor|copilot (got ${parsed.values.agent === undefined ? 'none' : `"${parsed.values.agent}"`}); no safety point was taken`);
      return 0;
    }
  } catch (error) {
    io.err(`lockstep: ${describeError(error).split('\n')[0]}; no safety point was taken`);
    return 0;
  }

  try {
    const { text: payload, stdinLeftOpen } = await readPayload(GUARD_BUDGET_MS);
    if (stdinLeftOpen) {
      reply(tool, { user: `lockstep: no safety point before this command: Lockstep did not finish within ${GUARD_BUDGET_MS / 1000} s (the hook's input never ended)` });
      return 0;
    }
    let call: HookCall;
    try {
      call = readCall(tool, payload);
    } catch (error) {
      reply(tool, { user: `lockstep: could not read the hook's input (${(error as Error).message}); no safety point was taken` });
      return 0;
    }
    if (call.command === undefined || call.command.trim() === '') {
      reply(tool);
      return 0;
    }
    const cwd = call.cwd ?? io.cwd;
    let repo: Repository | undefined;
    try {
      repo = await findRepository(cwd);
    } catch {
      // not in a repository: only the default patterns can say whether it matters
    }
    const paths = repo ? new LockstepPaths(repo.commonDir) : undefined;
    let config;
    let configProblem: string | undefined;
    try {
      config = paths ? tryLoadConfig(paths) : undefined;
    } catch (error) {
      configProblem = describeError(error).split('\n')[0];
    }
    const verdict = classifyCommand(call.command, config?.riskyCommands ?? []);
    if (!verdict.risky) {
      reply(tool);
      return 0;
    }
    const skip = (why: string) => reply(tool, { user: `lockstep: no safety point before this command (${verdict.reason}): ${why}` });
    const unable = !repo
      ? `${cwd} is not in a git repository`
      : (configProblem ?? (!config ? 'Lockstep is not set up in this repository (`lockstep init`)' : fs.existsSync(paths!.restoreRecord) ? 'a restore was interrupted here; `lockstep status` finishes or reverts it' : undefined));
    if (unable || !repo || !paths || !config) {
      skip(unable ?? 'no repository');
      return 0;
    }

    const agent: AgentIdentity = { name: tool, ...(call.session ? { session: call.session } : {}) };
    if (config.engine === 'local') {
      // The quickest path: the keeper (`lockstep keeper`) reads the position on its open connection and appends the
      // checkpoint; this process only asks, one line on a Unix socket.
      const kept = await (await import('./keeperClient')).askKeeper(paths.root, { op: 'safety', topLevel: repo.topLevel, command: call.command, agent }, KEEPER_ASK_MS);
      if (kept && 'id' in kept) {
        reply(tool, taken(kept.id, verdict, []));
        return 0;
      }
      if (kept && 'failed' in kept) {
        skip(kept.failed);
        return 0;
      }
      // Else the quick path, for a local database with a private socket (hook.conf). Loaded only now: a harmless
      // command never pays for net and crypto. The connection is asked for first, and the server starts a
      // backend while the rest loads.
      const started = (await import('./socketPosition')).startPositionReading(paths.root, QUICK_READ_MS);
      if (started) {
        await started.started;
        const { quickPath } = await import('./quick');
        const quick = await quickPath(started.reading, repo, paths, config, call.command, agent, io);
        if (quick) {
          if ('failed' in quick) skip(quick.failed);
          else reply(tool, taken(quick.id, verdict, []));
          // No keeper answered: start one for the safety points after this one (after the answer: the agent has it).
          if (!kept && !('failed' in quick)) startKeeper(repo.topLevel, io);
          return 0;
        }
      }
    }
    // Not a local database with a private socket, spooled commits to fold first, archiving failing: the engine's way.
    const { fullSafetyPoint } = await import('./full');
    const outcome = await fullSafetyPoint(repo, call.command, agent, io);
    if ('failed' in outcome) skip(outcome.failed);
    else reply(tool, taken(outcome.id, verdict, outcome.warnings));
    return 0;
  } catch (error) {
    reply(tool, { user: `lockstep: no safety point before this command: ${describeError(error).split('\n')[0]}` });
    return 0;
  } finally {
    clearTimeout(giveUp);
    reply(tool);
  }
}

/**
 * Starts `lockstep keeper` in the background, detached, for the safety points
 * after this one (dist/cli.js beside this bundle; not from the sources, where
 * there is none). One that runs already makes the new one end at once. Its
 * failures are its own: the agent has its answer.
 */
function startKeeper(topLevel: string, io: CliIo): void {
  if (io.env.LOCKSTEP_KEEPER === 'off') return;
  const cli = path.join(__dirname, 'cli.js');
  if (!fs.existsSync(cli)) return;
  void import('node:child_process').then(
    ({ spawn }) => {
      try {
        const child = spawn(process.execPath, [cli, 'keeper'], { cwd: topLevel, detached: true, stdio: 'ignore', env: io.env });
        child.once('error', () => undefined);
        child.unref();
      } catch {
        // no keeper: the next safety point reads the position itself
      }
    },
    () => undefined,
  );
}

function taken(id: string, verdict: RiskVerdict, warnings: readonly string[]): Note {
  const warning = warnings.length > 0 ? ` Warning: ${warnings.join('; ')}.` : '';
  return {
    user: `lockstep: safety point ${id} taken before this command (${verdict.reason}); to undo what it does to the data: lockstep restore ${id}${warning}`,
    agent:
      `Lockstep took safety point ${id} of the database before this command (${verdict.reason}). ` +
      `If the command damages data, restoring to ${id} undoes it; a restore needs the user's yes (or, through Lockstep's MCP tools, it must be this session's own safety point with nothing done since).${warning}`,
  };
}

/** Milliseconds since this process started (process.uptime: `performance` would load perf_hooks first). */
function sinceStart(): number {
  return process.uptime() * 1000;
}

/**
 * Reads stdin to its end (the hook's JSON); an interactive terminal has none.
 * Through process.stdin: a read on fd 0 in libuv's thread pool would be
 * cheaper to set up, but a writer that never closes the pipe would leave it
 * blocked, and Node's exit waits for the pool's threads.
 */
async function readPayload(budgetMs: number): Promise<{ text: string; stdinLeftOpen: boolean }> {
  if (process.stdin.isTTY) return { text: '', stdinLeftOpen: false };
  const chunks: Buffer[] = [];
  const until = budgetMs - sinceStart();
  const ended = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), Math.max(0, until));
    timer.unref();
    process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk));
    process.stdin.once('end', () => (clearTimeout(timer), resolve(true)));
    process.stdin.once('error', () => (clearTimeout(timer), resolve(true)));
  });
  process.stdin.pause();
  return { text: Buffer.concat(chunks).toString('utf8'), stdinLeftOpen: !ended };
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function directory(value: unknown): string | undefined {
  const dir = str(value);
  if (!dir || !path.isAbsolute(dir)) return undefined;
  try {
    return fs.statSync(dir).isDirectory() ? dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The command, session and directory from each tool's documented payload:
 * - Claude Code PreToolUse: `tool_name` "Bash", `tool_input.command`, `session_id`, `cwd`.
 * - Cursor beforeShellExecution: `command` at the top level, `conversation_id`, `cwd` or `workspace_roots[0]`.
 * - VS Code (Copilot) PreToolUse: `tool_name` ("run_in_terminal" for the terminal), `tool_input.command`,
 *   `sessionId`, `cwd`. VS Code also runs hooks from .claude/settings.json with its own payload: read either way.
 * Throws when the payload is not a JSON object.
 */
export function readCall(tool: AgentTool, text: string): HookCall {
  if (text.trim() === '') throw new Error('no JSON on stdin');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('stdin is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('stdin is not a JSON object');
  const p = value as Record<string, unknown>;
  const input = typeof p.tool_input === 'object' && p.tool_input !== null ? (p.tool_input as Record<string, unknown>) : undefined;
  const session = str(p.session_id) ?? str(p.sessionId) ?? str(p.conversation_id);
  if (tool === 'cursor') {
    const roots = Array.isArray(p.workspace_roots) ? p.workspace_roots : [];
    return { command: str(p.command) ?? str(input?.command), session, cwd: directory(p.cwd) ?? directory(roots[0]) };
  }
  const name = str(p.tool_name);
  // Another tool (a file edit, a search): nothing to guard. No tool name at all: take the command if there is one.
  const command = name === undefined || SHELL_TOOLS.has(name) ? str(input?.command) : undefined;
  return { command, session, cwd: directory(p.cwd) };
}

/**
 * The answer on stdout, exit code 0 on every path: never a block (exit 2 blocks
 * in Claude Code and VS Code), and no permission decision where the tool lets us
 * give none, so that its own approval rules decide as they would without us.
 */
function answer(tool: AgentTool | undefined, note: Note | undefined): void {
  // fs.writeSync, not process.stderr, whose set-up costs more than the rest of the answer.
  if (note) writeLine(2, `${note.user}\n`);
  let reply: Record<string, unknown> | undefined;
  switch (tool) {
    case 'claude':
      // No output is Claude Code's "go on as usual"; systemMessage is shown to the user, additionalContext to Claude.
      if (note) reply = { systemMessage: note.user, ...(note.agent ? { hookSpecificOutput: { hookEventName: 'PreToolUse', additionalContext: note.agent } } : {}) };
      break;
    case 'copilot':
      reply = { continue: true, ...(note ? { systemMessage: note.user } : {}), ...(note?.agent ? { hookSpecificOutput: { hookEventName: 'PreToolUse', additionalContext: note.agent } } : {}) };
      break;
    case 'cursor':
      // JSON on every path, but no permission: Cursor's "allow" auto-approves a command its own
      // allowlist would have asked about (approval tools answer it for exactly that), and "ask"
      // would stop every command. Without one, Cursor's own approval rules decide.
      reply = note ? { user_message: note.user, agent_message: note.agent ?? note.user } : {};
      break;
    default:
      break;
  }
  if (reply) writeLine(1, `${JSON.stringify(reply)}\n`);
}

/** Writes all of `text` to fd 1 or 2 at once (a full, non-blocking pipe: tried again until the budget). */
function writeLine(fd: 1 | 2, text: string): void {
  let bytes = Buffer.from(text, 'utf8');
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(fs.writeSync(fd, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EAGAIN' || sinceStart() > GUARD_BUDGET_MS + 500) return;
    }
  }
}
