// Schema summaries for previews: now from the serving server, or as of a checkpoint from a throwaway copy recovered there and paused.

import * as fs from 'node:fs';
import type { OperationOptions, PointInHistory, SchemaSummary } from '../../core/engine';
import { LockstepError } from '../../core/errors';
import { removeTree } from '../../core/files';
import { formatLsn } from '../../core/lsn';
import { describeDatabase } from '../postgresSchema';
import type { LocalContext } from './context';
import { materialise, privateSocketDir, replayDeadline } from './recovery';
import { checkTarget } from './restorability';
import { archiveServing, engineDown } from './server';

export async function describe(engine: LocalContext, at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
  const { layout, cluster } = engine;
  if (!at) {
    const client = await cluster.connect().catch((error) => {
      throw engineDown(engine.config.port, error);
    });
    try {
      return await describeDatabase(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  // The past is read from a throwaway copy recovered to the marker and paused
  // there (never promoted: it must not take a timeline id), on a private socket.
  const { timeline, lsn, backup } = await checkTarget(engine, at, options);
  if (cluster.runningPid(layout.readState().serving) !== undefined) await archiveServing(engine, options.signal);
  const name = `preview-${process.pid}-${Date.now()}`;
  const socketDir = privateSocketDir(engine);
  options.onProgress?.(`Recovering a preview copy to ${formatLsn(lsn)}`);
  try {
    // A preview never takes the prepared copy: that is for the next restore.
    await materialise(engine, backup, name, { socketDir, timeline, lsn, action: 'pause' }, { usePrepared: false });
    const deadline = replayDeadline(backup, lsn);
    await cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
    for (;;) {
      const client = await cluster.connectWhenReady(name, { deadline, signal: options.signal });
      try {
        const { rows } = await client.query<{ paused: boolean }>("SELECT pg_get_wal_replay_pause_state() = 'paused' AS paused");
        if (rows[0]?.paused) return await describeDatabase(client);
      } finally {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new LockstepError('TIMEOUT', 'the preview copy did not reach the checkpoint in time');
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await cluster.stop(name, 'immediate').catch(() => undefined);
    removeTree(layout.dataDir(name));
    fs.rmSync(socketDir, { recursive: true, force: true });
  }
}
