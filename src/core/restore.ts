// Restore: bring a checkpoint's data and code back together as a transaction — planned, recorded step by step, finished or reverted, even after a kill.

import * as fs from 'node:fs';

import {
  branchExists,
  branchPointsAt,
  checkoutCommit,
  commitExists,
  deleteBranchIfAt,
  diffStat,
  findStash,
  isClean,
  isStashed,
  operationInProgress,
  readHeadRef,
  restoreHeadState,
  stashAll,
  unstash,
  workingTreeState,
  type CheckoutMode,
  type CheckoutResult,
  type DiffStat,
  type HeadRef,
  type StashRef,
  type WorkingTreeState,
} from '../git/repository';
import { checkpointTitle, newCheckpointId, pointOf, type Checkpoint } from './checkpoint';
import { describePoint, isMoment, restorabilityError, type Engine, type OperationOptions, type PointInHistory, type Position, type TimelineHandle } from './engine';
import { describeError, LockstepError, throwIfAborted } from '../base/errors';
import { faultPoint } from './faults';
import type { RestoreFootprint } from './journal';
import { readJsonFile, writeFileDurable } from '../base/files';
import { displayText } from './journalText';
import { preRestoreLabel } from './undoLabel';
import { withLock } from '../base/locks';
import { foldPending, readMarker } from './markers';
import type { Project } from './project';
import { resolveTarget } from './target';
import { diffSchemas, type SchemaDiff } from './schemaDiff';
import { withPastAndNow } from './pastData';
import { describeDatabase } from './postgresSchema';
import { diffRows, type RowDiff } from './rowDiff';

export type RestoreMode = 'both' | 'data-only' | 'code-only';

export interface RestoreRequest {
  /** Checkpoint id or prefix, commit sha or prefix, or ISO time (the newest checkpoint at or before it). */
  ref?: string;
  /**
   * Instead of `ref`: any moment within retention, as `parseMoment` reads it
   * (ISO time, "10 minutes ago", an LSN). Restores the data only; the code stays.
   */
  at?: string;
  mode?: RestoreMode;
  /** Defaults to the project's configured checkout mode. */
  checkout?: CheckoutMode;
  /** Stash uncommitted work (untracked included) instead of refusing. */
  stash?: boolean;
}

export interface RestorePlan {
  target: Checkpoint;
  requestedMode: RestoreMode;
  /** What will actually be restored (an expired checkpoint falls back to code only, with a warning). */
  mode: RestoreMode;
  checkout: CheckoutMode;
  /** `to` is a moment (no LSN) for a time-based checkpoint: the engine finds it by the clock. */
  data?: { from: Position; to: PointInHistory };
  /** `branch`: the existing branch the checkpoint was taken on (when it still points at the commit), else null for a new restore branch. */
  code?: { from: HeadRef; to: string; diff: DiffStat | null; unchanged: boolean; branch: string | null };
  tree: WorkingTreeState;
  /** Uncommitted work that will be stashed (with `stash`) or that blocks the restore. */
  dirty: boolean;
  willStash: boolean;
  warnings: string[];
  /** Reasons the restore would refuse to run. A dry run reports them; a restore throws the first. */
  blockers: LockstepError[];
  /** The target is the undo point of this finished restore: restoring it also takes back that restore's stash and branch. */
  undoes?: UndoneRestore;
}

export interface UndoneRestore extends RestoreFootprint {
  operationId: string;
  /** The checkpoint that restore went to. */
  checkpointId?: string;
}

export interface RestorePreview extends RestorePlan {
  /** Tables, columns and rows: now → at the checkpoint (data restores only). */
  schema?: SchemaDiff;
  /** Exact row changes since the checkpoint (what the restore takes back), when the engine can open its past; partial past the preview's budget. */
  rows?: RowDiff;
}

export interface RestoreStepTiming {
  step: string;
  ms: number;
}

export interface RestoreResult {
  target: Checkpoint;
  mode: RestoreMode;
  /** The pre-restore checkpoint: restoring it undoes this restore. */
  undo: Checkpoint | null;
  head?: Position;
  /** For a time-based checkpoint: the position the engine found for its moment, when it can tell. */
  resolvedAt?: Position;
  checkout?: CheckoutResult;
  stash: StashRef | null;
  warnings: string[];
  steps: RestoreStepTiming[];
  durationMs: number;
  /** The engine wants background upkeep (e.g. a base backup on the new timeline). */
  maintenanceDue: boolean;
  /** When this restore undid another: what of that restore's own changes it took back (stash, branch), one sentence each. */
  undid: string[];
}

export interface RestoreOptions extends OperationOptions {
  /** Asked once everything is checked and before anything changes; false cancels. */
  confirm?: (plan: RestorePlan) => Promise<boolean>;
  /** Told when the restore passes the point after which cancelling is no longer possible. */
  onPointOfNoReturn?: () => void;
}

/** The plan without the schema comparison (which, for the local engine, recovers a throwaway copy). */
export async function planRestore(project: Project, request: RestoreRequest, options: OperationOptions = {}): Promise<RestorePlan> {
  const config = project.config();
  // Restorability is asked below, where an expired checkpoint can still give its code back.
  const { checkpoint: target } = await resolveTarget(project, { ref: request.ref, at: request.at }, { ...options, check: false });
  const requestedMode = request.mode ?? 'both';
  let mode = requestedMode;
  const checkout = request.checkout ?? config.checkout;
  const warnings: string[] = [];
  const blockers: LockstepError[] = [];
  const engine = await project.engine();

  if (target.at !== undefined) {
    // A moment is not a commit: there is no code of its own to go back to.
    if (mode === 'code-only') throw new LockstepError('BAD_INPUT', '--at restores the data only: a moment has no code of its own', { hint: 'Restore a checkpoint (REF) with --code-only, or drop --code-only.' });
    mode = 'data-only';
    const commit = target.commitSha ? ` (the newest checkpoint at or before it is on commit ${target.commitSha.slice(0, 7)}${target.subject ? ` "${displayText(target.subject, 80)}"` : ''})` : '';
    warnings.push(`${target.lsn === null ? `the moment ${target.createdAt}` : `${target.lsn}`} is not a checkpoint: only the data is restored, the code stays as it is${commit}`);
  }

  if (target.engine !== config.engine) {
    if (mode === 'data-only') {
      throw new LockstepError('BAD_INPUT', `checkpoint ${target.id} was taken with the ${target.engine} engine; this repository now uses ${config.engine}`);
    }
    mode = 'code-only';
    warnings.push(`checkpoint ${target.id} belongs to the ${target.engine} engine: only its code can be restored`);
  }

  let data: RestorePlan['data'];
  if (mode !== 'code-only') {
    options.onProgress?.('Checking the database');
    const from = await engine.head(options);
    const point = pointOf(target);
    const verdict = await engine.restorability(point, options);
    if (!verdict.restorable) {
      if (verdict.reason === 'expired' && mode === 'both') {
        mode = 'code-only';
        warnings.push(`the data of ${target.id} is past the retention window (${verdict.message}): only the code will be restored`);
      } else {
        throw restorabilityError(verdict, point);
      }
    } else {
      data = { from, to: point };
      if (isMoment(point) && target.at !== undefined) {
        const servingNow = from.timelineId === point.timelineId ? '' : ` on timeline ${point.timelineId}, which served then`;
        warnings.push(`the data is restored by time: to what was committed at or before ${target.createdAt}${servingNow}`);
      } else if (isMoment(point)) {
        warnings.push(`${target.id} is a time-based checkpoint (${target.unmeasured ?? 'its position was not read when it was taken'}): the data is restored by time, to what was committed at ${target.createdAt}`);
      }
    }
  }

  let code: RestorePlan['code'];
  let tree: WorkingTreeState = { modified: [], untracked: [], conflicted: [] };
  if (mode !== 'data-only') {
    if (!target.commitSha) {
      if (mode === 'code-only') throw new LockstepError('BAD_INPUT', `checkpoint ${target.id} was taken before the first commit: it has no code to restore`);
      mode = 'data-only';
      warnings.push(`checkpoint ${target.id} was taken before the first commit: only the data will be restored`);
    } else if (!(await commitExists(project.repo, target.commitSha))) {
      throw new LockstepError('NOT_FOUND', `commit ${target.commitSha.slice(0, 12)} of checkpoint ${target.id} is no longer in this repository`, {
        hint: 'It was probably amended or rebased away and garbage-collected. `--data-only` restores the data alone.',
      });
    } else {
      options.onProgress?.('Checking the working tree');
      const from = await readHeadRef(project.repo);
      tree = await workingTreeState(project.repo);
      const operation = operationInProgress(project.repo);
      if (operation) blockers.push(new LockstepError('DIRTY_TREE', `a ${operation} is in progress`, { hint: `Finish it or abort it (\`git ${operation} --abort\`) first.` }));
      if (tree.conflicted.length > 0) {
        blockers.push(new LockstepError('DIRTY_TREE', `${tree.conflicted.length} file(s) have unresolved conflicts: ${tree.conflicted.slice(0, 5).map((f) => displayText(f)).join(', ')}`, { hint: 'Resolve or abort the merge first.' }));
      }
      const unchanged = from.sha === target.commitSha;
      const diff = from.sha && !unchanged ? await diffStat(project.repo, from.sha, target.commitSha) : null;
      const branch = checkout === 'branch' && target.branch && (await branchPointsAt(project.repo, target.branch, target.commitSha)) ? target.branch : null;
      code = { from, to: target.commitSha, diff, unchanged, branch };
    }
  }

  const dirty = mode !== 'data-only' && !isClean(tree);
  const willStash = dirty && request.stash === true && tree.conflicted.length === 0;
  if (dirty && !request.stash && tree.conflicted.length === 0) {
    const files = [...tree.modified, ...tree.untracked];
    blockers.push(
      new LockstepError('DIRTY_TREE', `the working tree has uncommitted changes (${files.length} file(s): ${files.slice(0, 5).map((f) => displayText(f)).join(', ')}${files.length > 5 ? ', …' : ''})`, {
        hint: 'Commit them, or pass --stash to stash them (untracked files included) and restore anyway.',
      }),
    );
  }
  const undone = project.audit.list().find((e) => e.op === 'restore' && e.phase === 'finished' && e.undoCheckpointId === target.id);
  const undoes = undone ? { operationId: undone.operationId, checkpointId: undone.checkpointId, ...undone.restore } : undefined;
  return { target, requestedMode, mode, checkout, data, code, tree, dirty, willStash, warnings, blockers, undoes };
}

/** The dry run: everything a restore would change, and nothing changed. */
export async function previewRestore(project: Project, request: RestoreRequest, options: OperationOptions = {}): Promise<RestorePreview> {
  await foldPending(project);
  return withSchemaChanges(project, await planRestore(project, request, options), options);
}

/** How long a preview spends comparing rows before it reports the rest as partial ("at least"). */
export const PREVIEW_ROWS_BUDGET_MS = 3_000;

/**
 * A plan completed with the schema comparison and, where the engine can open
 * its past (local), the exact row diff — both read from one pair of
 * connections: the copy as of the target (which the engine keeps for the
 * restore that follows) and now.
 */
export async function withSchemaChanges(project: Project, plan: RestorePlan, options: OperationOptions = {}): Promise<RestorePreview> {
  if (!plan.data) return plan;
  const engine = await project.engine();
  const point = plan.data.to;
  try {
    if (engine.openPast && engine.connectNow) {
      return await withPastAndNow(project, point, options, async (past, then, now) => {
        options.onProgress?.(`Reading the schema at ${whereIs(plan.target)} and now`);
        const [thenSchema, nowSchema] = await Promise.all([describeDatabase(then), describeDatabase(now)]);
        options.onProgress?.('Comparing rows');
        const rows = await diffRows(then, now, { ancestorOfNow: past.ancestorOfNow, budgetMs: PREVIEW_ROWS_BUDGET_MS, signal: options.signal });
        return { ...plan, schema: diffSchemas(nowSchema, thenSchema), rows };
      });
    }
    options.onProgress?.('Reading the schema now');
    const now = await engine.describe(undefined, options);
    options.onProgress?.(`Reading the schema at ${whereIs(plan.target)}`);
    const then = await engine.describe(point, options);
    return { ...plan, schema: diffSchemas(now, then) };
  } catch (error) {
    // A preview is information, not a step: an engine that cannot read the past
    // (a pageserver fork has no compute) still gets the rest of the plan.
    if (error instanceof LockstepError && error.code === 'CANCELLED') throw error;
    return { ...plan, warnings: [...plan.warnings, `the schema at the checkpoint could not be read: ${describeError(error)}`] };
  }
}

/**
 * A restore is a transaction written down. Before each step, the record
 * (`.git/lockstep/restore-in-progress.json`, atomic and fsynced) says what
 * exists so far; the steps, in order:
 *
 *   planned       the undo point read (not yet in the journal), nothing changed
 *   stashed       uncommitted work stashed (with --stash)
 *   recovering    the fork being recovered and promoted where no client reaches it
 *   recovered     the fork ready; the old server still serves
 *   cutting-over  ── the point of no return ── old server stops, undo point = its end, fork starts on the port
 *   served        the target serves
 *   checking-out  the commit being checked out
 *   (done: the record is removed)
 *
 * A process that finds a record whose owner is gone (the restore lock is free)
 * finishes it when it reached `cutting-over`, else reverts it
 * (`settleInterruptedRestore`); `lockstep restore --continue|--abort` choose.
 */
export type RestoreStep = 'planned' | 'stashed' | 'recovering' | 'recovered' | 'cutting-over' | 'served' | 'checking-out';

const STEP_ORDER: readonly RestoreStep[] = ['planned', 'stashed', 'recovering', 'recovered', 'cutting-over', 'served', 'checking-out'];

export function pastPointOfNoReturn(step: RestoreStep): boolean {
  return STEP_ORDER.indexOf(step) >= STEP_ORDER.indexOf('cutting-over');
}

/** Whether an interrupted restore can still be finished: it passed the point of no return and was not being put back. */
export function canContinue(record: Pick<RestoreRecord, 'step' | 'reverting'>): boolean {
  return !record.reverting && pastPointOfNoReturn(record.step);
}

/** What settling does unasked: finish when it can, else revert. */
function settleActionFor(record: RestoreRecord): SettleAction {
  return canContinue(record) ? 'continue' : 'abort';
}

export interface RestoreRecord {
  version: 1;
  operationId: string;
  pid: number;
  startedAt: string;
  step: RestoreStep;
  target: Checkpoint;
  mode: RestoreMode;
  checkout: CheckoutMode;
  /** The code side: from → to, and the branch to check out (null: a new restore branch). */
  code: { from: HeadRef; to: string; branch: string | null } | null;
  stash: StashRef | null;
  /**
   * The stash entry's message, unique to this restore, written before stashing:
   * a process killed between `git stash` and the record's next write still
   * finds the entry (`findStash`) and re-applies it.
   */
  stashMessage?: string;
  /** The undo point; `final` once placed at the old timeline's end (or when the engine cannot tell). */
  undo: Checkpoint | null;
  undoFinal: boolean;
  previousServing: TimelineHandle | null;
  fork: TimelineHandle | null;
  checkoutResult: CheckoutResult | null;
  /** A step failed and the restore is being put back: an interruption now is settled by reverting, whatever the step. */
  reverting?: boolean;
  /** This restore undoes that one: after the checkout, its stash and branch are taken back too. */
  undoes?: UndoneRestore;
}

export function readRestoreRecord(project: Project): RestoreRecord | undefined {
  try {
    return readJsonFile<RestoreRecord>(project.paths.restoreRecord);
  } catch (error) {
    project.log.warn(`the restore record ${project.paths.restoreRecord} cannot be read: ${describeError(error)}`);
    return undefined;
  }
}

function writeRecord(project: Project, record: RestoreRecord): void {
  writeFileDurable(project.paths.restoreRecord, `${JSON.stringify(record, null, 2)}\n`, 0o600);
}

function clearRecord(project: Project): void {
  fs.rmSync(project.paths.restoreRecord, { force: true });
}

/**
 * Restore, one at a time per repository. Order: checks, confirmation, the undo
 * point, stash, fork (recovered privately), cut-over, checkout. A failure at
 * any step puts back what the earlier steps changed and checks it; a process
 * killed at any step leaves a record the next command settles.
 */
export async function restore(project: Project, request: RestoreRequest, options: RestoreOptions = {}): Promise<RestoreResult> {
  return withLock(project.paths.restoreLock, RESTORE_LOCK, async () => {
    const left = readRestoreRecord(project);
    if (left) {
      // Faces settle it first and say so; this is the last guard.
      const outcome = await settleLocked(project, left, settleActionFor(left), options);
      project.log.warn(outcome.summary);
      if (!outcome.ok) throw new LockstepError('CONFLICT', outcome.summary);
    }
    return runRestore(project, request, options);
  });
}

export const RESTORE_LOCK = { waitMs: 0, what: 'restore in this repository', hint: 'Another restore is running in this repository; wait for it to finish.' };

async function runRestore(project: Project, request: RestoreRequest, options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  // Commits the hook spooled are folded in before the timeline moves: a time-based one belongs to the timeline serving now.
  await foldPending(project, { waitForHooks: true });
  const steps: RestoreStepTiming[] = [];
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    options.onProgress?.(name);
    const t = Date.now();
    try {
      return await work();
    } finally {
      steps.push({ step: name, ms: Date.now() - t });
    }
  };

  const plan = await planRestore(project, request, options);
  if (plan.blockers.length > 0) throw plan.blockers[0]!;
  if (options.confirm && !(await options.confirm(plan))) throw new LockstepError('CANCELLED', 'the restore was cancelled; nothing changed');
  throwIfAborted(options.signal, 'the restore');

  const engine = await project.engine();
  const operationId = newCheckpointId();
  const title = checkpointTitle(plan.target);
  await project.audit.append({ op: 'restore', phase: 'started', operationId, checkpointId: plan.target.id, detail: `${plan.mode}: ${title}` });

  // The undo point. Read now, so that a database that does not answer stops the
  // restore before anything changes; written to the journal before the first
  // change. An engine that reports where the old timeline ended moves it there
  // at the cut-over: every write acknowledged before then is in reach of undo.
  let provisional: Checkpoint | null = null;
  const label = preRestoreLabel(plan.target);
  try {
    provisional = await step('Taking a pre-restore checkpoint', () => readMarker(project, { kind: 'pre-restore', label, signal: options.signal }));
  } catch (error) {
    if (plan.mode !== 'code-only') {
      await project.audit.append({ op: 'restore', phase: 'failed', operationId, checkpointId: plan.target.id, detail: `pre-restore checkpoint: ${describeError(error)}` });
      throw error;
    }
    plan.warnings.push(`no pre-restore checkpoint (the database did not answer: ${describeError(error)}); the code can be undone with git`);
  }
  const record: RestoreRecord = {
    version: 1,
    operationId,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    step: 'planned',
    target: plan.target,
    mode: plan.mode,
    checkout: plan.checkout,
    code: plan.code && !plan.code.unchanged ? { from: plan.code.from, to: plan.code.to, branch: plan.code.branch } : null,
    stash: null,
    ...(plan.willStash ? { stashMessage: `lockstep: before restore to ${plan.target.id} (operation ${operationId})` } : {}),
    undo: provisional,
    undoFinal: !(plan.data !== undefined && engine.reportsCutOverEnd === true),
    previousServing: null,
    fork: null,
    checkoutResult: null,
    undoes: plan.undoes,
  };
  writeRecord(project, record);

  let head: Position | undefined;
  try {
    if (record.undo && record.undoFinal) await project.journal.append(record.undo);
    faultPoint('after-undo-point');
    if (record.stashMessage) {
      const message = record.stashMessage;
      record.stash = await step('Stashing uncommitted work', () => stashAll(project.repo, message));
      faultPoint('stashing');
      record.step = 'stashed';
      writeRecord(project, record);
      faultPoint('after-stash');
    }
    if (plan.data) {
      record.previousServing = await engine.serving(options);
      record.step = 'recovering';
      writeRecord(project, record);
      record.fork = await step(`Recovering the database at ${whereIs(plan.target)}`, () => engine.fork(pointOf(plan.target), options));
      record.step = 'recovered';
      writeRecord(project, record);
      throwIfAborted(options.signal, 'the restore');
    }
    options.onPointOfNoReturn?.();
    // Past this point the restore runs to the end or is undone, never half-cancelled.
    record.step = 'cutting-over';
    writeRecord(project, record);
    if (record.fork) head = await step('Cutting over', () => cutOver(project, engine, record, { onProgress: options.onProgress }));
    record.step = 'served';
    writeRecord(project, record);
    if (record.code) await step(`Checking out ${record.code.to.slice(0, 7)}`, () => checkOutTarget(project, record));
  } catch (error) {
    record.reverting = true;
    writeRecord(project, record);
    const undone = await compensate(project, engine, record);
    await project.audit.append({
      op: 'restore',
      phase: undone.allBack ? 'compensated' : 'compensation-failed',
      operationId,
      checkpointId: plan.target.id,
      undoCheckpointId: record.undoFinal ? record.undo?.id : undefined,
      detail: `${describeError(error)} | ${describeCompensation(undone)}`,
    });
    if (undone.allBack) clearRecord(project);
    // Whatever failed, the person is told what is back and what is not.
    if (error instanceof LockstepError) {
      throw new LockstepError(error.code, `${error.message}\n${describeCompensation(undone)}`, { hint: error.hint, cause: error });
    }
    throw new LockstepError('INTERNAL', `${describeError(error)}\n${describeCompensation(undone)}`, { cause: error });
  }

  // Past the checkout nothing can fail the restore: taking back what an undone restore made only says what it did.
  const undid = await takeBackUndoneRestore(project, record);
  await project.audit.append({
    op: 'restore',
    phase: 'finished',
    operationId,
    checkpointId: plan.target.id,
    undoCheckpointId: record.undo?.id,
    restore: footprintOf(record),
    ...servedField(head),
    detail: `${plan.mode}${record.checkoutResult?.branch ? ` on ${record.checkoutResult.branch}` : ''}${record.stash ? `; stashed ${record.stash.sha.slice(0, 12)}` : ''}${resolvedDetail(record)}${undid.length > 0 ? `; ${undid.join('; ')}` : ''}`,
  });
  clearRecord(project);
  const maintenanceDue = head ? (engine.maintenanceDue?.(head) ?? false) : false;
  const resolvedAt = plan.target.lsn === null ? record.fork?.at : undefined;
  return {
    target: plan.target,
    mode: plan.mode,
    undo: record.undo,
    head,
    ...(resolvedAt ? { resolvedAt } : {}),
    checkout: record.checkoutResult ?? undefined,
    stash: record.stash,
    warnings: plan.warnings,
    steps,
    durationMs: Date.now() - started,
    maintenanceDue,
    undid,
  };
}

/**
 * Where the restored data served when the restore finished, for the audit
 * trail: while the head is still there, the target "serves"; once it has
 * moved, the data only descends from it (core/listing.ts `servingOf`).
 */
function servedField(head: Position | undefined): { served?: Position } {
  return head ? { served: { timelineId: head.timelineId, lsn: head.lsn } } : {};
}

/** A restore's target in messages: its checkpoint id, or for a moment given with --at, the moment (its id is in no journal). */
export function targetName(target: Checkpoint): string {
  return target.at !== undefined ? (target.label ?? target.createdAt) : target.id;
}

/** Where a checkpoint's data is, for progress and messages: its LSN, or its time for a time-based one. */
function whereIs(target: Checkpoint): string {
  return target.lsn ?? `${target.createdAt} (by time)`;
}

/** For the audit trail: the position a time-based checkpoint's moment was found at (the fork says where it stopped). */
function resolvedDetail(record: RestoreRecord): string {
  if (record.target.lsn !== null || !record.fork) return '';
  const at = record.fork.at;
  return at
    ? `; by time: ${describePoint(pointOf(record.target))} resolved to ${at.timelineId} at ${at.lsn}`
    : `; by time: ${describePoint(pointOf(record.target))}, resolved by the ${record.fork.engine} engine itself (no position reported)`;
}

function footprintOf(record: RestoreRecord): RestoreFootprint | undefined {
  const created = record.checkoutResult?.createdBranch ? record.checkoutResult : undefined;
  if (!record.stash && !created) return undefined;
  return { stash: record.stash?.sha, createdBranch: created?.branch ?? undefined, targetSha: created?.sha };
}

/**
 * Undo is the exact inverse: after restoring a restore's undo point, that
 * restore's stash is re-applied (index kept) and the restore branch it created
 * is deleted when nothing was committed on it. Idempotent (a settle may run it
 * again); never throws: each outcome is one sentence.
 */
async function takeBackUndoneRestore(project: Project, record: RestoreRecord): Promise<string[]> {
  const undone = record.undoes;
  if (!undone) return [];
  const notes: string[] = [];
  if (undone.createdBranch && undone.targetSha) {
    try {
      if (await deleteBranchIfAt(project.repo, undone.createdBranch, undone.targetSha)) notes.push(`deleted branch ${undone.createdBranch}, which that restore created`);
      else if (await branchPointsAt(project.repo, undone.createdBranch, undone.targetSha).catch(() => false)) notes.push(`kept branch ${undone.createdBranch} (it is checked out)`);
      else if (await branchExists(project.repo, undone.createdBranch)) notes.push(`kept branch ${undone.createdBranch}: it has commits of its own`);
    } catch (error) {
      notes.push(`kept branch ${undone.createdBranch}: ${describeError(error)}`);
    }
  }
  if (undone.stash) {
    const stash: StashRef = { sha: undone.stash, message: 'the stash that restore made' };
    try {
      if (record.stash) {
        if (await isStashed(project.repo, stash)) {
          notes.push(`kept the stash that restore made (${undone.stash.slice(0, 12)}): your newer work was stashed just now; \`git stash pop --index\` twice brings both back`);
        }
      } else {
        faultPoint('stash-reapply');
        // False: applied already (a settle running this again), or popped by hand: nothing to do.
        if (await unstash(project.repo, stash)) notes.push('re-applied the work that restore had stashed (index kept)');
      }
    } catch (error) {
      notes.push(`could not re-apply the stash that restore made: ${describeError(error)} (it is kept: \`git stash apply --index ${undone.stash}\`)`);
    }
  }
  return notes;
}

/** The cut-over, with the undo point placed where the old timeline ended (recorded first, then journalled once). */
async function cutOver(project: Project, engine: Engine, record: RestoreRecord, options: OperationOptions): Promise<Position> {
  const head = await engine.repoint(record.fork!, {
    onProgress: options.onProgress,
    onCutOver: async (end) => {
      if (!record.undo || record.undoFinal) return;
      record.undo = { ...record.undo, timelineId: end.timelineId, lsn: end.lsn, createdAt: new Date().toISOString() };
      record.undoFinal = true;
      writeRecord(project, record);
      await journalOnce(project, record.undo);
    },
  });
  if (record.undo && !record.undoFinal) {
    // The engine could not tell where the old timeline ended: the marker read before the restore is the undo point.
    record.undoFinal = true;
    writeRecord(project, record);
  }
  if (record.undo) await journalOnce(project, record.undo);
  return head;
}

async function journalOnce(project: Project, checkpoint: Checkpoint): Promise<void> {
  if (!project.journal.recent().some((c) => c.id === checkpoint.id)) await project.journal.append(checkpoint);
}

async function checkOutTarget(project: Project, record: RestoreRecord): Promise<void> {
  const code = record.code!;
  const now = await readHeadRef(project.repo);
  if (now.sha === code.to && record.checkoutResult) return; // done before an interruption
  record.step = 'checking-out';
  writeRecord(project, record);
  faultPoint('checkout');
  record.checkoutResult = await checkoutCommit(project.repo, code.to, record.checkout, code.branch);
  writeRecord(project, record);
}

export type SettleAction = 'continue' | 'abort';

export interface SettleOutcome {
  operationId: string;
  target: Checkpoint;
  /** What was done: the restore finished, or reverted. */
  action: SettleAction;
  /** The step the interrupted restore had reached. */
  step: RestoreStep;
  /** One paragraph for a person, checked. */
  summary: string;
  /** The summary without its opening clause: what is where now, or why it could not be finished. */
  detail: string;
  ok: boolean;
  /** A finished restore's engine wants background upkeep (as `RestoreResult.maintenanceDue`). */
  maintenanceDue: boolean;
}

/**
 * An interrupted restore, settled: finished when it passed the point of no
 * return, else reverted (or as `how` asks). Returns undefined when there is
 * none, or when its owner still runs (the lock is held).
 */
export async function settleInterruptedRestore(project: Project, how: SettleAction | 'auto' = 'auto', options: OperationOptions = {}): Promise<SettleOutcome | undefined> {
  if (!fs.existsSync(project.paths.restoreRecord)) return undefined;
  try {
    return await withLock(project.paths.restoreLock, RESTORE_LOCK, async () => {
      const record = readRestoreRecord(project);
      if (!record) return undefined;
      return settleLocked(project, record, how === 'auto' ? settleActionFor(record) : how, options);
    });
  } catch (error) {
    if (error instanceof LockstepError && error.code === 'BUSY') return undefined; // its owner is alive and working
    throw error;
  }
}

async function settleLocked(project: Project, record: RestoreRecord, action: SettleAction, options: OperationOptions): Promise<SettleOutcome> {
  const engine = await project.engine();
  const base = { operationId: record.operationId, target: record.target, step: record.step, action };
  if (action === 'abort') {
    const undone = await compensate(project, engine, record);
    const detail = describeCompensation(undone);
    const summary = `the interrupted restore to ${targetName(record.target)} (stopped at "${record.step}") was reverted. ${detail}`;
    await project.audit.append({ op: 'restore', phase: undone.allBack ? 'compensated' : 'compensation-failed', operationId: record.operationId, checkpointId: record.target.id, detail: `interrupted at ${record.step}; ${describeCompensation(undone)}` });
    if (undone.allBack) clearRecord(project);
    return { ...base, summary, detail, ok: undone.allBack, maintenanceDue: false };
  }
  if (record.reverting) {
    throw new LockstepError('BAD_INPUT', `the interrupted restore to ${targetName(record.target)} had failed and was being put back: it can only be reverted`, {
      hint: 'Run `lockstep restore --abort`.',
    });
  }
  let undid: string[] = [];
  if (!pastPointOfNoReturn(record.step)) {
    throw new LockstepError('BAD_INPUT', `the interrupted restore to ${targetName(record.target)} stopped at "${record.step}", before the cut-over: it can only be reverted`, {
      hint: 'Run `lockstep restore --abort`, then restore again.',
    });
  }
  let head: Position | undefined;
  try {
    if (record.fork) {
      options.onProgress?.('Finishing the cut-over');
      head = await cutOver(project, engine, record, options);
    }
    record.step = 'served';
    writeRecord(project, record);
    if (record.code) {
      options.onProgress?.(`Checking out ${record.code.to.slice(0, 7)}`);
      await checkOutTarget(project, record);
    }
    undid = await takeBackUndoneRestore(project, record);
  } catch (error) {
    const detail = `${describeError(error)}. Run \`lockstep restore --continue\` once that is fixed, or \`lockstep restore --abort\` to revert it.`;
    return { ...base, summary: `the interrupted restore to ${targetName(record.target)} could not be finished: ${detail}`, detail, ok: false, maintenanceDue: false };
  }
  await project.audit.append({
    op: 'restore',
    phase: 'finished',
    operationId: record.operationId,
    checkpointId: record.target.id,
    undoCheckpointId: record.undo?.id,
    restore: footprintOf(record),
    ...servedField(head),
    detail: `finished after an interruption at ${record.step}${resolvedDetail(record)}${undid.length > 0 ? `; ${undid.join('; ')}` : ''}`,
  });
  clearRecord(project);
  const parts = [record.fork ? `the data serves ${targetName(record.target)}` : '', record.code ? `HEAD is on ${record.checkoutResult?.branch ?? record.code.to.slice(0, 12)}` : '', ...undid].filter(Boolean);
  const detail = `${parts.join('; ')}${record.undo ? `; undo: lockstep restore ${record.undo.id}` : ''}.`;
  const maintenanceDue = head ? (engine.maintenanceDue?.(head) ?? false) : false;
  return { ...base, summary: `the interrupted restore to ${targetName(record.target)} (stopped at "${record.step}") was finished: ${detail}`, detail, ok: true, maintenanceDue };
}

/** One part of the state before a failed restore, checked after the attempt to put it back. */
export interface PutBack {
  what: 'code' | 'data' | 'stash' | 'fork';
  /** Verified to be as before (for `fork`: removed). */
  back: boolean;
  /** What was done or found, in words. */
  detail: string;
  /** When not back: the command that finishes it. */
  fix?: string;
}

export interface Compensation {
  items: PutBack[];
  /** Every item verified back. "Put back" is said only then. */
  allBack: boolean;
}

/**
 * Undo in reverse order, each step tried even when an earlier one failed; then
 * check each part instead of assuming it. Works from the record alone, so a
 * later process can revert a restore another one started.
 */
async function compensate(project: Project, engine: Engine, record: RestoreRecord): Promise<Compensation> {
  const items: PutBack[] = [];
  // Stashed, but killed or failed before the record said so: the entry is found by its message.
  if (!record.stash && record.stashMessage) record.stash = await findStash(project.repo, record.stashMessage).catch(() => null);
  if (record.code) {
    const previous = record.code.from;
    const where = previous.branch ?? previous.sha?.slice(0, 12) ?? 'no commit';
    let note = '';
    const now = await readHeadRef(project.repo).catch(() => undefined);
    if (now && (now.sha !== previous.sha || now.branch !== previous.branch)) {
      try {
        const back = await restoreHeadState(project.repo, previous, record.checkoutResult ?? undefined);
        if (back.stash) note = `; changes found in the way were stashed (${back.stash.sha.slice(0, 12)})`;
      } catch (error) {
        note = `; ${describeError(error)}`;
      }
    }
    const after = await readHeadRef(project.repo).catch(() => undefined);
    const back = after !== undefined && after.sha === previous.sha && after.branch === previous.branch;
    items.push(
      back
        ? { what: 'code', back, detail: `HEAD on ${where} as before${note}` }
        : { what: 'code', back, detail: `HEAD is not back on ${where} (it is on ${after?.branch ?? after?.sha?.slice(0, 12) ?? 'an unreadable state'})${note}`, fix: `git checkout ${previous.branch ?? previous.sha}` },
    );
  }
  if (record.previousServing) {
    const previous = record.previousServing;
    let note = '';
    if (pastPointOfNoReturn(record.step)) {
      try {
        await engine.repoint(previous);
      } catch (error) {
        note = `: ${describeError(error)}`;
      }
    }
    let serving: Position | undefined;
    try {
      serving = await engine.head();
    } catch (error) {
      note ||= `: ${describeError(error)}`;
    }
    const back = serving?.timelineId === previous.timelineId;
    items.push(
      back
        ? { what: 'data', back, detail: `database serving timeline ${previous.timelineId} as before` }
        : {
            what: 'data',
            back,
            detail: serving ? `the database serves timeline ${serving.timelineId}, not ${previous.timelineId}${note}` : `the database is not answering${note}`,
            fix: engine.start ? 'lockstep db start' : 'lockstep status',
          },
    );
  }
  if (record.previousServing && items.every((i) => i.what !== 'data' || i.back)) {
    // A fork in any state (recorded, or killed while recovering), now that it does not serve: stopped and removed.
    try {
      if (record.fork) await engine.discard(record.fork);
      const removed = (await engine.abandonForks?.()) ?? [];
      items.push({ what: 'fork', back: true, detail: `the unused fork removed${removed.length > 0 ? ` (${removed.join(', ')})` : ''}` });
    } catch (error) {
      // A leftover copy changes nothing a person sees; `prune` takes it later.
      items.push({ what: 'fork', back: true, detail: `the unused fork is left for \`lockstep prune\` (${describeError(error)})` });
    }
  }
  if (record.stash) {
    try {
      faultPoint('stash-reapply');
      // Popped already (an earlier attempt, or by hand) counts as re-applied: applying it again would only conflict.
      await unstash(project.repo, record.stash);
      items.push({ what: 'stash', back: true, detail: 'stashed work re-applied' });
    } catch (error) {
      items.push({
        what: 'stash',
        back: false,
        detail: `the stash is not re-applied: ${describeError(error)}`,
        fix: `lockstep restore --abort\` (it tries again), or \`git stash pop --index stash@{0}`,
      });
    }
  }
  return { items, allBack: items.every((i) => i.back) };
}

/** The truth about a compensation, in one paragraph. */
export function describeCompensation(c: Compensation): string {
  if (c.items.length === 0) return 'Nothing had changed.';
  if (c.allBack) return `Everything was put back as it was (checked): ${c.items.map((i) => i.detail).join('; ')}.`;
  const missing = c.items.filter((i) => !i.back);
  const done = c.items.filter((i) => i.back);
  return [
    `NOT everything is back: ${missing.map((i) => `${i.detail}${i.fix ? ` — run \`${i.fix}\`` : ''}`).join('; ')}.`,
    ...(done.length > 0 ? [`Put back (checked): ${done.map((i) => i.detail).join('; ')}.`] : []),
  ].join(' ');
}
