// The database position as the commit hook reads it with psql (same socket, same role, same query, SCRAM-SHA-256 only),
// in this process: starting psql costs the guard about as much as half a Node start-up, and pg's module more.

import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Position } from '../../core/engine';
import { hookConfFile, type HookFastPath } from '../../core/hookConf';

/** post-commit.sh's query: the WAL file (its name carries the timeline), the insert position, whether archiving is failing. */
export const POSITION_QUERY = `SELECT pg_walfile_name(l), l, coalesce(a.last_failed_time > coalesce(a.last_archived_time, '-infinity'), false)
       FROM pg_current_wal_insert_lsn() AS l LEFT JOIN pg_stat_archiver a ON true`;

let crypto: typeof import('node:crypto') | undefined;

export interface SocketReading {
  position: Position;
  /** WAL archiving is failing: checkpoints from then on are not restorable until it works again. */
  archivingFailing: boolean;
}

/** The reading failed in a way that says the database did not answer in time (not that it is down). */
export class ReadingTimedOut extends Error {}

export interface StartedReading {
  reading: Promise<SocketReading>;
  /** Settles once the server has the start-up message (or the connection failed): it starts a backend meanwhile. */
  started: Promise<void>;
}

/**
 * Starts reading the position as hook.conf says (the local engine writes it
 * when its database has a private socket and a role for Lockstep); undefined
 * when there is no such file or password. The connection is asked for at once,
 * so that the server starts a backend while the caller loads what it needs.
 */
export function startPositionReading(lockstepDir: string, timeoutMs: number): StartedReading | undefined {
  const fast = readHookConf(lockstepDir);
  const password = fast && passwordFromPassfile(fast.passfile, fast.user);
  if (!fast || password === undefined) return undefined;
  let started!: () => void;
  const startedPromise = new Promise<void>((resolve) => (started = resolve));
  const reading = readPositionOverSocket(fast, password, timeoutMs, started);
  reading.then(started, started);
  return { reading, started: startedPromise };
}

/**
 * One connection over the private Unix socket of `fast.host` (never TCP: a
 * socket in a 0700 directory only the cluster's account can create), one
 * query, closed. Authenticates with SCRAM-SHA-256 and nothing else, and only
 * accepts the connection once the server proved it holds the verifier, as
 * libpq does with `require_auth=scram-sha-256` (PGREQUIREAUTH in the hook).
 * Rejects on any failure; `ReadingTimedOut` after `timeoutMs`.
 */
export function readPositionOverSocket(fast: HookFastPath, password: string, timeoutMs: number, onStarted?: () => void): Promise<SocketReading> {
  if (!path.isAbsolute(fast.host)) return Promise.reject(new Error('not a Unix socket directory'));
  // The generated passwords are printable ASCII, which SASLprep leaves as they are; anything else goes to the full path.
  if (!/^[\x20-\x7e]+$/.test(password)) return Promise.reject(new Error('a password this reader does not prepare'));
  return new Promise<SocketReading>((resolve, reject) => {
    const socket = net.connect(path.join(fast.host, `.s.PGSQL.${fast.port}`));
    let settled = false;
    const finish = (error: Error | undefined, reading?: SocketReading) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Terminate, then gone: no waiting for the server to close its end.
      if (error) socket.destroy();
      else socket.write(message('X', Buffer.alloc(0)), () => socket.destroy());
      if (error) reject(error);
      else resolve(reading!);
    };
    const timer = setTimeout(() => finish(new ReadingTimedOut(`the database did not answer within ${(timeoutMs / 1000).toFixed(1)} s`)), timeoutMs);
    timer.unref();

    let clientNonce = '';
    let clientFirstBare = '';
    let expectedServerSignature: string | undefined;
    let authenticated = false;
    let ready = 0;
    let row: string[] | undefined;
    let pending: Buffer = Buffer.alloc(0);

    socket.once('connect', () => {
      const params = Buffer.concat(['user', fast.user, 'database', fast.dbname, 'application_name', 'lockstep-guard', ''].map(cstring));
      const startup = Buffer.alloc(8 + params.length);
      startup.writeInt32BE(startup.length, 0);
      startup.writeInt32BE(196608, 4); // protocol 3.0
      params.copy(startup, 8);
      socket.write(startup);
      onStarted?.();
      // Loaded while the server starts a backend; needed from its first answer on (a microtask: long done by then).
      if (!crypto) {
        void import('node:crypto').then(
          (module) => (crypto = module),
          () => undefined,
        );
      }
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new Error('the database closed the connection')));
    socket.on('data', (chunk: Buffer) => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        while (!settled && pending.length >= 5) {
          const length = pending.readInt32BE(1);
          if (length < 4 || length > 1 << 20) throw new Error('not a Postgres server');
          if (pending.length < length + 1) break;
          const type = String.fromCharCode(pending[0]!);
          const body = pending.subarray(5, length + 1);
          pending = pending.subarray(length + 1);
          handle(type, body);
        }
      } catch (error) {
        finish(error as Error);
      }
    });

    function handle(type: string, body: Buffer): void {
      switch (type) {
        case 'R':
          return authenticate(body);
        case 'E':
          throw new Error(`the database refused: ${errorText(body)}`);
        case 'Z':
          // The first ReadyForQuery ends the start-up (the query was sent ahead); the second, the query.
          if (!authenticated) throw new Error('the server did not complete SCRAM-SHA-256');
          if (++ready < 2) return;
          return done();
        case 'D':
          if (!authenticated) throw new Error('the server did not complete SCRAM-SHA-256');
          row = dataRow(body);
          return;
        default:
          return; // ParameterStatus, BackendKeyData, RowDescription, CommandComplete, notices
      }
    }

    function authenticate(body: Buffer): void {
      const code = body.readInt32BE(0);
      if (!crypto) throw new Error('node:crypto is not loaded');
      if (code === 10) {
        clientNonce = crypto.randomBytes(18).toString('base64');
        clientFirstBare = `n=*,r=${clientNonce}`;
        const mechanisms = body.subarray(4).toString('utf8').split('\0');
        if (!mechanisms.includes('SCRAM-SHA-256')) throw new Error('the server does not offer SCRAM-SHA-256');
        const first = Buffer.from(`n,,${clientFirstBare}`);
        const mechanism = cstring('SCRAM-SHA-256');
        const payload = Buffer.alloc(mechanism.length + 4 + first.length);
        mechanism.copy(payload, 0);
        payload.writeInt32BE(first.length, mechanism.length);
        first.copy(payload, mechanism.length + 4);
        socket.write(message('p', payload));
      } else if (code === 11) {
        const serverFirst = body.subarray(4).toString('utf8');
        const attributes = new Map(serverFirst.split(',').map((part) => [part.slice(0, 1), part.slice(2)]));
        const nonce = attributes.get('r') ?? '';
        const salt = Buffer.from(attributes.get('s') ?? '', 'base64');
        const iterations = Number(attributes.get('i'));
        if (!nonce.startsWith(clientNonce) || nonce.length <= clientNonce.length || salt.length === 0 || !Number.isInteger(iterations) || iterations < 1 || iterations > 1e6) {
          throw new Error('the server sent a SCRAM challenge that is not valid');
        }
        const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
        const clientKey = crypto.createHmac('sha256', salted).update('Client Key').digest();
        const storedKey = crypto.createHash('sha256').update(clientKey).digest();
        const withoutProof = `c=biws,r=${nonce}`;
        const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
        const clientSignature = crypto.createHmac('sha256', storedKey).update(authMessage).digest();
        const proof = Buffer.alloc(clientKey.length);
        for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
        const serverKey = crypto.createHmac('sha256', salted).update('Server Key').digest();
        expectedServerSignature = crypto.createHmac('sha256', serverKey).update(authMessage).digest('base64');
        socket.write(message('p', Buffer.from(`${withoutProof},p=${proof.toString('base64')}`)));
        // The query goes right behind the proof (the server reads it once it is ready), one round trip less. It
        // tells nothing secret, and its answer counts only after the server has proved it holds the verifier.
        socket.write(message('Q', cstring(POSITION_QUERY)));
      } else if (code === 12) {
        const final = body.subarray(4).toString('utf8');
        if (expectedServerSignature === undefined || final !== `v=${expectedServerSignature}`) throw new Error('the server could not prove it holds the password verifier');
        authenticated = true;
      } else if (code === 0) {
        // AuthenticationOk counts only after the server's SCRAM proof.
        if (!authenticated) throw new Error('the server accepted the connection without SCRAM-SHA-256');
      } else {
        // Cleartext (3), MD5 (5) and the rest: refused, as the hook's psql and Lockstep's own connections refuse them.
        throw new Error(`the server asked for authentication method ${code}, not SCRAM-SHA-256; refused`);
      }
    }

    function done(): void {
      finish(undefined, readingFromRow(row ?? []));
    }
  });
}

/** POSITION_QUERY's row (as text) as a reading; throws when it is not one. */
export function readingFromRow([walfile, lsn, failing]: readonly (string | undefined)[]): SocketReading {
  if (!walfile || !/^[0-9A-F]{24}$/.test(walfile) || !lsn || !/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/.test(lsn)) throw new Error('the database sent no position');
  return { position: { timelineId: String(Number.parseInt(walfile.slice(0, 8), 16)), lsn }, archivingFailing: failing === 't' };
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(body.length + 4, 1);
  body.copy(out, 5);
  return out;
}

/** A DataRow's columns as text (NULL as ''). */
function dataRow(body: Buffer): string[] {
  const count = body.readInt16BE(0);
  const values: string[] = [];
  let offset = 2;
  for (let i = 0; i < count; i++) {
    const length = body.readInt32BE(offset);
    offset += 4;
    if (length < 0) {
      values.push('');
      continue;
    }
    values.push(body.subarray(offset, offset + length).toString('utf8'));
    offset += length;
  }
  return values;
}

/** An ErrorResponse's SQLSTATE and message. */
function errorText(body: Buffer): string {
  const fields = new Map<string, string>();
  for (const field of body.toString('utf8').split('\0')) if (field.length > 1) fields.set(field[0]!, field.slice(1));
  return `${fields.get('M') ?? 'error'}${fields.get('C') ? ` (${fields.get('C')})` : ''}`;
}

/**
 * `.git/lockstep/hook.conf` (written by the local engine when its database has a
 * private socket): where and as whom Lockstep reads the position without the
 * engine. Undefined when absent, incomplete, or naming anything but a Unix
 * socket directory (an absolute path): never a TCP address.
 */
export function readHookConf(lockstepDir: string): HookFastPath | undefined {
  let text: string;
  try {
    text = fs.readFileSync(hookConfFile(lockstepDir), 'utf8');
  } catch {
    return undefined;
  }
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.indexOf(' ');
    if (space > 0) values.set(line.slice(0, space), line.slice(space + 1));
  }
  const port = Number(values.get('port'));
  const [psql, host, user, dbname, passfile] = ['psql', 'host', 'user', 'dbname', 'passfile'].map((k) => values.get(k));
  if (!host?.startsWith('/') || !user || !dbname || !passfile?.startsWith('/') || !Number.isInteger(port) || port <= 0 || port > 65535) return undefined;
  return { ...(psql ? { psql } : {}), host, port, user, dbname, passfile };
}

/**
 * The password for `user` in a libpq password file (`host:port:db:user:password`,
 * `\:` and `\\` escaped), as libpq reads it: not when the file is open to group
 * or others (libpq ignores such a file too). Undefined when there is none.
 */
export function passwordFromPassfile(file: string, user: string): string | undefined {
  let text: string;
  try {
    if ((fs.statSync(file).mode & 0o077) !== 0) return undefined;
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields: string[] = [];
    let field = '';
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (ch === '\\' && i + 1 < line.length) field += line[++i]!;
      else if (ch === ':' && fields.length < 4) {
        fields.push(field);
        field = '';
      } else field += ch;
    }
    fields.push(field);
    if (fields.length !== 5) continue;
    const [, , , who, password] = fields as [string, string, string, string, string];
    if (who === '*' || who === user) return password;
  }
  return undefined;
}
