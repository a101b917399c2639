// Restore Checkpoint…, the tree's Restore / Data Only / Code Only and Compare with Current: preview, modal confirmation, cancellable progress, Undo.
import * as vscode from 'vscode';
import type { Checkpoint } from '../../core/checkpoint';
import { displayTitle } from '../../core/journalText';
import { relativeTime } from '../../core/relativeTime';
import type { Unrestorable } from '../../core/engine';
import { LockstepError } from '../../base/errors';
import { listCheckpoints } from '../../core/listing';
import type { RestoreMode, RestorePlan, RestorePreview, RestoreResult } from '../../core/restore';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { confirmation, MODE_WORDS, previewMarkdown, resultMessage, STASH_AND_RESTORE } from '../restoreDescription';
import { CheckpointNode, KIND_ICON } from '../views/treeNodes';
import { startUpkeep } from '../commitHook';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface RestoreCommandOptions extends InternalOptions {
  /** A checkpoint id (or prefix), a commit sha or an ISO time, instead of the QuickPick. */
  ref?: string;
  mode?: RestoreMode;
  /**
   * Internal (tests): the button the modal confirmation would be answered
   * with (`Restore`, `Stash and Restore`, or anything else to cancel). The
   * preview is still computed and shown.
   */
  answer?: string;
}

/** How many checkpoints the QuickPick offers (it filters as you type; older ones are in the tree). */
const PICK_LIMIT = 500;

/** `Lockstep: Restore Checkpoint…` (palette), or a tree row's Restore entries with a fixed mode. */
export function restoreCheckpoint(ctx: Lockstep, fixedMode?: RestoreMode) {
  return async (arg?: unknown): Promise<RestoreResult | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<RestoreCommandOptions>(arg);
    const picked = arg instanceof CheckpointNode ? arg.checkpoint : options.ref === undefined ? await pickCheckpoint(repository) : undefined;
    const ref = picked?.id ?? options.ref;
    if (!ref) return undefined;
    return runRestore(ctx, repository, { ref, mode: fixedMode ?? options.mode ?? 'both', title: picked ? displayTitle(picked) : ref }, options.answer);
  };
}

/**
 * Undo This Command (a safety point's row): a restore to the point taken
 * before the command, behind the same preview and yes. The data only while HEAD
 * is still the point's commit (so uncommitted work is not stashed for nothing),
 * else code and data.
 */
export function undoCommand(ctx: Lockstep) {
  return async (arg?: unknown): Promise<RestoreResult | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<RestoreCommandOptions>(arg);
    const { resolveRef } = await import('../../core/refs');
    const target = arg instanceof CheckpointNode ? arg.checkpoint : options.ref !== undefined ? await resolveRef(repository.repo, options.ref, repository.project.journal.list()) : undefined;
    if (!target) throw new LockstepError('BAD_INPUT', 'Undo This Command needs a safety point (a row of the Checkpoints tree)');
    if (target.kind !== 'safety') throw new LockstepError('BAD_INPUT', `${target.id} is a ${target.kind} checkpoint, not a safety point taken before a command`);
    const { readHeadRef } = await import('../../git/repository');
    const mode = options.mode ?? ((await readHeadRef(repository.repo)).sha === target.commitSha ? 'data-only' : 'both');
    return runRestore(ctx, repository, { ref: target.id, mode, title: displayTitle(target) }, options.answer);
  };
}

/** Compare with Current: the dry run, shown as a document; nothing changes. */
export function compareWithCurrent(ctx: Lockstep) {
  return async (arg?: unknown): Promise<RestorePreview | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<RestoreCommandOptions>(arg);
    const ref = arg instanceof CheckpointNode ? arg.checkpoint.id : (options.ref ?? (await pickCheckpoint(repository))?.id);
    if (!ref) return undefined;
    const preview = await computePreview(repository, ref, options.mode ?? 'both');
    await ctx.previews.show(displayTitle(preview.target), previewMarkdown(preview));
    return preview;
  };
}

async function pickCheckpoint(repository: WorkspaceRepository): Promise<Checkpoint | undefined> {
  const listed = await listCheckpoints(repository.project, { limit: PICK_LIMIT, head: repository.state.engine?.head });
  if (listed.length === 0) {
    throw new LockstepError('NOT_FOUND', `${repository.name} has no checkpoints yet`, { hint: 'Commit (the hook records one) or take a snapshot first.' });
  }
  const now = Date.now();
  const picked = await vscode.window.showQuickPick(
    listed.map((checkpoint) => ({
      label: displayTitle(checkpoint),
      iconPath: new vscode.ThemeIcon(KIND_ICON[checkpoint.kind]),
      description: `${checkpoint.commitSha ? checkpoint.commitSha.slice(0, 7) : 'no commit'} · ${relativeTime(checkpoint.createdAt, now)}`,
      detail: [
        checkpoint.lsn === null ? `${checkpoint.kind} · timeline ${checkpoint.timelineId} · time-based` : `${checkpoint.kind} · timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}`,
        ...(checkpoint.serving ? ['serving now'] : []),
        ...(checkpoint.restorable ? [] : [unrestorableWords(checkpoint.unrestorable)]),
      ].join(' · '),
      checkpoint,
    })),
    { title: 'Lockstep: Restore Checkpoint', placeHolder: 'Restore code and data to… (type to filter by subject, label or sha)', matchOnDescription: true, matchOnDetail: true },
  );
  return picked?.checkpoint;
}

/** Why a listed checkpoint's data cannot be restored, in the QuickPick's few words. */
function unrestorableWords(verdict: Unrestorable | undefined): string {
  if (!verdict || verdict.reason === 'expired') return 'expired: code only';
  if (verdict.reason === 'not-archived') return `not yet restorable: ${verdict.message}`;
  return `data not restorable: ${verdict.message}`;
}

/** The dry run under a cancellable progress notification (a data preview recovers a throwaway copy, which takes seconds). */
function computePreview(repository: WorkspaceRepository, ref: string, mode: RestoreMode): Thenable<RestorePreview> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Lockstep: Preparing the restore preview', cancellable: true },
    async (progress, token) => {
      const { previewRestore } = await import('../../core/restore');
      const signal = abortOn(token);
      // stash: true, so that uncommitted work shows up as "will be stashed" (a choice in the modal) rather than as a blocker.
      return previewRestore(repository.project, { ref, mode, stash: true }, { signal, onProgress: (step) => progress.report({ message: step }) });
    },
  );
}

/**
 * The restore, planned once: the core's `restore()` makes the plan under its
 * lock and asks `confirm` with it, exactly as the CLI does; the confirmation
 * completes that plan with the schema comparison, shows the preview and asks
 * in a modal (with the dirty-tree choice). Cancellable until the point of no
 * return. One restore per repository: `repository.run` refuses a second.
 */
export async function runRestore(ctx: Lockstep, repository: WorkspaceRepository, target: RestoreTarget, answer?: string): Promise<RestoreResult | undefined> {
  return repository.run({ title: 'Restoring a checkpoint', short: 'Restoring…' }, async () => {
    const result = await restoreWithProgress(repository, target, async (plan, signal) => {
      const { withSchemaChanges } = await import('../../core/restore');
      const preview = await withSchemaChanges(repository.project, plan, { signal });
      await ctx.previews.show(displayTitle(preview.target), previewMarkdown(preview));
      const ask = confirmation(preview);
      const choice = answer ?? (await vscode.window.showWarningMessage(ask.message, { modal: true, detail: ask.detail }, ask.button));
      if (choice !== ask.button) repository.log.info(`restore to ${preview.target.id} cancelled at the confirmation`);
      return choice === ask.button;
    });
    if (!result) return undefined;
    if (result.maintenanceDue) startUpkeep(repository, ctx.extensionPath);
    offerUndo(ctx, repository, result);
    return result;
  });
}

/** What to restore: a ref the core resolves, and how to name it until it has. */
export interface RestoreTarget {
  ref: string;
  mode: RestoreMode;
  title: string;
}

type Confirm = (plan: RestorePlan, signal: AbortSignal) => Promise<boolean>;

/**
 * `restore()` under a progress notification. Stash is always allowed here: the
 * confirmation names uncommitted work and its button is "Stash and Restore",
 * so a dirty tree is the user's choice, not a blocker. Undefined when the
 * confirmation said no (nothing changed).
 */
async function restoreWithProgress(repository: WorkspaceRepository, target: RestoreTarget, confirm: Confirm): Promise<RestoreResult | undefined> {
  const { restore } = await import('../../core/restore');
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Lockstep: Restoring ${MODE_WORDS[target.mode]} to “${target.title}”`, cancellable: true },
    async (progress, token) => {
      const controller = new AbortController();
      let pastNoReturn = false;
      let declined = false;
      const cancelled = token.onCancellationRequested(() => {
        if (pastNoReturn) {
          repository.log.info('cancel asked past the point of no return: the restore runs to the end (or is undone if a step fails)');
          progress.report({ message: 'too late to cancel: finishing' });
        } else controller.abort();
      });
      try {
        const result = await restore(
          repository.project,
          { ref: target.ref, mode: target.mode, stash: true },
          {
            signal: controller.signal,
            confirm: async (plan) => {
              progress.report({ message: 'waiting for your confirmation' });
              declined = !(await confirm(plan, controller.signal));
              return !declined;
            },
            onProgress: (step) => {
              repository.log.info(`restore: ${step}`);
              progress.report({ message: pastNoReturn ? `${step} (can no longer be cancelled)` : step });
            },
            onPointOfNoReturn: () => {
              pastNoReturn = true;
            },
          },
        );
        repository.log.info(`restored ${MODE_WORDS[result.mode]} to ${result.target.id} in ${result.durationMs} ms: ${result.steps.map((s) => `${s.step} ${s.ms} ms`).join(', ')}`);
        return result;
      } catch (error) {
        if (declined && error instanceof LockstepError && error.code === 'CANCELLED') return undefined;
        throw error;
      } finally {
        cancelled.dispose();
      }
    },
  );
}

/** The result, with Undo Restore (restoring the pre-restore checkpoint) and Show Log; not awaited, so the command returns at once. */
function offerUndo(ctx: Lockstep, repository: WorkspaceRepository, result: RestoreResult): void {
  const undo = 'Undo Restore';
  const showLog = 'Show Log';
  const buttons = result.undo ? [undo, showLog] : [showLog];
  void vscode.window.showInformationMessage(`Lockstep: ${resultMessage(result)}`, ...buttons).then(async (choice) => {
    if (choice === showLog) ctx.log.show();
    if (choice !== undo || !result.undo) return;
    try {
      await undoRestore(ctx, repository, result);
    } catch (error) {
      await ctx.errors.report(error, 'Undo Restore');
    }
  });
}

/**
 * Undo is a restore of the pre-restore checkpoint, in the same mode. The click
 * is the confirmation; only uncommitted work made since asks again.
 */
export async function undoRestore(ctx: Lockstep, repository: WorkspaceRepository, restored: RestoreResult): Promise<RestoreResult | undefined> {
  const target = restored.undo;
  if (!target) throw new LockstepError('NOT_FOUND', 'this restore has no pre-restore checkpoint to go back to');
  return repository.run({ title: 'Undoing the restore', short: 'Undoing…' }, async () => {
    const result = await restoreWithProgress(repository, { ref: target.id, mode: restored.mode, title: displayTitle(target) }, async (plan) => {
      if (!plan.willStash) return true;
      const files = plan.tree.modified.length + plan.tree.untracked.length;
      const choice = await vscode.window.showWarningMessage(
        `Undo the restore to “${displayTitle(restored.target)}”?`,
        { modal: true, detail: `${files} file(s) changed since the restore. They will be stashed (untracked included) and stay in the stash list.` },
        STASH_AND_RESTORE,
      );
      return choice === STASH_AND_RESTORE;
    });
    if (!result) return undefined;
    if (result.maintenanceDue) startUpkeep(repository, ctx.extensionPath);
    offerUndo(ctx, repository, result);
    return result;
  });
}


function abortOn(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
