// The Neon engine as a plug-in: its section of config.json checked, the project connected at set-up, and the engine.

import { LockstepError } from '../../base/errors';
import type { NeonEngineConfig } from '../../core/config';
import type { EngineDescriptor } from '../../core/engineRegistry';
import { NeonEngine } from './engine';

export const neonDescriptor: EngineDescriptor<'neon'> = {
  kind: 'neon',

  validateConfig(raw: unknown): NeonEngineConfig {
    const bad = (what: string) => new LockstepError('CONFIG', what);
    if (typeof raw !== 'object' || raw === null) throw bad('neon must be an object');
    const config = raw as Partial<Record<keyof NeonEngineConfig, unknown>>;
    for (const field of ['projectId', 'databaseName', 'roleName'] as const) {
      if (typeof config[field] !== 'string' || config[field] === '') throw bad(`neon.${field} is required`);
    }
    for (const field of ['branchId', 'apiUrl'] as const) {
      if (config[field] !== undefined && typeof config[field] !== 'string') throw bad(`neon.${field} must be a string`);
    }
    const keep = config.keepPreservedBranches;
    if (keep !== undefined && !(typeof keep === 'number' && Number.isInteger(keep) && keep >= 0)) throw bad('neon.keepPreservedBranches must be a whole number');
    return raw as NeonEngineConfig;
  },

  async setUp(ctx, { choice, signal, onProgress }) {
    if (!choice) throw new LockstepError('BAD_INPUT', 'the neon engine needs a project id (--project-id)');
    const { connectNeonProject } = await import('./setup');
    onProgress?.('Checking the Neon project');
    return connectNeonProject(choice, ctx, { signal });
  },

  create: (config, ctx) => new NeonEngine(config, ctx),
};
