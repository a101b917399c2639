// Drives the built `lockstep` CLI (package.json's bin) as a child process, in temp git repositories with a real local Postgres, and cleans up after.

import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckpointListing } from '../../src/core/checkpoint';
import { createRepo, gitTestEnv, type TestRepo } from './git';
import { freePort, traversableTempDir } from './postgres';

const ROOT = path.resolve(__dirname, '..', '..');
/** The built CLI, as package.json's `bin` names it (what `npm run build` produces and users run). */
export const CLI = path.resolve(ROOT, (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: { lockstep: string } }).bin.lockstep);

export interface CliResult {
  /** Exit code, or null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface RunOptions {
  /** Added to (or, with `undefined` values, removed from) the isolated git test environment. */
  env?: Record<string, string | undefined>;
  /** The child is killed after this long, so that a hang fails the test instead of stalling it. */
  timeoutMs?: number;
}

export interface RunningProcess {
  done: Promise<CliResult>;
  /** Resolves once stderr has matched `pattern` (rejects if the process ends first). */
  stderrMatches(pattern: RegExp): Promise<void>;
}

/** Starts `file args` in `cwd` without a terminal (stdin closed), in the isolated git environment. */
export function startProcess(file: string, args: readonly string[], cwd: string, options: RunOptions = {}): RunningProcess {
  const started = performance.now();
  const child = spawn(file, args, { cwd, env: gitTestEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const watchers: { pattern: RegExp; resolve: () => void; reject: (e: Error) => void }[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    for (const w of watchers.splice(0)) {
      if (w.pattern.test(stderr)) w.resolve();
      else watchers.push(w);
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 150_000);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      for (const w of watchers.splice(0)) w.reject(new Error(`${path.basename(file)} ${args.join(' ')} ended (${code ?? signal}) before stderr matched ${w.pattern}:\n${stderr}`));
      resolve({ code, signal, stdout, stderr, durationMs: performance.now() - started });
    });
  });
  return {
    done,
    stderrMatches: (pattern) =>
      pattern.test(stderr)
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            watchers.push({ pattern, resolve, reject });
          }),
  };
}

export function runProcess(file: string, args: readonly string[], cwd: string, options: RunOptions = {}): Promise<CliResult> {
  return startProcess(file, args, cwd, options).done;
}

/** `lockstep ...args` in `cwd`, whatever its exit code. */
export function lockstep(cwd: string, args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  return runProcess(process.execPath, [CLI, ...args], cwd, options);
}

export function startLockstep(cwd: string, args: readonly string[], options: RunOptions = {}): RunningProcess {
  return startProcess(process.execPath, [CLI, ...args], cwd, options);
}

/** A shell command line, as a person types it (`sh -c script`, with "$1"… bound to `args`). */
export function shell(cwd: string, script: string, args: readonly string[] = [], options: RunOptions = {}): Promise<CliResult> {
  return runProcess('/bin/sh', ['-c', script, 'sh', ...args], cwd, { timeoutMs: 60_000, ...options });
}

/** Everything a result says, for assertion messages. */
export function explain(result: CliResult): string {
  return `exit ${result.code ?? result.signal} after ${Math.round(result.durationMs)} ms\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
}

/** Throws with the whole transcript unless the command exited 0. */
export function expectOk(result: CliResult, what = 'lockstep'): CliResult {
  if (result.code !== 0) throw new Error(`${what} failed: ${explain(result)}`);
  return result;
}

/** The fields of `lockstep list --json`, in no particular order: the contract. */
export const LISTING_FIELDS = ['id', 'kind', 'commitSha', 'timelineId', 'lsn', 'label', 'createdAt', 'command', 'agent', 'restorable', 'unrestorable', 'pinned'];

/** One line of the journal as it is on disk (more fields than the listing). */
export interface JournalRecord extends CheckpointListing {
  branch: string | null;
  subject: string | null;
  engine: string;
}

export interface AuditRecord {
  at: string;
  op: string;
  phase: string;
  operationId: string;
  checkpointId?: string;
  undoCheckpointId?: string;
  detail?: string;
}

export interface LockstepRepo extends TestRepo {
  port: number;
  /** The database URL, from `lockstep db url`. */
  url: string;
  /** `.git/lockstep/` (in the git common dir). */
  lockstepDir: string;
  journalFile: string;
  auditFile: string;
  logFile: string;
  lockstep(...args: string[]): Promise<CliResult>;
  /** `lockstep list --json`, parsed (fails the test when the command fails). */
  list(): Promise<CheckpointListing[]>;
  /** The journal's lines as they are on disk, blank ones dropped. */
  journalLines(): string[];
  audit(): AuditRecord[];
  /** The serving Postgres' postmaster pid (from its data directory's postmaster.pid). */
  postmasterPid(): number;
  /** Waits until no background upkeep (`db backup --if-due`, started after commits and restores) runs for this repository. */
  waitForUpkeep(): Promise<void>;
  /** `lockstep db stop`, any Postgres of this repository still running stopped by pid, and the directory removed. */
  cleanup(): Promise<void>;
}

/** Pids of `lockstep db backup --if-due` processes working in `dir` (Linux /proc). */
export function upkeepProcesses(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes('backup') && argv.includes('--if-due') && fs.readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}

/**
 * Whether the commit hook's background fold is underway or about to start: the
 * hook makes this directory before it exits, the fold (`record --fold`, a second
 * later) starts the upkeep when a base backup is due, then removes it.
 */
export function foldUnderway(dir: string): boolean {
  return fs.existsSync(path.join(dir, '.git', 'lockstep', 'pending', '.folding'));
}

/** Until no upkeep runs in `dir`; with `folds`, nor a fold of the hook's that may start one. */
export async function waitForUpkeepIn(dir: string, timeoutMs = 120_000, folds = false): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // It is started detached just before the command that started it exits: give it a moment to appear.
  await new Promise((r) => setTimeout(r, 300));
  while (upkeepProcesses(dir).length > 0 || (folds && foldUnderway(dir))) {
    if (Date.now() > deadline) throw new Error(`the background upkeep in ${dir} is still running after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface InitRepoOptions {
  /** Start of the temp directory's name (it may contain spaces and quotes). */
  prefix?: string;
  /** Runs on the fresh repository (with its first commit) before `lockstep init`. */
  beforeInit?: (repo: TestRepo) => void;
  /** Extra arguments for `lockstep init`. */
  initArgs?: string[];
}

/**
 * A repository with a first commit, set up with `lockstep init --port <free>`:
 * configuration, a running local Postgres, the post-commit hook. The directory
 * is traversable (0755) because, as root, Postgres runs as an unprivileged account
 * that must reach `.git/lockstep/local`. Call `cleanup()` in an `after` hook.
 */
export async function initRepo(options: InitRepoOptions = {}): Promise<LockstepRepo> {
  const dir = fs.realpathSync(traversableTempDir(options.prefix ?? 'lockstep-cli-'));
  const base = createRepo({ dir });
  const lockstepDir = path.join(dir, '.git', 'lockstep');
  let initialised = false;
  const repo: LockstepRepo = {
    ...base,
    port: 0,
    url: '',
    lockstepDir,
    journalFile: path.join(lockstepDir, 'journal.jsonl'),
    auditFile: path.join(lockstepDir, 'audit.jsonl'),
    logFile: path.join(lockstepDir, 'lockstep.log'),
    lockstep: (...args) => lockstep(dir, args),
    async list() {
      const result = expectOk(await lockstep(dir, ['list', '--json']), 'lockstep list --json');
      return JSON.parse(result.stdout) as CheckpointListing[];
    },
    journalLines: () =>
      fs.existsSync(repo.journalFile)
        ? fs
            .readFileSync(repo.journalFile, 'utf8')
            .split('\n')
            .filter((l) => l.trim() !== '')
        : [],
    audit: () =>
      fs.existsSync(repo.auditFile)
        ? fs
            .readFileSync(repo.auditFile, 'utf8')
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l) as AuditRecord)
        : [],
    waitForUpkeep: () => waitForUpkeepIn(dir, 120_000, true),
    postmasterPid() {
      const root = localRootOf(lockstepDir);
      const state = JSON.parse(fs.readFileSync(path.join(root, 'state.json'), 'utf8')) as { serving: string };
      return Number(fs.readFileSync(path.join(root, state.serving, 'postmaster.pid'), 'utf8').split('\n')[0]);
    },
    async cleanup() {
      await waitForUpkeepIn(dir).catch(() => undefined);
      if (initialised) await lockstep(dir, ['db', 'stop'], { timeoutMs: 60_000 }).catch(() => undefined);
      await stopStrayPostgres(localRootOf(lockstepDir));
      const dataRoot = localRootOf(lockstepDir);
      if (!dataRoot.startsWith(dir)) fs.rmSync(dataRoot, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
      // A background upkeep the last command started may still be starting up (it stops at once, finding the database down).
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    },
  };
  try {
    options.beforeInit?.(base);
    repo.port = await freePort();
    const init = await lockstep(dir, ['init', '--port', String(repo.port), ...(options.initArgs ?? [])]);
    initialised = fs.existsSync(path.join(lockstepDir, 'config.json'));
    expectOk(init, 'lockstep init');
    repo.url = expectOk(await lockstep(dir, ['db', 'url']), 'lockstep db url').stdout.trim();
  } catch (error) {
    await repo.cleanup();
    throw error;
  }
  return repo;
}

/** Where the local engine keeps its clusters: `.git/lockstep/local`, unless the configuration moved it. */
export function localRootOf(lockstepDir: string): string {
  try {
    const config = JSON.parse(fs.readFileSync(path.join(lockstepDir, 'config.json'), 'utf8')) as { local?: { dataRoot?: string } };
    if (config.local?.dataRoot) return config.local.dataRoot;
  } catch {
    // not set up: the default place
  }
  return path.join(lockstepDir, 'local');
}

/**
 * A failed test may leave a fork or a preview cluster running that `db stop`
 * does not know of: stop each by the pid in its postmaster.pid (immediate shutdown).
 */
async function stopStrayPostgres(root: string): Promise<void> {
  let entries: string[];
  try {
    entries = fs.readdirSync(root);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pidFile = path.join(root, entry, 'postmaster.pid');
    let pid: number;
    try {
      pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    } catch {
      continue;
    }
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid) || !runsIn(pid, path.join(root, entry))) continue;
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
  }
}

/** The pid is still that postmaster (a stale postmaster.pid may name a reused pid): Postgres works in its data directory. */
function runsIn(pid: number, dataDir: string): boolean {
  try {
    return fs.realpathSync(`/proc/${pid}/cwd`) === fs.realpathSync(dataDir);
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
