// Every context key the extension sets (for `when`/`enablement` in package.json) and every tree item contextValue, in one place.
import * as vscode from 'vscode';

/** Context keys; each describes the active repository (the one of the active editor, else the first). */
export const enum ContextKey {
  /** The extension has looked at the workspace's folders at least once (welcome views wait for it). */
  Loaded = 'lockstep.loaded',
  /** Git repositories among the workspace folders. */
  RepositoryCount = 'lockstep.repositoryCount',
  Initialised = 'lockstep.initialised',
  /** `local`, `neon` or `pageserver`; unset when not initialised. */
  Engine = 'lockstep.engine',
  /** `installed`, `stale` or `not-installed`. */
  HookState = 'lockstep.hookState',
  /** `running`, `stopped`, `unreachable` or `not-initialised`. */
  DatabaseState = 'lockstep.databaseState',
  HasCheckpoints = 'lockstep.hasCheckpoints',
  /** The journal holds a snapshot (one was really taken, not merely asked for): the walkthrough's snapshot step. */
  SnapshotTaken = 'lockstep.snapshotTaken',
  /** The audit trail holds a finished restore: the walkthrough's restore step. */
  RestoreFinished = 'lockstep.restoreFinished',
  /** An operation (restore, snapshot, set-up) runs in the active repository. */
  Busy = 'lockstep.busy',
  /** A restore whose process is gone left its record: `continuable` past the point of no return, else `abortOnly`; unset when none. */
  RestoreInterrupted = 'lockstep.restoreInterrupted',
}

/**
 * contextValue of tree items, matched in package.json menus with `viewItem =~ /…/`.
 * A checkpoint's reads `checkpoint:<restorable|expired>:<commit|nocommit>[:serving][:pinned]` (a safety point's
 * row adds `:safety` last).
 */
export const enum TreeItemContext {
  Checkpoint = 'checkpoint',
  Restorable = 'restorable',
  Expired = 'expired',
  WithCommit = 'commit',
  WithoutCommit = 'nocommit',
  Serving = 'serving',
  Pinned = 'pinned',
  /** A finished restore's row; its child is the restore's undo point. */
  Restore = 'restore',
  Repository = 'repository',
  RepositoryUninitialised = 'repository:uninitialised',
  ShowMore = 'showMore',
  Action = 'action',
}

export function checkpointContext(restorable: boolean, hasCommit: boolean, serving: boolean, pinned = false): string {
  return [
    TreeItemContext.Checkpoint,
    restorable ? TreeItemContext.Restorable : TreeItemContext.Expired,
    hasCommit ? TreeItemContext.WithCommit : TreeItemContext.WithoutCommit,
    ...(serving ? [TreeItemContext.Serving] : []),
    ...(pinned ? [TreeItemContext.Pinned] : []),
  ].join(':');
}

export type ContextValue = string | number | boolean | undefined;

/** Sets context keys, skipping the round trip to the workbench when a value has not changed. */
export class ContextKeys {
  private readonly values = new Map<ContextKey, ContextValue>();

  set(key: ContextKey, value: ContextValue): void {
    if (this.values.has(key) && this.values.get(key) === value) return;
    this.values.set(key, value);
    void vscode.commands.executeCommand('setContext', key, value);
  }
}
