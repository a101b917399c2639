// Asking `lockstep keeper` (src/cli/commands/keeper.ts) for a safety point: one JSON line on a Unix socket in a 0700
// folder of .git/lockstep, answered from the connection it keeps open. What the guard tries first: no Postgres backend
// to start, no SCRAM, and none of the journal's code to load in the process the agent waits for.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { processAlive } from '../../base/locks';
import type { AgentIdentity } from '../../core/checkpoint';

/**
 * The keeper's socket. Unix socket paths are short (108 bytes on Linux, 104 on
 * macOS, the final NUL included): a repository whose path leaves none is
 * served without a keeper (undefined).
 */
export function keeperSocket(lockstepDir: string): string | undefined {
  const file = path.join(lockstepDir, 'keeper', 'keeper.sock');
  return Buffer.byteLength(file) <= 103 ? file : undefined;
}

/** What the guard asks: a safety point before `command`, in the work tree at `topLevel` (its HEAD is the checkpoint's). */
export interface KeeperSafetyRequest {
  op: 'safety';
  topLevel: string;
  command: string;
  agent: AgentIdentity;
  /**
   * When the asker stops waiting (ms since the epoch, this machine's clock;
   * askKeeper sets it). A position read after it is not appended: the asker
   * may have let the command run by then.
   */
  deadline?: number;
}

/**
 * What the keeper answers, one JSON line: the safety point taken; `fallback`
 * when the guard's own paths must serve (commits spooled to fold first,
 * archiving failing: the engine words the warning); `failed` when taking it
 * failed in a way another path would repeat.
 */
export type KeeperAnswer = { id: string } | { fallback: string } | { failed: string } | { stopping: true };

/**
 * The keeper's answer, or undefined: no keeper (no socket, a stale one), an
 * answer that is not one, or none within `timeoutMs`. Never rejects.
 */
export function askKeeper(lockstepDir: string, request: KeeperSafetyRequest | { op: 'stop' }, timeoutMs: number): Promise<KeeperAnswer | undefined> {
  const file = keeperSocket(lockstepDir);
  if (!file) return Promise.resolve(undefined);
  const asked = request.op === 'safety' ? { ...request, deadline: Date.now() + timeoutMs } : request;
  return new Promise((resolve) => {
    const socket = net.connect(file);
    let received = '';
    let settled = false;
    const done = (answer: KeeperAnswer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(undefined), timeoutMs);
    timer.unref();
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify(asked)}\n`));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\n');
      if (end >= 0) done(answerFrom(received.slice(0, end)));
      else if (received.length > 4096) done(undefined);
    });
    socket.once('error', () => done(undefined));
    socket.once('close', () => done(undefined));
  });
}

function answerFrom(line: string): KeeperAnswer | undefined {
  try {
    const answer = JSON.parse(line) as Record<string, unknown>;
    if (typeof answer.id === 'string' && /^[0-9a-f]{12}$/.test(answer.id)) return { id: answer.id };
    if (typeof answer.fallback === 'string') return { fallback: answer.fallback };
    if (typeof answer.failed === 'string') return { failed: answer.failed };
    if (answer.stopping === true) return { stopping: true };
  } catch {
    // not an answer
  }
  return undefined;
}

/** What `lockstep keeper` writes beside its socket while it serves: its pid, since when, its idle limit. */
export function keeperPidFile(lockstepDir: string): string {
  return path.join(lockstepDir, 'keeper', 'keeper.pid');
}

export interface KeeperState {
  pid: number;
  since: string;
  idleSeconds: number;
}

/** The keeper serving this repository, or undefined (none, or its process is gone). */
export function keeperState(lockstepDir: string): KeeperState | undefined {
  let text: string;
  try {
    text = fs.readFileSync(keeperPidFile(lockstepDir), 'utf8');
  } catch {
    return undefined;
  }
  const [pidText, since, idleText] = text.trim().split(' ');
  const pid = Number(pidText);
  const idleSeconds = Number(idleText);
  if (!Number.isSafeInteger(pid) || pid <= 0 || !since || !Number.isFinite(idleSeconds) || !processAlive(pid)) return undefined;
  return { pid, since, idleSeconds };
}
