// An append-only file of JSON objects, one per line: atomic appends under concurrent writers, torn lines skipped.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../base/files';
import { withLock } from '../base/locks';
import type { Log } from '../base/log';

export interface ReadResult<T> {
  records: T[];
  /** 1-based numbers of the lines that were not valid records. */
  skippedLines: number[];
}

/**
 * Appends and rewrites take a lock (a directory next to the file, which works
 * across processes and worktrees); a rewrite goes through a temporary file and a
 * rename, so an append can never land in a file that is about to be replaced.
 * Reads take no lock: every line is written by one `write()`, and a line that
 * does not parse (a crash mid-write, a hand edit) is skipped with a warning
 * without losing the others.
 */
export class JsonLinesFile<T> {
  constructor(
    readonly file: string,
    private readonly lockPath: string,
    private readonly isRecord: (value: unknown) => value is T,
    private readonly log: Log,
  ) {}

  async append(records: readonly T[]): Promise<void> {
    if (records.length === 0) return;
    const text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
    await this.withLock(() => {
      // A file that ends mid-line (a writer died) would glue our first record to
      // the torn one and lose both; start on a fresh line instead.
      const prefix = this.endsMidLine() ? '\n' : '';
      fs.appendFileSync(this.file, prefix + text, { mode: 0o600 });
    });
  }

  /**
   * Appends the records whose key the file does not hold yet, then runs `after`,
   * all under the lock: a record folded in from elsewhere (the hook's spool) is
   * added once however many processes fold at the same time. Returns what was added.
   */
  async appendNew(records: readonly T[], key: (record: T) => string, after?: () => void): Promise<T[]> {
    return this.withLock(() => {
      const present = new Set(this.read().records.map(key));
      const fresh = records.filter((r) => !present.has(key(r)));
      if (fresh.length > 0) {
        const prefix = this.endsMidLine() ? '\n' : '';
        fs.appendFileSync(this.file, prefix + fresh.map((r) => JSON.stringify(r)).join('\n') + '\n', { mode: 0o600 });
      }
      after?.();
      return fresh;
    });
  }

  read(): ReadResult<T> {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], skippedLines: [] };
      throw error;
    }
    return this.parse(text);
  }

  /** The records in the last `bytes` of the file (the newest appends), without reading the rest. */
  readTail(bytes: number): T[] {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return [];
    }
    try {
      const size = fs.fstatSync(fd).size;
      const start = Math.max(0, size - bytes);
      const buffer = Buffer.alloc(size - start);
      fs.readSync(fd, buffer, 0, buffer.length, start);
      let text = buffer.toString('utf8');
      if (start > 0) text = text.slice(text.indexOf('\n') + 1); // a partial first line
      return this.parse(text, false).records;
    } finally {
      fs.closeSync(fd);
    }
  }

  private parse(text: string, warn = true): ReadResult<T> {
    const records: T[] = [];
    const skippedLines: number[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      if (line === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        skippedLines.push(i + 1);
        continue;
      }
      if (this.isRecord(value)) records.push(value);
      else skippedLines.push(i + 1);
    }
    if (warn && skippedLines.length > 0) this.warnOnce(skippedLines, lines);
    return { records, skippedLines };
  }

  /**
   * The same unreadable lines are reported once, not on every later command
   * (the hook reads the journal on every commit): which ones were reported is
   * kept beside the file. `lockstep status` lists them and offers to set them aside.
   */
  private warnOnce(skippedLines: number[], lines: string[]): void {
    const seenFile = `${this.file}.unreadable-reported`;
    const key = skippedLines.map((n) => `${n}:${lines[n - 1]!.length}`).join(',');
    try {
      if (fs.readFileSync(seenFile, 'utf8') === key) return;
    } catch {
      // not reported yet
    }
    this.log.warn(
      `${path.basename(this.file)}: skipped ${skippedLines.length} unreadable line(s): ${skippedLines.slice(0, 10).join(', ')} (reported once; \`lockstep status --set-aside\` moves them to a file of their own)`,
    );
    try {
      fs.writeFileSync(seenFile, key, { mode: 0o600 });
    } catch {
      // reported again next time
    }
  }

  /**
   * Moves the lines that are not valid records to `aside` (appended), under the
   * lock, and leaves the rest as they were. Returns how many were moved.
   */
  async setAsideUnreadable(aside: string): Promise<number> {
    return this.withLock(() => {
      const { records, unreadable } = this.readLines();
      if (unreadable.length === 0) return 0;
      fs.appendFileSync(aside, unreadable.join('\n') + '\n', { mode: 0o600 });
      const good = records.map((r) => r.line);
      writeFileAtomic(this.file, good.length === 0 ? '' : good.join('\n') + '\n', 0o600);
      fs.rmSync(`${this.file}.unreadable-reported`, { force: true });
      return unreadable.length;
    });
  }

  /**
   * Replace the file's records with `change(records)`, under the lock. Unreadable
   * lines are kept as they were (so a rewrite never destroys what a person may
   * still repair by hand).
   */
  async rewrite(change: (records: T[]) => T[]): Promise<{ before: number; after: number }> {
    return this.withLock(() => {
      const lines = this.readLines();
      const kept = lines.unreadable;
      const records = lines.records.map((r) => r.record);
      const next = change(records);
      const body = [...kept, ...next.map((r) => JSON.stringify(r))].join('\n');
      writeFileAtomic(this.file, body === '' ? '' : body + '\n', 0o600);
      return { before: records.length, after: next.length };
    });
  }

  /** Every line of the file, readable records (with their text) apart from the rest; blank lines dropped. */
  private readLines(): { records: { line: string; record: T }[]; unreadable: string[] } {
    let text = '';
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const records: { line: string; record: T }[] = [];
    const unreadable: string[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        unreadable.push(line);
        continue;
      }
      if (this.isRecord(value)) records.push({ line, record: value });
      else unreadable.push(line);
    }
    return { records, unreadable };
  }

  sizeBytes(): number {
    try {
      return fs.statSync(this.file).size;
    } catch {
      return 0;
    }
  }

  private endsMidLine(): boolean {
    let fd: number;
    try {
      fd = fs.openSync(this.file, 'r');
    } catch {
      return false;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size === 0) return false;
      const last = Buffer.alloc(1);
      fs.readSync(fd, last, 0, 1, size - 1);
      return last[0] !== 0x0a;
    } finally {
      fs.closeSync(fd);
    }
  }

  private withLock<R>(work: () => R): Promise<R> {
    // withLock creates the lock's directory, which is the file's.
    return withLock(this.lockPath, { waitMs: 10_000, what: path.basename(this.file) }, work);
  }

}
