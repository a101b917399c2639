// Engines as plug-ins: the one descriptor each engine exports, and the registry of them the faces hand a Project.

import { LockstepError } from '../base/errors';
import type { EngineConfigs } from './config';
import type { Engine, EngineContext, EngineKind, OperationOptions } from './engine';
import type { DatabaseImporter } from './importDatabase';
import type { EngineChoices } from './setup';

/** What `setUp` is given: the section already saved (a repository set up before), and what the person chose now. */
export interface EngineSetUpRequest<K extends EngineKind = EngineKind> extends OperationOptions {
  existing?: EngineConfigs[K];
  choice?: EngineChoices[K];
}

/**
 * Everything the core knows of one engine. The core never imports an engine:
 * it is handed these through an `EngineRegistry`, so the layers stay
 * faces → core → base, with engines plugged in from the side.
 */
export interface EngineDescriptor<K extends EngineKind = EngineKind> {
  readonly kind: K;
  /**
   * Checks the engine's section of config.json and returns it typed; throws
   * LockstepError('CONFIG') naming the field (the core adds the file and a
   * hint). Synchronous and cheap: it runs before every engine is created.
   */
  validateConfig(raw: unknown): EngineConfigs[K];
  /**
   * Creates or checks what the engine needs (a local cluster; a Neon project
   * through its API) and returns the section to save. Idempotent: given the
   * existing section it keeps what exists and applies what changed. When it
   * fails it removes what it created.
   */
  setUp(ctx: EngineContext, request: EngineSetUpRequest<K>): Promise<EngineConfigs[K]>;
  /**
   * A first set-up that failed after `setUp` returned (the face's hook
   * install, an import): stop and remove what `setUp` created. Engines that
   * create nothing leave it out.
   */
  undoSetUp?(config: EngineConfigs[K], ctx: EngineContext): Promise<void>;
  /** The engine for a validated section. Cheap: no connection is made until it is used. */
  create(config: EngineConfigs[K], ctx: EngineContext): Engine;
  /** Engines that can copy an existing database in (`init --import`) have one. */
  readonly importer?: DatabaseImporter<EngineConfigs[K]>;
}

/**
 * Kind → a loader of that engine's descriptor. Loaders are lazy so that a
 * process loads only the engine it uses (the commit hook runs on every
 * commit). A face may register fewer kinds than exist.
 */
export type EngineRegistry = { readonly [K in EngineKind]?: () => Promise<EngineDescriptor<K>> };

/** The descriptor of `kind`, or BAD_INPUT when this face has no such engine. */
export async function loadEngineDescriptor<K extends EngineKind>(registry: EngineRegistry, kind: K): Promise<EngineDescriptor<K>> {
  const load = (registry as Partial<Record<K, () => Promise<EngineDescriptor<K>>>>)[kind];
  if (!load) {
    const known = Object.keys(registry);
    throw new LockstepError('BAD_INPUT', `unknown engine "${String(kind)}"`, { hint: known.length > 0 ? `Choose ${known.join(', ')}.` : 'No engine is available here.' });
  }
  const descriptor = await load();
  if (descriptor.kind !== kind) throw new Error(`the registry's "${kind}" entry loaded the ${descriptor.kind} engine`);
  return descriptor;
}
