// Copying an existing database into the local cluster: the source read with pg_dump (and one read-only look first), the copy restored as the app's role in one transaction.

import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client, ClientConfig } from 'pg';
import type { LocalEngineConfig } from '../../core/config';
import type { EngineContext, OperationOptions } from '../../core/engine';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { sourceAddress, type ClientTools, type ImportSource, type SourceInspection } from '../../core/importDatabase';
import { quoteIdent } from '../../core/postgresSchema';
import { LocalCluster } from './cluster';
import { localRoot } from './engine';
import { LocalLayout } from './layout';
import { resolvePostgresAccount } from './osUser';
import { trustedSocketDir } from './socketDir';
import { findPostgresBinaries } from './binaries';

export type { ClientTools, SourceInspection };

const CONNECT_TIMEOUT_S = 15;

/** Every directory that may hold pg_dump: `LOCKSTEP_PG_CLIENT_BIN` alone when set; else the server binaries', pg_config's, PATH and the usual install places. */
function clientCandidates(): string[] {
  const only = process.env.LOCKSTEP_PG_CLIENT_BIN;
  if (only) return [only];
  const found: string[] = [];
  try {
    found.push(findPostgresBinaries().bin);
  } catch {
    // no server binaries: the client tools may still be installed
  }
  try {
    found.push(execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim());
  } catch {
    // no pg_config
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) found.push(dir);
  const versioned: [string, (name: string) => boolean][] = [
    ['/usr/lib/postgresql', (n) => /^\d+$/.test(n)],
    ['/usr/local/opt', (n) => /^postgresql(@\d+)?$/.test(n)],
    ['/opt/homebrew/opt', (n) => /^postgresql(@\d+)?$/.test(n)],
    ['/Applications/Postgres.app/Contents/Versions', (n) => /^\d+$/.test(n)],
  ];
  for (const [base, matches] of versioned) {
    try {
      for (const name of fs.readdirSync(base)) if (matches(name)) found.push(path.join(base, name, 'bin'));
    } catch {
      // not installed there
    }
  }
  // Red Hat's layout: /usr/pgsql-16/bin
  try {
    for (const name of fs.readdirSync('/usr')) if (/^pgsql-\d+$/.test(name)) found.push(path.join('/usr', name, 'bin'));
  } catch {
    // no /usr
  }
  return found;
}

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Every pg_dump + pg_restore pair found, newest first (one per real directory). */
export function findClientTools(): ClientTools[] {
  const seen = new Set<string>();
  const tools: ClientTools[] = [];
  for (const dir of clientCandidates()) {
    const dump = path.join(dir, 'pg_dump');
    if (!executable(dump) || !executable(path.join(dir, 'pg_restore'))) continue;
    let real: string;
    try {
      real = fs.realpathSync(dump);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    try {
      // "pg_dump (PostgreSQL) 15.14 (Debian 15.14-1.pgdg120+1)"
      const out = execFileSync(dump, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
      const match = /\)\s*(\d+)(?:\.(\d+))?/.exec(out);
      if (match) tools.push({ bin: dir, major: Number(match[1]), version: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}` });
    } catch {
      // a wrapper that cannot run here
    }
  }
  return tools.sort((a, b) => b.major - a.major || compareMinor(b.version, a.version));
}

function compareMinor(a: string, b: string): number {
  return Number(a.split('.')[1] ?? 0) - Number(b.split('.')[1] ?? 0);
}

/** The newest pg_dump that can read a server of `major` (pg_dump refuses servers newer than itself). */
function chooseTools(serverVersion: string, major: number, address: string): ClientTools {
  const tools = findClientTools();
  const newest = tools[0];
  if (!newest) {
    throw new LockstepError('BINARIES_NOT_FOUND', 'no pg_dump and pg_restore found (the embedded Postgres package ships neither)', {
      hint: `Install the Postgres ${major} client tools (Debian/Ubuntu: apt-get install postgresql-client-${major}; macOS: brew install postgresql@${major}), or point LOCKSTEP_PG_CLIENT_BIN at a directory holding pg_dump and pg_restore. Nothing was changed.`,
    });
  }
  if (newest.major < major) {
    throw new LockstepError(
      'BINARIES_NOT_FOUND',
      `server version mismatch: ${address} runs Postgres ${serverVersion}, and the newest pg_dump here is ${newest.version} (${path.join(newest.bin, 'pg_dump')}); pg_dump cannot read a newer server`,
      {
        hint: `Install the Postgres ${major} client tools (Debian/Ubuntu: apt-get install postgresql-client-${major} from apt.postgresql.org; macOS: brew install postgresql@${major}), or point LOCKSTEP_PG_CLIENT_BIN at their bin directory. Nothing was changed.`,
      },
    );
  }
  return newest;
}

/** What node-postgres needs for the URL's TLS wishes, as libpq reads sslmode (prefer: TLS first, then plain). */
function tlsAttempts(source: ImportSource): ClientConfig['ssl'][] {
  const params = new URL(source.url).searchParams;
  const mode = params.get('sslmode') ?? 'prefer';
  const rootCert = params.get('sslrootcert');
  const ca = rootCert && rootCert !== 'system' ? fs.readFileSync(rootCert, 'utf8') : undefined;
  if (source.host === '' || source.host.startsWith('/')) return [false]; // a Unix socket
  switch (mode) {
    case 'disable':
      return [false];
    case 'allow':
      return [false, { rejectUnauthorized: false }];
    case 'prefer':
      return [{ rejectUnauthorized: false }, false];
    case 'require':
      // libpq: with a root certificate, require verifies as verify-ca does
      return [ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false }];
    case 'verify-ca':
      return [{ ...(ca ? { ca } : {}), checkServerIdentity: () => undefined }];
    default:
      return [{ ...(ca ? { ca } : {}) }];
  }
}

/** One read-only look at the source: the login, its version and size, its tables and extensions. Creates nothing anywhere. */
export async function inspectSource(source: ImportSource, options: OperationOptions = {}): Promise<SourceInspection> {
  const address = sourceAddress(source);
  options.onProgress?.(`Connecting to ${address} (read-only)`);
  const client = await connectSource(source, address, options.signal);
  try {
    const info = await client.query<{ version: string; num: string; db: string; bytes: string; tables: string }>(
      `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num, current_database() AS db,
              pg_database_size(current_database())::text AS bytes,
              (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%')::text AS tables`,
    );
    const extensions = await client.query<{ name: string; schema: string }>(
      `SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname <> 'plpgsql' ORDER BY 1`,
    );
    const row = info.rows[0]!;
    const serverVersion = row.version.split(' ')[0]!;
    const serverMajor = Math.floor(Number(row.num) / 10000);
    return {
      source,
      serverVersion,
      serverMajor,
      database: row.db,
      tables: Number(row.tables),
      bytes: Number(row.bytes),
      extensions: extensions.rows,
      tools: chooseTools(serverVersion, serverMajor, address),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function connectSource(source: ImportSource, address: string, signal?: AbortSignal): Promise<Client> {
  const { Client } = await import('pg');
  const attempts = tlsAttempts(source);
  for (let i = 0; ; i++) {
    throwIfAborted(signal, 'connecting to the source database');
    const client = new Client({
      host: source.host === '' ? (fs.existsSync('/var/run/postgresql') ? '/var/run/postgresql' : '/tmp') : source.host,
      port: source.port,
      ...(source.user ? { user: source.user } : {}),
      ...(source.password !== undefined ? { password: source.password } : {}),
      ...(source.database ? { database: source.database } : {}),
      ssl: attempts[i],
      connectionTimeoutMillis: CONNECT_TIMEOUT_S * 1000,
      application_name: 'lockstep import',
      // Belt and braces: this connection only reads.
      options: '-c default_transaction_read_only=on',
    });
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (error) {
      await client.end().catch(() => undefined);
      const message = (error as Error).message ?? '';
      // prefer/allow: the other way next, as libpq does
      if (i + 1 < attempts.length && (/does not support SSL/i.test(message) || /no encryption|SSL off|SSL required/i.test(message) || /EPROTO|ECONNRESET/.test(String((error as { code?: string }).code)))) continue;
      throw sourceError(error, source, address);
    }
  }
}

/** A failure to reach or log in to the source, in words a person can act on; never with the password. */
function sourceError(error: unknown, source: ImportSource, address: string): LockstepError {
  const code = (error as { code?: string }).code ?? '';
  const message = redact(String((error as Error).message ?? error), source);
  const unchanged = ' Nothing was changed.';
  if (code === 'ECONNREFUSED') {
    return new LockstepError('NETWORK', `cannot reach the database server at ${address}: connection refused`, {
      hint: `Is the server running, and does it accept connections on that host and port?${unchanged}`,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new LockstepError('NETWORK', `cannot reach the database server at ${address}: the host name "${source.host}" does not resolve`, {
      hint: `Check the host in the URL.${unchanged}`,
    });
  }
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || /timeout/i.test(message)) {
    return new LockstepError('NETWORK', `cannot reach the database server at ${address}: ${code === 'EHOSTUNREACH' || code === 'ENETUNREACH' ? 'no route to the host' : `no answer within ${CONNECT_TIMEOUT_S} s`}`, {
      hint: `Check the host and port, and any firewall or VPN between here and there.${unchanged}`,
    });
  }
  if (code === 'ENOENT') {
    return new LockstepError('NETWORK', `cannot reach the database server at ${address}: no socket there`, { hint: `Is the server running?${unchanged}` });
  }
  if (/password must be a string|no password (was )?supplied/i.test(message)) {
    return new LockstepError('AUTH', `${address} asks for a password, and the URL gives none`, {
      hint: `Put it in the URL, or in PGPASSWORD or ~/.pgpass.${unchanged}`,
    });
  }
  if (code === '28P01' || code === '28000') {
    return new LockstepError('AUTH', `${address} refused the login${source.user ? ` of "${source.user}"` : ''}: ${message}`, {
      hint: `Check the user and password in the URL (or PGPASSWORD / ~/.pgpass when the URL has none).${unchanged}`,
    });
  }
  if (code === '3D000') {
    return new LockstepError('NOT_FOUND', `${address} has no database "${source.database ?? source.user ?? ''}": ${message}`, { hint: `Check the database name in the URL.${unchanged}` });
  }
  if (error instanceof LockstepError) return error;
  return new LockstepError('REMOTE', `cannot read the database at ${address}: ${message}`, { hint: `Nothing was changed.`, cause: error });
}

/** The password out of any text we pass on (server and tool messages do not echo it; this makes sure). */
function redact(text: string, source: ImportSource): string {
  if (!source.password) return text;
  let out = text;
  for (const form of new Set([source.password, encodeURIComponent(source.password)])) out = out.split(form).join('****');
  return out;
}

export interface CopyResult {
  tables: number;
}

/**
 * pg_dump (custom format, into a private directory under `.git/lockstep`),
 * then pg_restore as the app's role over the private socket: no owners, no
 * grants, in one transaction. The local database must hold no tables.
 * Extensions the app's role may not create (untrusted ones) are created first
 * by Lockstep's own superuser when they live in `public`.
 */
export async function copyIntoLocal(ctx: EngineContext, config: LocalEngineConfig, inspected: SourceInspection, options: OperationOptions = {}): Promise<CopyResult> {
  const progress = options.onProgress ?? (() => undefined);
  const { source, tools } = inspected;
  const layout = new LocalLayout(localRoot(config, ctx.lockstepDir));
  const cluster = new LocalCluster({
    layout,
    account: () => resolvePostgresAccount(config.osUser),
    port: config.port,
    user: config.user,
    database: config.database,
    log: ctx.log,
    binaries: () => findPostgresBinaries({ configured: config.pgBin ?? layout.readState().bin }),
  });
  const socketDir = trustedSocketDir(layout, config.port);
  if (socketDir === undefined) {
    throw new LockstepError('ENGINE_DOWN', "the local database's private socket is missing", { hint: 'Restart the database (`lockstep db stop`, then `lockstep db start`) and import again.' });
  }
  const work = fs.mkdtempSync(path.join(ctx.lockstepDir, 'import-'));
  fs.chmodSync(work, 0o700);
  const created: string[] = [];
  const admin = await cluster.connect({ database: config.database });
  try {
    const { rows: existing } = await admin.query<{ n: string }>(
      `SELECT count(*)::text AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'`,
    );
    if (Number(existing[0]!.n) > 0) {
      throw new LockstepError('CONFLICT', `the local database "${config.database}" already holds ${existing[0]!.n} tables, views or sequences; an import goes into an empty one`, {
        hint: 'Import when setting up (`lockstep init --import URL` in a repository not set up yet), or drop those objects first. Nothing was changed.',
      });
    }
    created.push(...(await prepareExtensions(admin, inspected, config)));

    const dumpFile = path.join(work, 'source.dump');
    const sourceEnv: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: String(CONNECT_TIMEOUT_S), PGAPPNAME: 'lockstep import' };
    if (source.password !== undefined) {
      delete sourceEnv.PGPASSWORD;
      sourceEnv.PGPASSFILE = writePassfile(work, 'source.pgpass', '*', source.password);
    }
    const size = inspected.bytes > 0 ? ` (${formatBytes(inspected.bytes)})` : '';
    progress(`Dumping ${inspected.database} from ${source.host || 'the local socket'}${size}…`);
    // The source is only read: pg_dump takes a snapshot in a read-only transaction.
    await runTool(path.join(tools.bin, 'pg_dump'), ['--format=custom', '--no-sync', '--no-password', `--file=${dumpFile}`, `--dbname=${source.url}`], sourceEnv, 'pg_dump', source, options.signal);

    const list = await runTool(path.join(tools.bin, 'pg_restore'), ['--list', dumpFile], localEnv(), 'pg_restore --list', source, options.signal);
    const entries = list.split('\n');
    const tables = entries.filter((line) => /^\d+;\s+\d+\s+\d+\s+TABLE\s+(?!DATA\s)/.test(line)).length;
    // Comments on extensions belong to the extension's owner (a superuser, for some): the comment is the extension's own anyway.
    const kept = entries.filter((line) => !/^\d+;\s+\d+\s+\d+\s+COMMENT\s+-\s+EXTENSION\s/.test(line));
    const listFile = path.join(work, 'restore.list');
    fs.writeFileSync(listFile, kept.join('\n'), { mode: 0o600 });

    progress(`Restoring ${tables} ${tables === 1 ? 'table' : 'tables'}…`);
    const targetEnv = { ...localEnv(), PGPASSFILE: writePassfile(work, 'local.pgpass', config.user, layout.readPassword()) };
    const target = [`host=${conninfoValue(socketDir)}`, `port=${config.port}`, `user=${conninfoValue(config.user)}`, `dbname=${conninfoValue(config.database)}`].join(' ');
    await runTool(
      path.join(tools.bin, 'pg_restore'),
      ['--single-transaction', '--exit-on-error', '--no-password', '--no-owner', '--no-privileges', '--no-publications', '--no-subscriptions', '--no-security-labels', '--no-tablespaces', `--use-list=${listFile}`, `--dbname=${target}`, dumpFile],
      targetEnv,
      'pg_restore',
      source,
      options.signal,
    );
    created.length = 0; // the restore committed: the extensions are the database's now
    progress('Analyzing the imported tables');
    await admin.query('ANALYZE');
    return { tables };
  } catch (error) {
    // The restore ran in one transaction; what Lockstep created before it goes too.
    for (const name of created.reverse()) await admin.query(`DROP EXTENSION IF EXISTS ${quoteIdent(name)} CASCADE`).catch(() => undefined);
    throw error;
  } finally {
    await admin.end().catch(() => undefined);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The source's extensions, against this Postgres: trusted ones the app's role
 * creates itself during the restore; untrusted ones in `public` Lockstep's
 * superuser creates first (returned, to drop on failure); the rest stop here.
 */
async function prepareExtensions(admin: Client, inspected: SourceInspection, config: LocalEngineConfig): Promise<string[]> {
  if (inspected.extensions.length === 0) return [];
  const { rows } = await admin.query<{ name: string; trusted: boolean; installed: boolean }>(
    `SELECT name, bool_or(trusted) AS trusted, bool_or(installed) AS installed FROM pg_available_extension_versions GROUP BY name`,
  );
  const available = new Map(rows.map((r) => [r.name, r]));
  const missing = inspected.extensions.filter((e) => !available.has(e.name));
  if (missing.length > 0) {
    throw new LockstepError('CONFLICT', `the source uses ${missing.length === 1 ? 'an extension' : 'extensions'} this Postgres does not have: ${missing.map((e) => e.name).join(', ')}`, {
      hint: 'Install them for the Postgres the local engine runs (e.g. apt-get install postgresql-<version>-postgis-3), or set LOCKSTEP_PG_BIN to a Postgres that has them before `lockstep init`. Nothing was changed.',
    });
  }
  const created: string[] = [];
  for (const extension of inspected.extensions) {
    const found = available.get(extension.name)!;
    if (found.trusted || found.installed) continue;
    if (extension.schema !== 'public') {
      throw new LockstepError('CONFLICT', `the source's extension ${extension.name} (in schema ${extension.schema}) needs a superuser to create, and the app's role "${config.user}" is not one`, {
        hint: 'Only untrusted extensions in the public schema are created for you. Nothing was changed.',
      });
    }
    await admin.query(`CREATE EXTENSION IF NOT EXISTS ${quoteIdent(extension.name)} WITH SCHEMA public`);
    created.push(extension.name);
  }
  return created;
}

/** Lockstep's connections to its own cluster: no libpq variable from the caller's shell. */
function localEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', PGAPPNAME: 'lockstep import', ...(process.env.TZ ? { TZ: process.env.TZ } : {}) };
}

/** A libpq password file (0600): the password never goes on a command line or in the environment. */
function writePassfile(dir: string, name: string, user: string, password: string): string {
  const escape = (text: string) => text.replace(/[\\:]/g, (c) => `\\${c}`);
  const file = path.join(dir, name);
  fs.writeFileSync(file, `*:*:*:${user === '*' ? '*' : escape(user)}:${escape(password)}\n`, { mode: 0o600 });
  return file;
}

function conninfoValue(value: string): string {
  return `'${value.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function formatBytes(bytes: number): string {
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(1)} GB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MB`;
  return `${Math.max(1, Math.round(bytes / 1024))} kB`;
}

/** Runs a client tool to the end; its stdout, or a LockstepError with the lines of stderr that say why. */
function runTool(file: string, args: string[], env: NodeJS.ProcessEnv, what: string, source: ImportSource, signal?: AbortSignal): Promise<string> {
  throwIfAborted(signal, what);
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 64 * 1024) stderr += chunk;
    });
    child.once('error', (error) => {
      if (signal?.aborted) reject(new LockstepError('CANCELLED', `${what} was cancelled`));
      else reject(new LockstepError('BINARIES_NOT_FOUND', `${what} could not run (${file}): ${error.message}`));
    });
    child.once('close', (code, killedBy) => {
      if (code === 0) return resolve(stdout);
      if (signal?.aborted) return reject(new LockstepError('CANCELLED', `${what} was cancelled`));
      reject(toolError(what, redact(stderr, source), code, killedBy));
    });
  });
}

function toolError(what: string, stderr: string, code: number | null, killedBy: NodeJS.Signals | null): LockstepError {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => /error:|FATAL|ERROR/.test(l)) ?? lines[lines.length - 1] ?? (killedBy ? `killed by ${killedBy}` : `exit code ${code}`);
  const command = lines.find((l) => l.startsWith('Command was:'));
  const reason = error.replace(/^(pg_dump|pg_restore): (error: )?/, '');
  if (what === 'pg_dump') {
    return new LockstepError('REMOTE', `pg_dump could not read the source: ${reason}`, { hint: 'The source was only read and is unchanged; nothing was imported.' });
  }
  return new LockstepError('CONFLICT', `${what} failed: ${reason}${command ? ` (${command.slice(0, 300)})` : ''}`, {
    hint: 'The restore ran in one transaction: nothing of it was kept, and the source is unchanged. Objects that need a superuser or roles that do not exist here (event triggers, policies naming other roles) cannot be imported.',
  });
}
