// Short read-only queries against a compute (the Postgres clients use): the insert LSN and a schema summary.

import type { Client } from 'pg';
import { LockstepError, throwIfAborted } from '../base/errors';
import { isLsn, type Lsn } from '../base/lsn';
import { passwordOf, redact } from '../base/log';
import type { SchemaSummary } from './engine';
import { describeDatabase, quoteIdent } from './postgresSchema';
import { connectScramOnly } from './postgresConnection';

export interface ComputeQueryOptions {
  signal?: AbortSignal;
  /** Limit for connecting and for the statement; a suspended Neon compute can take a few seconds to wake. */
  timeoutMs?: number;
  /** For messages: "the Neon branch br-main". */
  what: string;
}

/**
 * One connection per call, closed at once: the callers run rarely (a commit, a
 * restore), and a compute that was just restarted by a repoint must not be
 * reached through a connection to the one before it.
 */
export async function withCompute<T>(connectionString: string, options: ComputeQueryOptions, work: (client: Client) => Promise<T>): Promise<T> {
  throwIfAborted(options.signal, `reading ${options.what}`);
  const timeoutMs = options.timeoutMs ?? 20_000;
  let client: Client | undefined;
  const onAbort = () => void client?.end().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    client = await connectScramOnly(
      { connectionString, connectionTimeoutMillis: timeoutMs, statement_timeout: timeoutMs, query_timeout: timeoutMs, application_name: 'lockstep' },
      { what: options.what, signal: options.signal },
    );
    throwIfAborted(options.signal, `reading ${options.what}`);
    return await work(client);
  } catch (error) {
    if (options.signal?.aborted) throw new LockstepError('CANCELLED', `reading ${options.what} was cancelled`);
    throw computeError(error, options.what, connectionString);
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await client?.end().catch(() => undefined);
  }
}

/** `pg_current_wal_insert_lsn()`: the position every change so far has reached, without forcing a flush. */
export async function readInsertLsn(connectionString: string, options: ComputeQueryOptions): Promise<Lsn> {
  return withCompute(connectionString, options, async (client) => {
    const result = await client.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    const lsn = result.rows[0]?.lsn;
    if (!lsn || !isLsn(lsn)) throw new LockstepError('REMOTE', `${options.what} answered an LSN that is not one: ${String(lsn)}`);
    return lsn;
  });
}

/** User tables with their columns and rows (exact when small, else the planner's estimate): the one schema reader, as for every engine. */
export async function describeCompute(connectionString: string, options: ComputeQueryOptions): Promise<SchemaSummary> {
  return withCompute(connectionString, options, (client) => describeDatabase(client));
}

/**
 * Exact row counts (`count(*)`), table by table, within `budgetMs` in all: a
 * table the budget did not reach, or whose count it cut, is left out (the
 * caller shows it as unknown, never as a guess).
 */
export async function countRows(
  connectionString: string,
  tables: readonly { schema: string; name: string }[],
  options: ComputeQueryOptions & { budgetMs: number },
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const deadline = Date.now() + options.budgetMs;
  await withCompute(connectionString, { ...options, timeoutMs: Math.max(1000, options.budgetMs) }, async (client) => {
    for (const t of tables) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        await client.query(`SET statement_timeout = ${Math.max(1, Math.floor(left))}`);
        const result = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`);
        counts.set(`${t.schema}.${t.name}`, Number(result.rows[0]?.n ?? -1));
      } catch (error) {
        // Cancelled by the budget (57014), or not ours to read (42501): unknown, not an error.
        const code = (error as { code?: unknown }).code;
        if (code !== '57014' && code !== '42501' && code !== '42P01') throw error;
      }
    }
  });
  return counts;
}


function computeError(error: unknown, what: string, connectionString: string): LockstepError {
  if (error instanceof LockstepError) return error;
  const code = (error as { code?: unknown }).code;
  const text = redact(error instanceof Error ? error.message : String(error), [passwordOf(connectionString)]);
  if (code === '28P01' || code === '28000') {
    return new LockstepError('AUTH', `${what}: the database refused the login (${text})`, {
      hint: 'The role or its password changed; fetch a new connection string.',
    });
  }
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return new LockstepError('REMOTE', `${what}: the database answered an error (${code}: ${text})`);
  }
  const timedOut = /timeout/i.test(text);
  return new LockstepError(timedOut ? 'TIMEOUT' : 'ENGINE_DOWN', `${what}: could not query the database (${text})`, {
    hint: 'Check that the compute is running and reachable.',
  });
}


/** The address clients use, with the password removed. */
export function withoutPassword(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    url.password = '';
    return url.toString();
  } catch {
    return redact(connectionString);
  }
}
