// .git/lockstep/hook.conf: how the post-commit hook (psql) and the agents' guard (in-process) read the database position over the private socket.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../base/files';

/**
 * What `psql` needs to read the position as Lockstep does. Only ever a Unix
 * socket in a directory no other local user can enter: psql before 16 cannot
 * refuse to send a password to a server that asks for it in clear, so it must
 * never be pointed at a TCP port someone else could hold.
 */
export interface HookFastPath {
  /** Absent where no psql is at hand (the npm binaries): the hook then runs the CLI, and the agents' guard still reads in-process. */
  psql?: string;
  /** The socket directory (mode 0700). */
  host: string;
  port: number;
  user: string;
  dbname: string;
  /** A libpq password file, mode 0600. */
  passfile: string;
}

export function hookConfFile(lockstepDir: string): string {
  return path.join(lockstepDir, 'hook.conf');
}

/**
 * Writes (or, with none, removes) hook.conf when it differs. One `key value`
 * per line, read by post-commit.sh with `read -r`; values never hold a line break.
 */
export function writeHookConf(lockstepDir: string, fast: HookFastPath | undefined): void {
  const file = hookConfFile(lockstepDir);
  if (!fast || Object.values(fast).some((v) => v !== undefined && /[\r\n]/.test(String(v)))) {
    fs.rmSync(file, { force: true });
    return;
  }
  const text = `# Written by Lockstep: how the post-commit hook reads the position with psql. Rewritten as needed.\n${(Object.keys(fast) as (keyof HookFastPath)[]).filter((k) => fast[k] !== undefined).map((k) => `${k} ${fast[k]}`).join('\n')}\n`;
  try {
    if (fs.readFileSync(file, 'utf8') === text) return;
  } catch {
    // not written yet
  }
  writeFileAtomic(file, text, 0o600);
}
