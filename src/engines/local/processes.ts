// Running Postgres' programs as the Postgres account, with a time bound and their output kept for errors.

import { execFile } from 'node:child_process';
import type { PostgresAccount } from './osUser';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** Run `file args` as `account`; resolves with the exit code instead of throwing on failure. */
export function runAs(account: PostgresAccount, file: string, args: readonly string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        cwd: options.cwd,
        uid: account.uid,
        gid: account.gid,
        timeout: options.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
        // A predictable locale for initdb and for messages we may show; never a
        // libpq variable from the caller's shell that could point pg_ctl elsewhere.
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', LC_ALL: 'C', ...options.env },
      },
      (error, stdout, stderr) => {
        if (error && typeof (error as NodeJS.ErrnoException).code === 'string') {
          reject(error);
          return;
        }
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) + (error?.killed ? '\n(killed: time limit reached)' : '') });
      },
    );
  });
}
