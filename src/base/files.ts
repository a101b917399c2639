// Writing files so that a crash or a concurrent reader never sees half of one.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Write `data` to `file` through a temporary name and a rename, so readers see the old or the new file, whole. */
export function writeFileAtomic(file: string, data: string | Buffer, mode = 0o644): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'w', mode);
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}

/** `writeFileAtomic`, then the directory fsynced too: the rename itself survives a power loss. */
export function writeFileDurable(file: string, data: string, mode = 0o644): void {
  writeFileAtomic(file, data, mode);
  fsyncPath(path.dirname(file));
}

/** fsync a file or a directory (for a directory: the names in it, after a rename). */
export function fsyncPath(target: string): void {
  const fd = fs.openSync(target, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
}

export function writeJsonFile(file: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`, mode);
}

/** Total size in bytes of the files under `dir` (0 when it does not exist). */
export function directorySize(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += directorySize(full);
    else if (entry.isFile()) {
      try {
        total += fs.statSync(full).size;
      } catch {
        // vanished while we looked (WAL recycling): it no longer counts
      }
    }
  }
  return total;
}

/** The prefix of a tree on its way out: `removeTree` renames to it first, and a sweep may delete what a crash left. */
export const REMOVING_PREFIX = '.removing-';

/**
 * Delete a directory tree so that no one ever sees half of it under its name:
 * rename it away first (atomic: a concurrent claimer that renames the same
 * tree either gets it whole or finds it gone), then delete the renamed tree.
 */
export function removeTree(dir: string): void {
  const away = path.join(path.dirname(dir), `${REMOVING_PREFIX}${path.basename(dir)}.${process.pid}.${Date.now()}`);
  try {
    fs.renameSync(dir, away);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  fs.rmSync(away, { recursive: true, force: true });
}
