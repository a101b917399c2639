// Setting a repository up for Lockstep (the core of `lockstep init` and of the extension's setup commands).

import * as fs from 'node:fs';
import { newCheckpointId } from './checkpoint';
import { DEFAULT_KEEP, engineSection, saveConfig, type CheckoutMode, type PageserverEngineConfig, type ProjectConfig } from './config';
import type { EngineKind, OperationOptions } from './engine';
import { writeHookConf } from './hookConf';
import { importDatabase, inspectImportSource, type ImportResult, type ImportSource } from './importDatabase';
import type { Project } from './project';

/** What a person gives `lockstep init` (or the extension's set-up) for the local engine. */
export interface LocalChoice {
  port?: number;
  pgBin?: string;
  /** Restrict the binaries to one source (tests run each). */
  pgSource?: 'system' | 'embedded';
  osUser?: string;
  dataRoot?: string;
}

/** What a person gives `lockstep init --engine neon` or the extension's setup command. */
export interface NeonProjectChoice {
  projectId: string;
  /** Absent: the project's default branch. */
  branchId?: string;
  /** Absent: `neondb`, the database Neon creates with a project. */
  databaseName?: string;
  /** Absent: `neondb_owner`, the role Neon creates with a project. */
  roleName?: string;
  apiUrl?: string;
  keepPreservedBranches?: number;
}

/** What a person gives `lockstep init --engine pageserver`: the configuration itself, checked before it is saved. */
export type PageserverChoice = PageserverEngineConfig;

/** Each engine's choices, by kind: the engine's descriptor reads its own (`EngineSetUpRequest.choice`). */
export interface EngineChoices {
  local: LocalChoice;
  neon: NeonProjectChoice;
  pageserver: PageserverChoice;
}

export interface InitRequest extends OperationOptions, Partial<EngineChoices> {
  engine: EngineKind;
  keep?: number;
  checkout?: CheckoutMode;
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
  // Unreachable, refused, newer than the pg_dump at hand, or an engine that cannot import: said before anything is created.
  const inspected = request.importFrom ? await inspectImportSource(project, request.engine, request.importFrom, request) : undefined;
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

/** The engine's part, by its descriptor: returns the configuration to write, handing it to `made` as soon as the engine has created something. */
async function setUp(project: Project, request: InitRequest, existing: ProjectConfig | undefined, made: (config: ProjectConfig) => void): Promise<ProjectConfig> {
  const kind = request.engine;
  const descriptor = await project.engineDescriptor(kind);
  const base: ProjectConfig = existing ?? { version: 1, engine: kind, keep: DEFAULT_KEEP, checkout: 'branch' };
  // A section saved before (the engine used earlier, or still) is the engine's to reconcile with the new choice.
  const previous = existing?.[kind] === undefined ? undefined : engineSection(descriptor, existing, project.paths.config);
  const choice = request[kind];
  const section = await descriptor.setUp(project.engineContext(), {
    ...(previous ? { existing: previous } : {}),
    ...(choice ? { choice } : {}),
    signal: request.signal,
    onProgress: request.onProgress,
  });
  const config: ProjectConfig = {
    ...base,
    engine: kind,
    keep: request.keep ?? base.keep,
    checkout: request.checkout ?? base.checkout,
    [kind]: section,
  };
  made(config);
  return config;
}

/**
 * Puts back a repository a first set-up failed in: what the engine created
 * stopped and removed (its own set-up cleans up after itself when it fails;
 * this is for a failure after it), the configuration removed, and
 * `.git/lockstep` removed when it was not there before.
 */
async function undoFirstSetUp(project: Project, created: ProjectConfig | undefined, rootExisted: boolean): Promise<void> {
  await project.resetEngine();
  if (created) {
    try {
      const descriptor = await project.engineDescriptor(created.engine);
      await descriptor.undoSetUp?.(engineSection(descriptor, created, project.paths.config), project.engineContext());
    } catch (error) {
      project.log.warn(`undoing the set-up: could not remove what the ${created.engine} engine created (${(error as Error).message})`);
    }
  }
  if (rootExisted) {
    fs.rmSync(project.paths.config, { force: true });
  } else {
    fs.rmSync(project.paths.root, { recursive: true, force: true });
  }
}
