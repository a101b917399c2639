// Setting a repository up for Lockstep (the core of `lockstep init` and of the extension's setup commands).

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { NeonProjectChoice } from '../engines/neon/setup';
import type { PageserverChoice } from '../engines/pageserver/setup';
import type { LocalSetupOptions } from '../engines/local/setup';
import { newCheckpointId } from './checkpoint';
import { DEFAULT_KEEP, saveConfig, type CheckoutMode, type ProjectConfig } from './config';
import type { EngineKind, OperationOptions } from './engine';
import { writeHookConf } from './hookConf';
import { LockstepError } from '../base/errors';
import { importDatabase, inspectImportSource, type ImportResult, type ImportSource } from './importDatabase';
import type { Project } from './project';

export interface InitRequest extends OperationOptions {
  engine: EngineKind;
  keep?: number;
  checkout?: CheckoutMode;
  local?: Omit<LocalSetupOptions, keyof OperationOptions>;
  neon?: NeonProjectChoice;
  pageserver?: PageserverChoice;
  /**
   * A database to copy into the local engine as the first checkpoint (`init --import URL`).
   * It is checked before anything is created; a copy that fails undoes a first set-up like any other failure.
   */
  importFrom?: ImportSource;
  /**
   * The face's last step, after the configuration is written (the CLI installs
   * the commit hook): when it throws, a first set-up is undone like any other failure.
   */
  finish?: (config: ProjectConfig) => Promise<void>;
}

export interface InitResult {
  config: ProjectConfig;
  /** False when the repository was already set up and nothing had to change. */
  changed: boolean;
  /** What `importFrom` brought in. */
  imported?: ImportResult;
}

/**
 * Idempotent: run again, it keeps what exists (the local database, the
 * checkpoints) and applies what changed (a port, another engine). The
 * configuration is written last, so a failed setup leaves none behind.
 *
 * A first set-up that fails, at any step (a port taken, initdb failing, the
 * face's `finish` — the CLI installs the hook there), is undone whole: the
 * database it created is stopped and removed, and `.git/lockstep` goes if
 * this call made it. The repository is left as it was found.
 */
export async function initProject(project: Project, request: InitRequest): Promise<InitResult> {
  const existing = project.tryConfig();
  if (request.importFrom && request.engine !== 'local') {
    throw new LockstepError('BAD_INPUT', `--import copies into the local engine, not ${request.engine}`, { hint: 'Use --engine local (the default). Nothing was changed.' });
  }
  // Unreachable, refused, or newer than the pg_dump at hand: said before anything is created.
  const inspected = request.importFrom ? await inspectImportSource(request.importFrom, request) : undefined;
  const rootExisted = fs.existsSync(project.paths.root);
  let created: ProjectConfig | undefined;
  try {
    fs.mkdirSync(project.paths.root, { recursive: true, mode: 0o755 });
    const config = await setUp(project, request, existing, (config) => (created = config));
    const changed = JSON.stringify(existing) !== JSON.stringify(config);
    if (changed) saveConfig(project.paths, config);
    const imported = request.importFrom
      ? await importDatabase(project, { source: request.importFrom, inspected, signal: request.signal, onProgress: request.onProgress })
      : undefined;
    await request.finish?.(config);
    if (changed) {
      await project.resetEngine();
      await project.audit.append({ op: 'init', phase: 'finished', operationId: newCheckpointId(), detail: `engine ${config.engine}` });
    }
    // The first commit's hook reads the position with psql too, when it can (`lockstep record` rewrites this as needed).
    try {
      writeHookConf(project.paths.root, (await project.engine()).hookFastPath?.());
    } catch {
      // the hook runs `lockstep record` instead, which writes it
    }
    return { config, changed, ...(imported ? { imported } : {}) };
  } catch (error) {
    // Only a first set-up is undone: a repository that was set up keeps its database and its checkpoints.
    if (!existing) await undoFirstSetUp(project, created, rootExisted);
    throw error;
  }
}

/** The engine's part: returns the configuration to write, handing it to `made` as soon as the engine has created something. */
async function setUp(project: Project, request: InitRequest, existing: ProjectConfig | undefined, made: (config: ProjectConfig) => void): Promise<ProjectConfig> {
  const ctx = project.engineContext();
  const base: ProjectConfig = existing ?? { version: 1, engine: request.engine, keep: DEFAULT_KEEP, checkout: 'branch' };
  const config: ProjectConfig = {
    ...base,
    engine: request.engine,
    keep: request.keep ?? base.keep,
    checkout: request.checkout ?? base.checkout,
  };
  switch (request.engine) {
    case 'local': {
      const { setUpLocalDatabase } = await import('../engines/local/setup');
      config.local = await setUpLocalDatabase(ctx, existing?.local, { ...request.local, onProgress: request.onProgress, signal: request.signal });
      made(config);
      break;
    }
    case 'neon': {
      if (!request.neon) throw new LockstepError('BAD_INPUT', 'the neon engine needs a project id (--project-id)');
      const { connectNeonProject } = await import('../engines/neon/setup');
      request.onProgress?.('Checking the Neon project');
      config.neon = await connectNeonProject(request.neon, ctx, { signal: request.signal });
      break;
    }
    case 'pageserver': {
      if (!request.pageserver) throw new LockstepError('BAD_INPUT', 'the pageserver engine needs --api-url, --tenant-id, --timeline-id and --repoint-url');
      const { connectPageserver } = await import('../engines/pageserver/setup');
      request.onProgress?.('Checking the pageserver');
      config.pageserver = await connectPageserver(request.pageserver, ctx, { signal: request.signal });
      break;
    }
    default:
      throw new LockstepError('BAD_INPUT', `unknown engine "${String(request.engine)}"`, { hint: 'Choose local, neon or pageserver.' });
  }
  return config;
}

/**
 * Puts back a repository a first set-up failed in: the local database it
 * created stopped at once and removed (its own set-up cleans up after itself
 * when it fails; this is for a failure after it), the configuration removed,
 * and `.git/lockstep` removed when it was not there before.
 */
async function undoFirstSetUp(project: Project, created: ProjectConfig | undefined, rootExisted: boolean): Promise<void> {
  await project.resetEngine();
  if (created?.local) {
    try {
      const { createEngine } = await import('../engines/index');
      const engine = await createEngine(created, project.engineContext());
      try {
        await engine.stop?.({});
      } finally {
        await engine.close();
      }
    } catch (error) {
      project.log.warn(`undoing the set-up: could not stop the database it created (${(error as Error).message})`);
    }
    // A data root outside .git/lockstep (when the Postgres account cannot reach the repository) was made for this repository alone.
    if (created.local.dataRoot) fs.rmSync(created.local.dataRoot, { recursive: true, force: true });
  }
  if (rootExisted) {
    fs.rmSync(project.paths.config, { force: true });
    if (created?.local && !created.local.dataRoot) fs.rmSync(path.join(project.paths.root, 'local'), { recursive: true, force: true });
  } else {
    fs.rmSync(project.paths.root, { recursive: true, force: true });
  }
}
