// Schema summaries for previews: now from the serving server, or as of a checkpoint from a throwaway copy recovered there and paused.

import * as fs from 'node:fs';
import type { OperationOptions, PointInHistory, SchemaSummary } from '../../core/engine';
import { isLockstepError, LockstepError } from '../../base/errors';
import { removeTree } from '../../base/files';
import { describeDatabase } from '../../core/postgresSchema';
import type { BackupMeta } from './baseBackup';
import { firstFatal } from './cluster';
import type { LocalContext } from './context';
import { commitNow, endByTime, materialise, privateSocketDir, replayBound, replayDeadline } from './recovery';
import { checkTarget, describeStop, type RecoveryStop } from './restorability';
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
  const { timeline, stop, backup } = await checkTarget(engine, at, options);
  const state = layout.readState();
  if (cluster.runningPid(state.serving) !== undefined) {
    // By time, recovery pauses only at a commit later than the moment (as a fork does, one is committed now).
    if (stop.kind === 'time' && timeline === state.servingTimeline) await commitNow(engine);
    await archiveServing(engine, options.signal);
  }
  try {
    return await describeCopy(engine, backup, timeline, stop, options);
  } catch (error) {
    // No commit after the moment on a timeline that ended: the data at that moment is the timeline's end (see `endByTime`).
    const end = endByTime(engine, state, timeline, stop, error);
    return await describeCopy(engine, backup, timeline, { kind: 'lsn', lsn: end }, options);
  }
}

/** A throwaway copy recovered to `stop` and paused there, described, then removed. */
async function describeCopy(engine: LocalContext, backup: BackupMeta, timeline: number, stop: RecoveryStop, options: OperationOptions): Promise<SchemaSummary> {
  const { layout, cluster } = engine;
  const name = `preview-${process.pid}-${Date.now()}`;
  const socketDir = privateSocketDir(engine);
  options.onProgress?.(`Recovering a preview copy to ${describeStop(stop)}`);
  try {
    // A preview never takes the prepared copy: that is for the next restore.
    await materialise(engine, backup, name, { socketDir, timeline, stop, action: 'pause' }, { usePrepared: false });
    const deadline = replayDeadline(backup, replayBound(engine, timeline, stop));
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
  } catch (error) {
    if (isLockstepError(error, 'CANCELLED')) throw error;
    // The copy exits when recovery fails (by time: no commit after the moment): said in Postgres' own words.
    const fatal = (await exited(engine, name, 2_000)) ? firstFatal(cluster.logTail(name, 40)) : undefined;
    if (fatal) throw new LockstepError('RECOVERY_FAILED', `the preview copy could not recover to ${describeStop(stop)}: ${fatal}`, { cause: error });
    throw error;
  } finally {
    await cluster.stop(name, 'immediate').catch(() => undefined);
    removeTree(layout.dataDir(name));
    fs.rmSync(socketDir, { recursive: true, force: true });
  }
}

/** Whether the server of `name` has exited, or does within `ms`. */
async function exited(engine: LocalContext, name: string, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (engine.cluster.runningPid(name) !== undefined) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}
