// Pin and Unpin (a tree row's menu, the history graph's node menu): keep a checkpoint restorable past retention, or let it go.
import * as vscode from 'vscode';
import { LockstepError } from '../../base/errors';
import type { Checkpoint } from '../../core/checkpoint';
import { displayTitle } from '../../core/journalText';
import type { Pin } from '../../core/pins';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { CheckpointNode } from '../views/treeNodes';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

/**
 * What Pin and Unpin take besides a tree row: the history graph (and tests)
 * name the checkpoint by id (or a unique prefix) and the repository by its
 * top-level path (`repo`; `folder`, any path inside it, works too).
 */
export interface PinCommandOptions extends InternalOptions {
  repo?: string;
  checkpointId?: string;
}

export interface PinCommandResult {
  checkpointId: string;
  /** It was pinned (or not pinned) already: nothing changed. */
  already: boolean;
  pin?: Pin;
}

export function pinCheckpointCommand(ctx: Lockstep) {
  return async (arg?: unknown): Promise<PinCommandResult> => {
    const { repository, checkpoint } = await targetOf(ctx, arg);
    const title = displayTitle(checkpoint);
    const { pinCheckpoint } = await import('../../core/pins');
    // A Neon snapshot or a lease is an API call or two; the local engine measures the backup it keeps: seconds at most, so a notification.
    const outcome = await repository.run({ title: `Pinning “${title}”`, short: 'Pinning…' }, () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Lockstep: Pinning “${title}”` }, (progress) =>
        pinCheckpoint(repository.project, checkpoint, { onProgress: (step) => progress.report({ message: step }) }),
      ),
    );
    repository.log.info(`${outcome.already ? 'already pinned' : 'pinned'} ${checkpoint.id}: ${outcome.pin.hold.summary}`);
    ctx.checkpoints.refresh({ reload: true });
    void vscode.window.showInformationMessage(
      outcome.already ? `Lockstep: “${title}” is pinned already (${outcome.pin.hold.summary}).` : `Lockstep: Pinned “${title}”: ${outcome.pin.hold.summary}. Prune and retention will not remove it.`,
    );
    return { checkpointId: checkpoint.id, already: outcome.already, pin: outcome.pin };
  };
}

export function unpinCheckpointCommand(ctx: Lockstep) {
  return async (arg?: unknown): Promise<PinCommandResult> => {
    const { repository, checkpoint } = await targetOf(ctx, arg);
    const title = displayTitle(checkpoint);
    const { unpinCheckpoint } = await import('../../core/pins');
    const pin = await repository.run({ title: `Unpinning “${title}”`, short: 'Unpinning…' }, () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `Lockstep: Unpinning “${title}”` }, () => unpinCheckpoint(repository.project, checkpoint.id)),
    );
    repository.log.info(pin ? `unpinned ${checkpoint.id} (${pin.hold.summary})` : `${checkpoint.id} was not pinned`);
    ctx.checkpoints.refresh({ reload: true });
    void vscode.window.showInformationMessage(
      pin ? `Lockstep: Unpinned “${title}”: retention and prune treat it as any other checkpoint again.` : `Lockstep: “${title}” was not pinned.`,
    );
    return { checkpointId: checkpoint.id, already: !pin, ...(pin ? { pin } : {}) };
  };
}

async function targetOf(ctx: Lockstep, arg: unknown): Promise<{ repository: WorkspaceRepository; checkpoint: Checkpoint }> {
  if (arg instanceof CheckpointNode) return { repository: arg.repository, checkpoint: arg.checkpoint };
  const options = optionsOf<PinCommandOptions>(arg);
  const repository = await repositoryOf(ctx, typeof options.repo === 'string' ? { ...options, folder: options.folder ?? options.repo } : arg);
  requireInitialised(repository);
  const id = typeof options.checkpointId === 'string' ? options.checkpointId.trim() : '';
  if (id === '') throw new LockstepError('BAD_INPUT', 'choose a checkpoint to pin in the Checkpoints view or the history graph');
  const matches = repository.project.journal.list().filter((c) => c.id.startsWith(id));
  if (matches.length !== 1) throw new LockstepError('BAD_INPUT', matches.length === 0 ? `no checkpoint ${id} in ${repository.name}` : `${id} names ${matches.length} checkpoints: give more of the id`);
  return { repository, checkpoint: matches[0]! };
}
