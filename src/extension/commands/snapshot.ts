// Take Snapshot: a manual checkpoint of now at HEAD, with an optional label (Escape cancels, Enter on empty takes an unlabelled one).
import * as vscode from 'vscode';
import { describeError, LockstepError } from '../../base/errors';
import type { Checkpoint } from '../../core/checkpoint';
import { displayTitle, labelProblem } from '../../core/journalText';
import { takeMarker } from '../../core/markers';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { ContextKey } from '../contextKeys';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface SnapshotOptions extends InternalOptions {
  /** Internal (tests): the label, instead of asking; '' takes an unlabelled snapshot. */
  label?: string;
  /** Internal (tests): the answer to "the database is stopped" (`Start and Snapshot` starts it; anything else cancels). */
  startAnswer?: string;
}

export const START_AND_SNAPSHOT = 'Start and Snapshot';

export function takeSnapshot(ctx: Lockstep) {
  return async (arg?: unknown): Promise<Checkpoint | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<SnapshotOptions>(arg);
    // Before the label is asked for: a snapshot needs the database, and typing a label for one that cannot be taken wastes the typing.
    if (!(await databaseReady(repository, options))) return undefined;
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
    ctx.contextKeys.set(ContextKey.SnapshotTaken, true);
    vscode.window.setStatusBarMessage(`$(check) Snapshot “${displayTitle(checkpoint)}” taken at ${checkpoint.lsn}`, 5_000);
    return checkpoint;
  };
}

/**
 * The database answers, or the person chose to start it: a stopped local
 * database offers Start and Snapshot; one that does not answer is said in
 * words (not the driver's), with the engine's own summary. Read now, not
 * from the last poll (up to 30 s old).
 */
async function databaseReady(repository: WorkspaceRepository, options: Partial<SnapshotOptions>): Promise<boolean> {
  const engine = await repository.project.engine();
  const status = await engine.status().catch((error: unknown) => ({ state: 'unreachable' as const, summary: describeError(error) }));
  if (status.state === 'running') return true;
  if (status.state === 'stopped' && engine.start) {
    const answer =
      options.startAnswer ??
      (await vscode.window.showWarningMessage(
        `Lockstep: The local database of ${repository.name} is stopped. A snapshot records where the database is, so it must run: start it, then name the snapshot.`,
        START_AND_SNAPSHOT,
      ));
    if (answer !== START_AND_SNAPSHOT) return false;
    await vscode.commands.executeCommand('lockstep.startDatabase', { folder: repository.repo.topLevel, rethrow: true });
    return true;
  }
  throw new LockstepError('ENGINE_DOWN', `no snapshot taken: the database of ${repository.name} does not answer (${status.summary})`, {
    hint: status.state === 'stopped' ? 'Start it and try again.' : 'Check that it runs and is reachable, then try again (Show Log has the details).',
  });
}
