// The local engine in the conformance suite: real Postgres from each binary source, the same tests as the cloud engines.

import type { PointInHistory } from '../../../src/core/engine';
import { findPostgresBinaries } from '../../../src/engines/local/binaries';
import { sql } from '../../support/fingerprint';
import { startScratchPostgres } from '../../support/postgres';
import { defineEngineConformance, type ConformanceHarness } from './suite';

for (const source of ['system', 'embedded'] as const) {
  let available = true;
  try {
    findPostgresBinaries({ only: source });
  } catch {
    available = false;
  }
  if (!available) continue; // local-engine.test.ts reports (or, in CI, fails on) a missing source

  defineEngineConformance(`local (${source} binaries)`, async (): Promise<ConformanceHarness> => {
    const pg = await startScratchPostgres({ pgSource: source });
    // A position from before the base backup that the harness keeps: pruning drops the first backup, so it expires.
    const expired: PointInHistory = { ...(await pg.engine.head()), createdAt: new Date().toISOString() };
    await sql(pg.url, 'CREATE TABLE labels (id serial PRIMARY KEY, label text NOT NULL)');
    await pg.engine.maintain({ force: true });
    await pg.engine.prune([]);
    return {
      engine: pg.engine,
      write: async (label) => {
        await sql(pg.url, 'INSERT INTO labels (label) VALUES ($1)', [label]);
      },
      readLabels: async () => (await sql(pg.url, 'SELECT label FROM labels ORDER BY id')).map((r) => String(r.label)),
      address: async () => `127.0.0.1:${pg.engine.config.port}`,
      expiredPoint: async () => expired,
      unknownTimelineId: '999',
      close: () => pg.stop(),
    };
  });
}
