// Builds the engine a project is configured for, loading only that engine's code (the hook runs on every commit).

import type { ProjectConfig } from '../core/config';
import type { Engine, EngineContext } from '../core/engine';
import { LockstepError } from '../base/errors';

export async function createEngine(config: ProjectConfig, ctx: EngineContext): Promise<Engine> {
  const missing = () =>
    new LockstepError('CONFIG', `the ${config.engine} engine is selected but not configured`, {
      hint: `Run \`lockstep init --engine ${config.engine}\`.`,
    });
  switch (config.engine) {
    case 'local': {
      if (!config.local) throw missing();
      const { LocalEngine } = await import('./local/engine');
      return new LocalEngine(config.local, ctx);
    }
    case 'neon': {
      if (!config.neon) throw missing();
      const { NeonEngine } = await import('./neon/engine');
      return new NeonEngine(config.neon, ctx);
    }
    case 'pageserver': {
      if (!config.pageserver) throw missing();
      const { PageserverEngine } = await import('./pageserver/engine');
      return new PageserverEngine(config.pageserver, ctx);
    }
  }
}
