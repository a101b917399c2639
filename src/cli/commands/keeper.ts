// `lockstep keeper`: one connection to the local database kept open for the agents' guard, which asks it for each
// safety point with one line on a Unix socket: the keeper reads the position when asked and appends the checkpoint, so the
// guard starts no Postgres backend (its start-up and SCRAM were most of a guard call) and loads none of the journal's code.
// The guard starts it in the background the first time it reads the position itself. It ends when idle, when its
// connection ends (the database stopped, a restore cut over to a new server), or when asked (`--stop`).

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Client } from 'pg';
import { describeError, LockstepError } from '../../base/errors';
import type { AgentIdentity } from '../../core/checkpoint';
import { loadConfig } from '../../core/config';
import { AuditTrail, Journal } from '../../core/journal';
import { LockstepPaths } from '../../core/paths';
import { PinStore } from '../../core/pins';
import { pruneQuickly, quickSafetyPoint } from '../../core/quickSafety';
import { findRepository, type Repository } from '../../git/repository';
import { integer, parse } from '../args';
import { askKeeper, keeperPidFile, keeperSocket, type KeeperAnswer, type KeeperSafetyRequest } from '../guard/keeperClient';
import { passwordFromPassfile, POSITION_QUERY, readHookConf, readingFromRow, type SocketReading } from '../guard/socketPosition';
import { cliLog, type CliIo } from '../io';

/** How long the keeper waits for the next question before it ends. */
export const KEEPER_IDLE_SECONDS = 600;

const USAGE = `Usage: lockstep keeper [--idle SECONDS] | --stop

Keeps one connection to the local database open for the agents' guard
(\`lockstep guard\`, the hook \`lockstep agent install\` sets up), which then
asks it for each safety point with one line on a Unix socket in
.git/lockstep/keeper (0700): the keeper reads the position when asked and
appends the checkpoint, instead of the guard starting a Postgres backend of
its own. The guard starts it
in the background when there is none; it shows in pg_stat_activity as
lockstep-keeper, writes nothing to the database, and ends after --idle seconds without a
question (default ${KEEPER_IDLE_SECONDS}), when the database stops or a restore
cuts over, or with --stop. Local engine only.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const parsed = parse<{ idle?: string; stop?: boolean }>(args, { idle: { type: 'string' }, stop: { type: 'boolean' } }, USAGE);
  if (parsed.help) {
    io.out(USAGE);
    return 0;
  }
  if (parsed.positionals.length > 0) throw new LockstepError('BAD_INPUT', `unexpected argument "${parsed.positionals[0]}"`, { hint: USAGE.split('\n')[0] });
  if (parsed.values.stop && parsed.values.idle !== undefined) throw new LockstepError('BAD_INPUT', '--stop takes no --idle', { hint: USAGE.split('\n')[0] });
  const idleSeconds = integer(parsed.values.idle, '--idle', 1, 86_400) ?? KEEPER_IDLE_SECONDS;
  const repo = await findRepository(io.cwd);
  const paths = new LockstepPaths(repo.commonDir);
  const config = loadConfig(paths);
  if (config.engine !== 'local') throw new LockstepError('BAD_INPUT', `the keeper serves the local engine; this repository uses ${config.engine}`, { hint: 'The guard reads a cloud database over its own connection.' });
  const socketFile = keeperSocket(paths.root);
  if (!socketFile) throw new LockstepError('CONFIG', `the path of ${paths.root} is too long for a Unix socket`, { hint: 'The guard works without a keeper (a new connection per safety point).' });

  if (parsed.values.stop) {
    const answer = await askKeeper(paths.root, { op: 'stop' }, 2000);
    io.out(answer === undefined ? 'no keeper runs here' : 'the keeper stopped');
    return 0;
  }

  const fast = readHookConf(paths.root);
  const password = fast && passwordFromPassfile(fast.passfile, fast.user);
  if (!fast || password === undefined) {
    throw new LockstepError('CONFIG', 'the local database has no private socket for Lockstep (.git/lockstep/hook.conf)', { hint: 'Start it (`lockstep db start`): it writes that file.' });
  }
  const { Client: PgClient } = await import('pg');
  const client: Client = new PgClient({
    host: fast.host,
    port: fast.port,
    user: fast.user,
    database: fast.dbname,
    password,
    application_name: 'lockstep-keeper',
    connectionTimeoutMillis: 5000,
  });
  try {
    await client.connect();
  } catch (error) {
    throw new LockstepError('ENGINE_DOWN', `the keeper could not connect: ${describeError(error)}`, { hint: '`lockstep db start` starts the local database.' });
  }
  return serve({ client, repo, paths, socketFile, idleMs: idleSeconds * 1000, io });
}

interface Served {
  client: Client;
  repo: Repository;
  paths: LockstepPaths;
  socketFile: string;
  idleMs: number;
  io: CliIo;
}

async function serve({ client, repo, paths, socketFile, idleMs, io }: Served): Promise<number> {
  const dir = path.dirname(socketFile);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Only this account may ask (or plant a socket that answers for us): refuse a folder that is not ours alone.
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || (typeof process.getuid === 'function' && stat.uid !== process.getuid())) {
    await client.end().catch(() => undefined);
    throw new LockstepError('CONFIG', `${dir} is not a folder of this account`, { hint: 'Remove it; the keeper makes it again.' });
  }
  fs.chmodSync(dir, 0o700);

  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => (finish = resolve));
  let ending = false;
  let socketIno: number | undefined;
  const pidFile = keeperPidFile(paths.root);
  const server = net.createServer((connection) => onConnection(connection));
  let idleTimer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => end(`idle for ${idleMs / 1000} s`, 0), idleMs);
  };

  const end = (why: string, code: number) => {
    if (ending) return;
    ending = true;
    clearTimeout(idleTimer);
    server.close();
    // Removed only while it is still the one this process made: a newer keeper may have taken the name.
    try {
      if (socketIno !== undefined && fs.statSync(socketFile).ino === socketIno) fs.unlinkSync(socketFile);
    } catch {
      // already gone
    }
    try {
      if (fs.readFileSync(pidFile, 'utf8').startsWith(`${process.pid} `)) fs.unlinkSync(pidFile);
    } catch {
      // already gone
    }
    io.err(`lockstep keeper: ended (${why})`);
    void client.end().catch(() => undefined).finally(() => finish(code));
  };

  // The database stopped, or a restore cut over to another server: a reading from here on would be of the wrong one.
  client.on('error', (error) => end(`the connection failed: ${describeError(error)}`, 0));
  client.on('end', () => end('the database closed the connection', 0));
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => end(signal, 0));

  const log = cliLog(io);
  const files = { paths, journal: new Journal(paths, log), audit: new AuditTrail(paths, log), pins: new PinStore(paths) };
  /** The work trees asked for, each checked once to belong to this repository (its HEAD is a safety point's commit). */
  const workTrees = new Map<string, Promise<Repository>>([[repo.topLevel, Promise.resolve(repo)]]);

  const readPosition = async (): Promise<SocketReading> => {
    const result = await client.query({ text: POSITION_QUERY, rowMode: 'array' });
    const row = (result.rows[0] as unknown[] | undefined)?.map((value) => (value === null ? '' : typeof value === 'boolean' ? (value ? 't' : 'f') : String(value)));
    return readingFromRow(row ?? []);
  };

  const takeSafetyPoint = async (request: KeeperSafetyRequest): Promise<KeeperAnswer> => {
    let workTree = workTrees.get(request.topLevel);
    if (!workTree) {
      workTree = findRepository(request.topLevel);
      workTrees.set(request.topLevel, workTree);
    }
    const asked = await workTree.catch(() => undefined);
    if (!asked || asked.commonDir !== repo.commonDir) {
      workTrees.delete(request.topLevel);
      return { fallback: `${request.topLevel} is not a work tree of this repository` };
    }
    // Read now, after the question came: the position precedes whatever the agent runs once the guard answers. HEAD and
    // the journal's tail are read meanwhile.
    const reading = readPosition();
    let why: string | undefined;
    const at = reading.then(
      (reading) => {
        // Read after the asker stopped waiting, the position may follow the command's first writes: not a safety point.
        if (Date.now() >= request.deadline!) why = 'the position was read too late';
        else if (reading.archivingFailing) why = 'WAL archiving is failing';
        return why ? undefined : reading.position;
      },
      (error: unknown) => {
        why = `the keeper could not read the position: ${describeError(error)}`;
        return undefined;
      },
    );
    try {
      // The configuration as it is now (keep, engine): read per request, it is one small file.
      const project = { ...files, repo: asked, config: loadConfig(paths) };
      const checkpoint = await quickSafetyPoint(project, at, { command: request.command, agent: request.agent }, { prune: false });
      if (!checkpoint) return { fallback: why ?? 'commits spooled by the hook are to be folded in first' };
      // The answer first (the agent waits for it), the count prune right after.
      setImmediate(() => void pruneQuickly(project).catch((error: unknown) => log.warn(`prune: ${describeError(error)}`)));
      return { id: checkpoint.id };
    } catch (error) {
      return { failed: describeError(error).split('\n')[0] ?? 'unknown error' };
    }
  };

  function onConnection(connection: net.Socket): void {
    connection.setEncoding('utf8');
    let received = '';
    const reply = (answer: KeeperAnswer) => connection.end(`${JSON.stringify(answer)}\n`);
    connection.on('error', () => connection.destroy());
    connection.on('data', (chunk: string) => {
      received += chunk;
      const newline = received.indexOf('\n');
      if (newline < 0) {
        if (received.length > MAX_REQUEST_BYTES) connection.destroy();
        return;
      }
      const request = safetyRequestFrom(received.slice(0, newline));
      received = '';
      touch();
      if (request === 'stop') {
        reply({ stopping: true });
        end('asked to stop', 0);
      } else if (request && !ending) {
        void takeSafetyPoint(request).then(reply, (error: unknown) => reply({ failed: describeError(error) }));
      } else {
        reply({ fallback: ending ? 'the keeper is ending' : 'not a request the keeper knows' });
      }
    });
  }

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // 0600 from the start: no moment where another account could connect.
      const umask = process.umask(0o177);
      server.listen(socketFile, () => {
        process.umask(umask);
        server.removeListener('error', reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') {
      await client.end().catch(() => undefined);
      throw error;
    }
    // A keeper that answers serves already; a socket nobody answers is what a killed one left.
    if (await isAnswering(socketFile)) {
      await client.end().catch(() => undefined);
      io.err('lockstep keeper: one runs already');
      return 0;
    }
    fs.rmSync(socketFile, { force: true });
    await listen();
  }
  socketIno = fs.statSync(socketFile).ino;
  // For `lockstep status`: which process holds a connection, since when.
  fs.writeFileSync(pidFile, `${process.pid} ${new Date().toISOString()} ${idleMs / 1000}\n`, { mode: 0o600 });
  touch();
  io.err(`lockstep keeper: serving on ${socketFile} (ends after ${idleMs / 1000} s without a question)`);
  return finished;
}

/** A request is a line of JSON: the guard's command text is at most that of a checkpoint, plus the rest. */
const MAX_REQUEST_BYTES = 256 * 1024;
const AGENTS = new Set(['claude', 'cursor', 'copilot']);

/** The request on one line, checked field by field; undefined when it is not one. */
function safetyRequestFrom(line: string): KeeperSafetyRequest | 'stop' | undefined {
  let value: Record<string, unknown>;
  try {
    value = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (value.op === 'stop') return 'stop';
  const agent = value.agent as Partial<AgentIdentity> | undefined;
  if (value.op !== 'safety' || typeof value.topLevel !== 'string' || !path.isAbsolute(value.topLevel) || typeof value.command !== 'string') return undefined;
  if (!agent || typeof agent.name !== 'string' || !AGENTS.has(agent.name) || (agent.session !== undefined && (typeof agent.session !== 'string' || agent.session.length > 512))) return undefined;
  if (typeof value.deadline !== 'number' || !Number.isFinite(value.deadline)) return undefined;
  return { op: 'safety', topLevel: value.topLevel, command: value.command, agent: { name: agent.name, ...(agent.session !== undefined ? { session: agent.session } : {}) }, deadline: value.deadline };
}

/** Whether something accepts connections on `socketFile` (a keeper that is busy or old), as opposed to a stale file. */
function isAnswering(socketFile: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketFile);
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}
