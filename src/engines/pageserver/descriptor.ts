// The pageserver engine as a plug-in: its section of config.json checked, the pageserver checked at set-up, and the engine.

import { LockstepError } from '../../base/errors';
import type { PageserverEngineConfig } from '../../core/config';
import type { EngineDescriptor } from '../../core/engineRegistry';
import { PageserverEngine } from './engine';

export const pageserverDescriptor: EngineDescriptor<'pageserver'> = {
  kind: 'pageserver',

  validateConfig(raw: unknown): PageserverEngineConfig {
    const bad = (what: string) => new LockstepError('CONFIG', what);
    if (typeof raw !== 'object' || raw === null) throw bad('pageserver must be an object');
    const config = raw as Partial<Record<keyof PageserverEngineConfig, unknown>>;
    for (const field of ['apiUrl', 'tenantId', 'timelineId', 'repointUrl'] as const) {
      if (typeof config[field] !== 'string' || config[field] === '') throw bad(`pageserver.${field} is required`);
    }
    if (config.connectionString !== undefined && typeof config.connectionString !== 'string') throw bad('pageserver.connectionString must be a string');
    const lease = config.leaseSeconds;
    if (lease !== undefined && !(typeof lease === 'number' && lease > 0)) throw bad('pageserver.leaseSeconds must be positive');
    return raw as PageserverEngineConfig;
  },

  async setUp(ctx, { choice, signal, onProgress }) {
    if (!choice) throw new LockstepError('BAD_INPUT', 'the pageserver engine needs --api-url, --tenant-id, --timeline-id and --repoint-url');
    const { connectPageserver } = await import('./setup');
    onProgress?.('Checking the pageserver');
    return connectPageserver(choice, ctx, { signal });
  },

  create: (config, ctx) => new PageserverEngine(config, ctx),
};
