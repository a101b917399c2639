// Show Changes Since Checkpoint (the row-level diff view), a table's rows in the diff editor, and Restore Tables… / Restore This Table….
import * as vscode from 'vscode';
import type { Checkpoint } from '../../core/checkpoint';
import { describePoint, type OperationOptions, type PointInHistory } from '../../core/engine';
import { displayTitle } from '../../core/journalText';
import { relativeTime } from '../../core/relativeTime';
import { describeError, isLockstepError, LockstepError } from '../../base/errors';
import type { Lockstep } from '../container';
import type { WorkspaceRepository } from '../repository';
import { differs, qualifiedName, rowsDocuments, tableChangeWords, tableLabel, type RowChanges, type TableChange, type TableRowsShown } from '../rowDiffText';
import type { RestoredTable, TableRestorePlan, TableRestoreResult } from '../../core/tableRestore';
import type { ChangesTarget, ShownChanges } from '../views/changesPanel';
import { CheckpointNode } from '../views/treeNodes';
import { pickCheckpoint, upkeepAfterPast } from './restore';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './targets';

export interface ChangesCommandOptions extends InternalOptions {
  /** A checkpoint id (or prefix), a commit sha or an ISO time, instead of the QuickPick. */
  ref?: string;
  /** Instead of `ref`: a moment ("10 minutes ago", an ISO time, an LSN). */
  at?: string;
  /** Show Table Rows / Restore Tables: `public.products` (or `products`). */
  table?: string;
  /** Restore Tables: the tables, instead of the QuickPick. */
  tables?: string[];
  /** Restore Tables: bring the tables that depend on them along (asked otherwise). */
  withDependents?: boolean;
  /** Internal (tests): the confirmation's answer (`Restore`, or anything else to cancel). */
  answer?: string;
  /** Internal (tests): the answer when foreign keys tie other tables to these (`Restore With Dependents`, or anything else to refuse). */
  dependentsAnswer?: string;
}

/** How long the diff view counts before it says a figure is partial. */
const DIFF_BUDGET_MS = 10_000;
/** Rows per side that Show Rows puts in the diff editor. */
const ROWS_LIMIT = 1_000;

export const RESTORE_TABLES = 'Restore';
export const WITH_DEPENDENTS = 'Restore With Dependents';


/** `Lockstep: Show Changes Since Checkpoint` (palette or a checkpoint row): the tables that changed since, with their counts, in a view. */
export function showChanges(ctx: Lockstep) {
  return async (arg?: unknown): Promise<RowChanges | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const target = await targetOf(repository, arg, 'Show Changes Since Checkpoint');
    if (!target) return undefined;
    const changes = await readChanges(repository, target);
    ctx.changes.show({ repository, target, changes });
    return changes;
  };
}

/** `lockstep.showTableChanges` (the view's Show Rows; internal): one table's rows then and now in the diff editor. Returns the two texts. */
export function showTableChanges(ctx: Lockstep) {
  return async (arg?: unknown): Promise<{ then: string; now: string } | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<ChangesCommandOptions>(arg);
    const target = await targetOf(repository, arg, 'Show Table Rows');
    if (!target || !options.table) throw new LockstepError('BAD_INPUT', 'Show Table Rows needs a checkpoint (or a moment) and a table: open it from the changes view');
    const changes = ctx.changes.current?.repository === repository && sameTarget(ctx.changes.current.target, target) ? ctx.changes.current.changes : await readChanges(repository, target);
    return openTableRows(ctx, repository, target, findTable(changes, options.table));
  };
}

/**
 * `Lockstep: Restore Tables…` (a checkpoint row, the palette) and the view's
 * Restore This Table…: the chosen tables back as they were, the others as they
 * are now, behind a modal with their counts; an undo point first.
 */
export function restoreTablesCommand(ctx: Lockstep) {
  return async (arg?: unknown): Promise<TableRestoreResult | undefined> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const options = optionsOf<ChangesCommandOptions>(arg);
    const target = await targetOf(repository, arg, 'Restore Tables');
    if (!target) return undefined;
    // Named tables need no diff first: the confirmation shows the core's exact plan. Otherwise the diff offers the tables that changed.
    const wanted = options.tables ?? (options.table ? [options.table] : undefined);
    const shown = ctx.changes.current;
    const tables = wanted
      ? wanted.map(namedTable)
      : await pickTables(shown?.repository === repository && sameTarget(shown.target, target) ? shown.changes : await readChanges(repository, target), target);
    if (!tables || tables.length === 0) return undefined;
    return restoreTables(ctx, repository, target, tables, options);
  };
}

/** The actions of the changes view's buttons. */
export function changesActions(ctx: Lockstep) {
  return {
    showRows: async (shown: ShownChanges, table: TableChange) => {
      try {
        await openTableRows(ctx, shown.repository, shown.target, table);
      } catch (error) {
        await ctx.errors.report(error, 'Show Rows');
      }
    },
    restoreTable: async (shown: ShownChanges, table: TableChange) => {
      try {
        await restoreTables(ctx, shown.repository, shown.target, [table], {});
      } catch (error) {
        await ctx.errors.report(error, 'Restore This Table');
      }
    },
    refresh: async (shown: ShownChanges) => {
      try {
        ctx.changes.show({ ...shown, changes: await readChanges(shown.repository, shown.target) });
      } catch (error) {
        await ctx.errors.report(error, 'Refresh Changes');
      }
    },
  };
}

/** The checkpoint or moment a command is about: the row it was run on, the internal options, or the QuickPick. */
async function targetOf(repository: WorkspaceRepository, arg: unknown, title: string): Promise<ChangesTarget | undefined> {
  const options = optionsOf<ChangesCommandOptions>(arg);
  if (options.at !== undefined) return momentTarget(options.at);
  const checkpoint = arg instanceof CheckpointNode ? arg.checkpoint : options.ref === undefined ? await pickCheckpoint(repository, `Lockstep: ${title}`, 'Compare the data now with… (type to filter by subject, label or sha)') : undefined;
  const ref = checkpoint?.id ?? options.ref;
  if (!ref) return undefined;
  if (checkpoint) return checkpointTarget(checkpoint);
  const { resolveRef } = await import('../../core/refs');
  return checkpointTarget(await resolveRef(repository.repo, ref, repository.project.journal.list()));
}

const KIND_WORDS: Record<Checkpoint['kind'], string> = { commit: 'commit checkpoint', snapshot: 'snapshot', safety: 'safety point', 'pre-restore': 'pre-restore checkpoint', push: 'push checkpoint' };

function checkpointTarget(checkpoint: Checkpoint): ChangesTarget {
  const where = checkpoint.lsn === null ? `timeline ${checkpoint.timelineId}, by time` : `timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}`;
  return {
    ref: checkpoint.id,
    title: `“${displayTitle(checkpoint)}”`,
    detail: `${KIND_WORDS[checkpoint.kind]} ${checkpoint.id} · ${checkpoint.commitSha ? `commit ${checkpoint.commitSha.slice(0, 7)}` : 'no commit'} · ${relativeTime(checkpoint.createdAt, Date.now())} (${checkpoint.createdAt}) · ${where}`,
  };
}

function momentTarget(at: string): ChangesTarget {
  return { at, title: `the moment ${at.trim()}`, detail: `any moment within retention: ${at.trim()}` };
}

function sameTarget(a: ChangesTarget, b: ChangesTarget): boolean {
  return a.ref === b.ref && a.at === b.at;
}

/** The point in history of a target; a moment becomes one on the timeline that served then (core/target). */
async function pointOfTarget(repository: WorkspaceRepository, target: ChangesTarget, options: OperationOptions): Promise<{ point: PointInHistory; checkpoint: Checkpoint }> {
  const { resolveTarget } = await import('../../core/target');
  const resolved = await resolveTarget(repository.project, { ref: target.ref, at: target.at }, options);
  if (target.at !== undefined) target.detail = `the moment ${target.at.trim()}: ${describePoint(resolved.point)}`;
  return resolved;
}

/** Opens the past (the engine keeps the copy for what follows), and runs `work` with a connection to then and one to now. */
async function withThenAndNow<T>(
  repository: WorkspaceRepository,
  target: ChangesTarget,
  options: OperationOptions,
  work: (then: import('pg').Client, now: import('pg').Client, ancestorOfNow: boolean) => Promise<T>,
): Promise<T> {
  const { point } = await pointOfTarget(repository, target, options);
  const { withPastAndNow } = await import('../../core/pastData');
  return withPastAndNow(repository.project, point, options, (past, then, now) => work(then, now, past.ancestorOfNow));
}

/** The row diff of every table, under a cancellable progress notification. */
export function readChanges(repository: WorkspaceRepository, target: ChangesTarget): Thenable<RowChanges> {
  return vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Lockstep: Comparing the data now with ${target.title}`, cancellable: true },
    async (progress, token) => {
      const signal = abortOn(token);
      const options: OperationOptions = { signal, onProgress: (step) => progress.report({ message: step }) };
      const { diffRows } = await import('../../core/rowDiff');
      const changes = await withThenAndNow(repository, target, options, (then, now, ancestorOfNow) => {
        progress.report({ message: 'Comparing rows' });
        return diffRows(then, now, { ancestorOfNow, budgetMs: DIFF_BUDGET_MS, signal });
      });
      repository.log.info(`row changes since ${target.ref ?? target.at}: ${changes.tables.filter(differs).length} table(s) differ, in ${Math.round(changes.ms)} ms${changes.partial ? ' (partial)' : ''}`);
      return changes;
    },
  );
}

/** A table's rows that differ, then and now, in VS Code's diff editor. */
async function openTableRows(ctx: Lockstep, repository: WorkspaceRepository, target: ChangesTarget, table: TableChange): Promise<{ then: string; now: string }> {
  const rows = await vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title: `Lockstep: Reading the rows of ${tableLabel(table)}`, cancellable: true },
    async (progress, token) => {
      const options: OperationOptions = { signal: abortOn(token), onProgress: (step) => progress.report({ message: step }) };
      const { tableRows } = await import('../../core/rowDiff');
      return withThenAndNow(repository, target, options, (then, now, ancestorOfNow): Promise<TableRowsShown> => tableRows(then, now, qualifiedName(table), { limit: ROWS_LIMIT, ancestorOfNow, signal: options.signal }));
    },
  );
  const labels = { then: `at ${target.title}`, now: 'now' };
  const texts = rowsDocuments(table, rows, labels);
  await ctx.rowDocuments.showDiff(qualifiedName(table), { label: 'then', text: texts.then }, { label: 'now', text: texts.now }, `${tableLabel(table)}: ${target.title} ↔ now`);
  return texts;
}

function findTable(changes: RowChanges, name: string): TableChange {
  const wanted = name.includes('.') ? name : `public.${name}`;
  const found = changes.tables.find((t) => qualifiedName(t) === wanted || qualifiedName(t) === name);
  if (!found) throw new LockstepError('BAD_INPUT', `no table ${name} then or now`, { hint: `Tables: ${changes.tables.map(tableLabel).slice(0, 20).join(', ')}` });
  return found;
}

/** A table named by a caller, for the restore (the core checks that it exists, then or now). */
function namedTable(name: string): TableChange {
  const dot = name.indexOf('.');
  const [schema, table] = dot > 0 ? [name.slice(0, dot), name.slice(dot + 1)] : ['public', name];
  return { schema, name: table, status: 'changed', key: null, inserted: 0, deleted: 0, changed: 0, thenRows: null, nowRows: null };
}

async function pickTables(changes: RowChanges, target: ChangesTarget): Promise<TableChange[] | undefined> {
  const candidates = changes.tables.filter((t) => differs(t) && t.status !== 'new');
  if (candidates.length === 0) {
    void vscode.window.showInformationMessage(`Lockstep: no table changed since ${target.title}: nothing to restore.`);
    return undefined;
  }
  const picked = await vscode.window.showQuickPick(
    candidates.map((table) => ({ label: tableLabel(table), description: tableChangeWords(table), picked: candidates.length === 1, table })),
    { title: `Lockstep: Restore Tables to ${target.title}`, placeHolder: 'The tables to put back (the others stay as they are now)', canPickMany: true },
  );
  return picked?.map((p) => p.table);
}

/**
 * The one-table restore behind a modal with the exact plan (the core reads it
 * in a transaction that changes nothing): what each table gets back, and the
 * tables that come along. When rows elsewhere would be left dangling (or
 * restored rows would miss their parents) the core refuses; the modal then
 * names them and offers to bring those tables along.
 */
async function restoreTables(ctx: Lockstep, repository: WorkspaceRepository, target: ChangesTarget, tables: TableChange[], options: Partial<ChangesCommandOptions>): Promise<TableRestoreResult | undefined> {
  const names = tables.map(tableLabel);
  const list = names.length === 1 ? `the table ${names[0]}` : `the tables ${names.join(', ')}`;
  const confirm = async (plan: TableRestorePlan): Promise<boolean> => {
    const detail = [
      ...plan.tables.map((t) => `${t.name.replace(/^public\./, '')}: ${restoredWords(t)}.`),
      ...(plan.dependents.length > 0 ? ['', `Taken along (foreign keys tie them to ${names.length === 1 ? 'it' : 'them'}): ${plan.dependents.join(', ')}.`] : []),
      ...plan.notes.map((note) => `Note: ${note}`),
      '',
      'Every other table stays as it is now. One transaction; an undo point is taken first (Undo puts the tables back as they are now).',
    ].join('\n');
    const choice = options.answer ?? (await vscode.window.showWarningMessage(`Restore ${list} to ${target.title}?`, { modal: true, detail }, RESTORE_TABLES));
    if (choice !== RESTORE_TABLES) repository.log.info(`table restore of ${names.join(', ')} cancelled at the confirmation`);
    return choice === RESTORE_TABLES;
  };

  let withDependents = options.withDependents === true;
  for (;;) {
    try {
      const result = await runTablesRestore(repository, target, tables.map(qualifiedName), withDependents, confirm);
      if (!result) return undefined;
      afterTableRestoreResult(ctx, repository, target, result);
      return result;
    } catch (error) {
      if (withDependents || !isDependentsRefusal(error)) throw error;
      // Rows elsewhere are tied to these by foreign keys: say which, and take them along only on a yes.
      if (options.answer !== undefined && options.dependentsAnswer !== WITH_DEPENDENTS) throw error;
      const choice =
        options.dependentsAnswer ??
        (await vscode.window.showWarningMessage(
          `Restoring ${list} alone would break foreign keys. Take the tables tied to ${names.length === 1 ? 'it' : 'them'} along?`,
          { modal: true, detail: `${describeError(error).replace(/^restoring these tables alone would break foreign keys: /, '')}.\n\n${WITH_DEPENDENTS} puts those tables back to ${target.title} too, in the same transaction (the next step shows the exact rows). Nothing has changed yet.` },
          WITH_DEPENDENTS,
        ));
      if (choice !== WITH_DEPENDENTS) return undefined;
      withDependents = true;
    }
  }
}

/** What the restore gives one table back, from now to then. */
function restoredWords(t: RestoredTable): string {
  if (t.created) return `re-created (it was dropped since) with ${t.inserted} row(s)`;
  const parts = [t.changed > 0 ? `${t.changed} changed row(s) set back` : '', t.deleted > 0 ? `${t.deleted} row(s) inserted since removed` : '', t.inserted > 0 ? `${t.inserted} row(s) deleted since put back` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'already as it was';
}

/** The core refused because foreign keys tie other tables to these (it names them). */
function isDependentsRefusal(error: unknown): boolean {
  return isLockstepError(error, 'BAD_INPUT') && /foreign key/i.test(error.message);
}

/** The core's restoreTables under the repository's one-operation guard and a cancellable progress; undefined when the confirmation said no. */
async function runTablesRestore(
  repository: WorkspaceRepository,
  target: ChangesTarget,
  names: string[],
  withDependents: boolean,
  confirm?: (plan: TableRestorePlan) => Promise<boolean>,
): Promise<TableRestoreResult | undefined> {
  const shortNames = names.map((n) => n.replace(/^public\./, ''));
  return repository.run({ title: `Restoring ${shortNames.length === 1 ? shortNames[0]! : `${shortNames.length} tables`}`, short: 'Restoring tables…' }, () =>
    vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Lockstep: Restoring ${shortNames.join(', ')} to ${target.title}`, cancellable: true },
      async (progress, token) => {
        const { restoreTables: restore } = await import('../../core/tableRestore');
        let declined = false;
        try {
          const result = await restore(
            repository.project,
            { ref: target.ref, at: target.at, tables: names, withDependents },
            {
              signal: abortOn(token),
              onProgress: (step: string) => progress.report({ message: step }),
              ...(confirm
                ? {
                    confirm: async (plan: TableRestorePlan) => {
                      progress.report({ message: 'waiting for your confirmation' });
                      declined = !(await confirm(plan));
                      return !declined;
                    },
                  }
                : {}),
            },
          );
          repository.log.info(`restored table(s) ${result.tables.map((t) => `${t.name} (${restoredWords(t)})`).join('; ')} to ${target.ref ?? target.at} in ${result.durationMs} ms`);
          return result;
        } catch (error) {
          if (declined && isLockstepError(error, 'CANCELLED')) return undefined;
          throw error;
        }
      },
    ),
  );
}

/** The result, with Undo (these tables back as they were just before) and Show Log; the changes view is compared again. */
function afterTableRestoreResult(ctx: Lockstep, repository: WorkspaceRepository, target: ChangesTarget, result: TableRestoreResult): void {
  const shown = ctx.changes.current;
  if (shown?.repository === repository) void changesActions(ctx).refresh(shown);
  void upkeepAfterPast(repository, ctx.extensionPath);
  const undo = 'Undo';
  const showLog = 'Show Log';
  const done = result.tables.map((t) => `${t.name.replace(/^public\./, '')} (${restoredWords(t)})`).join('; ');
  const dependents = result.dependents.length > 0 ? ` Taken along: ${result.dependents.join(', ')}.` : '';
  void vscode.window.showInformationMessage(`Lockstep: Restored ${done} to ${target.title}.${dependents} Every other table is as it was.`, undo, showLog).then(async (choice) => {
    if (choice === showLog) ctx.log.show();
    if (choice !== undo) return;
    try {
      await undoTablesRestore(ctx, repository, result);
    } catch (error) {
      await ctx.errors.report(error, 'Undo Table Restore');
    }
  });
}

/** Undo: the same tables restored to the undo point taken just before (the click is the confirmation). */
export async function undoTablesRestore(ctx: Lockstep, repository: WorkspaceRepository, restored: TableRestoreResult): Promise<TableRestoreResult | undefined> {
  const back = await runTablesRestore(repository, checkpointTarget(restored.undo), restored.tables.map((t) => t.name), true);
  if (!back) return undefined;
  void vscode.window.showInformationMessage(`Lockstep: Undone: ${back.tables.map((t) => t.name.replace(/^public\./, '')).join(', ')} as before the table restore.`);
  const shown = ctx.changes.current;
  if (shown?.repository === repository) void changesActions(ctx).refresh(shown);
  return back;
}

function abortOn(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
