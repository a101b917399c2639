// Checkpoint benchmarks: what the hook adds to git commit (beside a bare Node start), list with 10,000 checkpoints, disk per 1,000 markers.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { newCheckpointId, type Checkpoint } from '../src/core/checkpoint';
import { directorySize } from '../src/base/files';
import { formatLsn, lsnDistance, parseLsn } from '../src/base/lsn';
import { takeMarker } from '../src/core/markers';
import { Project } from '../src/core/project';
import { ENGINES } from '../src/engines';
import { silentLog } from '../src/base/log';
import { freePort, traversableTempDir } from '../test/support/postgres';
import { mb, median, ms, type BenchRow } from './types';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');

export interface HookBenchOptions {
  commits: number;
  log: (line: string) => void;
}

/** CPU (user + system, ms) of what `script` runs, from sh's own `times` after it: the children it waited for. */
function cpuOf(script: string, cwd: string): number {
  const out = execFileSync('sh', ['-c', `${script} >/dev/null 2>&1; times`], { cwd, encoding: 'utf8' });
  const children = out.trim().split('\n').at(-1) ?? '';
  let total = 0;
  for (const [, min, sec] of children.matchAll(/(\d+)m([\d.]+)s/g)) total += (Number(min) * 60 + Number(sec)) * 1000;
  return total;
}

/** Twenty commits at once, one per worktree: how many are recorded, exactly or by time, and the slowest commit. */
async function storm(dir: string, trees: string[], round: number, hooksPath?: string): Promise<{ recorded: number; exact: number; slowestMs: number; medianMs: number }> {
  const commits = await Promise.all(
    trees.map(
      (tree, i) =>
        new Promise<{ ms: number; sha: string }>((resolve, reject) => {
          const t = process.hrtime.bigint();
          const child = spawn('git', [...(hooksPath ? ['-c', `core.hooksPath=${hooksPath}`] : []), 'commit', '-q', '--allow-empty', '-m', `storm ${round}.${i}${hooksPath ? ' (no hook)' : ''}`], { cwd: tree, stdio: 'ignore' });
          child.once('error', reject);
          child.once('exit', (code) => {
            const ms = Number(process.hrtime.bigint() - t) / 1e6;
            if (code !== 0) return reject(new Error(`git commit exited ${code} in ${tree}`));
            resolve({ ms, sha: execFileSync('git', ['rev-parse', 'HEAD'], { cwd: tree, encoding: 'utf8' }).trim() });
          });
        }),
    ),
  );
  const listed = JSON.parse(execFileSync(process.execPath, [CLI, 'list', '--json'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as { commitSha: string | null; lsn: string | null }[];
  const found = commits.map((c) => listed.find((l) => l.commitSha === c.sha));
  return {
    recorded: found.filter((f) => f !== undefined).length,
    exact: found.filter((f) => f !== undefined && f.lsn !== null).length,
    slowestMs: Math.max(...commits.map((c) => c.ms)),
    medianMs: median(commits.map((c) => c.ms)),
  };
}

function time(file: string, args: string[], cwd: string, env?: NodeJS.ProcessEnv): number {
  const t = process.hrtime.bigint();
  const result = spawnSync(file, args, { cwd, stdio: 'ignore', env: env ?? process.env });
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}`);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

export async function benchHook(options: HookBenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const dir = traversableTempDir('lockstep-bench-hook-');
  const git = (...args: string[]) => execFileSync('git', args, { cwd: dir, encoding: 'utf8' }).trim();
  try {
    git('init', '-q', '-b', 'main');
    git('config', 'user.name', 'Bench');
    git('config', 'user.email', 'bench@example.com');
    git('commit', '-q', '--allow-empty', '-m', 'root');
    execFileSync(process.execPath, [CLI, 'init', '--port', String(await freePort()), '--keep', '20000'], { cwd: dir, stdio: 'ignore' });
    const noHooks = traversableTempDir('lockstep-bench-nohooks-');

    // Alternate the three, so load on this shared machine falls on each alike.
    const withHook: number[] = [];
    const withoutHook: number[] = [];
    const bareNode: number[] = [];
    const record: number[] = [];
    for (let i = 0; i < options.commits; i++) {
      withHook.push(time('git', ['commit', '-q', '--allow-empty', '-m', `with hook ${i}`], dir));
      withoutHook.push(time('git', ['-c', `core.hooksPath=${noHooks}`, 'commit', '-q', '--allow-empty', '-m', `without hook ${i}`], dir));
      bareNode.push(time(process.execPath, ['-e', '0'], dir));
      record.push(time(process.execPath, [CLI, 'record', '-q'], dir));
    }
    fs.rmSync(noHooks, { recursive: true, force: true });
    const added = median(withHook) - median(withoutHook);
    const node = median(bareNode);
    options.log(`  git commit: ${ms(median(withHook))} with the hook, ${ms(median(withoutHook))} without; node -e 0: ${ms(node)}`);
    rows.push({ name: `time the hook adds to git commit (median of ${options.commits})`, value: ms(added), target: '', met: null });
    rows.push({ name: 'bare Node start-up, node -e 0 (same run)', value: ms(node), target: '', met: null });
    rows.push({ name: 'hook time / bare Node start-up', value: `${(added / node).toFixed(2)}×`, target: '≤ 1.3×', met: added / node <= 1.3 });
    rows.push({ name: '`lockstep record` alone / bare Node start-up', value: `${(median(record) / node).toFixed(2)}×`, target: '', met: null });

    // CPU, which is what twenty commits at once share: the hook's (psql, or Node when it must), beside `lockstep record`'s and a bare Node's.
    const cpuWith: number[] = [];
    const cpuWithout: number[] = [];
    const cpuRecord: number[] = [];
    const cpuNode: number[] = [];
    for (let i = 0; i < options.commits; i++) {
      cpuWith.push(cpuOf(`git commit -q --allow-empty -m 'cpu with hook ${i}'`, dir));
      cpuWithout.push(cpuOf(`git -c core.hooksPath='${noHooks}' commit -q --allow-empty -m 'cpu without hook ${i}'`, dir));
      cpuRecord.push(cpuOf(`'${process.execPath}' '${CLI}' record -q`, dir));
      cpuNode.push(cpuOf(`'${process.execPath}' -e 0`, dir));
    }
    const hookCpu = median(cpuWith) - median(cpuWithout);
    rows.push({ name: `CPU per record: what the hook adds to git commit (median of ${options.commits})`, value: ms(hookCpu), target: '', met: null, note: `\`lockstep record\` alone ${ms(median(cpuRecord))}, node -e 0 ${ms(median(cpuNode))}, same run; the background fold is not counted (one process for many commits)` });

    // Twenty commits at once in twenty worktrees, while nothing else runs.
    const trees = [dir];
    for (let i = 1; i < 20; i++) {
      const tree = path.join(traversableTempDir('lockstep-bench-storm-'), 'wt');
      git('worktree', 'add', '-q', '-b', `storm-${i}`, tree);
      trees.push(tree);
    }
    // Alternated with the same storm without the hook: git's own time for twenty commits at once on this machine.
    const storms = [];
    const bare = [];
    for (let round = 0; round < 3; round++) {
      bare.push(await storm(dir, trees, round, noHooks));
      await new Promise((r) => setTimeout(r, 3000));
      storms.push(await storm(dir, trees, round));
      await new Promise((r) => setTimeout(r, 3000)); // the background fold
    }
    const worst = storms.reduce((a, b) => (b.slowestMs > a.slowestMs ? b : a));
    const worstBare = Math.max(...bare.map((r) => r.slowestMs));
    options.log(`  storms: ${storms.map((r) => `${r.recorded}/20 (${r.exact} exact), slowest ${ms(r.slowestMs)}`).join('; ')}; without the hook, slowest ${bare.map((r) => ms(r.slowestMs)).join(', ')}`);
    rows.push({ name: '20 commits at once (20 worktrees), 3 rounds: recorded', value: storms.map((r) => `${r.recorded}/20`).join(', '), target: '20/20', met: storms.every((r) => r.recorded === 20), note: `by position (exact): ${storms.map((r) => r.exact).join(', ')}; the rest by time` });
    rows.push({ name: '20 commits at once: slowest git commit (worst of 3 rounds)', value: ms(worst.slowestMs), target: '≤ 2 s', met: worst.slowestMs <= 2000, note: `medians ${storms.map((r) => ms(r.medianMs)).join(', ')}; the same storms without the hook: slowest ${ms(worstBare)}, medians ${bare.map((r) => ms(r.medianMs)).join(', ')}` });

    // 1,000 markers: the journal lines they add, and the WAL they write (none).
    const project = await Project.open(dir, { log: silentLog, secrets: { get: async () => undefined }, engines: ENGINES });
    try {
      const lockstepBefore = directorySize(project.paths.root);
      const headBefore = await (await project.engine()).head();
      for (let i = 0; i < 1000; i++) await takeMarker(project, { kind: 'snapshot', label: `bench ${i}` });
      const headAfter = await (await project.engine()).head();
      const grew = directorySize(project.paths.root) - lockstepBefore;
      const journalPerMarker = fs.statSync(project.paths.journal).size / project.journal.list().length;
      rows.push({ name: '1,000 markers: growth of .git/lockstep (journal, archive, data)', value: mb(grew), target: '< 1 MB', met: grew < 1024 * 1024, note: `~${Math.round(journalPerMarker)} bytes of journal per marker` });
      rows.push({ name: '1,000 markers: WAL written by them', value: `${lsnDistance(headBefore.lsn, headAfter.lsn)} bytes`, target: '', met: null });

      // 10,000 checkpoints in the journal, then list them with the real CLI.
      const base = project.journal.list()[0]!;
      const lines: string[] = [];
      for (let i = 0; i < 10_000 - project.journal.list().length; i++) {
        const c: Checkpoint = { ...base, id: newCheckpointId(), kind: 'commit', label: null, createdAt: new Date(Date.parse(base.createdAt) - (i + 1) * 1000).toISOString(), lsn: formatLsn(parseLsn(base.lsn ?? "0/1000000") - BigInt(i)), subject: `commit ${i}` };
        lines.push(JSON.stringify(c));
      }
      fs.appendFileSync(project.paths.journal, `${lines.join('\n')}\n`);
    } finally {
      await project.close();
    }
    const count = (JSON.parse(execFileSync(process.execPath, [CLI, 'list', '--json'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as unknown[]).length;
    const listJson: number[] = [];
    const listText: number[] = [];
    const node2: number[] = [];
    for (let i = 0; i < 11; i++) {
      listJson.push(time(process.execPath, [CLI, 'list', '--json'], dir));
      listText.push(time(process.execPath, [CLI, 'list'], dir));
      node2.push(time(process.execPath, ['-e', '0'], dir));
    }
    rows.push({ name: `lockstep list --json, ${count} checkpoints (whole command, median of 11)`, value: ms(median(listJson)), target: '≤ 100 ms', met: median(listJson) <= 100, note: `node -e 0: ${ms(median(node2))} in the same run` });
    rows.push({ name: `lockstep list (text, with the serving mark), ${count} checkpoints`, value: ms(median(listText)), target: '≤ 100 ms', met: median(listText) <= 100 });
  } finally {
    try {
      execFileSync(process.execPath, [CLI, 'db', 'stop'], { cwd: dir, stdio: 'ignore' });
    } catch {
      // best effort
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}
