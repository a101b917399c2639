// Bringing an existing database in: the source's URL checked, its schema and data copied into the engine, and the first checkpoint taken there.

import type { Checkpoint } from './checkpoint';
import { engineSection } from './config';
import type { EngineContext, EngineKind, OperationOptions } from './engine';
import { LockstepError } from '../base/errors';
import { displayText } from './journalText';
import { takeMarker } from './markers';
import type { Project } from './project';

/** A database to copy from, as its URL names it. The password is kept apart so that nothing prints it with the rest. */
export interface ImportSource {
  /** The URL without its password (what pg_dump is given). */
  url: string;
  /** Decoded; handed to pg_dump through a 0600 password file, never on a command line. */
  password?: string;
  /** Host name or address ("" for the client's default socket), user, database: for messages and the checkpoint's label. */
  host: string;
  port: number;
  user?: string;
  database?: string;
}

const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

/**
 * Checks a `postgres://` or `postgresql://` URL without connecting; throws
 * BAD_INPUT (exit 2) for anything else, and never repeats the password.
 */
export function parseImportUrl(text: string): ImportSource {
  const bad = (why: string) =>
    new LockstepError('BAD_INPUT', `--import: ${why}`, { hint: 'Give a URL such as postgresql://user:password@db.example.com:5432/app (nothing was changed).' });
  const trimmed = text.trim();
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    throw bad(/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? 'the URL cannot be read' : 'not a URL (it should start with postgresql://)');
  }
  if (url.protocol !== 'postgresql:' && url.protocol !== 'postgres:') throw bad(`"${url.protocol}" is not a Postgres URL (postgresql:// or postgres://)`);
  let decoded: { user: string; password: string; database: string; host: string };
  try {
    decoded = {
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      host: url.hostname.replace(/^\[(.*)\]$/, '$1') || (url.searchParams.get('host') ?? ''),
    };
  } catch {
    throw bad('the URL has a broken %-escape');
  }
  if (/[\x00-\x1f\x7f]/.test(decoded.user + decoded.database + decoded.host)) throw bad('the user, host or database name holds a control character');
  if (decoded.database.includes('/')) throw bad('the database name holds a "/"');
  const port = url.port === '' ? Number(url.searchParams.get('port') ?? 5432) : Number(url.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw bad('the port must be a number from 1 to 65535');
  const sslmode = url.searchParams.get('sslmode');
  if (sslmode !== null && !SSL_MODES.includes(sslmode)) throw bad(`sslmode must be one of ${SSL_MODES.join(', ')}`);
  const withoutPassword = new URL(url.toString());
  withoutPassword.password = '';
  return {
    url: withoutPassword.toString(),
    ...(decoded.password ? { password: decoded.password } : {}),
    host: decoded.host,
    port,
    ...(decoded.user ? { user: decoded.user } : {}),
    ...(decoded.database ? { database: decoded.database } : {}),
  };
}

/** "db.example.com:5432" (or the default socket), for messages. */
export function sourceAddress(source: ImportSource): string {
  const host = source.host === '' ? 'the default socket' : source.host.includes(':') ? `[${source.host}]` : source.host;
  return `${host}:${source.port}`;
}

/** pg_dump and pg_restore of one version, from one directory. */
export interface ClientTools {
  bin: string;
  major: number;
  version: string;
}

/** What an importer found when it looked at the source, read-only. */
export interface SourceInspection {
  source: ImportSource;
  /** "15.4" */
  serverVersion: string;
  serverMajor: number;
  database: string;
  tables: number;
  bytes: number;
  /** Extensions other than plpgsql, with the schema each lives in. */
  extensions: { name: string; schema: string }[];
  /** The client tools that will make the copy. */
  tools: ClientTools;
}

/** An engine's way of copying an existing database in (`EngineDescriptor.importer`). */
export interface DatabaseImporter<Config> {
  /** Connects to the source (read-only) and checks what the copy needs; creates nothing, and says what to fix. */
  inspect(source: ImportSource, options: OperationOptions): Promise<SourceInspection>;
  /** Copies the source into the engine's database, which must hold no tables yet; when it fails, that database is left as it was. */
  copyInto(ctx: EngineContext, config: Config, inspected: SourceInspection, options: OperationOptions): Promise<{ tables: number }>;
}

export interface ImportRequest extends OperationOptions {
  source: ImportSource;
  /** What `inspectImportSource` found, when the caller checked the source already (init does, before creating anything). */
  inspected?: SourceInspection;
}

export interface ImportResult {
  /** The first checkpoint: the database as imported. */
  checkpoint: Checkpoint;
  tables: number;
  /** "Postgres 15.4" of the source. */
  sourceVersion: string;
  database: string;
}

/**
 * Connects to the source (read-only) and checks what the copy into `engine`
 * needs: the login, the server's version against the pg_dump at hand, the
 * extensions. Creates nothing; failures say what to fix.
 */
export async function inspectImportSource(project: Project, engine: EngineKind, source: ImportSource, options: OperationOptions = {}): Promise<SourceInspection> {
  const descriptor = await project.engineDescriptor(engine);
  if (!descriptor.importer) {
    throw new LockstepError('BAD_INPUT', `--import copies into the local engine, not ${engine}`, { hint: 'Use --engine local (the default). Nothing was changed.' });
  }
  return descriptor.importer.inspect(source, options);
}

/**
 * Copies the source's schema and data into the engine's database (which must
 * hold no tables yet), then takes the first checkpoint there. The source is
 * only read (pg_dump). The restore runs in one transaction: when it fails, the
 * engine's database is left as it was.
 */
export async function importDatabase(project: Project, request: ImportRequest): Promise<ImportResult> {
  const config = project.config();
  const descriptor = await project.engineDescriptor(config.engine);
  if (!descriptor.importer) {
    throw new LockstepError('BAD_INPUT', `importing a database needs the local engine (this repository uses ${config.engine})`, {
      hint: 'Run `lockstep init --engine local --import URL`, or copy the data into your database with pg_dump and pg_restore.',
    });
  }
  const section = engineSection(descriptor, config, project.paths.config);
  const inspected = request.inspected ?? (await descriptor.importer.inspect(request.source, request));
  await project.resetEngine(); // the configuration may have just been written
  const engine = await project.engine();
  if (engine.start) await engine.start({ signal: request.signal });
  const copied = await descriptor.importer.copyInto(project.engineContext(), section, inspected, request);
  // A base backup when the import wrote more WAL than the policy allows, so that restoring to it replays little.
  if (engine.maintenanceDue?.(await engine.head({ signal: request.signal }))) request.onProgress?.('Taking a base backup of the imported database');
  await engine.maintain?.({ signal: request.signal, onProgress: request.onProgress });
  request.onProgress?.('Taking the first checkpoint');
  const where = request.source.host === '' ? inspected.database : `${request.source.host}/${inspected.database}`;
  const checkpoint = await takeMarker(project, { kind: 'snapshot', label: displayText(`Imported from ${where}`, 150), signal: request.signal });
  return { checkpoint, tables: copied.tables, sourceVersion: `Postgres ${inspected.serverVersion}`, database: inspected.database };
}
