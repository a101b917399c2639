// Copying a data directory quickly and tolerantly: files vanish under a running server, and reflinks are free where the filesystem has them.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** What to do with an entry, by its path relative to the tree's root (with '/' separators). */
export type CopyRule = (relative: string, isDirectory: boolean) => 'copy' | 'skip' | 'empty-dir';

export interface CopyResult {
  files: number;
  bytes: number;
}

const PARALLEL_COPIES = 8;

/**
 * Copy `source` to `target` (created). Files that disappear during the copy are
 * skipped: under a running server a dropped table's file may vanish, and WAL
 * replay recreates whatever a base backup needs. COPYFILE_FICLONE clones on
 * APFS, btrfs and XFS and falls back to a full copy elsewhere (ext4).
 */
export async function copyTree(source: string, target: string, rule: CopyRule = () => 'copy'): Promise<CopyResult> {
  const files: [string, string][] = [];
  const walk = (from: string, to: string, relative: string) => {
    fs.mkdirSync(to, { recursive: true, mode: 0o700 });
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(from, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      const decision = rule(rel, entry.isDirectory());
      if (decision === 'skip') continue;
      const src = path.join(from, entry.name);
      const dst = path.join(to, entry.name);
      if (entry.isDirectory()) {
        if (decision === 'empty-dir') fs.mkdirSync(dst, { recursive: true, mode: 0o700 });
        else walk(src, dst, rel);
      } else if (entry.isSymbolicLink()) {
        fs.symlinkSync(fs.readlinkSync(src), dst);
      } else if (entry.isFile()) {
        files.push([src, dst]);
      }
    }
  };
  walk(source, target, '');

  let bytes = 0;
  let copied = 0;
  let next = 0;
  let failure: Error | undefined;
  const worker = async () => {
    while (failure === undefined && next < files.length) {
      const [src, dst] = files[next++]!;
      try {
        await fs.promises.copyFile(src, dst, fs.constants.COPYFILE_FICLONE);
        // Read the size first: `bytes += await …` would read `bytes` before the await and lose the other workers' additions.
        const { size } = await fs.promises.stat(dst);
        bytes += size;
        copied++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') failure ??= copyFailure(error as NodeJS.ErrnoException, src, dst);
      }
    }
  };
  // Every copy settles before the failure is thrown: the caller removes the target, and no copy may still write into it.
  await Promise.all(Array.from({ length: Math.min(PARALLEL_COPIES, files.length) }, worker));
  if (failure) throw failure;
  return { files: copied, bytes };
}

/** A full disk said in the C library's words, with the file being written; other errors as Node words them (paths included). */
function copyFailure(error: NodeJS.ErrnoException, src: string, dst: string): Error {
  const reason = error.code === 'ENOSPC' ? 'No space left on device' : error.code === 'EDQUOT' ? 'Disk quota exceeded' : undefined;
  if (!reason) return error;
  return Object.assign(new Error(`could not copy ${src} to ${dst}: ${reason}`, { cause: error }), { code: error.code, path: dst });
}
