// A restore left unfinished by a process that died: what the record says, and how the extension tells it, in words (no VS Code API here).
import * as fs from 'node:fs';
import type { Checkpoint } from '../core/checkpoint';
import { displayTitle } from '../core/journalText';
import { processAlive } from '../base/locks';
import type { Project } from '../core/project';
import type { RestoreMode, RestoreStep, SettleAction, SettleOutcome } from '../core/restore';

/** A restore record on disk, as the repository's state carries it. */
export interface RestoreInProgress {
  operationId: string;
  target: Checkpoint;
  mode: RestoreMode;
  /** The step reached, as recorded before it started. */
  step: RestoreStep;
  pid: number;
  startedAt: string;
  /** The process that wrote the record still runs: the restore is running, not interrupted. */
  ownerAlive: boolean;
  /** A step had failed and the restore was being put back: it can only be reverted, whatever the step. */
  reverting: boolean;
  /** Past the cut-over and not being put back: it can be finished. Otherwise it can only be reverted. */
  canContinue: boolean;
  /** What settling does unasked (the CLI's next command, the extension when it starts). */
  defaultAction: SettleAction;
}

/**
 * Reads the restore record: one stat when there is none (every refresh pays
 * it); the restore code loads only when a record is there.
 */
export async function readRestoreInProgress(project: Project): Promise<RestoreInProgress | undefined> {
  if (!fs.existsSync(project.paths.restoreRecord)) return undefined;
  const { canContinue: continuable, readRestoreRecord } = await import('../core/restore');
  const record = readRestoreRecord(project);
  if (!record) return undefined;
  const canContinue = continuable(record);
  return {
    operationId: record.operationId,
    target: record.target,
    mode: record.mode,
    step: record.step,
    pid: record.pid,
    startedAt: record.startedAt,
    ownerAlive: processAlive(record.pid),
    reverting: record.reverting === true,
    canContinue,
    defaultAction: canContinue ? 'continue' : 'abort',
  };
}

/** The buttons, as the CLI's `restore --continue` and `--abort`. */
export const CONTINUE_RESTORE = 'Continue Restore';
export const ABORT_RESTORE = 'Abort Restore';

/** Where the restore stopped, as a person reads it ("interrupted while checking out the code"). */
export const STEP_WORDS: Record<RestoreStep, string> = {
  planned: 'before anything changed',
  stashed: 'after stashing uncommitted work, before the database changed',
  recovering: 'while recovering the database, before it was switched',
  recovered: 'with the database recovered, before it was switched',
  'cutting-over': 'while switching the database over',
  served: 'after the database was switched, before the code was checked out',
  'checking-out': 'while checking out the code, after the database was switched',
};

export interface InterruptedNotice {
  message: string;
  /** Continue first when it is the default; only the actions the restore allows. */
  buttons: string[];
}

/**
 * The notification that names an interrupted restore and offers what can be
 * done, the default first and said. Continue is offered only when the restore
 * can be finished: before the cut-over the core refuses it, and a button that
 * can only fail is no choice.
 */
export function interruptedNotice(restore: RestoreInProgress, repositoryName?: string): InterruptedNotice {
  const where = repositoryName ? ` in ${repositoryName}` : '';
  const head = `Lockstep: the restore to “${displayTitle(restore.target)}”${where} was interrupted ${STEP_WORDS[restore.step]} (its process, pid ${restore.pid}, is gone).`;
  if (restore.canContinue) {
    return {
      message: `${head} It is past the point of no return: by default it is finished (the code checked out to match the data). Continue Restore finishes it; Abort Restore puts code and data back as they were.`,
      buttons: [CONTINUE_RESTORE, ABORT_RESTORE],
    };
  }
  const why = restore.reverting ? 'A step had failed and it was being put back, so it' : 'It had not reached the point of no return, so it';
  return {
    message: `${head} ${why} can only be reverted (the default): Abort Restore puts code and data back as they were.`,
    buttons: [ABORT_RESTORE],
  };
}

/** Status bar and tree: a few words. */
export function interruptedShort(restore: RestoreInProgress): string {
  return restore.ownerAlive ? 'restore in progress' : 'restore interrupted';
}

/** Status bar tooltip and the line above the tree's rows: one sentence with the way out. */
export function interruptedSentence(restore: RestoreInProgress): string {
  const title = `“${displayTitle(restore.target)}”`;
  if (restore.ownerAlive) return `A restore to ${title} is running in another process (pid ${restore.pid}), at step “${restore.step}”.`;
  return `The restore to ${title} was interrupted ${STEP_WORDS[restore.step]}: ${restore.canContinue ? 'Continue Restore finishes it (the default), Abort Restore reverts it' : 'Abort Restore reverts it'}.`;
}

/**
 * What settling did, for the result notification: a headline built from the
 * outcome, then the core's checked account without its own opening clause.
 */
export function settledMessage(outcome: Pick<SettleOutcome, 'target' | 'action' | 'step' | 'detail' | 'ok'>): string {
  const title = `“${displayTitle(outcome.target)}”`;
  const where = STEP_WORDS[outcome.step];
  const detail = sentence(outcome.detail);
  if (outcome.ok) {
    return outcome.action === 'continue'
      ? `Lockstep finished the restore to ${title}, which had been interrupted ${where}. ${detail}`
      : `Lockstep reverted the restore to ${title}, which had been interrupted ${where}. ${detail}`;
  }
  return outcome.action === 'continue'
    ? `Lockstep could not finish the restore to ${title}, which had been interrupted ${where}. ${detail}`
    : `Lockstep could not put everything back after the restore to ${title}, which had been interrupted ${where}. ${detail}`;
}

/** Core messages are lower-case clauses; a notification wants sentences. */
function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}
