// Temporary git repositories for integration tests: real git, run as a child process, isolated from the machine's git setup.

import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export interface GitResult {
  status: number;
  stdout: string;
  stderr: string;
  durationMs: number;
}

export interface GitRunOptions {
  /** Added to (or, with `undefined` values, removed from) the isolated environment. */
  env?: Record<string, string | undefined>;
  input?: string;
  /** The child is killed after this long, so a hang fails the test instead of stalling it. */
  timeoutMs?: number;
}

/**
 * Environment variables that would point git at another repository. Set when
 * the tests themselves run inside a git hook (a pre-commit `npm test`).
 */
const REPOSITORY_VARIABLES = [
  'GIT_DIR',
  'GIT_WORK_TREE',
  'GIT_INDEX_FILE',
  'GIT_OBJECT_DIRECTORY',
  'GIT_ALTERNATE_OBJECT_DIRECTORIES',
  'GIT_COMMON_DIR',
  'GIT_PREFIX',
  'GIT_CEILING_DIRECTORIES',
];

/** A global config file of our own, so that the machine's (hooksPath, signing, aliases) plays no part. */
const globalConfig = path.join(os.tmpdir(), `lockstep-test-gitconfig-${process.pid}`);
fs.writeFileSync(
  globalConfig,
  '[user]\n\tname = Lockstep Test\n\temail = test@lockstep.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n[advice]\n\tdetachedHead = false\n',
);
process.on('exit', () => fs.rmSync(globalConfig, { force: true }));

/** The environment git runs with in tests (and that `isolateGitEnvironment` gives this process). */
export function gitTestEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of REPOSITORY_VARIABLES) delete env[name];
  delete env.ELECTRON_RUN_AS_NODE;
  delete env.LOCKSTEP_HOOK;
  Object.assign(env, {
    GIT_CONFIG_GLOBAL: globalConfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_EDITOR: 'true',
    GIT_SEQUENCE_EDITOR: 'true',
    GIT_MERGE_AUTOEDIT: 'no',
    LC_ALL: 'C',
  });
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * Gives this process the same isolated git environment, for code under test
 * that runs git in-process (simple-git inherits process.env). Returns the undo;
 * call it in `after`.
 */
export function isolateGitEnvironment(): () => void {
  const saved = { ...process.env };
  const isolated = gitTestEnv();
  for (const name of Object.keys(process.env)) if (!(name in isolated)) delete process.env[name];
  Object.assign(process.env, isolated);
  return () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  };
}

/** Runs git and reports how it went, whatever the exit status. */
export function gitResult(cwd: string, args: readonly string[], options: GitRunOptions = {}): GitResult {
  const started = performance.now();
  const result = spawnSync('git', args, {
    cwd,
    env: gitTestEnv(options.env),
    input: options.input,
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return {
    status: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    durationMs: performance.now() - started,
  };
}

/** Runs git and returns its stdout, trimmed; throws with git's stderr when it fails. */
export function git(cwd: string, args: readonly string[], options: GitRunOptions = {}): string {
  const result = gitResult(cwd, args, options);
  if (result.status !== 0) {
    throw new Error(`git ${args.join(' ')} failed in ${cwd} (exit ${result.status}):\n${result.stderr}${result.stdout}`);
  }
  return result.stdout.trim();
}

const tempDirs: string[] = [];

/** A new empty directory under the OS temp dir; `removeTempDirs` deletes it. The name may contain spaces and quotes. */
export function makeTempDir(prefix = 'lockstep-test-'): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  tempDirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export interface TestRepo {
  /** Top of the work tree (canonical path). */
  dir: string;
  git(...args: string[]): string;
  /** Writes `file` (relative, folders created) with `content` and commits it; returns the new sha. */
  commit(file: string, content: string, message?: string): string;
  head(): string;
  /** Absolute path of a file in the work tree. */
  path(...parts: string[]): string;
  write(file: string, content: string): void;
  read(file: string): string;
}

export interface CreateRepoOptions {
  /** Where to create it; a new temp dir by default. */
  dir?: string;
  /** Name of the temp dir; may contain spaces and quotes. */
  prefix?: string;
  branch?: string;
  /** Make a first commit (`README.md`). Default true. */
  initialCommit?: boolean;
}

/** `git init` in a temp dir, with an identity configured in the repository itself. */
export function createRepo(options: CreateRepoOptions = {}): TestRepo {
  const dir = options.dir ?? makeTempDir(options.prefix ?? 'lockstep-repo-');
  fs.mkdirSync(dir, { recursive: true });
  git(dir, ['init', '--quiet', `--initial-branch=${options.branch ?? 'main'}`]);
  // Also in the repository, for code under test that runs git with the machine's configuration.
  git(dir, ['config', 'user.name', 'Lockstep Test']);
  git(dir, ['config', 'user.email', 'test@lockstep.invalid']);
  git(dir, ['config', 'commit.gpgsign', 'false']);
  const repo = openRepo(fs.realpathSync(dir));
  if (options.initialCommit !== false) repo.commit('README.md', '# test\n', 'initial commit');
  return repo;
}

/** Helpers for an existing work tree (e.g. a linked worktree of a `createRepo` repository). */
export function openRepo(dir: string): TestRepo {
  const repo: TestRepo = {
    dir,
    git: (...args) => git(dir, args),
    path: (...parts) => path.join(dir, ...parts),
    write(file, content) {
      const full = path.join(dir, file);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, content);
    },
    read: (file) => fs.readFileSync(path.join(dir, file), 'utf8'),
    commit(file, content, message = `change ${file}`) {
      repo.write(file, content);
      git(dir, ['add', '--', file]);
      git(dir, ['commit', '--quiet', '-m', message]);
      return repo.head();
    },
    head: () => git(dir, ['rev-parse', 'HEAD']),
  };
  return repo;
}

/** Adds a linked worktree on a new branch; returns its helpers. */
export function addWorktree(repo: TestRepo, branch: string, dir = path.join(makeTempDir('lockstep-worktree-'), 'wt')): TestRepo {
  repo.git('worktree', 'add', '--quiet', '-b', branch, dir);
  return openRepo(fs.realpathSync(dir));
}

/** The commits on `ref`, oldest first, as `subject` lines. */
export function subjects(repo: TestRepo, ref = 'HEAD'): string[] {
  return repo.git('log', '--reverse', '--format=%s', ref).split('\n').filter((l) => l !== '');
}
