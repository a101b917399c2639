// The running server as the engine's parts read it: its head and its archiver in one query, whether it is ours, and switching WAL into the archive.

import type { Client } from 'pg';
import type { Position } from '../../core/engine';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { parseLsn, timelineOfWalFile, walFileName } from '../../base/lsn';
import { archiverErrorIn, archiverFailing, describeArchiverFailure, waitForArchived, type ArchiverStatus } from './archive';
import { DEFAULT_ARCHIVE_TIMEOUT_MS, type LocalContext } from './context';
import type { LocalState } from './layout';

export async function readHead(client: Client): Promise<Position> {
  return (await readHeadAndArchiver(client)).head;
}

/** The marker and, in the same round trip, whether WAL archiving is failing (a checkpoint past the archive is not restorable yet). */
export async function readHeadAndArchiver(client: Client): Promise<{ head: Position; archiver: ArchiverStatus | undefined }> {
  const { rows } = await client.query<{ lsn: string; walfile: string } & ArchiverRow>(
    `SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile, ${ARCHIVER_COLUMNS}
       FROM pg_current_wal_insert_lsn() AS lsn LEFT JOIN pg_stat_archiver a ON true`,
  );
  const row = rows[0]!;
  return { head: { timelineId: String(timelineOfWalFile(row.walfile)), lsn: row.lsn }, archiver: toArchiverStatus(row) };
}

/** One line for a person when the archiver is failing, else none. */
export function archiveWarnings(status: ArchiverStatus | undefined, archive: string): string[] {
  if (!status || !archiverFailing(status)) return [];
  return [`WAL archiving is failing (${describeArchiverFailure(status)}): checkpoints from then on are not restorable until it works again; check free space and permissions of ${archive}`];
}

/** pg_stat_archiver's columns as `ArchiverStatus` reads them, for a query that selects from it as `a`. */
const ARCHIVER_COLUMNS = 'a.failed_count::text, a.last_failed_wal, a.last_failed_time::text, a.last_archived_time::text';

interface ArchiverRow {
  failed_count: string | null;
  last_failed_wal: string | null;
  last_failed_time: string | null;
  last_archived_time: string | null;
}

function toArchiverStatus(row: ArchiverRow | undefined): ArchiverStatus | undefined {
  if (!row || row.failed_count === null) return undefined;
  return { failedCount: Number(row.failed_count), lastFailedWal: row.last_failed_wal, lastFailedTime: row.last_failed_time, lastArchivedTime: row.last_archived_time };
}

export async function archiverStatusOf(client: Client): Promise<ArchiverStatus | undefined> {
  const { rows } = await client.query<ArchiverRow>(`SELECT ${ARCHIVER_COLUMNS} FROM pg_stat_archiver a`);
  return toArchiverStatus(rows[0]);
}

/**
 * Wait until the server on the port is out of recovery, and is ours: same
 * system identifier, and (when given) the expected timeline. A naive connect
 * loop could reach an old server still holding the port.
 */
export async function verifyServing(
  engine: LocalContext,
  name: string,
  state: LocalState,
  timeline: number | undefined,
  deadline: number,
  signal?: AbortSignal,
): Promise<Position> {
  for (;;) {
    const client = await engine.cluster.connectWhenReady(name, { database: 'postgres', deadline, signal });
    try {
      const { rows } = await client.query<{ recovering: boolean; system: string }>(
        'SELECT pg_is_in_recovery() AS recovering, system_identifier::text AS system FROM pg_control_system()',
      );
      const row = rows[0]!;
      if (state.systemIdentifier && row.system !== state.systemIdentifier) {
        throw new LockstepError('PORT_TAKEN', `the server on port ${engine.config.port} is not this project's database (system ${row.system})`);
      }
      if (!row.recovering) {
        const head = await readHead(client);
        if (timeline !== undefined && Number(head.timelineId) !== timeline) {
          throw new LockstepError('RECOVERY_FAILED', `the database serves timeline ${head.timelineId}, expected ${timeline}`);
        }
        return head;
      }
    } finally {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new LockstepError('TIMEOUT', 'the database did not finish recovery in time');
    throwIfAborted(signal, 'waiting for recovery');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Write a record, switch WAL segments and wait until the finished segment is archived. Returns the archived end. */
export async function archiveServing(engine: LocalContext, signal?: AbortSignal): Promise<string> {
  const state = engine.layout.readState();
  const client = await engine.cluster.connect({ database: 'postgres' });
  try {
    // A record first, so the switch always closes a segment: with nothing
    // written since the last switch, pg_switch_wal does nothing and a target
    // at the very head would have no record after it to stop before.
    await client.query("SELECT pg_logical_emit_message(false, 'lockstep', 'archive')");
    const { rows } = await client.query<{ lsn: string; walfile: string }>(
      'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile FROM pg_switch_wal() AS lsn',
    );
    const row = rows[0]!;
    const switchedTo = parseLsn(row.lsn);
    const file = walFileName(timelineOfWalFile(row.walfile), switchedTo - 1n, state.walSegmentBytes);
    await waitForArchived(engine.layout.archive, file, {
      timeoutMs: engine.config.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS,
      signal,
      archiverStatus: () => archiverStatusOf(client),
      archiverError: () => archiverError(engine, state.serving),
    });
    return row.lsn;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export function engineDown(port: number, error: unknown): LockstepError {
  if (error instanceof LockstepError) return error;
  // It answered, and refused the login: starting it is not the way out.
  const code = (error as { code?: unknown }).code;
  if (code === '28P01' || code === '28000') {
    return new LockstepError('AUTH', `the local database on 127.0.0.1:${port} refused Lockstep's login (${(error as Error).message})`, {
      hint: 'Starting it will not help: the password of the role Lockstep logs in as was changed, or pg_hba.conf no longer lets it in. Lockstep uses the password it generated and keeps beside the database (.git/lockstep/local by default): set the role\'s password back to it, or undo the pg_hba.conf change.',
      cause: error,
    });
  }
  return new LockstepError('ENGINE_DOWN', `the local database on 127.0.0.1:${port} is not answering (${(error as Error).message})`, {
    hint: 'Start it with `lockstep db start` (or "Lockstep: Start Local Database").',
    cause: error,
  });
}

/** The archiver's failure in its own words: pg_stat_archiver's figures, then its last error in the serving server's log. */
export function archiverFailure(engine: LocalContext, status: ArchiverStatus): string {
  const reason = archiverError(engine, engine.layout.readState().serving);
  return `Postgres cannot archive WAL: ${describeArchiverFailure(status)}${reason ? `: ${reason}` : ''}`;
}

/** The archiver's last error in a server's log. */
export function archiverError(engine: LocalContext, dataDirName: string): string | undefined {
  return archiverErrorIn(engine.cluster.logTail(dataDirName, 200));
}
