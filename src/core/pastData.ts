// Reading the database as of a point next to the database now: what row diffs and one-table restores stand on.

import type { Client } from 'pg';
import { LockstepError } from '../base/errors';
import type { OperationOptions, PastDatabase, PointInHistory } from './engine';
import type { Project } from './project';

/** Whether the project's engine can open its past for reading (the local engine can; Neon and the pageserver not yet). */
export async function canOpenPast(project: Project): Promise<boolean> {
  const engine = await project.engine();
  return typeof engine.openPast === 'function' && typeof engine.connectNow === 'function';
}

/**
 * Opens the database as of `point` (engine.openPast) and now (engine.connectNow),
 * runs `work` with a connection to each, and always ends both connections and
 * releases the past copy (which the engine may keep for a restore that follows).
 */
export async function withPastAndNow<T>(
  project: Project,
  point: PointInHistory,
  options: OperationOptions,
  work: (past: PastDatabase, then: Client, now: Client) => Promise<T>,
): Promise<T> {
  const engine = await project.engine();
  if (!engine.openPast || !engine.connectNow) {
    throw new LockstepError('CONFIG', `the ${engine.kind} engine cannot open the database's past for reading: row diffs and one-table restores need the local engine`, {
      hint: '`lockstep restore REF --dry-run` still shows the schema changes.',
    });
  }
  const past = await engine.openPast(point, options);
  let then: Client | undefined;
  let now: Client | undefined;
  try {
    then = await past.connect();
    now = await engine.connectNow(options);
    return await work(past, then, now);
  } finally {
    await then?.end().catch(() => undefined);
    await now?.end().catch(() => undefined);
    await past.release();
  }
}

/**
 * After a preview, a diff or a one-table restore opened the past: whether the
 * engine wants its background upkeep now (a preview that claimed the prepared
 * copy leaves the next restore without one until the upkeep makes another).
 * Faces start the upkeep as they do after a restore; never throws.
 */
export async function upkeepDueAfterPast(project: Project): Promise<boolean> {
  try {
    const engine = await project.engine();
    if (!engine.maintenanceDue) return false;
    return engine.maintenanceDue(await engine.head());
  } catch {
    return false;
  }
}
