// A Project stand-in around one engine, for core functions that ask only the journal, the configuration and the engine (resolveTarget with `at`).

import type { Checkpoint } from '../../src/core/checkpoint';
import type { Engine, EngineKind } from '../../src/core/engine';
import type { Project } from '../../src/core/project';

export function projectWith(engine: Engine, kind: EngineKind, journal: Checkpoint[] = []): Project {
  const stand = {
    journal: { list: () => journal },
    config: () => ({ engine: kind }),
    engine: async () => engine,
    repo: undefined,
  };
  return stand as unknown as Project;
}
