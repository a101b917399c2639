// One repository as Lockstep sees it: where its files are, its configuration, journal, audit trail and engine.

import * as fs from 'node:fs';
import { findRepository, type Repository } from '../git/repository';
import { loadConfig, tryLoadConfig, type ProjectConfig } from './config';
import type { Engine, EngineContext, SecretSource } from './engine';
import { AuditTrail, Journal } from './journal';
import type { Log } from '../base/log';
import { LockstepPaths } from './paths';
import { spooledCheckpoints } from './pending';

export interface ProjectOptions {
  log: Log;
  secrets: SecretSource;
}

/**
 * The faces (CLI, extension, hook) open a Project and hand it to the core
 * operations. The engine is created on first use and loads only its own code.
 */
export class Project {
  readonly paths: LockstepPaths;
  readonly journal: Journal;
  readonly audit: AuditTrail;
  private engineInstance?: Promise<Engine>;

  constructor(
    readonly repo: Repository,
    readonly options: ProjectOptions,
  ) {
    this.paths = new LockstepPaths(repo.commonDir);
    this.journal = new Journal(this.paths, options.log);
    this.audit = new AuditTrail(this.paths, options.log);
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

  engine(): Promise<Engine> {
    this.engineInstance ??= (async () => {
      const config = this.config();
      const { createEngine } = await import('../engines/index');
      return createEngine(config, this.engineContext());
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
