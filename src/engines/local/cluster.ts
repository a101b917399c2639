// One project's Postgres: its data directories, starting and stopping them on the fixed port, connecting.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { processAlive } from '../../base/locks';
import type { Log } from '../../base/log';
import { connectScramOnly } from '../../core/postgresConnection';
import { archiveSettings, confQuote } from './archive';
import type { PostgresBinaries } from './binaries';
import type { LocalLayout } from './layout';
import type { PostgresAccount } from './osUser';
import { portInUse, portTakenError } from './ports';
import { prepareSocketDir, trustedSocketDir } from './socketDir';

export const LOCKSTEP_CONF = 'lockstep.conf';
/** Lockstep's own superuser: reachable only over the private socket. The app's role (`lockstep`) is not a superuser. */
export const ADMIN_ROLE = 'lockstep_admin';
export const RECOVERY_CONF = 'lockstep.recovery.conf';

export interface ClusterOptions {
  layout: LocalLayout;
  /** Resolved on first use: connecting needs no account, starting a server does. */
  account: () => PostgresAccount;
  port: number;
  user: string;
  database: string;
  log: Log;
  /** Found on demand: reading the LSN needs no binaries, starting a server does. */
  binaries: () => PostgresBinaries;
}

export interface ConnectOptions {
  database?: string;
  /**
   * A fork's private socket directory. Absent: the serving server's socket
   * directory (and, for a project made before Lockstep had its own role, whose
   * server may have been started without a socket, 127.0.0.1 when there is none).
   */
  host?: string;
  port?: number;
  timeoutMs?: number;
}

/** Where a data directory's server listens: the app's address, or only a private Unix socket. */
export interface Endpoint {
  host: string;
  port: number;
  private: boolean;
}

/** Postgres SQLSTATEs that mean "the server is there but not ready yet". */
const NOT_READY = new Set(['57P03', '57P01']);
/** SQLSTATE classes of a server in trouble rather than a refused request: insufficient resources, system error, internal error. */
const SERVER_FAILING = /^(53|58|XX)/;

export class LocalCluster {
  constructor(readonly options: ClusterOptions) {}

  get layout(): LocalLayout {
    return this.options.layout;
  }

  get port(): number {
    return this.options.port;
  }

  /**
   * The settings Lockstep owns, in their own file so a person's edits to
   * postgresql.conf stay theirs. Rewritten before every start: a data directory
   * copied from an older base backup gets today's port and socket directory.
   */
  writeConf(dataDirName: string): void {
    const dir = this.layout.dataDir(dataDirName);
    const socketDir = prepareSocketDir(this.layout, this.port, this.options.account());
    const lines = [
      '# Managed by Lockstep; rewritten whenever Lockstep starts this server. Put your own settings in postgresql.conf.',
      "listen_addresses = '127.0.0.1'",
      `port = ${this.port}`,
      // Lockstep's own connections: a socket in a directory only the Postgres account (and root) can enter.
      `unix_socket_directories = ${confQuote(socketDir)}`,
      'unix_socket_permissions = 0700',
      ...archiveSettings(this.layout.archive),
      `include_if_exists = ${confQuote(RECOVERY_CONF)}`,
      '',
    ];
    fs.writeFileSync(path.join(dir, LOCKSTEP_CONF), lines.join('\n'), { mode: 0o600 });
    const main = path.join(dir, 'postgresql.conf');
    const include = `include_if_exists = ${confQuote(LOCKSTEP_CONF)}`;
    const text = fs.readFileSync(main, 'utf8');
    if (!text.includes(include)) fs.appendFileSync(main, `\n# Lockstep\n${include}\n`);
    this.giveToPostgres(path.join(dir, LOCKSTEP_CONF));
    if (this.layout.readAdminPassword() !== undefined) this.writeHba(dir);
  }

  /**
   * Who may log in how, in a project with Lockstep's own superuser: that role
   * over the private socket only, every role with SCRAM-SHA-256. (A project made
   * before keeps initdb's file: SCRAM for everyone, socket and 127.0.0.1.)
   */
  private writeHba(dir: string): void {
    const user = hbaName(this.options.user);
    const lines = [
      '# Managed by Lockstep; rewritten whenever Lockstep starts this server.',
      '# TYPE  DATABASE  USER  ADDRESS  METHOD',
      `local   all   ${ADMIN_ROLE}   scram-sha-256`,
      `host    all   ${ADMIN_ROLE}   all   reject`,
      `local   all   ${user}   scram-sha-256`,
      `host    all   ${user}   127.0.0.1/32   scram-sha-256`,
      `host    all   all   all   reject`,
      '',
    ];
    const file = path.join(dir, 'pg_hba.conf');
    fs.writeFileSync(file, lines.join('\n'), { mode: 0o600 });
    this.giveToPostgres(file);
  }

  /** Files we create inside a data directory must belong to the Postgres account. */
  giveToPostgres(file: string): void {
    const { uid, gid } = this.options.account();
    if (uid !== undefined && gid !== undefined) fs.chownSync(file, uid, gid);
  }

  /** The postmaster's pid when a server runs on `dataDirName`, from its pid file. */
  runningPid(dataDirName: string): number | undefined {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.layout.dataDir(dataDirName), 'postmaster.pid'), 'utf8');
    } catch {
      return undefined;
    }
    const pid = Number(text.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    // Alive as another user's counts too (root sees everyone, others may not).
    return processAlive(pid) ? pid : undefined;
  }

  portInUse(port = this.port): Promise<boolean> {
    return portInUse(port);
  }

  /**
   * Start the server on `dataDirName`. Returns once the postmaster accepts
   * connections (or, in recovery, once it is consistent): callers that wait
   * for a promotion poll afterwards.
   */
  async start(dataDirName: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    throwIfAborted(options.signal, 'starting the database');
    if (this.runningPid(dataDirName) !== undefined) return;
    const endpoint = this.endpointOf(dataDirName);
    const port = endpoint.port;
    if (!endpoint.private && (await this.portInUse(port))) throw portTakenError(port);
    this.writeConf(dataDirName);
    const logFile = this.layout.serverLog(dataDirName);
    fs.mkdirSync(this.layout.logs, { recursive: true });
    // The postmaster is started directly, not through `pg_ctl start`: pg_ctl
    // hands /bin/sh a command line with the paths in double quotes, which a
    // repository path containing ", $, ` or \ breaks.
    const log = fs.openSync(logFile, 'a', 0o600);
    let exited: string | undefined;
    try {
      const account = this.options.account();
      const child = spawn(path.join(this.options.binaries().bin, 'postgres'), ['-D', this.layout.dataDir(dataDirName)], {
        cwd: this.layout.root,
        uid: account.uid,
        gid: account.gid,
        detached: true, // its own session: it outlives us, and a signal to our group does not reach it
        stdio: ['ignore', log, log],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C' },
      });
      child.once('exit', (code, signal) => {
        exited = signal ? `killed by ${signal}` : `exit code ${code}`;
      });
      child.once('error', (error) => {
        exited = error.message;
      });
      child.unref();
    } finally {
      fs.closeSync(log);
    }
    await this.waitUntilReady(dataDirName, Date.now() + (options.timeoutMs ?? 120_000), () => exited, options.signal).catch((error: unknown) => {
      const tail = this.logTail(dataDirName, 15);
      if (/could not bind|Address already in use/i.test(tail)) throw portTakenError(port);
      if (error instanceof LockstepError && error.code === 'CANCELLED') throw error;
      // A longer excerpt for the reason: its cause (a restore_command's failure) may come well before the FATAL.
      throw new LockstepError('ENGINE_DOWN', `Postgres did not start on ${dataDirName}: ${firstFatal(this.logTail(dataDirName, 40)) ?? (error as Error).message}`, {
        hint: `Server log: ${logFile}`,
      });
    });
  }

  /**
   * What `pg_ctl start -w` waits for: the postmaster writes "ready" (or, in
   * recovery with hot standby, "standby") as the 8th line of its pid file.
   */
  private async waitUntilReady(dataDirName: string, deadline: number, exited: () => string | undefined, signal?: AbortSignal): Promise<void> {
    const pidFile = path.join(this.layout.dataDir(dataDirName), 'postmaster.pid');
    let delay = 5;
    for (;;) {
      let status = '';
      try {
        status = (fs.readFileSync(pidFile, 'utf8').split('\n')[7] ?? '').trim();
      } catch {
        // not written yet
      }
      if (status === 'ready' || status === 'standby') return;
      const died = exited();
      if (died !== undefined) throw new Error(`the postmaster exited (${died})`);
      if (Date.now() > deadline) throw new Error('it did not become ready in time');
      throwIfAborted(signal, 'starting the database');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
  }

  /**
   * Stop the server on `dataDirName` by signalling its postmaster, as pg_ctl
   * does (SIGINT: fast, SIGQUIT: immediate), and wait for it to remove its pid
   * file. Polled every few ms rather than pg_ctl's 100 ms: at a cut-over every
   * ms of the wait is a ms the app cannot connect.
   */
  async stop(dataDirName: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const pid = this.runningPid(dataDirName);
    if (pid === undefined) return;
    try {
      process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') return;
      throw new LockstepError('ENGINE_DOWN', `Postgres on ${dataDirName} could not be told to stop: ${(error as Error).message}`);
    }
    const deadline = Date.now() + 60_000;
    let delay = 2;
    while (this.runningPid(dataDirName) !== undefined) {
      if (Date.now() > deadline) throw new LockstepError('ENGINE_DOWN', `Postgres on ${dataDirName} did not stop within 60 s`, { hint: `Server log: ${this.layout.serverLog(dataDirName)}` });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 20);
    }
  }

  /**
   * Where a data directory's server listens: the app's port on 127.0.0.1, unless
   * its recovery settings confine it to a private socket directory (a fork or a
   * preview recovering out of every client's reach).
   */
  endpointOf(dataDirName: string): Endpoint {
    try {
      const text = fs.readFileSync(path.join(this.layout.dataDir(dataDirName), RECOVERY_CONF), 'utf8');
      const match = /^unix_socket_directories = '([^'\\]+)'$/m.exec(text);
      if (match && /^listen_addresses = ''$/m.test(text)) return { host: match[1]!, port: this.port, private: true };
    } catch {
      // no recovery settings: the app's address
    }
    return { host: '127.0.0.1', port: this.port, private: false };
  }

  /**
   * Lockstep's own connection: its superuser over the private socket (a
   * project made before Lockstep had its own role: the `lockstep` role, over
   * the socket, else 127.0.0.1). SCRAM-SHA-256 only, whatever the address.
   */
  async connect(options: ConnectOptions = {}): Promise<Client> {
    const adminPassword = this.layout.readAdminPassword();
    const legacy = adminPassword === undefined;
    const user = legacy ? this.options.user : ADMIN_ROLE;
    const password = adminPassword ?? this.layout.readPassword();
    const socketDir = options.host ?? trustedSocketDir(this.layout, options.port ?? this.port);
    const hosts = socketDir !== undefined ? [socketDir] : [];
    // An older server, started before Lockstep used a socket, listens on 127.0.0.1 alone.
    if (legacy && options.host === undefined) hosts.push('127.0.0.1');
    if (hosts.length === 0) {
      throw new LockstepError('ENGINE_DOWN', `the local database's private socket directory is missing or not private (${this.layout.socketRecord})`, {
        hint: 'Restart the database: `lockstep db stop`, then `lockstep db start` (a new directory is made).',
      });
    }
    for (let i = 0; ; i++) {
      try {
        return await connectScramOnly(
          {
            host: hosts[i],
            port: options.port ?? this.port,
            user,
            password,
            database: options.database ?? this.options.database,
            connectionTimeoutMillis: options.timeoutMs ?? 5000,
            application_name: 'lockstep',
          },
          { what: 'the local database' },
        );
      } catch (error) {
        const code = (error as { code?: string }).code;
        const noServerThere = code === 'ENOENT' || code === 'ECONNREFUSED';
        if (i + 1 >= hosts.length || !noServerThere) throw error;
      }
    }
  }

  /** Lockstep's own role and where a client reaches the serving server: for `psql` in a shell script (see `localAdminAccess`). */
  adminRole(): string {
    return this.layout.readAdminPassword() === undefined ? this.options.user : ADMIN_ROLE;
  }

  /**
   * Connect, retrying while the server starts up or replays WAL. Stops early
   * when the postmaster has died (the caller reads the log).
   */
  async connectWhenReady(
    dataDirName: string,
    options: ConnectOptions & { deadline: number; signal?: AbortSignal },
  ): Promise<Client> {
    let delay = 10;
    for (;;) {
      throwIfAborted(options.signal, 'waiting for the database');
      try {
        const endpoint = this.endpointOf(dataDirName);
        return await this.connect({ ...(endpoint.private ? { host: endpoint.host } : {}), port: endpoint.port, ...options, timeoutMs: 2000 });
      } catch (error) {
        const code = (error as { code?: string }).code;
        // ENOENT: a private socket not (or no longer) there.
        const transient = code === undefined || NOT_READY.has(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOENT';
        if (!transient) {
          // A backend refused because the server itself is failing (a disk full in recovery: "could not write
          // init file"): when the postmaster exits too, its log says why, not this one backend.
          if (code !== undefined && SERVER_FAILING.test(code) && (await this.exitsWithin(dataDirName, 2000))) throw this.exitedError(dataDirName);
          throw error;
        }
        if (this.runningPid(dataDirName) === undefined) throw this.exitedError(dataDirName);
        if (Date.now() > options.deadline) {
          throw new LockstepError('TIMEOUT', `Postgres on ${dataDirName} did not accept connections in time (${(error as Error).message})`, {
            hint: `Server log: ${this.layout.serverLog(dataDirName)}`,
          });
        }
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 200);
    }
  }

  private exitedError(dataDirName: string): LockstepError {
    return new LockstepError('RECOVERY_FAILED', `Postgres on ${dataDirName} exited: ${firstFatal(this.logTail(dataDirName, 40)) ?? 'see the server log'}`, {
      hint: `Server log: ${this.layout.serverLog(dataDirName)}`,
    });
  }

  private async exitsWithin(dataDirName: string, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.runningPid(dataDirName) !== undefined) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  logTail(dataDirName: string, lines: number): string {
    try {
      const text = fs.readFileSync(this.layout.serverLog(dataDirName), 'utf8');
      return text.split('\n').slice(-lines - 1).join('\n');
    } catch {
      return '';
    }
  }
}

/** A role name as pg_hba.conf reads it: quoted unless plain. */
function hbaName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** A line Postgres wrote itself carries its severity; continuation lines (HINT text, queries) start with a tab. */
const SEVERITY = /\b(DEBUG\d?|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|DETAIL|HINT|CONTEXT|STATEMENT|LOCATION):\s/;
/** The words of a write the disk refused: the C library's (in Postgres' messages and cp's alike) and Postgres' own. */
const WRITE_REFUSED = /No space left on device|Disk quota exceeded|Read-only file system|Input\/output error|could not (write|extend|create|fsync|rename|copy)\b/i;
/** What restore_command prints routinely: recovery asks the archive for files it does not have (a history file, the WAL's end). */
const ROUTINE = /No such file or directory/;

/**
 * Why Postgres stopped, from a server log excerpt: its first FATAL or PANIC,
 * preceded by the cause when the log names one first. Recovery often fails
 * with a consequence ("could not locate required checkpoint record",
 * "recovery ended before configured recovery target was reached") after
 * restore_command could not copy a segment (`cp: … No space left on device`)
 * or a write was refused; that cause is what a person can act on.
 */
export function firstFatal(log: string): string | undefined {
  const lines = log.split('\n');
  // This start only: the log is appended to at every start of the same data directory.
  let from = 0;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (/\bLOG:\s+starting PostgreSQL\b/.test(lines[i]!)) {
      from = i;
      break;
    }
  }
  const run = lines.slice(from);
  const fatalAt = run.findIndex((l) => /\b(FATAL|PANIC):/.test(l));
  const fatal = fatalAt >= 0 ? withoutPrefix(run[fatalAt]!) : undefined;
  if (fatal !== undefined && WRITE_REFUSED.test(fatal)) return fatal;
  const cause = run.slice(0, fatalAt >= 0 ? fatalAt : run.length).find(isFailureCause);
  if (cause === undefined) return fatal;
  return fatal === undefined ? withoutPrefix(cause) : `${withoutPrefix(cause)}; then Postgres stopped: ${fatal}`;
}

/** A refused write Postgres logged, or a program's own error (restore_command writes to the server log too). */
function isFailureCause(line: string): boolean {
  if (ROUTINE.test(line)) return false;
  const severity = SEVERITY.exec(line)?.[1];
  if (severity !== undefined) return ['LOG', 'WARNING', 'ERROR'].includes(severity) && WRITE_REFUSED.test(line);
  return /^\S/.test(line) && (WRITE_REFUSED.test(line) || /\b(cannot|error|failed|denied|not found)\b/i.test(line));
}

function withoutPrefix(line: string): string {
  return line.replace(/^.*?\b(LOG|WARNING|ERROR|FATAL|PANIC):\s*/, '').trim();
}
