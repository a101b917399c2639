// Stops every Lockstep database the tests started under a folder, even after a failed or interrupted run: `lockstep db stop`, then any stray postmaster.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const repo = path.resolve(__dirname, '../../..');
const cli = path.join(repo, 'dist/cli.js');

/** Repositories (up to `depth` folders down) that Lockstep was set up in. */
export function lockstepRepositories(root: string, depth = 2): string[] {
  const found: string[] = [];
  const visit = (dir: string, left: number): void => {
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) found.push(dir);
    if (left === 0) return;
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory() && entry.name !== '.git' && entry.name !== 'node_modules') visit(path.join(dir, entry.name), left - 1);
    }
  };
  visit(root, depth);
  return found;
}

/**
 * `lockstep db stop` in each repository, then SIGQUIT to any postmaster still
 * working in one of its data directories (a fork or a preview a failed test
 * left running), then the cluster folder when it lives outside the repository.
 * Returns what it did, one line each.
 */
export function stopDatabasesUnder(root: string): string[] {
  const done: string[] = [];
  for (const dir of lockstepRepositories(root)) {
    const stop = spawnSync(process.execPath, [cli, 'db', 'stop', '--quiet'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    done.push(`${path.basename(dir)}: db stop exited ${stop.status ?? stop.signal}${stop.status === 0 ? '' : `: ${(stop.stderr ?? '').trim().split('\n').slice(-1)[0]}`}`);
    const dataRoot = localRoot(dir);
    for (const pid of strayPostmasters(dataRoot)) {
      try {
        process.kill(pid, 'SIGQUIT');
        done.push(`${path.basename(dir)}: stopped stray postmaster ${pid}`);
      } catch {
        // gone meanwhile
      }
    }
    if (!dataRoot.startsWith(dir + path.sep)) fs.rmSync(dataRoot, { recursive: true, force: true });
  }
  return done;
}

function localRoot(dir: string): string {
  const lockstepDir = path.join(dir, '.git', 'lockstep');
  try {
    const config = JSON.parse(fs.readFileSync(path.join(lockstepDir, 'config.json'), 'utf8')) as { local?: { dataRoot?: string } };
    if (config.local?.dataRoot) return config.local.dataRoot;
  } catch {
    // no readable configuration: the default place
  }
  return path.join(lockstepDir, 'local');
}

/** Postmasters still running in a data directory under `root` (checked through /proc, so a reused pid is never hit). */
function strayPostmasters(root: string): number[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const entry of entries) {
    const dataDir = path.join(root, entry);
    let pid: number;
    try {
      pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      if (fs.realpathSync(`/proc/${pid}/cwd`) !== fs.realpathSync(dataDir)) continue;
    } catch {
      continue;
    }
    pids.push(pid);
  }
  return pids;
}
