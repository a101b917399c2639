// Commands on one checkpoint row: Copy LSN and Delete (the marker only; no data is deleted).
import * as vscode from 'vscode';
import { newCheckpointId, pointOf, type Checkpoint } from '../../core/checkpoint';
import { describePoint } from '../../core/engine';
import { displayTitle } from '../../core/journalText';
import { LockstepError } from '../../base/errors';
import { pinnedCheckpoints } from '../../core/markers';
import type { Lockstep } from '../container';
import { CheckpointNode } from '../views/treeNodes';
import { optionsOf, repositoryOf, type InternalOptions } from './targets';

export interface CheckpointCommandOptions extends InternalOptions {
  /** The checkpoint's id (or a unique prefix of it). */
  id?: string;
  /** Internal (tests): the modal's answer (`Delete` deletes). */
  answer?: string;
}

export function copyLsn(ctx: Lockstep) {
  return async (arg?: unknown): Promise<string> => {
    const { checkpoint } = await checkpointOf(ctx, arg);
    if (checkpoint.lsn === null) {
      throw new LockstepError('BAD_INPUT', `checkpoint ${checkpoint.id} is time-based: it has no LSN`, {
        hint: `Its position was not read when it was taken${checkpoint.unmeasured ? ` (${checkpoint.unmeasured})` : ''}; it is restored by its time, ${checkpoint.createdAt}, on timeline ${checkpoint.timelineId}.`,
      });
    }
    await vscode.env.clipboard.writeText(checkpoint.lsn);
    vscode.window.setStatusBarMessage(`$(copy) Copied LSN ${checkpoint.lsn} (timeline ${checkpoint.timelineId})`, 4_000);
    return checkpoint.lsn;
  };
}

export function deleteCheckpoint(ctx: Lockstep) {
  return async (arg?: unknown): Promise<boolean> => {
    const { repository, checkpoint } = await checkpointOf(ctx, arg);
    const pinned = pinnedCheckpoints(repository.project).has(checkpoint.id);
    const remove = 'Delete';
    const answer =
      optionsOf<CheckpointCommandOptions>(arg).answer ??
      (await vscode.window.showWarningMessage(
        `Delete the checkpoint “${displayTitle(checkpoint)}”?`,
        {
          modal: true,
          detail: `Only the marker is deleted (no data): you can no longer restore to timeline ${describePoint(pointOf(checkpoint))} from the list.${
            pinned ? '\n\nIt belongs to the last restore (what serves now, or its undo point).' : ''
          }`,
        },
        remove,
      ));
    if (answer !== remove) return false;
    const removed = await repository.project.journal.remove([checkpoint.id]);
    if (removed.length > 0) {
      await repository.project.audit.append({ op: 'delete', phase: 'finished', operationId: newCheckpointId(), checkpointId: checkpoint.id, detail: `deleted from VS Code: ${displayTitle(checkpoint)}` });
    }
    repository.log.info(`deleted checkpoint ${checkpoint.id}`);
    ctx.checkpoints.refresh();
    return removed.length > 0;
  };
}

async function checkpointOf(ctx: Lockstep, arg: unknown) {
  if (arg instanceof CheckpointNode) return { repository: arg.repository, checkpoint: arg.checkpoint as Checkpoint };
  const repository = await repositoryOf(ctx, arg);
  const id = optionsOf<CheckpointCommandOptions>(arg).id;
  const matches = id ? repository.project.journal.list().filter((c) => c.id.startsWith(id)) : [];
  if (matches.length !== 1) {
    // Run from a keybinding or the palette with no row: these commands are for the tree's context menu.
    throw new LockstepError('BAD_INPUT', id ? `no single checkpoint ${id}` : 'choose a checkpoint in the Checkpoints view first');
  }
  return { repository, checkpoint: matches[0]! };
}
