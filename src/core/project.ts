// One repository as Lockstep sees it: where its files are, its configuration, journal, audit trail and engine.

import { PinStore } from './pins';
import * as fs from 'node:fs';
import { findRepository, type Repository } from '../git/repository';
import { engineSection, loadConfig, tryLoadConfig, type ProjectConfig } from './config';
import type { Engine, EngineContext, EngineKind, SecretSource } from './engine';
import { loadEngineDescriptor, type EngineDescriptor, type EngineRegistry } from './engineRegistry';
import { AuditTrail, Journal } from './journal';
import type { Log } from '../base/log';
import { LockstepPaths } from './paths';
import { spooledCheckpoints } from './pending';

export interface ProjectOptions {
  log: Log;
  secrets: SecretSource;
  /** The engines this face carries (ENGINES, from src/engines): the core never imports an engine itself. */
  engines: EngineRegistry;
}

/**
 * The faces (CLI, extension, hook) open a Project, with the registry of
 * engines, and hand it to the core operations. The engine is created on first
 * use and loads only its own code.
 */
export class Project {
  readonly paths: LockstepPaths;
  readonly journal: Journal;
  readonly audit: AuditTrail;
  readonly pins: PinStore;
  private engineInstance?: Promise<Engine>;

  constructor(
    readonly repo: Repository,
    readonly options: ProjectOptions,
  ) {
    this.paths = new LockstepPaths(repo.commonDir);
    this.journal = new Journal(this.paths, options.log);
    this.audit = new AuditTrail(this.paths, options.log);
    this.pins = new PinStore(this.paths);
    this.journal.showPending((journal) => spooledCheckpoints(this.paths.root, () => this.tryConfig()?.engine, journal));
  }

  static async open(cwd: string, options: ProjectOptions): Promise<Project> {
    return new Project(await findRepository(cwd), options);
  }

  get log(): Log {
    return this.options.log;
  }

  /** The configuration; throws NOT_INITIALISED with a hint when `lockstep init` has not run. */
  config(): ProjectConfig {
    return loadConfig(this.paths);
  }

  tryConfig(): ProjectConfig | undefined {
    return tryLoadConfig(this.paths);
  }

  get initialised(): boolean {
    return fs.existsSync(this.paths.config);
  }

  engineContext(): EngineContext {
    return { lockstepDir: this.paths.root, log: this.options.log, secrets: this.options.secrets };
  }

  /** The descriptor of an engine this face carries (BAD_INPUT for an unknown kind). */
  async engineDescriptor<K extends EngineKind>(kind: K): Promise<EngineDescriptor<K>> {
    // Checked here too: JavaScript callers (and tests written before the registry) get a plain answer, not a TypeError.
    if (!this.options.engines) throw new Error('this Project was opened without an engine registry (ProjectOptions.engines)');
    return loadEngineDescriptor(this.options.engines, kind);
  }

  engine(): Promise<Engine> {
    this.engineInstance ??= (async () => {
      const config = this.config();
      const descriptor = await this.engineDescriptor(config.engine);
      return descriptor.create(engineSection(descriptor, config, this.paths.config), this.engineContext());
    })();
    // A failed creation is not cached: the next call tries again (after `lockstep init`, say).
    this.engineInstance.catch(() => {
      this.engineInstance = undefined;
    });
    return this.engineInstance;
  }

  /** Forget the engine (after the configuration changed). */
  async resetEngine(): Promise<void> {
    const engine = this.engineInstance;
    this.engineInstance = undefined;
    await (await engine?.catch(() => undefined))?.close();
  }

  async close(): Promise<void> {
    await this.resetEngine();
  }
}
