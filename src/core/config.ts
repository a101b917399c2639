// The project's Lockstep configuration (.git/lockstep/config.json): typed, validated, read in one place.

import { ENGINE_KINDS, type EngineKind } from './engine';
import type { EngineDescriptor } from './engineRegistry';
import { LockstepError } from '../base/errors';
import { readJsonFile, writeJsonFile } from '../base/files';
import type { LockstepPaths } from './paths';
import { checkRiskyPatterns } from './risky';

export interface LocalEngineConfig {
  /** Fixed localhost port; restores keep it, so the connection string never changes. */
  port: number;
  database: string;
  user: string;
  /** Directory with initdb, pg_ctl and postgres; absent means "find them" (see binaries.ts). */
  pgBin?: string;
  /** Where the cluster, WAL archive and base backups live; absent means `.git/lockstep/local`. */
  dataRoot?: string;
  /** The unprivileged account Postgres runs as when Lockstep runs as root. */
  osUser?: string;
  /** Base-backup policy: take a new one once a restore to head would replay more WAL than this. */
  baseBackupWalBytes: number;
  /** How long to wait for a WAL segment to reach the archive before calling the archive stuck (default 60 s). */
  archiveTimeoutMs?: number;
}

export interface NeonEngineConfig {
  projectId: string;
  /** The branch Lockstep restores in place; absent means the project's default branch. */
  branchId?: string;
  databaseName: string;
  roleName: string;
  /** API base URL; `LOCKSTEP_NEON_API_URL` overrides it. */
  apiUrl?: string;
  /** How many preserved pre-restore branches to keep before the oldest are deleted. */
  keepPreservedBranches?: number;
}

export interface PageserverEngineConfig {
  /** Pageserver management API, e.g. http://127.0.0.1:9898 */
  apiUrl: string;
  tenantId: string;
  /** The timeline serving when Lockstep was set up. */
  timelineId: string;
  /** Endpoint of whoever owns the compute's configuration: POST {tenant_id, timeline_id} repoints it. */
  repointUrl: string;
  /** How clients (and Lockstep, for describe) reach the compute; password from secrets, never here. */
  connectionString?: string;
  /** Seconds an LSN lease keeps a checkpoint above the GC cutoff. */
  leaseSeconds?: number;
}

/** Each engine's section of config.json, by kind. The engine's descriptor checks its own section (`engineSection`). */
export interface EngineConfigs {
  local: LocalEngineConfig;
  neon: NeonEngineConfig;
  pageserver: PageserverEngineConfig;
}

export type CheckoutMode = 'branch' | 'detached';

export interface ProjectConfig {
  version: 1;
  engine: EngineKind;
  /** Checkpoints kept in the journal (newest first). */
  keep: number;
  checkout: CheckoutMode;
  /** Commands that get a safety point before they run, beyond the default list (regex sources, case-insensitive; `src/core/risky.ts`). */
  riskyCommands?: string[];
  /** Pin the checkpoint of every tagged commit before a prune (`lockstep prune`, the upkeep): releases stay restorable. Default false. */
  pinTags?: boolean;
  local?: LocalEngineConfig;
  neon?: NeonEngineConfig;
  pageserver?: PageserverEngineConfig;
}

export const DEFAULT_KEEP = 50;
export const DEFAULT_LOCAL_PORT = 55432;
export const DEFAULT_BASE_BACKUP_WAL_BYTES = 64 * 1024 * 1024;

export function defaultLocalConfig(port = DEFAULT_LOCAL_PORT): LocalEngineConfig {
  return {
    port,
    database: 'app',
    user: 'lockstep',
    baseBackupWalBytes: DEFAULT_BASE_BACKUP_WAL_BYTES,
  };
}

export function loadConfig(paths: LockstepPaths): ProjectConfig {
  let raw: unknown;
  try {
    raw = readJsonFile(paths.config);
  } catch (error) {
    throw new LockstepError('CONFIG', `${paths.config} is not valid JSON`, {
      hint: 'Fix or delete the file, then run `lockstep init` again.',
      cause: error,
    });
  }
  if (raw === undefined) {
    throw new LockstepError('NOT_INITIALISED', 'Lockstep is not set up in this repository', {
      hint: 'Run `lockstep init` (or "Lockstep: Initialize in This Repository" in VS Code).',
    });
  }
  return validateConfig(raw, paths.config);
}

export function tryLoadConfig(paths: LockstepPaths): ProjectConfig | undefined {
  try {
    return loadConfig(paths);
  } catch (error) {
    if (error instanceof LockstepError && error.code === 'NOT_INITIALISED') return undefined;
    throw error;
  }
}

export function saveConfig(paths: LockstepPaths, config: ProjectConfig): void {
  writeJsonFile(paths.config, validateConfig(config, paths.config));
}

/** Checks what the core owns; the engine's section is the engine's to check (`engineSection`), when it is created. */
function validateConfig(raw: unknown, file: string): ProjectConfig {
  const bad = (what: string) => configError(file, what);
  if (typeof raw !== 'object' || raw === null) throw bad('expected a JSON object');
  const config = raw as Partial<ProjectConfig>;
  if (config.version !== 1) throw bad(`unsupported version ${String(config.version)}`);
  if (!config.engine || !ENGINE_KINDS.includes(config.engine)) {
    throw bad(`engine must be one of ${ENGINE_KINDS.join(', ')}`);
  }
  if (!Number.isInteger(config.keep) || (config.keep ?? 0) < 1) throw bad('keep must be a positive integer');
  if (config.checkout !== 'branch' && config.checkout !== 'detached') throw bad('checkout must be branch or detached');
  if (!config[config.engine]) throw bad(`missing the "${config.engine}" section for the ${config.engine} engine`);
  if (config.pinTags !== undefined && typeof config.pinTags !== 'boolean') throw bad('pinTags must be true or false');
  if (config.riskyCommands !== undefined) {
    try {
      checkRiskyPatterns(config.riskyCommands);
    } catch (error) {
      throw bad((error as Error).message);
    }
  }
  return config as ProjectConfig;
}

/**
 * The section of `config` for the descriptor's engine, checked by the
 * descriptor; its complaint becomes a CONFIG error naming the file.
 */
export function engineSection<K extends EngineKind>(descriptor: EngineDescriptor<K>, config: ProjectConfig, file: string): EngineConfigs[K] {
  const raw: unknown = config[descriptor.kind];
  if (raw === undefined) throw configError(file, `missing the "${descriptor.kind}" section for the ${descriptor.kind} engine`);
  try {
    return descriptor.validateConfig(raw);
  } catch (error) {
    throw configError(file, (error as Error).message);
  }
}

function configError(file: string, what: string): LockstepError {
  return new LockstepError('CONFIG', `${file}: ${what}`, { hint: 'Fix the file, or run `lockstep init` again.' });
}
