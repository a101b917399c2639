// Cross-process locks (a directory next to the thing locked), so worktrees, the hook and the extension never collide.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LockstepError } from './errors';

export interface LockOptions {
  /** How long to wait for the lock; 0 fails at once when it is held. */
  waitMs: number;
  /** What is locked, for the error a person sees. */
  what: string;
  /** Hint for the BUSY error. */
  hint?: string;
}

/** A holder refreshes its lock's time this often… */
const REFRESH_MS = 5_000;
/** …so a lock not refreshed for this long was left by a holder that is gone (another machine, a frozen process). */
const STALE_MS = 20_000;

/**
 * mkdir is atomic on every local filesystem: whoever creates `<lockPath>.lock`
 * holds the lock. The holder writes its pid and host inside, so a lock left by
 * a process that died is taken over at once; the refreshed mtime covers holders
 * we cannot check (another host on a shared disk). Written here rather than
 * with proper-lockfile, whose load (graceful-fs patching fs) cost the commit
 * hook 7–10 ms of a budget of about 20.
 */
export async function withLock<R>(lockPath: string, options: LockOptions, work: () => Promise<R> | R): Promise<R> {
  const dir = `${lockPath}.lock`;
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const deadline = Date.now() + options.waitMs;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new LockstepError('BUSY', `could not lock ${options.what}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (isAbandoned(dir)) {
      release(dir);
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockstepError('BUSY', `${options.what} is in use by another Lockstep process`, {
        hint: options.hint ?? 'Wait for it to finish and try again.',
      });
    }
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
  try {
    fs.writeFileSync(path.join(dir, 'owner'), `${process.pid} ${os.hostname()}\n`);
  } catch {
    // the mtime alone still protects the lock
  }
  const refresh = setInterval(() => {
    const now = new Date();
    fs.utimes(dir, now, now, () => undefined);
  }, REFRESH_MS);
  refresh.unref();
  try {
    return await work();
  } finally {
    clearInterval(refresh);
    release(dir);
  }
}

/** Remove the lock directory (its one file, then itself: no recursive rm, which loads rimraf). */
function release(dir: string): void {
  fs.rmSync(path.join(dir, 'owner'), { force: true });
  try {
    fs.rmdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function isAbandoned(dir: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    return false; // released meanwhile: the next mkdir decides
  }
  let owner: string[] = [];
  try {
    owner = fs.readFileSync(path.join(dir, 'owner'), 'utf8').trim().split(' ');
  } catch {
    // just created, owner not written yet: only age can tell
  }
  const pid = Number(owner[0]);
  if (owner[1] === os.hostname() && Number.isInteger(pid) && pid > 0) return !processAlive(pid);
  return Date.now() - stat.mtimeMs > STALE_MS;
}

/** Whether a process with this pid runs on this machine (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
