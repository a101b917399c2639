// Restore Checkpoint…, the tree's Restore / Data Only / Code Only and Compare with Current: preview, modal confirmation, cancellable progress, Undo.
import * as vscode from 'vscode';
import { displayTitle } from '../../core/journalText';
import { relativeTime } from '../../core/relativeTime';
import type { Unrestorable } from '../../core/engine';
import { describeError, isLockstepError, LockstepError } from '../../base/errors';
import { listCheckpoints, type ListedCheckpoint } from '../../core/listing';
import type { Checkpoint } from '../../core/checkpoint';
import type { RestoreMode, RestorePlan, RestorePreview, RestoreResult } from '../../core/restore';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { confirmation, MODE_WORDS, previewMarkdown, resultMessage, STASH_AND_RESTORE } from '../restoreDescription';
import { CheckpointNode, KIND_ICON } from '../views/treeNodes';
import { startUpkeep } from '../commitHook';
import type { StatusOperation } from '../statusBar';
import { ContextKey } from '../contextKeys';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface RestoreCommandOptions extends InternalOptions {
  /** A checkpoint id (or prefix), a commit sha or an ISO time, instead of the QuickPick. */
  ref?: string;
  /** Restore to a Moment: the moment ("10 minutes ago", an ISO time, an LSN), instead of the input box. */
  at?: string;
  mode?: RestoreMode;
  /** With `ref` and no `mode`: ask Code and Data / Data Only / Code Only as the palette does (the history graph's Restore). */
  askMode?: boolean;
  /** With `askMode`: whether the checkpoint's data can be restored (the caller's listing knows). */
  restorable?: boolean;
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
    const fromPalette = !(arg instanceof CheckpointNode) && options.ref === undefined;
    const picked = arg instanceof CheckpointNode ? arg.checkpoint : fromPalette ? await pickCheckpoint(repository) : undefined;
    const ref = picked?.id ?? options.ref;
    if (!ref) return undefined;
    // The palette (and the graph) ask what to restore; a tree row's entries and other callers name it.
    const asked = !picked && options.askMode ? repository.project.journal.list().find((c) => c.id === ref) : undefined;
    const mode =
      fixedMode ??
      options.mode ??
      (fromPalette && picked ? await pickMode(repository, picked) : asked ? await pickMode(repository, { ...asked, restorable: options.restorable ?? true }) : 'both');
    if (!mode) return undefined;
    return runRestore(ctx, repository, { ref, mode, title: picked ? displayTitle(picked) : ref }, options.answer);
  };
}

interface ModeItem extends vscode.QuickPickItem {
  mode: RestoreMode;
}

/**
 * Code and Data / Data Only / Code Only, for the palette's restore. With
 * uncommitted work, Data Only comes first: it leaves the files alone, which is
 * what a person in the middle of something usually wants.
 */
async function pickMode(repository: WorkspaceRepository, checkpoint: Pick<ListedCheckpoint, 'restorable'> & Checkpoint): Promise<RestoreMode | undefined> {
  const { workingTreeState, isClean } = await import('../../git/repository');
  const tree = await workingTreeState(repository.repo).catch(() => undefined);
  const dirtyFiles = tree && !isClean(tree) ? tree.modified.length + tree.untracked.length + tree.conflicted.length : 0;
  const sha = checkpoint.commitSha?.slice(0, 7);
  const items: ModeItem[] = [];
  if (checkpoint.restorable && sha) {
    items.push({
      mode: 'both',
      label: '$(history) Code and Data',
      description: `checks out ${sha} and puts the database back`,
      detail: dirtyFiles > 0 ? `Your ${dirtyFiles} uncommitted file(s) are stashed first (the confirmation asks).` : undefined,
    });
  }
  if (checkpoint.restorable) {
    items.push({ mode: 'data-only', label: '$(database) Data Only', description: 'puts the database back; your files and HEAD stay as they are', detail: dirtyFiles > 0 ? `Leaves your ${dirtyFiles} uncommitted file(s) alone.` : undefined });
  }
  if (sha) items.push({ mode: 'code-only', label: '$(file-code) Code Only', description: `checks out ${sha}; the database stays as it is` });
  if (items.length === 0) throw new LockstepError('BAD_INPUT', `“${displayTitle(checkpoint)}” has neither restorable data nor a commit`);
  if (dirtyFiles > 0) items.sort((a, b) => (a.mode === 'data-only' ? -1 : b.mode === 'data-only' ? 1 : 0));
  if (items.length === 1) return items[0]!.mode;
  const picked = await vscode.window.showQuickPick(items, {
    title: `Lockstep: Restore “${displayTitle(checkpoint)}”`,
    placeHolder: dirtyFiles > 0 ? `What to restore? (${dirtyFiles} uncommitted file(s) in the working tree)` : 'What to restore?',
  });
  return picked?.mode;
}

/**
 * `Lockstep: Restore to a Moment…`: any moment within retention (an ISO time,
 * "10 minutes ago", an LSN), not only checkpoints. The data only: the code
 * stays. The same preview, confirmation, progress and Undo as a checkpoint.
 */
export function restoreToMoment(ctx: Lockstep) {
  return async (arg?: unknown): Promise<RestoreResult | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<RestoreCommandOptions>(arg);
    const at = options.at ?? (await askMoment(repository));
    if (at === undefined) return undefined;
    return runRestore(ctx, repository, { at, mode: 'data-only', title: `the moment ${at.trim()}` }, options.answer);
  };
}

/** The input box, checked as you type with the core's own parser (nothing is asked of the database until Enter). */
async function askMoment(repository: WorkspaceRepository): Promise<string | undefined> {
  const { parseMoment, describeMoment } = await import('../../core/target');
  const reach = repository.state.retention?.summary;
  return vscode.window.showInputBox({
    title: 'Lockstep: Restore to a Moment',
    prompt: `The database goes back to how it was then; the code stays. An ISO time (2026-12-02T10:15:00Z; without a zone it is local time), a relative time (10 minutes ago, 2h ago) or an LSN (0/3000028).${reach ? ` ${sentence(reach)}` : ''}`,
    placeHolder: '10 minutes ago',
    ignoreFocusOut: true,
    validateInput: (text) => {
      if (text.trim() === '') return undefined;
      try {
        const moment = parseMoment(text);
        return { message: `Restores the data to ${describeMoment(moment)}`, severity: vscode.InputBoxValidationSeverity.Info };
      } catch (error) {
        return describeError(error) + (isLockstepError(error) && error.hint ? ` ${error.hint}` : '');
      }
    },
  }).then((text) => (text === undefined || text.trim() === '' ? undefined : text.trim()));
}

function sentence(text: string): string {
  const capital = text.charAt(0).toUpperCase() + text.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
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
    const preview = await computePreview(repository, { ref }, options.mode ?? 'both', ctx.extensionPath);
    await ctx.previews.show(displayTitle(preview.target), previewMarkdown(preview), repository);
    return preview;
  };
}

export async function pickCheckpoint(
  repository: WorkspaceRepository,
  title = 'Lockstep: Restore Checkpoint',
  placeHolder = 'Restore… (type to filter by subject, label or sha)',
): Promise<ListedCheckpoint | undefined> {
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
        ...(checkpoint.serving ? ['serving now'] : checkpoint.descends ? ['descends from'] : []),
        ...(checkpoint.pinned ? ['pinned'] : []),
        ...(checkpoint.restorable ? [] : [unrestorableWords(checkpoint.unrestorable)]),
      ].join(' · '),
      checkpoint,
    })),
    { title, placeHolder, matchOnDescription: true, matchOnDetail: true },
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
function computePreview(repository: WorkspaceRepository, target: { ref?: string; at?: string }, mode: RestoreMode, extensionPath: string): Thenable<RestorePreview> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: 'Lockstep: Preparing the restore preview', cancellable: true },
    async (progress, token) => {
      const { previewRestore } = await import('../../core/restore');
      const signal = abortOn(token);
      // stash: true, so that uncommitted work shows up as "will be stashed" (a choice in the modal) rather than as a blocker.
      const preview = await previewRestore(repository.project, { ...target, mode, stash: true }, { signal, onProgress: (step) => progress.report({ message: step }) });
      // The preview may have claimed the prepared copy: the upkeep makes the next one.
      if (preview.rows) void upkeepAfterPast(repository, extensionPath);
      return preview;
    },
  );
}

/** Starts the background upkeep when opening the past left the engine wanting it. */
export async function upkeepAfterPast(repository: WorkspaceRepository, extensionPath: string): Promise<void> {
  const { upkeepDueAfterPast } = await import('../../core/pastData');
  if (await upkeepDueAfterPast(repository.project)) startUpkeep(repository, extensionPath);
}

/**
 * The restore, planned once: the core's `restore()` makes the plan under its
 * lock and asks `confirm` with it, exactly as the CLI does; the confirmation
 * completes that plan with the schema comparison, shows the preview and asks
 * in a modal (with the dirty-tree choice). Cancellable until the point of no
 * return. One restore per repository: `repository.run` refuses a second.
 */
export async function runRestore(ctx: Lockstep, repository: WorkspaceRepository, target: RestoreTarget, answer?: string): Promise<RestoreResult | undefined> {
  // Quiet while the plan, the preview and the modal run: the status bar says "Restoring…" only once the restore does.
  const operation: StatusOperation = { title: `Preparing the restore to “${target.title}”`, short: 'Preparing…', quiet: true };
  return repository.run(operation, async () => {
    const phases: RestorePhases = {
      restoring: () => {
        Object.assign(operation, { title: `Restoring “${target.title}”`, short: 'Restoring…', quiet: false });
        // The status bar follows the repository's state events: a refresh (a status read, milliseconds) redraws it.
        void repository.refresh();
      },
    };
    const result = await restoreWithProgress(repository, target, async (plan, signal) => {
      const { withSchemaChanges } = await import('../../core/restore');
      const preview = await withSchemaChanges(repository.project, plan, { signal });
      await ctx.previews.show(displayTitle(preview.target), previewMarkdown(preview), repository);
      const ask = confirmation(preview);
      const choice = answer ?? (await vscode.window.showWarningMessage(ask.message, { modal: true, detail: ask.detail }, ask.button));
      if (choice !== ask.button) repository.log.info(`restore to ${preview.target.id} cancelled at the confirmation`);
      return choice === ask.button;
    }, phases);
    if (!result) return undefined;
    ctx.contextKeys.set(ContextKey.RestoreFinished, true);
    // What the preview said is done now: left open, it would describe a restore that no longer applies.
    ctx.previews.close();
    if (result.maintenanceDue) startUpkeep(repository, ctx.extensionPath);
    offerUndo(ctx, repository, result);
    return result;
  });
}

/** What to restore: a ref (or a moment) the core resolves, and how to name it until it has. */
export interface RestoreTarget {
  ref?: string;
  at?: string;
  mode: RestoreMode;
  title: string;
}

type Confirm = (plan: RestorePlan, signal: AbortSignal) => Promise<boolean>;

/** Told when the confirmation said yes: the restore itself starts. */
interface RestorePhases {
  restoring(): void;
}

/**
 * `restore()` under a progress notification. Stash is always allowed here: the
 * confirmation names uncommitted work and its button is "Stash and Restore",
 * so a dirty tree is the user's choice, not a blocker. Undefined when the
 * confirmation said no (nothing changed).
 */
async function restoreWithProgress(repository: WorkspaceRepository, target: RestoreTarget, confirm: Confirm, phases?: RestorePhases): Promise<RestoreResult | undefined> {
  const { restore } = await import('../../core/restore');
  const title = `Lockstep: Restoring ${MODE_WORDS[target.mode]} to “${target.title}”`;
  const controller = new AbortController();
  let declined = false;
  // Progress goes to whichever notification is up: the cancellable one, then (past the point of no return) the one without Cancel.
  let report: (message: string) => void = () => undefined;
  let handOff: () => void = () => undefined;
  const handedOff = new Promise<void>((resolve) => (handOff = resolve));
  const run: Promise<RestoreResult> = restore(
    repository.project,
    { ref: target.ref, at: target.at, mode: target.mode, stash: true },
    {
      signal: controller.signal,
      confirm: async (plan) => {
        report('waiting for your confirmation');
        declined = !(await confirm(plan, controller.signal));
        if (!declined) phases?.restoring();
        return !declined;
      },
      onProgress: (step) => {
        repository.log.info(`restore: ${step}`);
        report(step);
      },
      onPointOfNoReturn: () => {
        // VS Code cannot take Cancel off a running notification: the cancellable one ends here and one without Cancel
        // carries on until the restore has finished (or has been undone, should a later step fail).
        void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: false }, (progress) => {
          report = (message) => progress.report({ message });
          report('cutting over: no longer cancellable');
          return run.then(
            () => undefined,
            () => undefined,
          );
        });
        handOff();
      },
    },
  );
  await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, async (progress, token) => {
    report = (message) => progress.report({ message });
    const cancelled = token.onCancellationRequested(() => controller.abort());
    try {
      await Promise.race([run.then(() => undefined, () => undefined), handedOff]);
    } finally {
      cancelled.dispose();
    }
  });
  try {
    const result = await run;
    repository.log.info(`restored ${MODE_WORDS[result.mode]} to ${result.target.id} in ${result.durationMs} ms: ${result.steps.map((s) => `${s.step} ${s.ms} ms`).join(', ')}`);
    return result;
  } catch (error) {
    if (declined && error instanceof LockstepError && error.code === 'CANCELLED') return undefined;
    throw error;
  }
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
    ctx.previews.close();
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
