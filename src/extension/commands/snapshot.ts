// Take Snapshot: a manual checkpoint of now at HEAD, with an optional label (Escape cancels, Enter on empty takes an unlabelled one).
import * as vscode from 'vscode';
import type { Checkpoint } from '../../core/checkpoint';
import { displayTitle, labelProblem } from '../../core/journalText';
import { takeMarker } from '../../core/markers';
import type { Lockstep } from '../container';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface SnapshotOptions extends InternalOptions {
  /** Internal (tests): the label, instead of asking; '' takes an unlabelled snapshot. */
  label?: string;
}

export function takeSnapshot(ctx: Lockstep) {
  return async (arg?: unknown): Promise<Checkpoint | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<SnapshotOptions>(arg);
    const label =
      options.label ??
      (await vscode.window.showInputBox({
        title: `Lockstep: Take Snapshot${ctx.repositories.all.length > 1 ? ` in ${repository.name}` : ''}`,
        prompt: 'A label for the snapshot (optional). Enter takes it; Escape cancels.',
        placeHolder: 'e.g. before the seed script',
        ignoreFocusOut: false,
        // The rule the core enforces, said while typing: one line of visible text, at most 200 characters.
        validateInput: (value) => labelProblem(value),
      }));
    if (label === undefined) return undefined;
    const checkpoint = await repository.run({ title: 'Taking a snapshot', short: 'Snapshot…' }, () =>
      takeMarker(repository.project, { kind: 'snapshot', label }),
    );
    repository.log.info(`snapshot ${checkpoint.id} "${displayTitle(checkpoint)}" at timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}`);
    ctx.checkpoints.refresh();
    vscode.window.setStatusBarMessage(`$(check) Snapshot “${displayTitle(checkpoint)}” taken at ${checkpoint.lsn}`, 5_000);
    return checkpoint;
  };
}
