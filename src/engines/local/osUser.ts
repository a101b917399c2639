// Who Postgres runs as: the current user, or, when Lockstep runs as root, an unprivileged account it sets up.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';

/** The account Postgres' processes run as; `uid`/`gid` undefined means "as we are". */
export interface PostgresAccount {
  name: string;
  uid?: number;
  gid?: number;
}

/** Postgres refuses to run as root; devcontainers and CI run everything as root. */
export function runningAsRoot(): boolean {
  return typeof process.geteuid === 'function' && process.geteuid() === 0;
}

/** The one account every cluster shared before each got its own; configurations that name it keep it. */
export const DEFAULT_ROOT_ACCOUNT = 'lockstep-postgres';

/**
 * The account of one cluster, when Lockstep runs as root: its own, so that
 * a server made to run a program (a superuser's `COPY … TO PROGRAM`) reads no
 * other repository's data or archive. 20 characters: within useradd's 32.
 */
export function clusterAccountName(lockstepDir: string): string {
  return `lockstep-pg-${createHash('sha256').update(lockstepDir).digest('hex').slice(0, 8)}`;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

function lookupAccount(name: string): PasswdEntry | undefined {
  // /etc/passwd first (no process); `id` covers accounts from NSS (LDAP, macOS directory).
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [user, , uid, gid] = line.split(':');
      if (user === name && uid !== undefined && gid !== undefined) {
        return { name, uid: Number(uid), gid: Number(gid) };
      }
    }
  } catch {
    // no /etc/passwd: fall through to id
  }
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    if (Number.isInteger(uid) && Number.isInteger(gid)) return { name, uid, gid };
  } catch {
    // not found
  }
  return undefined;
}

function createSystemAccount(name: string): void {
  const attempts: [string, string[]][] = [
    ['useradd', ['--system', '--no-create-home', '--user-group', '--shell', '/usr/sbin/nologin', name]],
    ['adduser', ['-S', '-D', '-H', '-s', '/sbin/nologin', name]], // busybox / Alpine
  ];
  const failures: string[] = [];
  for (const [command, args] of attempts) {
    try {
      execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      return;
    } catch (error) {
      failures.push(`${command}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new LockstepError('OS_USER', `could not create the account "${name}" for Postgres (${failures.join('; ')})`, {
    hint: `Postgres refuses to run as root. Create an unprivileged account and set it with LOCKSTEP_PG_USER or "local.osUser" in .git/lockstep/config.json.`,
  });
}

/**
 * The account for Postgres. Not root: ourselves. Root: `preferred` (the
 * configuration's, or for a new cluster its own `clusterAccountName`), else
 * LOCKSTEP_PG_USER, else the shared account of old; created when missing.
 */
export function resolvePostgresAccount(preferred?: string): PostgresAccount {
  if (!runningAsRoot()) return { name: process.env.USER ?? 'self' };
  const name = preferred || process.env.LOCKSTEP_PG_USER || DEFAULT_ROOT_ACCOUNT;
  let entry = lookupAccount(name);
  if (!entry) {
    createSystemAccount(name);
    entry = lookupAccount(name);
  }
  if (!entry) throw new LockstepError('OS_USER', `the account "${name}" could not be found after creating it`);
  if (entry.uid === 0) {
    throw new LockstepError('OS_USER', `"${name}" is a root account; Postgres refuses to run as root`, {
      hint: 'Choose an unprivileged account with LOCKSTEP_PG_USER.',
    });
  }
  return entry;
}

/** Give `target` (recursively) to the account, when we are root and it is another one. */
export function chownTree(target: string, account: PostgresAccount): void {
  if (account.uid === undefined || account.gid === undefined) return;
  const { uid, gid } = account;
  const walk = (p: string) => {
    fs.lchownSync(p, uid, gid);
    const stat = fs.lstatSync(p);
    if (stat.isDirectory()) for (const name of fs.readdirSync(p)) walk(path.join(p, name));
  };
  walk(target);
}

/** Whether `account` can reach (search every ancestor of) `target`. */
export function canTraverse(target: string, account: PostgresAccount): boolean {
  if (account.uid === undefined) return true;
  let dir = path.resolve(target);
  for (;;) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(dir);
    } catch {
      // not created yet: its existing ancestors decide
      const parent = path.dirname(dir);
      if (parent === dir) return true;
      dir = parent;
      continue;
    }
    const mode = stat.mode;
    const ok =
      stat.uid === account.uid ? (mode & 0o100) !== 0 : stat.gid === account.gid ? (mode & 0o010) !== 0 : (mode & 0o001) !== 0;
    if (!ok) return false;
    const parent = path.dirname(dir);
    if (parent === dir) return true;
    dir = parent;
  }
}
