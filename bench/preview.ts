// Issue 11: the palette flow (preview, then restore) beside a restore that does not reuse a preview, at several sizes, and the diff of a 1 GB table with 1 % of its rows changed.
// Driven through the real CLI on a pgbench database with the workload a user has (50,000-row UPDATEs between checkpoints, a steady writer).

import * as path from 'node:path';
import { expectOk, explain } from '../test/support/cli';
import { query as sql } from './engine';
import { mb, median, s, type BenchRow } from './types';
import { bigUpdate, cli, commit, setUp, tearDown, waitForUpkeep, walView, type CheckpointRef, type Design, type Site } from './workload';

export interface PreviewBenchOptions {
  sizesMb: number[];
  repeats: number;
  log: (line: string) => void;
}

interface FlowFigure {
  case: 'palette' | 'no preview' | 'worst';
  previewMs?: number;
  /** The restore's own duration, as it reports it ("Restored … in X s"): confirm → restored, without the CLI's start-up. */
  restoreMs: number;
  restoreWallMs: number;
  reused: boolean;
  walToReplay: number;
  followsNewest: boolean;
}

const ROOT = path.resolve(__dirname, '..');

export async function benchPreview(options: PreviewBenchOptions): Promise<{ rows: BenchRow[]; detail: string }> {
  const { log } = options;
  const design: Design = { name: 'new', revision: 'work tree', cli: path.join(ROOT, 'dist', 'cli.js') };
  const rows: BenchRow[] = [];
  const detail: string[] = [];
  for (const sizeMb of options.sizesMb) {
    log(`  ${sizeMb} MB: setting up`);
    const site = await setUp(design, sizeMb, log);
    try {
      const figures: FlowFigure[] = [];
      for (let r = 0; r < options.repeats; r++) {
        // Alternate which case runs first: the machine is shared.
        const order: FlowFigure['case'][] = r % 2 === 0 ? ['palette', 'no preview'] : ['no preview', 'palette'];
        for (const c of order) figures.push(await flow(site, c, log));
      }
      figures.push(await flow(site, 'worst', log));
      const palette = figures.filter((f) => f.case === 'palette');
      const plain = figures.filter((f) => f.case === 'no preview');
      const worst = figures.find((f) => f.case === 'worst')!;
      const big = sizeMb >= 1000;
      const previewMed = median(palette.map((f) => f.previewMs!));
      const restoreMed = median(palette.map((f) => f.restoreMs));
      rows.push(
        { name: `${sizeMb} MB: preview shown (\`restore --dry-run\` with the row diff, target after the newest base backup, median of ${palette.length})`, value: s(previewMed), target: big ? '≤ 1.5 s' : '', met: big ? previewMed <= 1500 : null },
        { name: `${sizeMb} MB: confirm → restored, reusing the preview (the restore's own time, median)`, value: `${s(restoreMed)} (wall ${s(median(palette.map((f) => f.restoreWallMs)))}; preview reused ${palette.filter((f) => f.reused).length}/${palette.length})`, target: big ? '≤ 1 s' : '', met: big ? restoreMed <= 1000 : null },
        { name: `${sizeMb} MB: preview + restore, total (median)`, value: s(median(palette.map((f) => f.previewMs! + f.restoreMs))), target: '', met: null },
        { name: `${sizeMb} MB: a restore that does not reuse a preview, side by side (median of ${plain.length})`, value: `${s(median(plain.map((f) => f.restoreMs)))} (wall ${s(median(plain.map((f) => f.restoreWallMs)))})`, target: '', met: null },
        { name: `${sizeMb} MB: worst case, target before the newest base backup: preview, then restore`, value: `${s(worst.previewMs!)} + ${s(worst.restoreMs)} (WAL replayed ${mb(worst.walToReplay)}; preview reused: ${worst.reused ? 'yes' : 'no'})`, target: '', met: null },
      );
      for (const f of figures) {
        detail.push(`- ${sizeMb} MB, ${f.case}: ${f.previewMs !== undefined ? `preview ${s(f.previewMs)}, ` : ''}restore ${s(f.restoreMs)} (wall ${s(f.restoreWallMs)}), WAL from its base backup ${mb(f.walToReplay)}${f.followsNewest ? '' : ' (target before the newest backup)'}${f.reused ? ', preview copy promoted' : ''}`);
      }
      if (big) rows.push(...(await diffBench(site, log)));
    } finally {
      await tearDown(site);
    }
  }
  return { rows, detail: detail.join('\n') };
}

/** A checkpoint after a bulk UPDATE, the upkeep done, then the damage (another bulk UPDATE), then preview and/or restore to that checkpoint. */
async function flow(site: Site, kind: FlowFigure['case'], log: (line: string) => void): Promise<FlowFigure> {
  await bigUpdate(site);
  const target: CheckpointRef = await commit(site, `before ${kind}`, log);
  await waitForUpkeep(site.dir, 900_000);
  if (kind === 'worst') {
    // A base backup after the target: the restore must start from the one before it.
    expectOk(await cli(site, ['db', 'backup']), 'lockstep db backup');
    await waitForUpkeep(site.dir, 900_000);
  }
  await bigUpdate(site);
  const wal = await walView(site, target);
  let previewMs: number | undefined;
  if (kind !== 'no preview') {
    const t = performance.now();
    const preview = await cli(site, ['restore', target.id, '--dry-run', '--data-only']);
    previewMs = performance.now() - t;
    if (preview.code !== 0) throw new Error(`preview of ${target.id} failed: ${explain(preview)}`);
  }
  const t = performance.now();
  const result = await cli(site, ['restore', target.id, '--yes', '--data-only']);
  const restoreWallMs = performance.now() - t;
  if (result.code !== 0) throw new Error(`restore to ${target.id} failed: ${explain(result)}`);
  const own = /Restored .* in ([\d.]+) s/.exec(result.stdout)?.[1];
  const steps = /steps: (.*)/.exec(result.stdout)?.[1] ?? '';
  // The engine says so in its progress (stderr): the kept copy was promoted, nothing replayed again.
  const reused = /Promoting the preview copy/.test(result.stderr);
  const figure: FlowFigure = { case: kind, previewMs, restoreMs: own ? Number(own) * 1000 : restoreWallMs, restoreWallMs, reused, walToReplay: wal.toReplay, followsNewest: wal.followsNewest };
  log(`    ${site.sizeMb} MB ${kind}: ${previewMs !== undefined ? `preview ${s(previewMs)}, ` : ''}restore ${s(figure.restoreMs)} (wall ${s(restoreWallMs)}); ${steps}`);
  await waitForUpkeep(site.dir, 900_000);
  return figure;
}

/** `lockstep diff` of pgbench_accounts after 1 % of its rows changed, exactness checked against the count the UPDATE reported. */
async function diffBench(site: Site, log: (line: string) => void): Promise<BenchRow[]> {
  // The steady writer changes pgbench_accounts rows too: stopped first, so the rows changed since the target are exactly the UPDATE's.
  await site.writer.stop();
  site.writer = { stop: async () => 0 };
  await waitForUpkeep(site.dir, 900_000);
  const target = await commit(site, 'before the 1 % update', log);
  await waitForUpkeep(site.dir, 900_000);
  const [updated] = await sql(site.url, "WITH u AS (UPDATE pgbench_accounts SET abalance = abalance + 7, filler = 'changed by the bench' WHERE aid % 100 = 42 RETURNING 1) SELECT count(*)::int AS n FROM u");
  const expected = Number(updated!.n);
  const [size] = await sql(site.url, "SELECT pg_total_relation_size('pgbench_accounts')::bigint::text AS bytes");
  const runs: { wallMs: number; ms: number; changed: number }[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    const result = await cli(site, ['diff', target.id, '--json']);
    const wallMs = performance.now() - t;
    if (result.code !== 0) throw new Error(`diff failed: ${explain(result)}`);
    const json = JSON.parse(result.stdout) as { ms?: number; tables?: { name: string; changed: number; partial?: string }[] };
    const table = json.tables?.find((x) => x.name === 'pgbench_accounts');
    const changed = table?.changed ?? -1;
    runs.push({ wallMs, ms: json.ms ?? wallMs, changed });
    // Opening the past claimed the prepared copy, so the diff started the upkeep: let it finish before the next run.
    await waitForUpkeep(site.dir, 900_000);
    log(`    diff ${i + 1}: ${s(wallMs)} wall, ${s(json.ms ?? wallMs)} diffing; ${changed} changed of ${expected} updated${table?.partial ? ` (partial: ${table.partial})` : ''}`);
  }
  const exact = runs.every((r) => r.changed === expected);
  const first = runs[0]!;
  const again = median(runs.slice(1).map((r) => r.ms));
  return [
    { name: `diff of pgbench_accounts (${mb(Number(size!.bytes))}, ${expected} of ${site.scale * 100_000} rows changed): the row comparison alone, copy kept open (median of ${runs.length - 1})`, value: `${s(again)} (${exact ? 'exact' : 'NOT exact'})`, target: '≤ 3 s', met: again <= 3000 && exact },
    { name: 'the same diff from the command line, first run (recovers the copy of the past) · later runs (the copy kept)', value: `${s(first.wallMs)} · ${s(median(runs.slice(1).map((r) => r.wallMs)))}`, target: '', met: null },
  ];
}
