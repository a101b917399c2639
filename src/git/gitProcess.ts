// How Lockstep starts git: a bare child process on the commit hook's hot path, simple-git (loaded on first use) everywhere else.

import { execFile } from 'node:child_process';
import type { SimpleGit } from 'simple-git';
import { LockstepError } from '../base/errors';

export interface GitRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs one git command and reports its exit code instead of throwing on it.
 *
 * This is a direct `execFile` rather than simple-git on purpose: `lockstep
 * record` runs on every commit, and loading simple-git costs about 25 ms of a
 * start-up budget of a few tens. The hook path needs two git processes (find the
 * repository, read HEAD); everything else goes through `gitClient`.
 */
export function runGit(cwd: string, args: readonly string[]): Promise<GitRun> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      // A commit that touched 100k files lists them all (`--name-only`); a few MB.
      { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, windowsHide: true },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(spawnFailure(error, cwd));
          return;
        }
        resolve({ exitCode: error ? Number(error.code) : 0, stdout, stderr });
      },
    );
  });
}

function spawnFailure(error: Error & { code?: unknown }, cwd: string): LockstepError {
  if (error.code === 'ENOENT') {
    return new LockstepError('GIT_FAILED', 'git was not found on PATH', {
      hint: 'install git, or start Lockstep from a shell where `git --version` works',
      cause: error,
    });
  }
  return new LockstepError('GIT_FAILED', `could not run git in ${cwd}: ${error.message}`, { cause: error });
}

/**
 * A simple-git instance rooted at `cwd`. Imported on demand so that code paths
 * which never need it (the commit hook) never pay for loading it.
 */
export async function gitClient(cwd: string): Promise<SimpleGit> {
  const { simpleGit } = await import('simple-git');
  // quotePath=false: file names with non-ASCII letters come back as themselves, not as octal escapes.
  return simpleGit({ baseDir: cwd, config: ['core.quotePath=false'], trimmed: false });
}

/** Wraps what simple-git threw in a `GIT_FAILED` error that says which step failed. */
export function gitFailure(what: string, error: unknown, hint?: string): LockstepError {
  if (error instanceof LockstepError) return error;
  const detail = error instanceof Error ? error.message.trim() : String(error);
  return new LockstepError('GIT_FAILED', `${what}: ${firstLines(detail, 4)}`, { hint, cause: error });
}

/** The first `n` non-empty lines of git's output, enough to say what went wrong without its hints. */
export function firstLines(text: string, n: number): string {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '')
    .slice(0, n)
    .join('\n');
}
