// Local engine benchmarks: marker cost by database size, and restore time under a steady write load, side by side with pg_dump + pg_restore.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import { lsnDistance } from '../src/core/lsn';
import { LocalEngine } from '../src/engines/local/engine';
import { findPostgresBinaries } from '../src/engines/local/binaries';
import { startScratchPostgres, type ScratchPostgres } from '../test/support/postgres';
import { mb, median, ms, s, type BenchRow } from './types';

export interface EngineBenchOptions {
  /** Database sizes to measure restores at, in MB. */
  sizesMb: number[];
  /** Restores (and dump+restore baselines) per size; medians are reported. */
  repeats: number;
  /** New-connection markers per size for the marker cost. */
  markers: number;
  log: (line: string) => void;
}

async function query(url: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, params)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function databaseBytes(url: string): Promise<number> {
  return Number((await query(url, 'SELECT pg_database_size(current_database())::text AS n'))[0]!.n);
}

/** Grow `big` (about 300 bytes a row) until the database holds `targetMb`. */
async function growTo(url: string, targetMb: number): Promise<void> {
  await query(url, "CREATE TABLE IF NOT EXISTS big (id bigserial PRIMARY KEY, pad text NOT NULL, n int NOT NULL DEFAULT 0)");
  await query(url, 'CREATE TABLE IF NOT EXISTS events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), v text)');
  for (;;) {
    const missing = targetMb * 1024 * 1024 - (await databaseBytes(url));
    if (missing <= 0) return;
    const rows = Math.max(1000, Math.min(1_000_000, Math.ceil(missing / 330)));
    await query(url, 'INSERT INTO big (pad) SELECT repeat(md5(g::text), 8) FROM generate_series(1, $1::int) g', [rows]);
  }
}

/** Marker cost as the hook pays it: a new engine (new connection, SCRAM) per marker. */
async function markerCost(pg: ScratchPostgres, count: number): Promise<{ fresh: number; open: number; wroteNothing: boolean }> {
  const fresh: number[] = [];
  const before = await pg.engine.head();
  for (let i = 0; i < count; i++) {
    const engine = new LocalEngine(pg.config, pg.ctx);
    const t = performance.now();
    await engine.head();
    fresh.push(performance.now() - t);
    await engine.close();
  }
  const open: number[] = [];
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await pg.engine.head();
    open.push(performance.now() - t);
  }
  const after = await pg.engine.head();
  // Other backends (autovacuum, the checkpointer) may write a little; markers themselves write nothing.
  return { fresh: median(fresh), open: median(open), wroteNothing: lsnDistance(before.lsn, after.lsn) < 8192n };
}

/**
 * A steady writer: small transactions at a fixed pace (an app being used),
 * while the base-backup policy is applied as the hook would (in the background).
 */
function startLoad(pg: ScratchPostgres, log: (line: string) => void): { stop(): Promise<{ transactions: number; backups: number }> } {
  let running = true;
  let transactions = 0;
  let backups = 0;
  const writer = (async () => {
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    try {
      while (running) {
        await client.query("UPDATE big SET n = n + 1, pad = md5(random()::text) || substr(pad, 33) WHERE id = (SELECT (random() * (SELECT max(id) FROM big))::bigint)");
        await client.query("INSERT INTO events (v) VALUES (md5(random()::text))");
        transactions++;
        await new Promise((r) => setTimeout(r, 4));
      }
    } finally {
      await client.end();
    }
  })();
  const policy = (async () => {
    while (running) {
      const done = await pg.engine.maintain().catch((error: Error) => `(backup skipped: ${error.message})`);
      if (done) {
        backups++;
        log(`      policy: ${done}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      running = false;
      await Promise.all([writer, policy]);
      return { transactions, backups };
    },
  };
}

function pgTool(name: string): string {
  const bin = findPostgresBinaries({ only: 'system' }).bin;
  const file = path.join(bin, name);
  if (!fs.existsSync(file)) throw new Error(`${name} not found in ${bin}: the baseline needs Debian's postgresql-client`);
  return file;
}

/** The logical baseline: pg_dump the database, then pg_restore it into a new one. */
function dumpAndRestore(pg: ScratchPostgres, dir: string): { dump: number; restore: number } {
  const env = { ...process.env, PGPASSWORD: pg.engine.layout.readPassword(), PGHOST: '127.0.0.1', PGPORT: String(pg.port), PGUSER: pg.config.user };
  const file = path.join(dir, 'baseline.dump');
  let t = performance.now();
  execFileSync(pgTool('pg_dump'), ['-Fc', '-f', file, pg.config.database], { env });
  const dump = performance.now() - t;
  execFileSync(pgTool('dropdb'), ['--if-exists', 'baseline'], { env });
  execFileSync(pgTool('createdb'), ['baseline'], { env });
  t = performance.now();
  execFileSync(pgTool('pg_restore'), ['-d', 'baseline', file], { env });
  const restore = performance.now() - t;
  execFileSync(pgTool('dropdb'), ['baseline'], { env });
  fs.rmSync(file, { force: true });
  return { dump, restore };
}

export async function benchEngine(options: EngineBenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const { log } = options;
  const pg = await startScratchPostgres({ pgSource: 'system' });
  const markerBySize = new Map<number, number>();
  try {
    log(`  Postgres ${findPostgresBinaries({ only: 'system' }).version} (system), port ${pg.port}, default base-backup policy: every ${mb(pg.config.baseBackupWalBytes)} of WAL`);
    for (const size of options.sizesMb) {
      log(`  database → ${size} MB`);
      await growTo(pg.url, size);
      const bytes = await databaseBytes(pg.url);
      await pg.engine.maintain(); // the policy after the bulk load, as the next commit's hook would trigger

      const marker = await markerCost(pg, options.markers);
      markerBySize.set(size, marker.fresh);
      rows.push({ name: `marker at ${mb(bytes)}: new connection (median of ${options.markers})`, value: ms(marker.fresh), target: '≤ 5 ms', met: marker.fresh <= 5 });
      rows.push({ name: `marker at ${mb(bytes)}: open connection`, value: ms(marker.open), target: '', met: null });
      rows.push({ name: `marker at ${mb(bytes)}: writes no WAL`, value: marker.wroteNothing ? 'yes' : 'no', target: 'yes', met: marker.wroteNothing });

      const restores: number[] = [];
      const replays: number[] = [];
      for (let i = 0; i < options.repeats; i++) {
        const load = startLoad(pg, log);
        await new Promise((r) => setTimeout(r, 3000));
        const at = await pg.engine.head();
        const [before] = await query(pg.url, 'SELECT count(*)::int AS events FROM events');
        await new Promise((r) => setTimeout(r, 1000));
        const { transactions, backups } = await load.stop();
        const t = performance.now();
        const fork = await pg.engine.fork(at);
        const backupStop = fs.readFileSync(path.join(pg.engine.layout.backupDir(String(fork.ref.backupId)), 'meta.json'), 'utf8');
        await pg.engine.repoint(fork);
        const took = performance.now() - t;
        const [after] = await query(pg.url, 'SELECT count(*)::int AS events FROM events');
        if (after!.events !== before!.events) throw new Error(`restore ${i + 1} is not at its marker: ${String(after!.events)} events, expected ${String(before!.events)}`);
        const replay = Number(lsnDistance(JSON.parse(backupStop).stopLsn as string, at.lsn));
        restores.push(took);
        replays.push(replay);
        log(`    restore ${i + 1}: ${s(took)} (replayed ≤ ${mb(replay)} of WAL; load: ${transactions} tx, ${backups} policy backup(s))`);
      }
      const restore = median(restores);
      const baseline: { dump: number; restore: number }[] = [];
      for (let i = 0; i < options.repeats; i++) {
        baseline.push(dumpAndRestore(pg, pg.dir));
        log(`    pg_dump ${s(baseline[i]!.dump)} + pg_restore ${s(baseline[i]!.restore)}`);
      }
      const logical = median(baseline.map((b) => b.dump + b.restore));
      const target = size >= 1000 ? '≤ 3 s' : '';
      rows.push({ name: `restore at ${mb(bytes)} under write load (median of ${options.repeats}; WAL replayed ${mb(median(replays))})`, value: s(restore), target, met: target ? restore <= 3000 : null });
      rows.push({ name: `pg_dump + pg_restore at ${mb(bytes)} (median)`, value: `${s(logical)} (${s(median(baseline.map((b) => b.dump)))} + ${s(median(baseline.map((b) => b.restore)))})`, target: '', met: null });
      rows.push({ name: `restore speed-up over pg_dump + pg_restore at ${mb(bytes)}`, value: `${(logical / restore).toFixed(1)}×`, target: '≥ 10×', met: logical / restore >= 10 });
    }
    const sizes = [...markerBySize.keys()];
    if (sizes.length >= 2) {
      const ratio = markerBySize.get(sizes[sizes.length - 1]!)! / markerBySize.get(sizes[0]!)!;
      rows.push({ name: `marker cost ratio, ${sizes[sizes.length - 1]} MB / ${sizes[0]} MB`, value: ratio.toFixed(2), target: '≤ 1.2', met: ratio <= 1.2 });
    }
  } finally {
    await pg.stop();
  }
  return rows;
}
