// The workload a user has (issue 8): a pgbench database with 50,000-row UPDATEs between checkpoints, driven through the real CLI, with a baseline revision's CLI side by side in the same run.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseLsn } from '../src/base/lsn';
import { historyReader } from '../src/engines/local/archive';
import { chooseBackup, listBackups, type BackupMeta } from '../src/engines/local/baseBackup';
import { expectOk, explain, runProcess, upkeepProcesses, localRootOf, waitForUpkeepIn, type CliResult } from '../test/support/cli';
import { createRepo } from '../test/support/git';
import { freePort, traversableTempDir } from '../test/support/postgres';
import { onOneConnection, query as sql, startPinger } from './engine';
import { mb, median, s, type BenchRow } from './types';

const ROOT = path.resolve(__dirname, '..');
const PGBENCH = '/usr/lib/postgresql/15/bin/pgbench';
/** pgbench's scale 1 is 100,000 accounts, about 15 MB once initialised. */
const MB_PER_SCALE = 15;
const UPDATE_ROWS = 50_000;
/** "Soon after": the next restore starts this long after the previous one returned (a person reading the output). */
const SOON_MS = 1000;
const POLICY_BYTES = 64 * 1024 * 1024;

export interface WorkloadBenchOptions {
  /** Database sizes in MB; each maps to a pgbench scale (~15 MB per unit). */
  sizesMb: number[];
  /** Cycles (restore, undo, restore again, undo again) per size and design; medians are reported. */
  repeats: number;
  /** The revision run side by side as "old" ('none' skips it). */
  baseline: string;
  /** The revision measured as "new" (default HEAD; 'worktree' takes dist/ as `npm run build` left it). */
  candidate: string;
  log: (line: string) => void;
}

export interface WorkloadResult {
  rows: BenchRow[];
  /** Markdown: one line per restore, for the report after the table. */
  detail: string;
}

export interface Design {
  /** "new" or "old". */
  name: string;
  /** What was built, for the report: "5557808" or "7137be0 + working tree". */
  revision: string;
  cli: string;
}

export interface Site {
  design: Design;
  sizeMb: number;
  scale: number;
  dir: string;
  url: string;
  /** The local engine's directory (backups/, archive/, prepared-*). */
  root: string;
  writer: SteadyWriter;
  updates: number;
  commits: number;
  /** WAL written from one checkpoint to the next (the UPDATE, the writer, the commit). */
  walPerCheckpoint: number[];
}

type Kind = 'restore' | 'undo' | 'restore again' | 'undo again';
const KINDS: readonly Kind[] = ['restore', 'undo', 'restore again', 'undo again'];
const KIND_TEXT: Record<Kind, string> = {
  restore: 'restore to the previous checkpoint',
  undo: 'its undo, 1 s later',
  'restore again': 'restore to an older checkpoint, 1 s later',
  'undo again': 'its undo, 1 s later',
};

interface RestoreFigure {
  design: string;
  sizeMb: number;
  repeat: number;
  kind: Kind;
  wallMs: number;
  downtimeMs: number;
  /** WAL between the base backup the engine chooses for the target and the target. */
  toReplay: number;
  /** WAL between the newest base backup on the serving history and the head, when the restore started. */
  sinceBackup: number;
  /** The target lies after the newest base backup on the serving history (the case of the ≤ 1 s target). */
  followsNewest: boolean;
  /** A prepared copy of the chosen backup was ready. */
  prepared: boolean;
  /** The base backup the restore starts from, and its age. */
  backupId: string;
  /** Restore end → a base backup exists on the new timeline (undefined: not before `upkeepWatchedMs`). */
  backupLagMs?: number;
  /** Restore end → no upkeep process runs any more (undefined: still running when the watch ended). */
  upkeepDoneMs?: number;
  upkeepWatchedMs: number;
}

// ---- the designs -----------------------------------------------------------

function git(args: string[]): string {
  const result = spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/**
 * A revision's CLI, built apart from the work tree: `git archive <rev>` into a
 * temp dir, node_modules linked, its own `node esbuild.js`. The work tree is
 * shared with engineers editing src/ meanwhile, so even the current design is
 * measured as committed unless `worktree` is asked for.
 */
function buildRevision(name: string, rev: string, log: (line: string) => void): { design: Design; dir?: string } | { skipped: string } {
  if (rev === 'worktree') {
    const head = git(['rev-parse', '--short=7', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--', 'src', 'package.json', 'esbuild.js']) !== '';
    return { design: { name, revision: `work tree at ${head}${dirty ? ' with uncommitted src/ changes' : ''}`, cli: path.join(ROOT, 'dist', 'cli.js') } };
  }
  let dir: string | undefined;
  try {
    const sha = git(['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), `lockstep-${name}-build-`));
    const extract = spawnSync('sh', ['-c', 'git archive "$1" | tar -x -C "$2"', 'sh', sha, dir], { cwd: ROOT, encoding: 'utf8' });
    if (extract.status !== 0) throw new Error(`git archive ${rev} failed: ${extract.stderr.trim()}`);
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const build = spawnSync(process.execPath, ['esbuild.js'], { cwd: dir, encoding: 'utf8' });
    const cli = path.join(dir, 'dist', 'cli.js');
    if (build.status !== 0 || !fs.existsSync(cli)) throw new Error(`its build failed: ${(build.stderr || build.stdout).trim().split('\n').slice(-3).join(' ')}`);
    log(`  ${name}: ${rev} (${sha.slice(0, 7)}) built in ${dir}`);
    return { design: { name, revision: rev === sha.slice(0, rev.length) ? sha.slice(0, 7) : `${rev} = ${sha.slice(0, 7)}`, cli }, dir };
  } catch (error) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    return { skipped: (error as Error).message };
  }
}

// ---- one repository with its cluster ----------------------------------------

export const cli = (site: Pick<Site, 'design' | 'dir'>, args: string[], timeoutMs = 600_000): Promise<CliResult> =>
  runProcess(process.execPath, [site.design.cli, ...args], site.dir, { timeoutMs });


export async function setUp(design: Design, sizeMb: number, log: (line: string) => void): Promise<Site> {
  const scale = Math.max(1, Math.round(sizeMb / MB_PER_SCALE));
  const dir = fs.realpathSync(traversableTempDir(`lockstep-workload-${design.name}-${sizeMb}-`));
  createRepo({ dir });
  const port = await freePort();
  expectOk(await cli({ design, dir }, ['init', '--port', String(port)]), `${design.name}: lockstep init`);
  const url = expectOk(await cli({ design, dir }, ['db', 'url'])).stdout.trim();
  const t = performance.now();
  expectOk(await runProcess(PGBENCH, ['-i', '-q', '-s', String(scale), url], dir, { timeoutMs: 1_800_000 }), 'pgbench -i');
  log(`    ${design.name}: pgbench -i -s ${scale} on port ${port} in ${s(performance.now() - t)}`);
  const site: Site = { design, sizeMb, scale, dir, url, root: localRootOf(path.join(dir, '.git', 'lockstep')), writer: startSteadyWriter(url), updates: 0, commits: 0, walPerCheckpoint: [] };
  // The commit after the bulk load: its hook starts the upkeep, as for a user; the workload starts once it is done.
  await commit(site, 'pgbench data', log);
  const upkeep = await waitForUpkeep(dir, 900_000);
  log(`    ${design.name}: upkeep after the load done in ${s(upkeep)} (${listBackups(path.join(site.root, 'backups')).length} base backup(s))`);
  return site;
}

export async function tearDown(site: Site): Promise<void> {
  await site.writer.stop();
  await waitForUpkeep(site.dir, 300_000).catch(() => undefined);
  await cli(site, ['db', 'stop'], 120_000).catch(() => undefined);
  await stopStrayPostgres(site.root);
  if (!site.root.startsWith(site.dir)) fs.rmSync(site.root, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
  fs.rmSync(site.dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
}

/** A fork or preview left running by a failed restore: stopped by the pid in its postmaster.pid. */
async function stopStrayPostgres(root: string): Promise<void> {
  for (const entry of fs.existsSync(root) ? fs.readdirSync(root) : []) {
    try {
      const pid = Number(fs.readFileSync(path.join(root, entry, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (Number.isInteger(pid) && pid > 0 && fs.readlinkSync(`/proc/${pid}/cwd`) === path.join(root, entry)) {
        process.kill(pid, 'SIGQUIT');
        for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await sleep(100);
      }
    } catch {
      // not running
    }
  }
}

export async function waitForUpkeep(dir: string, timeoutMs: number): Promise<number> {
  const t = performance.now();
  // After a commit the upkeep starts from the hook's fold, a second after the hook exits: waited for too.
  await waitForUpkeepIn(dir, timeoutMs, true);
  return performance.now() - t;
}

// ---- the workload -------------------------------------------------------------

interface SteadyWriter {
  stop(): Promise<number>;
}

/** An app being used: a one-row UPDATE and an INSERT every 50 ms on one connection, reconnecting after a cut-over. */
function startSteadyWriter(url: string): SteadyWriter {
  let transactions = 0;
  const loop = onOneConnection(url, 50, async (client) => {
    const aid = 1 + Math.floor(Math.random() * 100_000);
    await client.query('UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = $1', [aid]);
    await client.query('INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, $1, 1, now())', [aid]);
    transactions++;
  });
  return {
    async stop() {
      await loop.stop();
      return transactions;
    },
  };
}

async function currentLsn(url: string): Promise<bigint> {
  return parseLsn(String((await sql(url, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn));
}

/** The change a user makes between two checkpoints: 50,000 rows of pgbench_accounts. */
export async function bigUpdate(site: Site): Promise<void> {
  const accounts = site.scale * 100_000;
  const from = 1 + ((site.updates * UPDATE_ROWS) % Math.max(1, accounts - UPDATE_ROWS + 1));
  site.updates++;
  await sql(site.url, 'UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $1 AND $1 + $2', [from, UPDATE_ROWS - 1]);
}

export interface CheckpointRef {
  id: string;
  timelineId: string;
  lsn: string;
}

export async function listing(site: Site): Promise<(CheckpointRef & { kind: string; commitSha: string | null })[]> {
  return JSON.parse(expectOk(await cli(site, ['list', '--json'])).stdout) as (CheckpointRef & { kind: string; commitSha: string | null })[];
}

/** A commit, checkpointed by the post-commit hook (a snapshot if the hook could not record it within its 1.7 s). */
export async function commit(site: Site, message: string, log: (line: string) => void): Promise<CheckpointRef> {
  site.commits++;
  fs.writeFileSync(path.join(site.dir, 'work.txt'), `${message} ${site.commits}\n`);
  expectOk(await runProcess('git', ['add', 'work.txt'], site.dir), 'git add');
  const result = expectOk(await runProcess('git', ['commit', '--quiet', '-m', `${message} ${site.commits}`], site.dir), 'git commit');
  const sha = expectOk(await runProcess('git', ['rev-parse', 'HEAD'], site.dir)).stdout.trim();
  const found = (await listing(site)).find((c) => c.kind === 'commit' && c.commitSha === sha);
  if (found) return found;
  log(`      ${site.design.name}: the hook did not record ${sha.slice(0, 7)} (${result.stderr.trim() || 'no message'}); taking a snapshot`);
  return JSON.parse(expectOk(await cli(site, ['snapshot', '--json'])).stdout) as CheckpointRef;
}

// ---- WAL and base backups, read from the engine's own files --------------------

export interface WalView {
  toReplay: number;
  sinceBackup: number;
  followsNewest: boolean;
  prepared: boolean;
  backupId: string;
}

export async function walView(site: Site, target: CheckpointRef): Promise<WalView> {
  const [row] = await sql(site.url, 'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile FROM pg_current_wal_lsn() AS lsn');
  const headLsn = parseLsn(String(row!.lsn));
  const headTimeline = parseInt(String(row!.walfile).slice(0, 8), 16);
  const backups = listBackups(path.join(site.root, 'backups'));
  const history = historyReader(path.join(site.root, 'archive'));
  const forHead = chooseBackup(backups, history, headTimeline, headLsn);
  const targetLsn = parseLsn(target.lsn);
  const forTarget = chooseBackup(backups, history, Number(target.timelineId), targetLsn);
  const distance = (b: BackupMeta | undefined, to: bigint) => (b ? Number(to - parseLsn(b.stopLsn)) : Number.NaN);
  return {
    toReplay: distance(forTarget, targetLsn),
    sinceBackup: distance(forHead, headLsn),
    followsNewest: forTarget !== undefined && forTarget.id === forHead?.id,
    prepared: forTarget !== undefined && fs.existsSync(path.join(site.root, `prepared-${forTarget.id}`)),
    backupId: forTarget?.id ?? 'none',
  };
}

/** After a restore: when a base backup appears on the new timeline, and when the upkeep it started is done. */
function watchUpkeep(site: Site, timeline: number): { stop(): Promise<{ backupLagMs?: number; upkeepDoneMs?: number; watchedMs: number }> } {
  const t = performance.now();
  let running = true;
  let backupLagMs: number | undefined;
  let upkeepDoneMs: number | undefined;
  let seenUpkeep = false;
  const loop = (async () => {
    while (running && (backupLagMs === undefined || upkeepDoneMs === undefined)) {
      if (backupLagMs === undefined && listBackups(path.join(site.root, 'backups')).some((b) => b.timeline === timeline)) backupLagMs = performance.now() - t;
      if (upkeepDoneMs === undefined) {
        const running = upkeepProcesses(site.dir).length > 0;
        seenUpkeep ||= running;
        // Not seen at all within 1 s: none was started (nothing was due).
        if (!running && (seenUpkeep || performance.now() - t > 1000)) upkeepDoneMs = performance.now() - t;
      }
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      // One last look: the loop polls every 100 ms, and the caller may have seen the upkeep end first.
      const now = performance.now() - t;
      if (backupLagMs === undefined && listBackups(path.join(site.root, 'backups')).some((b) => b.timeline === timeline)) backupLagMs = now;
      if (upkeepDoneMs === undefined && upkeepProcesses(site.dir).length === 0 && now > 1000) upkeepDoneMs = now;
      return { backupLagMs, upkeepDoneMs, watchedMs: now };
    },
  };
}

// ---- one cycle: restore, undo, restore again, undo again ----------------------

async function measuredRestore(site: Site, target: CheckpointRef, kind: Kind, repeat: number, log: (line: string) => void) {
  const wal = await walView(site, target);
  const pinger = startPinger(site.url);
  await sleep(100);
  const t = performance.now();
  const result = await cli(site, ['restore', target.id, '--yes', '--checkout', 'detached']);
  const wallMs = performance.now() - t;
  await sleep(100);
  const { longestGapMs } = await pinger.stop();
  if (result.code !== 0) throw new Error(`${site.design.name} ${kind} to ${target.id} failed: ${explain(result)}`);
  const undoId = /undo: lockstep restore (\S+)/.exec(result.stdout)?.[1];
  const timeline = Number(/timeline (\d+) @/.exec(result.stdout)?.[1]);
  if (!undoId || !Number.isInteger(timeline)) throw new Error(`${site.design.name}: no undo point or timeline in\n${result.stdout}`);
  const figure: RestoreFigure = { design: site.design.name, sizeMb: site.sizeMb, repeat, kind, wallMs, downtimeMs: longestGapMs, ...wal, upkeepWatchedMs: 0 };
  const steps = /steps: (.*)/.exec(result.stdout)?.[1] ?? '';
  log(
    `      ${site.design.name} ${kind}: ${s(wallMs)}, downtime ${s(figure.downtimeMs)}; WAL to replay ${mb(wal.toReplay)} from ${wal.backupId}${wal.prepared ? ' (prepared copy ready)' : ' (no prepared copy)'}, since the newest backup ${mb(wal.sinceBackup)}${wal.followsNewest ? '' : ' (target before the newest backup)'}; ${steps}`,
  );
  return { figure, undo: (await listing(site)).find((c) => c.id === undoId) ?? { id: undoId, timelineId: '0', lsn: '0/0' }, watch: watchUpkeep(site, timeline) };
}

async function cycle(site: Site, repeat: number, log: (line: string) => void): Promise<RestoreFigure[]> {
  const checkpoints: CheckpointRef[] = [];
  for (let k = 0; k < 3; k++) {
    const before = await currentLsn(site.url);
    await bigUpdate(site);
    checkpoints.push(await commit(site, 'change', log));
    site.walPerCheckpoint.push(Number((await currentLsn(site.url)) - before));
    await sleep(300);
  }
  const figures: RestoreFigure[] = [];
  let watching: ReturnType<typeof watchUpkeep> | undefined;
  let last: RestoreFigure | undefined;
  const settle = async () => {
    if (!watching || !last) return;
    const w = await watching.stop();
    last.backupLagMs = w.backupLagMs;
    last.upkeepDoneMs = w.upkeepDoneMs;
    last.upkeepWatchedMs = w.watchedMs;
  };
  let target = checkpoints[1]!;
  for (const kind of KINDS) {
    if (kind === 'restore again') target = checkpoints[0]!;
    await settle();
    const done = await measuredRestore(site, target, kind, repeat, log);
    figures.push(done.figure);
    watching = done.watch;
    last = done.figure;
    target = done.undo;
    if (kind !== 'undo again') await sleep(SOON_MS);
  }
  // The last one's upkeep is waited for: its lag, and the next cycle starts from what the upkeep leaves.
  await waitForUpkeep(site.dir, 900_000).catch((error: Error) => log(`      ${error.message}`));
  await settle();
  return figures;
}

// ---- the report -----------------------------------------------------------------

const sOrNone = (ms: number | undefined, watched: number) => (ms === undefined ? `none in ${s(watched)}` : s(ms));

function rowsFor(sizeMb: number, scale: number, figures: RestoreFigure[], designs: Design[]): BenchRow[] {
  const rows: BenchRow[] = [];
  const size = `${sizeMb} MB (pgbench -s ${scale})`;
  const of = (design: string, kind: Kind) => figures.filter((f) => f.design === design && f.kind === kind);
  const hasOld = designs.some((d) => d.name === 'old');
  for (const kind of KINDS) {
    const mine = of('new', kind);
    const old = of('old', kind);
    if (mine.length === 0) continue;
    const wall = median(mine.map((f) => f.wallMs));
    const oldWall = old.length ? median(old.map((f) => f.wallMs)) : Number.NaN;
    const follows = mine.filter((f) => f.followsNewest);
    const restoreTarget = sizeMb >= 1000 && kind === 'restore' ? '≤ 1 s (target after the newest base backup)' : '';
    const followsWall = follows.length ? median(follows.map((f) => f.wallMs)) : Number.NaN;
    rows.push({
      name: `${size}, ${KIND_TEXT[kind]}: wall time, median of ${mine.length}`,
      value: `${s(wall)}${hasOld ? ` · old ${s(oldWall)} (new/old ${(wall / oldWall).toFixed(2)}×)` : ''}`,
      target: restoreTarget,
      met: restoreTarget ? (follows.length ? followsWall <= 1000 : null) : null,
      note: `target after the newest base backup in ${follows.length} of ${mine.length}${follows.length ? `, their median ${s(followsWall)}` : ''}; prepared copy ready in ${mine.filter((f) => f.prepared).length} of ${mine.length}${hasOld ? `; old: ${old.filter((f) => f.prepared).length} of ${old.length}` : ''}`,
    });
    const down = mine.map((f) => f.downtimeMs);
    const oldDown = old.map((f) => f.downtimeMs);
    rows.push({
      name: `${size}, ${KIND_TEXT[kind]}: app-visible downtime (\`select 1\` every 10 ms: longest gap), median (worst)`,
      value: `${s(median(down))} (${s(Math.max(...down))})${hasOld ? ` · old ${s(median(oldDown))} (${s(Math.max(...oldDown))})` : ''}`,
      target: '≤ 0.5 s, the worst',
      met: Math.max(...down) <= 500,
    });
    const replay = mine.map((f) => f.toReplay);
    const since = mine.map((f) => f.sinceBackup);
    rows.push({
      name: `${size}, ${KIND_TEXT[kind]}: WAL replayed (from the base backup chosen to the target) / WAL since the newest base backup at the restore, median (worst)`,
      value: `${mb(median(replay))} (${mb(Math.max(...replay))}) / ${mb(median(since))} (${mb(Math.max(...since))})${hasOld ? ` · old ${mb(median(old.map((f) => f.toReplay)))} (${mb(Math.max(...old.map((f) => f.toReplay)))}) / ${mb(median(old.map((f) => f.sinceBackup)))} (${mb(Math.max(...old.map((f) => f.sinceBackup)))})` : ''}`,
      target: '≤ 64 MB replayed (the policy)',
      met: Math.max(...replay) <= POLICY_BYTES,
    });
  }
  const mine = figures.filter((f) => f.design === 'new');
  const lag = (list: RestoreFigure[]) => {
    const withBackup = list.filter((f) => f.backupLagMs !== undefined);
    const done = list.filter((f) => f.upkeepDoneMs !== undefined);
    return `a base backup on the new timeline after ${withBackup.length} of ${list.length} restores${withBackup.length ? ` (median ${s(median(withBackup.map((f) => f.backupLagMs!)))}, worst ${s(Math.max(...withBackup.map((f) => f.backupLagMs!)))})` : ''}; upkeep done before the next restore or within the wait after ${done.length} of ${list.length}${done.length ? ` (median ${s(median(done.map((f) => f.upkeepDoneMs!)))})` : ''}`;
  };
  rows.push({ name: `${size}: the upkeep's lag after a restore (restore end → base backup on the new timeline; → upkeep finished)`, value: `${lag(mine)}${hasOld ? ` · old: ${lag(figures.filter((f) => f.design === 'old'))}` : ''}`, target: '', met: null });
  return rows;
}

function detailTable(figures: RestoreFigure[]): string {
  const lines = [
    '| size | design | cycle | restore | wall | downtime | WAL replayed | WAL since newest backup | target after newest backup | prepared copy | backup on new timeline after | upkeep done after |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of figures) {
    lines.push(
      `| ${f.sizeMb} MB | ${f.design} | ${f.repeat} | ${f.kind} | ${s(f.wallMs)} | ${s(f.downtimeMs)} | ${mb(f.toReplay)} | ${mb(f.sinceBackup)} | ${f.followsNewest ? 'yes' : 'no'} | ${f.prepared ? 'yes' : 'no'} | ${sOrNone(f.backupLagMs, f.upkeepWatchedMs)} | ${sOrNone(f.upkeepDoneMs, f.upkeepWatchedMs)} |`,
    );
  }
  return lines.join('\n');
}

export async function benchWorkload(options: WorkloadBenchOptions): Promise<WorkloadResult> {
  const { log } = options;
  const designs: Design[] = [];
  const notes: string[] = [];
  const buildDirs: string[] = [];
  if (options.baseline !== 'none') {
    const built = buildRevision('old', options.baseline, log);
    if ('skipped' in built) {
      notes.push(`The baseline ${options.baseline} was not run: ${built.skipped}.`);
      log(`  baseline ${options.baseline} skipped: ${built.skipped}`);
    } else {
      designs.push(built.design);
      if (built.dir) buildDirs.push(built.dir);
    }
  }
  const candidate = buildRevision('new', options.candidate, log);
  if ('skipped' in candidate) throw new Error(`${options.candidate} cannot be built: ${candidate.skipped}`);
  designs.push(candidate.design);
  if (candidate.dir) buildDirs.push(candidate.dir);
  const rows: BenchRow[] = [];
  const figures: RestoreFigure[] = [];
  try {
    for (const sizeMb of options.sizesMb) {
      log(`  ${sizeMb} MB: one repository and cluster per design (${designs.map((d) => `${d.name} = ${d.revision}`).join(', ')})`);
      // Set up side by side (not measured), then interleaved cycles: old, new, old, new …
      const sites = await Promise.all(designs.map((d) => setUp(d, sizeMb, log)));
      const sizeFigures: RestoreFigure[] = [];
      try {
        for (let repeat = 1; repeat <= options.repeats; repeat++) {
          for (const site of sites) {
            log(`    cycle ${repeat}, ${site.design.name}`);
            try {
              sizeFigures.push(...(await cycle(site, repeat, log)));
            } catch (error) {
              // One failed cycle is a finding, not the end of the run: said in the report, the next cycle goes on.
              // The first line says which restore; the last lines of its stderr say why.
              const lines = (error as Error).message.split('\n').filter((l) => l.trim() !== '');
              const what = `${sizeMb} MB, cycle ${repeat}, ${site.design.name}: ${[lines[0], ...lines.slice(1).slice(-4)].join(' ')}`;
              notes.push(`FAILED: ${what}`);
              log(`      FAILED: ${what}`);
              log((error as Error).message);
              await waitForUpkeep(site.dir, 300_000).catch(() => undefined);
            }
          }
        }
        const mine = sites.find((x) => x.design.name === 'new')!;
        const bytes = Number((await sql(mine.url, 'SELECT pg_database_size(current_database())::text AS n'))[0]!.n);
        rows.push({
          name: `${sizeMb} MB (pgbench -s ${mine.scale}): the database; the workload`,
          value: mb(bytes),
          target: '',
          met: null,
          note: `${options.repeats} cycles of 3 × (UPDATE of ${UPDATE_ROWS.toLocaleString('en')} rows of pgbench_accounts, git commit with the hook) then restore, undo, restore again, undo again 1 s apart; a steady writer (one-row UPDATE + INSERT every 50 ms) throughout; WAL per checkpoint (one UPDATE + commit) median ${mb(median(mine.walPerCheckpoint))}, worst ${mb(Math.max(...mine.walPerCheckpoint))}`,
        });
      } finally {
        for (const site of sites) {
          const tx = await site.writer.stop();
          log(`    ${site.design.name}: steady writer ${tx} transactions`);
          await tearDown(site);
        }
      }
      figures.push(...sizeFigures);
      rows.push(...rowsFor(sizeMb, sites[0]!.scale, sizeFigures, designs));
    }
  } finally {
    for (const dir of buildDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  const detail = [
    ...notes,
    `Designs: new = ${designs.find((d) => d.name === 'new')!.revision}${designs.some((d) => d.name === 'old') ? `, old = ${designs.find((d) => d.name === 'old')!.revision}` : ''} (each built from \`git archive\` in this run unless it says work tree). Every restore, as measured:`,
    '',
    detailTable(figures),
  ].join('\n');
  return { rows, detail };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
