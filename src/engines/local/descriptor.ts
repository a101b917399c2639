// The local engine as a plug-in: its section of config.json checked, its set-up and undo, the engine, and `init --import`.

import * as fs from 'node:fs';
import { LockstepError } from '../../base/errors';
import type { LocalEngineConfig } from '../../core/config';
import type { EngineDescriptor } from '../../core/engineRegistry';
import { LocalEngine, localRoot } from './engine';

export const localDescriptor: EngineDescriptor<'local'> = {
  kind: 'local',

  validateConfig(raw: unknown): LocalEngineConfig {
    const bad = (what: string) => new LockstepError('CONFIG', what);
    if (typeof raw !== 'object' || raw === null) throw bad('local must be an object');
    const config = raw as Partial<Record<keyof LocalEngineConfig, unknown>>;
    const port = config.port;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1024 || port > 65535) throw bad('local.port must be 1024–65535');
    if (!config.database || !config.user || typeof config.database !== 'string' || typeof config.user !== 'string') throw bad('local.database and local.user are required');
    if (!(typeof config.baseBackupWalBytes === 'number' && config.baseBackupWalBytes > 0)) throw bad('local.baseBackupWalBytes must be positive');
    for (const field of ['pgBin', 'dataRoot', 'osUser'] as const) {
      if (config[field] !== undefined && typeof config[field] !== 'string') throw bad(`local.${field} must be a string`);
    }
    if (config.archiveTimeoutMs !== undefined && !(typeof config.archiveTimeoutMs === 'number' && config.archiveTimeoutMs > 0)) throw bad('local.archiveTimeoutMs must be positive');
    return raw as LocalEngineConfig;
  },

  async setUp(ctx, { existing, choice, signal, onProgress }) {
    // Set-up code (initdb, accounts, the first base backup) loads only for `init`.
    const { setUpLocalDatabase } = await import('./setup');
    return setUpLocalDatabase(ctx, existing, { ...choice, signal, onProgress });
  },

  async undoSetUp(config, ctx) {
    const engine = new LocalEngine(config, ctx);
    try {
      await engine.stop({});
    } catch (error) {
      ctx.log.warn(`undoing the set-up: could not stop the database it created (${(error as Error).message})`);
    } finally {
      await engine.close();
    }
    // The cluster's root: `.git/lockstep/local`, or a data root outside it (when the Postgres account cannot reach the repository) made for this repository alone.
    fs.rmSync(localRoot(config, ctx.lockstepDir), { recursive: true, force: true });
  },

  create: (config, ctx) => new LocalEngine(config, ctx),

  importer: {
    async inspect(source, options) {
      const { inspectSource } = await import('./importDatabase');
      return inspectSource(source, options);
    },
    async copyInto(ctx, config, inspected, options) {
      const { copyIntoLocal } = await import('./importDatabase');
      return copyIntoLocal(ctx, config, inspected, options);
    },
  },
};
