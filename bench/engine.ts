// Local engine benchmarks: marker cost by database size, and restore time under a steady write load, side by side with pg_dump + pg_restore.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { Position } from '../src/core/engine';
import { lsnDistance } from '../src/base/lsn';
import { listBackups } from '../src/engines/local/baseBackup';
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

/** One statement on a connection of its own. */
export async function query(url: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
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

interface Sized {
  sizeMb: number;
  bytes: number;
  pg: ScratchPostgres;
}

/**
 * An app's view of a restore: `select 1` every 10 ms on the app's address,
 * reconnecting after errors. The longest time between two answers is the
 * downtime an app sees.
 */
export function startPinger(url: string): { stop(): Promise<{ longestGapMs: number; answers: number; errors: number }> } {
  let last = performance.now();
  let longestGapMs = 0;
  let answers = 0;
  let errors = 0;
  const loop = onOneConnection(
    url,
    10,
    async (client) => {
      await client.query('SELECT 1');
      const now = performance.now();
      longestGapMs = Math.max(longestGapMs, now - last);
      last = now;
      answers++;
    },
    () => errors++,
  );
  return {
    async stop() {
      await loop.stop();
      return { longestGapMs, answers, errors };
    },
  };
}

/**
 * A client of an app: `work` on one connection, then `pauseMs`, until stopped.
 * After any error (a cut-over closes the connection) it is told, and the next
 * round connects again.
 */
export function onOneConnection(url: string, pauseMs: number, work: (client: Client) => Promise<void>, onError: () => void = () => undefined): { stop(): Promise<void> } {
  let running = true;
  const loop = (async () => {
    let client: Client | undefined;
    while (running) {
      try {
        if (!client) {
          client = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
          client.on('error', () => undefined);
          await client.connect();
        }
        await work(client);
      } catch {
        onError();
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** A restore with the time of each step, from the engine's progress reports. */
async function timedRestore(pg: ScratchPostgres, at: Position): Promise<{ total: number; steps: Map<string, number>; downtime: number }> {
  const steps = new Map<string, number>();
  let step = 'Checking the target';
  let since = performance.now();
  const onProgress = (next: string) => {
    const now = performance.now();
    const name = step.replace(/ (to|at) .*$/, '').replace(/ \S+$/, (w) => (/\d/.test(w) ? '' : w));
    steps.set(name, (steps.get(name) ?? 0) + now - since);
    step = next;
    since = now;
  };
  const pinger = startPinger(pg.url);
  await new Promise((r) => setTimeout(r, 100));
  const t = performance.now();
  const fork = await pg.engine.fork(at, { onProgress });
  await pg.engine.repoint(fork, { onProgress });
  onProgress('done');
  const total = performance.now() - t;
  await new Promise((r) => setTimeout(r, 100));
  const { longestGapMs } = await pinger.stop();
  return { total, steps, downtime: longestGapMs };
}

export async function benchEngine(options: EngineBenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const { log } = options;
  const clusters: Sized[] = [];
  try {
    log(`  Postgres ${findPostgresBinaries({ only: 'system' }).version} (system); one cluster per size, side by side`);
    for (const sizeMb of options.sizesMb) {
      const pg = await startScratchPostgres({ pgSource: 'system' });
      log(`  cluster on port ${pg.port} → ${sizeMb} MB`);
      await growTo(pg.url, sizeMb);
      await pg.engine.maintain(); // the policy after the bulk load, as the next commit's hook would start it
      clusters.push({ sizeMb, bytes: await databaseBytes(pg.url), pg });
    }
    log(`  default base-backup policy: a new one every ${mb(clusters[0]!.pg.config.baseBackupWalBytes)} of WAL`);

    // Markers, as the hook takes them (a new connection each), alternating between the sizes.
    const fresh = new Map<number, number[]>(clusters.map((c) => [c.sizeMb, []]));
    const open = new Map<number, number[]>(clusters.map((c) => [c.sizeMb, []]));
    const before = await Promise.all(clusters.map((c) => c.pg.engine.head()));
    for (let i = 0; i < options.markers; i++) {
      for (const c of clusters) {
        const engine = new LocalEngine(c.pg.config, c.pg.ctx);
        let t = performance.now();
        await engine.head();
        fresh.get(c.sizeMb)!.push(performance.now() - t);
        await engine.close();
        t = performance.now();
        await c.pg.engine.head();
        open.get(c.sizeMb)!.push(performance.now() - t);
      }
    }
    const after = await Promise.all(clusters.map((c) => c.pg.engine.head()));
    clusters.forEach((c, i) => {
      const wal = lsnDistance(before[i]!.lsn, after[i]!.lsn);
      const f = median(fresh.get(c.sizeMb)!);
      rows.push({ name: `marker at ${mb(c.bytes)}: new connection, as the hook takes it (median of ${options.markers})`, value: ms(f), target: '≤ 5 ms', met: f <= 5 });
      rows.push({ name: `marker at ${mb(c.bytes)}: on an open connection`, value: ms(median(open.get(c.sizeMb)!)), target: '', met: null });
      // Background processes (autovacuum, the checkpointer) may write a little; markers write nothing.
      rows.push({ name: `marker at ${mb(c.bytes)}: WAL written by ${options.markers * 2} markers`, value: `${wal} bytes`, target: 'none (no WAL switch)', met: wal < 8192n });
    });
    if (clusters.length >= 2) {
      const small = clusters[0]!;
      const big = clusters[clusters.length - 1]!;
      const ratio = median(fresh.get(big.sizeMb)!) / median(fresh.get(small.sizeMb)!);
      rows.push({ name: `marker cost ratio, ${mb(big.bytes)} / ${mb(small.bytes)} (same run, alternating)`, value: ratio.toFixed(2), target: '≤ 1.2', met: ratio <= 1.2 });
    }

    // Restores under a steady write load, each followed by the logical baseline on the same database.
    for (const c of clusters) {
      const { pg } = c;
      log(`  restores at ${mb(c.bytes)}`);
      const restores: number[] = [];
      const downtimes: number[] = [];
      const replays: number[] = [];
      const baseline: { dump: number; restore: number }[] = [];
      const stepTotals = new Map<string, number[]>();
      for (let i = 0; i < options.repeats; i++) {
        const load = startLoad(pg, log);
        await new Promise((r) => setTimeout(r, 3000));
        // The writer keeps going: the marker's state lies between a count just before and one just after it.
        const [below] = await query(pg.url, 'SELECT count(*)::int AS events FROM events');
        const at = await pg.engine.head();
        const [above] = await query(pg.url, 'SELECT count(*)::int AS events FROM events');
        await new Promise((r) => setTimeout(r, 1000));
        const { transactions, backups } = await load.stop();
        const replay = replayFor(pg, at);
        const { total, steps, downtime } = await timedRestore(pg, at);
        downtimes.push(downtime);
        const restoredEvents = Number((await query(pg.url, 'SELECT count(*)::int AS events FROM events'))[0]!.events);
        if (restoredEvents < Number(below!.events) || restoredEvents > Number(above!.events)) {
          throw new Error(`restore ${i + 1} is not at its marker: ${restoredEvents} events, expected ${String(below!.events)}–${String(above!.events)}`);
        }
        restores.push(total);
        replays.push(replay);
        for (const [name, t] of steps) stepTotals.set(name, [...(stepTotals.get(name) ?? []), t]);
        log(`    restore ${i + 1}: ${s(total)}, app-visible downtime ${s(downtime)} (WAL to replay ≤ ${mb(replay)}; load: ${transactions} tx, ${backups} policy backup(s)): ${[...steps].map(([n, t]) => `${n} ${s(t)}`).join(', ')}`);
        baseline.push(dumpAndRestore(pg, pg.dir));
        log(`    pg_dump ${s(baseline[i]!.dump)} + pg_restore ${s(baseline[i]!.restore)}`);
      }
      const restore = median(restores);
      const logical = median(baseline.map((b) => b.dump + b.restore));
      const target = c.sizeMb >= 1000 ? '≤ 3 s' : '';
      const breakdown = [...stepTotals].map(([n, t]) => `${n.toLowerCase()} ${s(median(t))}`).join(', ');
      rows.push({ name: `restore at ${mb(c.bytes)} under a write load (median of ${options.repeats}; WAL since the base backup ≤ ${mb(median(replays))})`, value: s(restore), target, met: target ? restore <= 3000 : null, note: breakdown });
      const downtime = median(downtimes);
      rows.push({
        name: `app-visible downtime of that restore at ${mb(c.bytes)} (\`select 1\` every 10 ms on the app's port: longest gap, median of ${options.repeats})`,
        value: s(downtime),
        target: '≤ 0.5 s',
        met: downtime <= 500,
      });
      rows.push({ name: `pg_dump + pg_restore of the same database (median)`, value: `${s(logical)} (${s(median(baseline.map((b) => b.dump)))} + ${s(median(baseline.map((b) => b.restore)))})`, target: '', met: null });
      rows.push({ name: `restore speed-up over pg_dump + pg_restore at ${mb(c.bytes)}`, value: `${(logical / restore).toFixed(1)}×`, target: '≥ 10×', met: logical / restore >= 10 });
    }
  } finally {
    for (const c of clusters) await c.pg.stop();
  }
  return rows;
}

/** WAL between the base backup the restore will use and the marker. */
function replayFor(pg: ScratchPostgres, at: Position): number {
  const backups = listBackups(pg.engine.layout.backups).filter((b) => lsnDistance(b.stopLsn, at.lsn) > 0n || b.stopLsn === at.lsn);
  const newest = backups[backups.length - 1];
  return newest ? Number(lsnDistance(newest.stopLsn, at.lsn)) : Number.NaN;
}
