// The cut-over, start to end: the only moment clients see. Check the archive, stop the old server, start the fork on the app's port, seal the old timeline; on failure, the old server again.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperationOptions, Position, RepointOptions, TimelineHandle } from '../../core/engine';
import { LockstepError, throwIfAborted } from '../../base/errors';
import { faultPoint } from '../../core/faults';
import { formatLsn, walFileName } from '../../base/lsn';
import { archiverFailing, archiveTail, removeArchivedFiles, segmentsAwaitingArchive } from './archive';
import { withClusterLock, type LocalContext } from './context';
import { readControlFile } from './controlFile';
import type { LocalState } from './layout';
import { archiverFailure, archiverStatusOf, verifyServing } from './server';

/** How long the cut-over keeps trying to start a server whose port another program holds. */
const PORT_RETRY_MS = 3_000;

/**
 * Stop the old server (fast: every acknowledged commit is flushed and lies
 * before its shutdown checkpoint), start the target on the app's port, then
 * seal the old timeline (that checkpoint is its end, and the WAL up to it goes
 * to the archive: the exact undo point). On failure the old server serves
 * again, or the error says it does not and how to start it.
 */
export async function repoint(engine: LocalContext, target: TimelineHandle, options: RepointOptions = {}): Promise<Position> {
  const { layout, cluster } = engine;
  const name = String(target.ref.dataDir ?? '');
  if (!name || !fs.existsSync(layout.dataDir(name))) {
    throw new LockstepError('BAD_INPUT', `no data directory "${name}" to serve`);
  }
  if (target.role === 'fork' && target.ref.promoted !== true) {
    throw new LockstepError('BAD_INPUT', `the fork in ${name} was not recovered by this version of Lockstep; restore again`);
  }
  return withClusterLock(layout, async () => {
    const state = layout.readState();
    const previous = state.serving;
    if (previous === name && cluster.runningPid(name) !== undefined) {
      return engine.head(options);
    }

    if (cluster.runningPid(previous) !== undefined && previous !== name) {
      // While it still serves: fail before the cut if the archive is stuck, and
      // checkpoint now so that the shutdown checkpoint (in the gap) has little to write.
      options.onProgress?.('Checking the WAL archive');
      await readyForCutOver(engine, previous, options.signal);
      options.onProgress?.('Cutting over: stopping the current database');
      await engine.close();
      await cluster.stop(previous, 'fast');
      faultPoint('after-old-stop');
    }
    // A server a killed restore left on the app's port (a fork it had started) gives way too.
    for (const stray of appPortHolders(engine, state)) if (stray !== name) await cluster.stop(stray, 'fast');

    let end: Position | undefined;
    try {
      options.onProgress?.(target.role === 'fork' ? 'Cutting over: starting the restored database' : 'Starting the previous database');
      if (target.role === 'serving') unsealTimeline(engine, name, state);
      const head = await startOnAppPort(engine, state, name, Number(target.timelineId), options);
      faultPoint('after-new-start');
      // The app's gap is over; the old timeline, stopped for good, is sealed now (an
      // interruption here is finished by the next command, which seals it then).
      if (previous !== name) end = sealTimeline(engine, previous, state);
      if (end) await options.onCutOver?.(end);
      layout.updateState((s) => {
        if (previous !== name) {
          const oldTimeline = String(s.servingTimeline);
          s.timelines[oldTimeline] = { ...s.timelines[oldTimeline], ...(end ? { endLsn: end.lsn } : {}), abandonedAt: new Date().toISOString() };
        }
        s.serving = name;
        s.servingTimeline = Number(head.timelineId);
        s.timelines[head.timelineId] = { dataDir: name };
        if (s.pendingForks) delete s.pendingForks[name];
      });
      return head;
    } catch (error) {
      if (previous === name) throw error;
      await cluster.stop(name, target.role === 'fork' ? 'fast' : 'immediate').catch(() => undefined);
      try {
        // The old timeline goes on: the tail we archived for it would clash with the segment it completes later.
        unsealTimeline(engine, previous, state);
        await startOnAppPort(engine, state, previous, state.servingTimeline, {});
        engine.log.warn(`repoint to ${name} failed; ${previous} serves again`);
      } catch (compensation) {
        throw new LockstepError(
          'ENGINE_DOWN',
          `${(error as Error).message}; and the previous database (${previous}, timeline ${state.servingTimeline}) could not be started again: ${(compensation as Error).message}`,
          { hint: `It is stopped, intact and ready: \`lockstep db start\` starts it. Server logs: ${layout.logs}`, cause: error },
        );
      }
      throw error;
    }
  });
}

/** Our data directories whose server listens on the app's port (normally the serving one alone). */
function appPortHolders(engine: LocalContext, state: LocalState): string[] {
  const names = new Set([state.serving, ...Object.keys(state.pendingForks ?? {}), ...Object.values(state.timelines).flatMap((t) => (t.dataDir ? [t.dataDir] : []))]);
  return [...names].filter((n) => fs.existsSync(engine.layout.dataDir(n)) && engine.cluster.runningPid(n) !== undefined && !engine.cluster.endpointOf(n).private);
}

/** Before the cut: the archiver must be working (else the old timeline's end could not be kept), and a checkpoint shortens the stop. */
async function readyForCutOver(engine: LocalContext, serving: string, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal, 'the restore');
  const client = await engine.cluster.connect({ database: 'postgres' });
  try {
    const status = await archiverStatusOf(client);
    if (status && archiverFailing(status)) {
      throw new LockstepError('ARCHIVE_STUCK', archiverFailure(engine, status), {
        hint: `Check free disk space and permissions of ${engine.layout.archive}, and the server log (${engine.layout.logs}). Nothing was changed.`,
      });
    }
    // A fast shutdown waits for the archiver to take every completed segment: let it catch up while the server
    // still serves (after a bulk update that is tens of MB), so that the gap holds only the shutdown itself.
    await archiverCaughtUp(engine.layout.dataDir(serving), ARCHIVE_CATCH_UP_MS, signal);
    // A commit record near the timeline's end: a restore by time to a moment before now stops there, on an
    // abandoned timeline too, instead of finding no commit after the moment (see recovery.ts `endByTime`).
    await client.query('SELECT pg_current_xact_id()');
    await client.query('CHECKPOINT');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** How long the cut-over lets the archiver catch up before stopping anyway (the shutdown then archives the rest). */
const ARCHIVE_CATCH_UP_MS = 10_000;

/** Until no segment of `dataDir` waits for the archiver, or `withinMs` passed; polled every 20 ms. Unreadable: the shutdown archives what is left, as it always does. */
async function archiverCaughtUp(dataDir: string, withinMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (segmentsAwaitingArchive(dataDir).length === 0 || Date.now() > deadline) return;
    throwIfAborted(signal, 'the restore');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * A cleanly stopped data directory's timeline, sealed: its end is the
 * shutdown checkpoint, and every WAL segment up to it is copied into the
 * archive (the last one is never archived by Postgres itself). Undefined when
 * the directory was not stopped cleanly (its end is then unknown).
 */
function sealTimeline(engine: LocalContext, name: string, state: LocalState): Position | undefined {
  const dir = engine.layout.dataDir(name);
  const control = readControlFile(dir);
  if (control.state !== 'shut down') {
    engine.log.warn(`${name} was not shut down cleanly (${control.state}): its timeline's end is not known exactly`);
    return undefined;
  }
  if (state.systemIdentifier && control.systemIdentifier !== state.systemIdentifier) {
    throw new LockstepError('INTERNAL', `${name} belongs to another cluster (system ${control.systemIdentifier})`);
  }
  archiveTail(dir, engine.layout.archive, control.timeline, control.checkpointLsn, state.walSegmentBytes, engine.postgresAccount());
  return { timelineId: String(control.timeline), lsn: formatLsn(control.checkpointLsn) };
}

/**
 * Before a sealed timeline serves again: take back the tail we archived for
 * it, or its own archiving of those segments (longer by then) would clash.
 * Ours are the archived segments from its last checkpoint on that Postgres
 * never marked done in its archive_status.
 */
function unsealTimeline(engine: LocalContext, name: string, state: LocalState): void {
  const dir = engine.layout.dataDir(name);
  let control;
  try {
    control = readControlFile(dir);
  } catch {
    return;
  }
  const from = walFileName(control.timeline, control.checkpointLsn, state.walSegmentBytes);
  const prefix = from.slice(0, 8);
  const ours = fs.readdirSync(engine.layout.archive).filter(
    (f) => /^[0-9A-F]{24}$/.test(f) && f.startsWith(prefix) && f >= from && !fs.existsSync(path.join(dir, 'pg_wal', 'archive_status', `${f}.done`)),
  );
  removeArchivedFiles(engine.layout.archive, ours);
}

/** Start a stopped data directory on the app's port, retrying a little while the port is taken, and check it serves `timeline`. */
async function startOnAppPort(engine: LocalContext, state: LocalState, name: string, timeline: number, options: OperationOptions): Promise<Position> {
  const deadline = Date.now() + PORT_RETRY_MS;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    try {
      await engine.cluster.start(name, { signal: options.signal });
      break;
    } catch (error) {
      if (!(error instanceof LockstepError && error.code === 'PORT_TAKEN') || Date.now() + delay > deadline) throw error;
      engine.log.warn(`port ${engine.config.port} is taken; trying again in ${delay} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  return verifyServing(engine, name, state, timeline, Date.now() + 60_000, options.signal);
}
