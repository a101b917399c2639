// Cross-process locks (directories next to the thing locked), so worktrees, the hook and the extension never collide.

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as lockfile from 'proper-lockfile';
import { LockstepError } from './errors';

export interface LockOptions {
  /** How long to wait for the lock; 0 fails at once when it is held. */
  waitMs: number;
  /** What is locked, for the error a person sees. */
  what: string;
  /** Hint for the BUSY error. */
  hint?: string;
}

/** Milliseconds after which a holder that stopped refreshing its lock is presumed dead. */
const STALE_MS = 15_000;

/** Run `work` holding the lock at `lockPath` (a `.lock` directory is created beside it). */
export async function withLock<R>(lockPath: string, options: LockOptions, work: () => Promise<R> | R): Promise<R> {
  fs.mkdirSync(path.dirname(lockPath), { recursive: true });
  let release: () => Promise<void>;
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    try {
      release = await lockfile.lock(lockPath, {
        lockfilePath: `${lockPath}.lock`,
        realpath: false,
        stale: STALE_MS,
        retries: 0,
      });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() >= deadline) {
        if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
          throw new LockstepError('BUSY', `${options.what} is in use by another Lockstep process`, {
            hint: options.hint ?? 'Wait for it to finish and try again.',
          });
        }
        throw new LockstepError('BUSY', `could not lock ${options.what}: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
    }
  }
  try {
    return await work();
  } finally {
    await release().catch(() => undefined);
  }
}

/** Whether someone holds the lock now (for status displays). */
export function isLocked(lockPath: string): boolean {
  try {
    return lockfile.checkSync(lockPath, { lockfilePath: `${lockPath}.lock`, realpath: false, stale: STALE_MS });
  } catch {
    return false;
  }
}
