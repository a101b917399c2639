// Restore: bring a checkpoint's data and code back together, safely (preview, lock, undo point), and put everything back if a step fails.

import {
  branchPointsAt,
  checkoutCommit,
  commitExists,
  diffStat,
  isClean,
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
import { checkpointTitle, newCheckpointId, type Checkpoint } from './checkpoint';
import type { Engine, OperationOptions, Position, TimelineHandle } from './engine';
import { describeError, LockstepError, throwIfAborted } from './errors';
import { withLock } from './locks';
import { takeMarker } from './markers';
import type { Project } from './project';
import { resolveRef } from './refs';
import { diffSchemas, type SchemaDiff } from './schemaDiff';

export type RestoreMode = 'both' | 'data-only' | 'code-only';

export interface RestoreRequest {
  /** Checkpoint id or prefix, commit sha or prefix, or ISO time. */
  ref: string;
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
  data?: { from: Position; to: Position };
  /** `branch`: the existing branch the checkpoint was taken on (when it still points at the commit), else null for a new restore branch. */
  code?: { from: HeadRef; to: string; diff: DiffStat | null; unchanged: boolean; branch: string | null };
  tree: WorkingTreeState;
  /** Uncommitted work that will be stashed (with `stash`) or that blocks the restore. */
  dirty: boolean;
  willStash: boolean;
  warnings: string[];
  /** Reasons the restore would refuse to run. A dry run reports them; a restore throws the first. */
  blockers: LockstepError[];
}

export interface RestorePreview extends RestorePlan {
  /** Tables, columns and rows: now → at the checkpoint (data restores only). */
  schema?: SchemaDiff;
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
  checkout?: CheckoutResult;
  stash: StashRef | null;
  warnings: string[];
  steps: RestoreStepTiming[];
  durationMs: number;
  /** The engine wants background upkeep (e.g. a base backup on the new timeline). */
  maintenanceDue: boolean;
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
  const target = await resolveRef(project.repo, request.ref, project.journal.list());
  const requestedMode = request.mode ?? 'both';
  let mode = requestedMode;
  const checkout = request.checkout ?? config.checkout;
  const warnings: string[] = [];
  const blockers: LockstepError[] = [];
  const engine = await project.engine();

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
    const verdict = await engine.restorability(target, options);
    if (!verdict.restorable) {
      if (verdict.reason === 'expired' && mode === 'both') {
        mode = 'code-only';
        warnings.push(`the data of ${target.id} is past the retention window (${verdict.message}): only the code will be restored`);
      } else {
        throw new LockstepError(verdict.reason === 'expired' ? 'EXPIRED' : verdict.reason === 'beyond-head' ? 'LSN_BEYOND_HEAD' : 'TIMELINE_UNKNOWN', verdict.message);
      }
    } else {
      data = { from, to: { timelineId: target.timelineId, lsn: target.lsn } };
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
        blockers.push(new LockstepError('DIRTY_TREE', `${tree.conflicted.length} file(s) have unresolved conflicts: ${tree.conflicted.slice(0, 5).join(', ')}`, { hint: 'Resolve or abort the merge first.' }));
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
      new LockstepError('DIRTY_TREE', `the working tree has uncommitted changes (${files.length} file(s): ${files.slice(0, 5).join(', ')}${files.length > 5 ? ', …' : ''})`, {
        hint: 'Commit them, or pass --stash to stash them (untracked files included) and restore anyway.',
      }),
    );
  }
  return { target, requestedMode, mode, checkout, data, code, tree, dirty, willStash, warnings, blockers };
}

/** The dry run: everything a restore would change, and nothing changed. */
export async function previewRestore(project: Project, request: RestoreRequest, options: OperationOptions = {}): Promise<RestorePreview> {
  return withSchemaChanges(project, await planRestore(project, request, options), options);
}

/** A plan completed with the schema comparison (for a confirmation that already has the plan). */
export async function withSchemaChanges(project: Project, plan: RestorePlan, options: OperationOptions = {}): Promise<RestorePreview> {
  if (!plan.data) return plan;
  const engine = await project.engine();
  options.onProgress?.('Reading the schema now');
  const now = await engine.describe(undefined, options);
  options.onProgress?.(`Reading the schema at ${plan.target.lsn}`);
  try {
    const then = await engine.describe(plan.target, options);
    return { ...plan, schema: diffSchemas(now, then) };
  } catch (error) {
    // A preview is information, not a step: an engine that cannot read the past
    // (a pageserver fork has no compute) still gets the rest of the plan.
    if (error instanceof LockstepError && error.code === 'CANCELLED') throw error;
    return { ...plan, warnings: [...plan.warnings, `the schema at the checkpoint could not be read: ${describeError(error)}`] };
  }
}

/**
 * Restore, one at a time per repository. Order: checks, confirmation, a
 * pre-restore checkpoint of now (the undo point), stash, data (fork, then
 * repoint), code (checkout). A failure at any step puts back what the earlier
 * steps changed — data repointed to what served before, HEAD and files as they
 * were, the stash re-applied — and the audit trail says so.
 */
export async function restore(project: Project, request: RestoreRequest, options: RestoreOptions = {}): Promise<RestoreResult> {
  return withLock(
    project.paths.restoreLock,
    { waitMs: 0, what: 'restore in this repository', hint: 'Another restore is running in this repository; wait for it to finish.' },
    () => runRestore(project, request, options),
  );
}

async function runRestore(project: Project, request: RestoreRequest, options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
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

  // Undo point first: nothing has changed yet, so a failure here simply stops.
  let undo: Checkpoint | null = null;
  try {
    undo = await step('Taking a pre-restore checkpoint', () =>
      takeMarker(project, { kind: 'pre-restore', label: `Before restoring ${plan.target.id}${plan.target.subject ? ` (${plan.target.subject})` : ''}`, signal: options.signal }),
    );
  } catch (error) {
    if (plan.mode !== 'code-only') {
      await project.audit.append({ op: 'restore', phase: 'failed', operationId, checkpointId: plan.target.id, detail: `pre-restore checkpoint: ${describeError(error)}` });
      throw error;
    }
    plan.warnings.push(`no pre-restore checkpoint (the database did not answer: ${describeError(error)}); the code can be undone with git`);
  }

  let stash: StashRef | null = null;
  let fork: TimelineHandle | undefined;
  let previousServing: TimelineHandle | undefined;
  let repointed = false;
  let previousHead: HeadRef | undefined;
  let checkout: CheckoutResult | undefined;
  let head: Position | undefined;
  try {
    if (plan.willStash) {
      stash = await step('Stashing uncommitted work', () => stashAll(project.repo, `lockstep: before restore to ${plan.target.id}`));
    }
    if (plan.data) {
      previousServing = await engine.serving(options);
      fork = await step(`Forking the database at ${plan.target.lsn}`, () => engine.fork(plan.target, options));
      throwIfAborted(options.signal, 'the restore');
      options.onPointOfNoReturn?.();
      // Past this point the restore runs to the end or is undone, never half-cancelled.
      const { onProgress } = options;
      head = await step('Repointing the database', () => engine.repoint(fork!, { onProgress }));
      repointed = true;
    } else {
      options.onPointOfNoReturn?.();
    }
    if (plan.code && !plan.code.unchanged) {
      previousHead = plan.code.from;
      checkout = await step(`Checking out ${plan.code.to.slice(0, 7)}`, () => checkoutCommit(project.repo, plan.code!.to, plan.checkout, plan.code!.branch));
    }
  } catch (error) {
    const notes = await compensate(project, engine, { fork, previousServing, repointed, previousHead, checkout, stash });
    const failedNotes = notes.filter((n) => n.startsWith('could not'));
    await project.audit.append({
      op: 'restore',
      phase: failedNotes.length > 0 ? 'compensation-failed' : 'compensated',
      operationId,
      checkpointId: plan.target.id,
      undoCheckpointId: undo?.id,
      detail: `${describeError(error)} | ${notes.join('; ') || 'nothing to undo'}`,
    });
    if (error instanceof LockstepError) {
      throw new LockstepError(error.code, `${error.message}\n${failedNotes.length > 0 ? 'NOT everything could be put back' : 'Everything was put back as it was'}: ${notes.join('; ') || 'nothing had changed'}`, {
        hint: error.hint,
        cause: error,
      });
    }
    throw error;
  }

  await project.audit.append({
    op: 'restore',
    phase: 'finished',
    operationId,
    checkpointId: plan.target.id,
    undoCheckpointId: undo?.id,
    detail: `${plan.mode}${checkout?.branch ? ` on ${checkout.branch}` : ''}${stash ? `; stashed ${stash.sha.slice(0, 12)}` : ''}`,
  });
  const maintenanceDue = head ? (engine.maintenanceDue?.(head) ?? false) : false;
  return { target: plan.target, mode: plan.mode, undo, head, checkout, stash, warnings: plan.warnings, steps, durationMs: Date.now() - started, maintenanceDue };
}

interface Undoable {
  fork?: TimelineHandle;
  previousServing?: TimelineHandle;
  repointed: boolean;
  previousHead?: HeadRef;
  checkout?: CheckoutResult;
  stash: StashRef | null;
}

/** Undo in reverse order; each step is tried even when an earlier one failed. Returns what was done, in words. */
async function compensate(project: Project, engine: Engine, state: Undoable): Promise<string[]> {
  const notes: string[] = [];
  if (state.previousHead) {
    try {
      const back = await restoreHeadState(project.repo, state.previousHead, state.checkout);
      notes.push(`HEAD back on ${state.previousHead.branch ?? state.previousHead.sha?.slice(0, 12)}`);
      if (back.stash) notes.push(`changes found in the way were stashed (${back.stash.sha.slice(0, 12)})`);
    } catch (error) {
      notes.push(`could not put HEAD back: ${describeError(error)}`);
    }
  }
  if (state.repointed && state.previousServing) {
    try {
      await engine.repoint(state.previousServing);
      notes.push(`database back on timeline ${state.previousServing.timelineId}`);
    } catch (error) {
      notes.push(`could not repoint the database back to timeline ${state.previousServing.timelineId}: ${describeError(error)}`);
    }
  }
  if (state.fork) {
    try {
      await engine.discard(state.fork);
    } catch (error) {
      notes.push(`could not drop the unused fork: ${describeError(error)}`);
    }
  }
  if (state.stash) {
    try {
      await unstash(project.repo, state.stash);
      notes.push('stashed work re-applied');
    } catch (error) {
      notes.push(`could not re-apply the stash (it is kept as ${state.stash.sha.slice(0, 12)}): ${describeError(error)}`);
    }
  }
  return notes;
}
