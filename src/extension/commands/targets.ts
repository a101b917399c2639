// What a command is about: the tree row it was run on, an internal options object (tests, automation), or the active repository.
import * as vscode from 'vscode';
import { LockstepError } from '../../base/errors';
import type { Lockstep } from '../container';
import { WorkspaceRepository } from '../repository';
import { ActionNode, CheckpointNode, RepositoryNode, ShowMoreNode } from '../views/treeNodes';

/**
 * Internal options every command accepts as its first argument instead of a
 * tree row: not a public API. Tests pass them so that no prompt needs
 * answering through the UI (no mock of the VS Code API); `folder` names the
 * repository by any path inside its work tree.
 */
export interface InternalOptions {
  folder?: string;
  /** Throw the error to the caller as well as showing it. */
  rethrow?: boolean;
}

export function isInternalOptions(arg: unknown): arg is InternalOptions {
  return (
    typeof arg === 'object' &&
    arg !== null &&
    !(arg instanceof vscode.Uri) &&
    !(arg instanceof WorkspaceRepository) &&
    !(arg instanceof CheckpointNode) &&
    !(arg instanceof RepositoryNode) &&
    !(arg instanceof ShowMoreNode) &&
    !(arg instanceof ActionNode)
  );
}

/** The repository a command runs in. */
export function repositoryOf(ctx: Lockstep, arg: unknown): Promise<WorkspaceRepository> {
  if (arg instanceof WorkspaceRepository) return Promise.resolve(arg);
  if (arg instanceof CheckpointNode || arg instanceof RepositoryNode || arg instanceof ShowMoreNode || arg instanceof ActionNode) {
    return Promise.resolve(arg.repository);
  }
  if (arg instanceof vscode.Uri) return ctx.repositories.pick(arg);
  if (isInternalOptions(arg) && typeof arg.folder === 'string') return ctx.repositories.pick(arg.folder);
  return ctx.repositories.pick();
}

/** The options object, or an empty one when the command was run from a row or the palette. */
export function optionsOf<T extends InternalOptions>(arg: unknown): Partial<T> {
  return isInternalOptions(arg) ? (arg as Partial<T>) : {};
}

/** Lockstep must be set up before anything but the set-up itself; says so with the way to do it. */
export function requireInitialised(repository: WorkspaceRepository): void {
  if (!repository.project.initialised) {
    throw new LockstepError('NOT_INITIALISED', `Lockstep is not set up in ${repository.name}`, {
      hint: 'Run "Lockstep: Initialize in This Repository" (or `lockstep init`).',
    });
  }
}
