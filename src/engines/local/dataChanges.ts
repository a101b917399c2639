// Whether the app's data changed after a position: read from the WAL itself (pg_walinspect), so that what Lockstep writes on the
// serving database (a base backup's checkpoint and end record, an archive switch) does not read as the app's writes.

import type { Client } from 'pg';
import type { Position } from '../../core/engine';
import { formatLsn, parseLsn } from '../../base/lsn';

/** Beyond this much WAL (wal_keep_size, archive.ts), it may be recycled and costs more than a listing may spend: the positions decide. */
const MAX_BYTES = 64n * 1024n * 1024n;
const STEP_BYTES = 2n * 1024n * 1024n;

/**
 * True when a record with a transaction id touched a block of the app's
 * database after `since` (a write, DDL, a sequence step: anything that makes
 * the data differ; an aborted write counts too, which errs towards "descends
 * from"); false when none did; undefined when the WAL cannot tell (another
 * timeline, too far back, recycled, pg_walinspect missing, too slow).
 * Checkpoints, switches, hint-bit images and vacuum carry no transaction id.
 */
export async function appDataChangedSince(client: Client, appDatabase: string, since: Position, head: Position): Promise<boolean | undefined> {
  if (since.timelineId !== head.timelineId) return undefined;
  let from: bigint;
  let to: bigint;
  try {
    from = parseLsn(since.lsn);
    to = parseLsn(head.lsn);
  } catch {
    return undefined;
  }
  if (to === from) return false;
  if (to < from || to - from > MAX_BYTES) return undefined;
  try {
    await client.query("SET statement_timeout = '1500ms'");
    // In the postgres database, once: its own commit touches no block of the app's database.
    await client.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    const oid = (await client.query<{ oid: string }>('SELECT oid::text AS oid FROM pg_database WHERE datname = $1', [appDatabase])).rows[0]?.oid;
    if (!oid) return undefined;
    // In steps, so that a write soon after `since` (the common case when the app is busy) is found without reading the rest.
    for (let at = from; at < to; at += STEP_BYTES) {
      const end = at + STEP_BYTES < to ? at + STEP_BYTES : to;
      const changed = await client
        .query<{ changed: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)
                           WHERE xid <> 0 AND block_ref ~ ('rel [0-9]+/' || $3 || '/')) AS changed`,
          [formatLsn(at), formatLsn(end), oid],
        )
        .then((result) => result.rows[0]?.changed)
        .catch((error: unknown) => {
          // A step inside the padding a segment switch leaves (an archive switch, a backup's end) holds no record at all.
          if (/could not find a valid record after/.test((error as Error).message)) return false;
          throw error;
        });
      if (changed !== false) return changed;
    }
    return false;
  } catch {
    // Recycled WAL (a cluster set up before wal_keep_size), no pg_walinspect, a timeout: the positions decide.
    return undefined;
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
  }
}
