// The engines this build carries, as the registry the faces hand a Project: each descriptor loads on first use, so a
// process loads only the engine it runs (the commit hook runs on every commit).

import type { EngineRegistry } from '../core/engineRegistry';

export const ENGINES: EngineRegistry = {
  local: async () => (await import('./local/descriptor')).localDescriptor,
  neon: async () => (await import('./neon/descriptor')).neonDescriptor,
  pageserver: async () => (await import('./pageserver/descriptor')).pageserverDescriptor,
};
