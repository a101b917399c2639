// Watches .git/lockstep/ with node's fs.watch (VS Code's own watcher skips .git), so commits from a terminal or an agent show up.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Log } from '../base/log';
import type { LockstepPaths } from '../core/paths';
import { Disposable, toDisposable } from './lifecycle';

/** What changed, as far as the file names tell. */
export interface LockstepFilesChange {
  journal: boolean;
  config: boolean;
  audit: boolean;
}

/** Long enough to fold a commit's lock-append-unlock burst (and a restore's dozen writes) into one refresh. */
const DEBOUNCE_MS = 150;

/**
 * Watches `.git/lockstep/` itself; until `lockstep init` creates it, the git
 * common dir, to see it appear. Lock directories and engine files come and go
 * there all the time: only the journal (and the pins), the audit trail and the configuration count.
 */
export class JournalWatcher extends Disposable {
  private readonly changed = this._register(new vscode.EventEmitter<LockstepFilesChange>());
  readonly onDidChange = this.changed.event;
  private watcher: fs.FSWatcher | undefined;
  private watching: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: LockstepFilesChange = { journal: false, config: false, audit: false };

  constructor(
    private readonly paths: LockstepPaths,
    private readonly log: Log,
  ) {
    super();
    this._register(
      toDisposable(() => {
        clearTimeout(this.timer);
        this.watcher?.close();
      }),
    );
    this.arm();
  }

  private arm(): void {
    if (this.isDisposed) return;
    const target = fs.existsSync(this.paths.root) ? this.paths.root : this.paths.gitCommonDir;
    if (target === this.watching && this.watcher) return;
    this.watcher?.close();
    this.watcher = undefined;
    this.watching = target;
    try {
      this.watcher = fs.watch(target, { persistent: false }, (_event, filename) => this.onEvent(target, filename?.toString() ?? null));
      this.watcher.on('error', (error) => {
        // The folder went away (a `rm -rf .git/lockstep`, a re-clone): watch whatever is there now.
        this.log.warn(`stopped watching ${target}: ${error.message}`);
        this.watcher?.close();
        this.watcher = undefined;
        setTimeout(() => this.arm(), 1_000);
      });
      this.log.debug(`watching ${target}`);
    } catch (error) {
      this.log.warn(`cannot watch ${target}: ${error instanceof Error ? error.message : String(error)}; Refresh shows new checkpoints`);
    }
  }

  private onEvent(dir: string, filename: string | null): void {
    if (dir !== this.paths.root) {
      // Watching the git dir: only the appearance of lockstep/ matters.
      if (filename === null || filename === path.basename(this.paths.root)) {
        this.arm();
        if (this.watching === this.paths.root) this.queue({ journal: true, config: true, audit: true });
      }
      return;
    }
    // Some platforms give no name: assume the worst.
    const name = filename ?? '';
    const change: LockstepFilesChange = {
      // A pin changes what the listing shows as much as a new checkpoint does (`lockstep pin` in a terminal).
      journal: filename === null || name === path.basename(this.paths.journal) || name === path.basename(this.paths.pins),
      config: filename === null || name === path.basename(this.paths.config),
      audit: filename === null || name === path.basename(this.paths.audit),
    };
    if (!fs.existsSync(this.paths.root)) {
      this.arm();
      change.config = true;
    }
    if (change.journal || change.config || change.audit) this.queue(change);
  }

  private queue(change: LockstepFilesChange): void {
    this.pending = {
      journal: this.pending.journal || change.journal,
      config: this.pending.config || change.config,
      audit: this.pending.audit || change.audit,
    };
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const fired = this.pending;
      this.pending = { journal: false, config: false, audit: false };
      this.changed.fire(fired);
    }, DEBOUNCE_MS);
  }
}
