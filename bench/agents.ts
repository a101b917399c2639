// Agent benchmarks: a safety point through the guard (the whole process an agent's hook starts: dist/guard.js, as
// `lockstep agent install` writes it) beside a bare Node start-up.
// (The MCP row — a snapshot through an open MCP session — goes in this file too, as its own exported function.)

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { eventually } from '../test/support/eventually';
import { freePort, traversableTempDir } from '../test/support/postgres';
import { query } from './engine';
import { median, ms, type BenchRow } from './types';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');
/** What the installed hooks run. */
const GUARD = path.resolve(__dirname, '..', 'dist', 'guard.js');

export interface GuardBenchOptions {
  /** Runs of each, alternated. */
  runs: number;
  log: (line: string) => void;
}

/** Claude Code's PreToolUse payload for a Bash command. */
function claudePayload(command: string, cwd: string): string {
  return JSON.stringify({ session_id: 'bench', transcript_path: path.join(cwd, 't.jsonl'), cwd, permission_mode: 'default', hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command }, tool_use_id: 'toolu_bench' });
}

/** Wall time of one process, its stdin given. */
function time(file: string, args: string[], cwd: string, input = '', env: NodeJS.ProcessEnv = process.env): { ms: number; stdout: string } {
  const t = process.hrtime.bigint();
  const result = spawnSync(file, args, { cwd, input, encoding: 'utf8', env });
  const elapsed = Number(process.hrtime.bigint() - t) / 1e6;
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return { ms: elapsed, stdout: result.stdout };
}

/**
 * The guard for Claude Code (`node dist/guard.js --agent claude`, the installed
 * hook) with a risky command (it takes a safety point: asked of the keeper the
 * first one started, as an agent's session has it) and with a harmless one (it
 * only reads the payload and the configuration), the same risky command with no
 * keeper running (a session's first: position over the private socket, HEAD,
 * journal in the guard's own process), and through the whole CLI (`lockstep
 * guard`), alternated with `node -e 0`, while an update workload
 * (1,000 rows of a 100,000-row table) runs on the database between runs. The
 * load average goes with the figures: the ratios move with it.
 */
export async function benchGuard(options: GuardBenchOptions): Promise<BenchRow[]> {
  const dir = traversableTempDir('lockstep-bench-guard-');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
  try {
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'Bench');
    git('config', 'user.email', 'bench@example.com');
    git('commit', '-q', '--allow-empty', '-m', 'root');
    execFileSync(process.execPath, [CLI, 'init', '--port', String(await freePort()), '--keep', '20000'], { cwd: dir, stdio: 'ignore' });
    const url = execFileSync(process.execPath, [CLI, 'db', 'url'], { cwd: dir, encoding: 'utf8' }).trim();
    await query(url, 'CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL DEFAULT 0); INSERT INTO accounts (id) SELECT generate_series(1, 100000)');

    const risky = claudePayload(`psql "$DATABASE_URL" -c 'drop table accounts'`, dir);
    const harmless = claudePayload('npm test', dir);
    const guard = [GUARD, '--agent', 'claude'];
    const cliGuard = [CLI, 'guard', '--agent', 'claude'];
    if (!fs.existsSync(path.join(dir, '.git', 'lockstep', 'hook.conf'))) throw new Error('no hook.conf: the guard would take the engine’s path, not the one measured here (the system’s Postgres binaries are needed)');
    const bare: number[] = [];
    const withPoint: number[] = [];
    const without: number[] = [];
    const throughCli: number[] = [];
    const noKeeper: number[] = [];
    let taken = 0;
    const keeperSocket = path.join(dir, '.git', 'lockstep', 'keeper', 'keeper.sock');
    const waitForKeeper = () => eventually('the keeper the guard starts', () => (fs.existsSync(keeperSocket) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20 });
    // One of each first, unmeasured: the disk cache and the database's own caches warm.
    time(process.execPath, guard, dir, risky);
    time(process.execPath, cliGuard, dir, risky);
    await waitForKeeper();
    const loadBefore = os.loadavg();
    for (let i = 0; i < options.runs; i++) {
      await query(url, 'UPDATE accounts SET balance = balance + 1 WHERE id BETWEEN $1 AND $1 + 999', [1 + ((i * 1000) % 99_000)]);
      bare.push(time(process.execPath, ['-e', '0'], dir).ms);
      const point = time(process.execPath, guard, dir, risky);
      if (/safety point \S+ taken/.test(point.stdout)) taken++;
      withPoint.push(point.ms);
      without.push(time(process.execPath, guard, dir, harmless).ms);
      throughCli.push(time(process.execPath, cliGuard, dir, risky).ms);
      // A session's first safety point: no keeper yet (none started by this one either, for the next runs to find).
      execFileSync(process.execPath, [CLI, 'keeper', '--stop'], { cwd: dir, stdio: 'ignore' });
      await eventually('the keeper to stop', () => (fs.existsSync(keeperSocket) ? undefined : true), { timeoutMs: 10_000, intervalMs: 20 });
      const first = time(process.execPath, guard, dir, risky, { ...process.env, LOCKSTEP_KEEPER: 'off' });
      if (/safety point \S+ taken/.test(first.stdout)) taken++;
      noKeeper.push(first.ms);
      // The next run's keeper, as the first risky command of a session starts it.
      time(process.execPath, guard, dir, risky);
      await waitForKeeper();
    }
    const loadAfter = os.loadavg();
    if (taken !== 2 * options.runs) throw new Error(`the guard took ${taken} safety points in ${2 * options.runs} risky runs`);
    const node = median(bare);
    const ratio = median(withPoint) / node;
    const load = `load average ${loadBefore[0]!.toFixed(1)} before, ${loadAfter[0]!.toFixed(1)} after, on ${os.cpus().length} cores`;
    options.log(`  guard: ${ms(median(withPoint))} with a safety point, ${ms(median(noKeeper))} with no keeper, ${ms(median(without))} without, ${ms(median(throughCli))} through the CLI; node -e 0: ${ms(node)}; ${load}`);
    return [
      {
        name: `safety point through the guard (\`node dist/guard.js\`, the installed hook, asking the keeper; whole process, median of ${options.runs})`,
        value: ms(median(withPoint)),
        target: '',
        met: null,
        note: `node -e 0: ${ms(node)} in the same run; an UPDATE of 1,000 rows between runs; ${load}`,
      },
      { name: 'safety point through the guard / node -e 0', value: `${ratio.toFixed(2)}×`, target: '≤ 1.3×', met: ratio <= 1.3 },
      { name: 'the first safety point of a session, no keeper yet (a backend of its own) / node -e 0', value: `${(median(noKeeper) / node).toFixed(2)}×`, target: '', met: null, note: ms(median(noKeeper)) },
      { name: 'the guard, harmless command (no safety point) / node -e 0', value: `${(median(without) / node).toFixed(2)}×`, target: '', met: null, note: ms(median(without)) },
      { name: 'safety point through `lockstep guard` (the whole CLI) / node -e 0', value: `${(median(throughCli) / node).toFixed(2)}×`, target: '', met: null, note: ms(median(throughCli)) },
    ];
  } finally {
    try {
      execFileSync(process.execPath, [CLI, 'db', 'stop'], { cwd: dir, stdio: 'ignore' });
    } catch {
      // best effort
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
