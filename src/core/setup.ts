// Setting a repository up for Lockstep (the core of `lockstep init` and of the extension's setup commands).

import * as fs from 'node:fs';
import type { NeonProjectChoice } from '../engines/neon/setup';
import type { PageserverChoice } from '../engines/pageserver/setup';
import type { LocalSetupOptions } from '../engines/local/setup';
import { newCheckpointId } from './checkpoint';
import { DEFAULT_KEEP, saveConfig, type CheckoutMode, type ProjectConfig } from './config';
import type { EngineKind, OperationOptions } from './engine';
import { LockstepError } from './errors';
import type { Project } from './project';

export interface InitRequest extends OperationOptions {
  engine: EngineKind;
  keep?: number;
  checkout?: CheckoutMode;
  local?: Omit<LocalSetupOptions, keyof OperationOptions>;
  neon?: NeonProjectChoice;
  pageserver?: PageserverChoice;
}

export interface InitResult {
  config: ProjectConfig;
  /** False when the repository was already set up and nothing had to change. */
  changed: boolean;
}

/**
 * Idempotent: run again, it keeps what exists (the local database, the
 * checkpoints) and applies what changed (a port, another engine). The
 * configuration is written last, so a failed setup leaves none behind.
 */
export async function initProject(project: Project, request: InitRequest): Promise<InitResult> {
  const existing = project.tryConfig();
  fs.mkdirSync(project.paths.root, { recursive: true, mode: 0o755 });
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
  }
  const changed = JSON.stringify(existing) !== JSON.stringify(config);
  if (changed) {
    saveConfig(project.paths, config);
    await project.resetEngine();
    await project.audit.append({ op: 'init', phase: 'finished', operationId: newCheckpointId(), detail: `engine ${config.engine}` });
  }
  return { config, changed };
}
