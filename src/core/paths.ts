// Where Lockstep keeps its files: all under the git common dir, outside the database and the work tree.

import * as path from 'node:path';

/**
 * `.git/lockstep/` lives in the git common dir: shared by worktrees, untouched by
 * checkout, `git clean` and `git stash`, and never inside the database it describes.
 */
export class LockstepPaths {
  readonly root: string;

  constructor(readonly gitCommonDir: string) {
    this.root = path.join(gitCommonDir, 'lockstep');
  }

  get config(): string {
    return path.join(this.root, 'config.json');
  }

  /** Checkpoints, one JSON object per line. */
  get journal(): string {
    return path.join(this.root, 'journal.jsonl');
  }

  /** Operations (restore started/finished/failed/compensated, prune), one JSON object per line. */
  get audit(): string {
    return path.join(this.root, 'audit.jsonl');
  }

  /** Lines the hook writes when it could not record, for `lockstep status` and the UI. */
  get log(): string {
    return path.join(this.root, 'lockstep.log');
  }

  /** Held for the whole of a restore: one at a time per repository. */
  get restoreLock(): string {
    return path.join(this.root, 'restore');
  }

  /** The restore in progress, step by step (written atomically, fsynced, before each step); absent when none is. */
  get restoreRecord(): string {
    return path.join(this.root, 'restore-in-progress.json');
  }

  /** Held while the journal file is rewritten (pruning) or appended to. */
  get journalLock(): string {
    return path.join(this.root, 'journal');
  }

  /** Pinned checkpoints and what each engine holds for them (core/pins.ts). */
  get pins(): string {
    return path.join(this.root, 'pins.json');
  }

  /** Held while pins.json is changed (a pin also changes the engine's side). */
  get pinsLock(): string {
    return path.join(this.root, 'pins');
  }

  /** CLI credentials (API keys) when no environment variable or SecretStorage provides them; mode 0600. */
  get credentials(): string {
    return path.join(this.root, 'credentials.json');
  }
}

/** Engine-owned state (the Neon branch mapping, pageserver forks and leases) in the lockstep directory the engine is given. */
export function engineStateFile(lockstepDir: string, kind: string): string {
  return path.join(lockstepDir, `${kind}-state.json`);
}
