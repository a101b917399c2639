// Continue / Abort Interrupted Restore: finish or revert a restore whose process died, as `lockstep restore --continue|--abort` do, and say what was done.
import * as vscode from 'vscode';
import { displayTitle } from '../../core/journalText';
import { LockstepError } from '../../base/errors';
import type { RestoreMode, SettleAction, SettleOutcome } from '../../core/restore';
import { startUpkeep } from '../commitHook';
import type { Lockstep } from '../container';
import { ABORT_RESTORE, CONTINUE_RESTORE, interruptedNotice, settledMessage, type RestoreInProgress } from '../interruptedRestore';
import type { WorkspaceRepository } from '../repository';
import { isInternalOptions, repositoryOf, requireInitialised } from './targets';

/** What a settle command returns (to tests): the core's outcome and the message shown. */
export interface SettledRestore {
  outcome: SettleOutcome;
  message: string;
}

/** `Lockstep: Continue Interrupted Restore` / `Abort Interrupted Restore`. */
export function settleInterruptedCommand(how: SettleAction) {
  return (ctx: Lockstep) =>
    async (arg?: unknown): Promise<SettledRestore> => {
      const repository = await interruptedRepositoryOf(ctx, arg);
      requireInitialised(repository);
      return settleInterrupted(ctx, repository, how);
    };
}

/**
 * The status bar item's click: the same notification as when the interruption
 * was found. Returns the button chosen.
 */
export function showInterruptedRestore(ctx: Lockstep) {
  return async (arg?: unknown): Promise<string | undefined> => {
    const repository = await interruptedRepositoryOf(ctx, arg);
    await repository.refresh();
    const restoring = repository.state.restoring;
    if (!restoring) {
      void vscode.window.showInformationMessage(`Lockstep: no restore is in progress in ${repository.name}.`);
      return undefined;
    }
    if (restoring.ownerAlive) {
      void vscode.window.showInformationMessage(`Lockstep: the restore to “${displayTitle(restoring.target)}” is still running (pid ${restoring.pid}); wait for it to finish.`);
      return undefined;
    }
    return offerSettleChoice(ctx, repository, restoring);
  };
}

/**
 * Names the interrupted restore and offers Continue / Abort (the default
 * first); a click runs the command. Not awaited by those who find the
 * interruption: a notification can stay up for as long as the person likes.
 */
export async function offerSettleChoice(ctx: Lockstep, repository: WorkspaceRepository, restoring: RestoreInProgress): Promise<string | undefined> {
  const multiRoot = ctx.repositories.all.length > 1;
  const notice = interruptedNotice(restoring, multiRoot ? repository.name : undefined);
  const showLog = 'Show Log';
  const choice = await vscode.window.showWarningMessage(notice.message, ...notice.buttons, showLog);
  if (choice === showLog) ctx.log.show();
  const how = choice === CONTINUE_RESTORE ? 'continue' : choice === ABORT_RESTORE ? 'abort' : undefined;
  if (how) {
    try {
      await settleInterrupted(ctx, repository, how);
    } catch (error) {
      await ctx.errors.report(error, choice!);
    }
  }
  return choice;
}

/**
 * Settles the repository's interrupted restore under its one-operation guard
 * and a progress notification, then says what was done: `auto` finishes it
 * past the point of no return and reverts it before (what every CLI command
 * does unasked). When not everything could be done, the two buttons come with
 * the account.
 */
export async function settleInterrupted(ctx: Lockstep, repository: WorkspaceRepository, how: SettleAction | 'auto'): Promise<SettledRestore> {
  const doing = how === 'continue' ? 'Finishing' : how === 'abort' ? 'Reverting' : 'Settling';
  const settled = await repository.run({ title: `${doing} an interrupted restore`, short: `${doing} restore…` }, async () => {
    const { canContinue: continuable, readRestoreRecord, settleInterruptedRestore } = await import('../../core/restore');
    const record = readRestoreRecord(repository.project);
    if (!record) throw new LockstepError('NOT_FOUND', `no restore is in progress in ${repository.name}`);
    const title = displayTitle(record.target);
    const canContinue = continuable(record);
    if (how === 'continue' && !canContinue) {
      // The core refuses too, with the CLI's words; here the way out is a button.
      throw new LockstepError('BAD_INPUT', `the interrupted restore to “${title}” ${record.reverting ? 'had failed and was being put back' : `stopped at "${record.step}", before the point of no return`}: it can only be reverted`, {
        hint: 'Run "Lockstep: Abort Interrupted Restore".',
      });
    }
    const action = how === 'auto' ? (canContinue ? 'continue' : 'abort') : how;
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Lockstep: ${action === 'continue' ? 'Finishing' : 'Reverting'} the interrupted restore to “${title}”` },
      (progress) =>
        settleInterruptedRestore(repository.project, how, {
          onProgress: (step) => {
            repository.log.info(`settling the interrupted restore: ${step}`);
            progress.report({ message: step });
          },
        }),
    );
    if (!outcome) {
      throw new LockstepError('BUSY', `the restore to “${title}” is still running (pid ${record.pid})`, { hint: 'Wait for it to finish.' });
    }
    if (outcome.ok) repository.log.info(`interrupted restore ${outcome.operationId}: ${outcome.summary}`);
    else repository.log.warn(`interrupted restore ${outcome.operationId}: ${outcome.summary}`);
    if (outcome.maintenanceDue) startUpkeep(repository, ctx.extensionPath);
    const undo = outcome.ok && outcome.action === 'continue' && record.undo ? { id: record.undo.id, mode: record.mode } : undefined;
    return { outcome, message: settledMessage(outcome), undo };
  });
  // The run's own refresh reads the state again (the record gone or left); the tree reads the journal again (the undo point).
  ctx.checkpoints.refresh({ reload: true });
  void tellSettled(ctx, repository, settled.outcome, settled.message, settled.undo);
  return { outcome: settled.outcome, message: settled.message };
}

/** The account, with what can be done next: Undo Restore after a finish, Continue / Abort while a record is left. */
async function tellSettled(ctx: Lockstep, repository: WorkspaceRepository, outcome: SettleOutcome, message: string, undo: { id: string; mode: RestoreMode } | undefined): Promise<void> {
  const showLog = 'Show Log';
  const undoRestore = 'Undo Restore';
  if (outcome.ok) {
    const choice = await vscode.window.showInformationMessage(message, ...(undo ? [undoRestore] : []), showLog);
    if (choice === showLog) ctx.log.show();
    // The undo point is a checkpoint like any other: its restore shows the preview and asks.
    if (choice === undoRestore && undo) await vscode.commands.executeCommand('lockstep.restoreCheckpoint', { folder: repository.repo.topLevel, ref: undo.id, mode: undo.mode });
    return;
  }
  await repository.refresh();
  const left = repository.state.restoring;
  const buttons = left && !left.ownerAlive ? (left.canContinue ? [CONTINUE_RESTORE, ABORT_RESTORE] : [ABORT_RESTORE]) : [];
  const choice = await vscode.window.showErrorMessage(message, ...buttons, showLog);
  if (choice === showLog) ctx.log.show();
  if (choice === CONTINUE_RESTORE || choice === ABORT_RESTORE) {
    try {
      await settleInterrupted(ctx, repository, choice === CONTINUE_RESTORE ? 'continue' : 'abort');
    } catch (error) {
      await ctx.errors.report(error, choice);
    }
  }
}

/**
 * The repository a settle command is about: the one named (a row, a path),
 * else the one repository with an interrupted restore, else the usual pick.
 */
async function interruptedRepositoryOf(ctx: Lockstep, arg: unknown): Promise<WorkspaceRepository> {
  if (arg === undefined || (isInternalOptions(arg) && arg.folder === undefined)) {
    await ctx.repositories.whenScanned();
    const interrupted = ctx.repositories.all.filter((repository) => repository.state.restoring && !repository.state.restoring.ownerAlive);
    if (interrupted.length === 1) return interrupted[0]!;
  }
  return repositoryOf(ctx, arg);
}
