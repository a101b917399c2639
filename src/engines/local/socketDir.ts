// Where the serving server's Unix socket lives: a directory only the Postgres account (and root) can enter, inside the data root when the path fits.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';
import type { LocalLayout } from './layout';
import { chownTree, runningAsRoot, type PostgresAccount } from './osUser';

/** A socket address holds 108 bytes with its terminating NUL (Linux; macOS has 104, where the fallback is taken sooner). */
const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

export function socketFile(dir: string, port: number): string {
  return path.join(dir, `.s.PGSQL.${port}`);
}

function fits(dir: string, port: number): boolean {
  // Postgres also creates `<socket>.lock` beside it; the socket's own path is what must fit.
  return Buffer.byteLength(socketFile(dir, port)) <= MAX_SOCKET_PATH;
}

/**
 * The socket directory clients may trust, or undefined when there is none yet.
 * `<root>/run` sits in a root only we can write to. The fallback lies in a
 * shared place (/tmp), so it is checked at every use: a real directory (not a
 * link), owned by the Postgres account (the owner of the archive), closed to
 * group and others. A tmp cleaner removing it and another user re-creating
 * the same name gives a directory that fails this check.
 */
export function trustedSocketDir(layout: LocalLayout, port: number): string | undefined {
  if (fits(layout.runDir, port)) return layout.runDir;
  let recorded: string;
  try {
    recorded = fs.readFileSync(layout.socketRecord, 'utf8').trim();
  } catch {
    return undefined;
  }
  return recorded && fits(recorded, port) && isPrivateDirOf(recorded, ownerOf(layout.archive)) ? recorded : undefined;
}

/**
 * Before a server starts: the socket directory exists, belongs to the Postgres
 * account and is 0700. Returns it, or throws when no directory can hold a
 * socket for this port.
 */
export function prepareSocketDir(layout: LocalLayout, port: number, account: PostgresAccount): string {
  if (fits(layout.runDir, port)) {
    fs.mkdirSync(layout.runDir, { mode: 0o700, recursive: true });
    fs.chmodSync(layout.runDir, 0o700);
    chownTree(layout.runDir, account);
    return layout.runDir;
  }
  const trusted = trustedSocketDir(layout, port);
  if (trusted) return trusted;
  const base = fallbackBase();
  // A fresh, unguessable name: nobody can have prepared it for us.
  const dir = fs.mkdtempSync(path.join(base, 'lockstep-'));
  try {
    if (!fits(dir, port)) {
      throw new LockstepError('CONFIG', `no directory short enough for the database's Unix socket: ${socketFile(dir, port)} is longer than ${MAX_SOCKET_PATH} bytes`, {
        hint: 'Set TMPDIR to a short directory (e.g. /tmp), or move the data root to a shorter path.',
      });
    }
    fs.chmodSync(dir, 0o700);
    chownTree(dir, account);
    fs.writeFileSync(layout.socketRecord, dir + '\n', { mode: 0o600 });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return dir;
}

/** $XDG_RUNTIME_DIR when it is ours alone (a per-user tmpfs), else the temp directory. Root's Postgres account cannot enter root's runtime directory: /tmp. */
function fallbackBase(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (!runningAsRoot() && runtime && path.isAbsolute(runtime) && typeof process.getuid === 'function' && isPrivateDirOf(runtime, process.getuid())) {
    return runtime;
  }
  return runningAsRoot() ? '/tmp' : os.tmpdir();
}

function ownerOf(file: string): number | undefined {
  try {
    return fs.statSync(file).uid;
  } catch {
    return undefined;
  }
}

function isPrivateDirOf(dir: string, uid: number | undefined): boolean {
  if (uid === undefined) return false;
  try {
    const stat = fs.lstatSync(dir);
    return stat.isDirectory() && stat.uid === uid && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}
