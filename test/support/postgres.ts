// Real Postgres servers for tests: a project-style local database in a temp dir, on a free port, cleaned up after.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LocalEngineConfig } from '../../src/core/config';
import type { EngineContext } from '../../src/core/engine';
import { silentLog, type Log } from '../../src/base/log';
import { LocalEngine } from '../../src/engines/local/engine';
import { freePort } from '../../src/engines/local/ports';
import { setUpLocalDatabase } from '../../src/engines/local/setup';

export { freePort };

export interface ScratchPostgres {
  /** postgresql://lockstep:…@127.0.0.1:PORT/app */
  url: string;
  port: number;
  engine: LocalEngine;
  config: LocalEngineConfig;
  ctx: EngineContext;
  /** The temp dir holding `lockstep/` (delete with stop()). */
  dir: string;
  stop(): Promise<void>;
}

/** A temp dir that the Postgres account can traverse when tests run as root (mkdtemp makes 0700). */
export function traversableTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o755);
  return dir;
}

/**
 * A running local-engine database (initdb, archive, first base backup) in a
 * temp dir. `pgSource` (or `LOCKSTEP_PG_BIN`: `system`, `embedded` or a path) picks the binaries.
 */
export async function startScratchPostgres(options: { log?: Log; pgSource?: 'system' | 'embedded' } = {}): Promise<ScratchPostgres> {
  const dir = traversableTempDir('lockstep-pg-');
  const lockstepDir = path.join(dir, 'lockstep');
  fs.mkdirSync(lockstepDir);
  const ctx: EngineContext = { lockstepDir, log: options.log ?? silentLog, secrets: { get: async () => undefined } };
  const config = await setUpLocalDatabase(ctx, undefined, { port: await freePort(), pgSource: options.pgSource });
  const engine = new LocalEngine(config, ctx);
  return {
    url: await engine.connectionUrl(),
    port: config.port,
    engine,
    config,
    ctx,
    dir,
    async stop() {
      await engine.close();
      // Every data dir that may run (a failed test can leave a preview or fork up).
      for (const entry of fs.readdirSync(engine.layout.root)) {
        if (/^(data|preview)-/.test(entry)) await engine.cluster.stop(entry, 'immediate').catch(() => undefined);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
