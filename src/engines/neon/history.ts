// Where a Neon checkpoint's history lives now: the restores of the branch, and the branches that preserve what they replaced.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';
import { readJsonFile, writeJsonFile } from '../../base/files';
import type { PointInHistory } from '../../core/engine';

/**
 * One restore in place of `branchId`. Neon keeps the branch id (and so the
 * connection string) and moves the history it replaced to a new branch named
 * `preservedName`: every checkpoint taken on `branchId` before this restore now
 * lives there, at the same LSN.
 */
export interface NeonRestoreRecord {
  branchId: string;
  sourceBranchId: string;
  /** Where in the source's history; null when restored by time (`sourceTimestamp`, a time-based checkpoint). */
  sourceLsn: string | null;
  sourceTimestamp?: string;
  preservedName: string;
  /** Known once the restore finished; null while it is not confirmed. */
  preservedBranchId: string | null;
  /** Head of the branch just before the restore: the preserved history ends there. */
  preservedHeadLsn: string | null;
  /** Taken before the request was sent: a checkpoint at or before it belongs to the preserved history. */
  startedAt: string;
  /** After the restore finished: a checkpoint at or after it belongs to the restored branch. */
  finishedAt: string | null;
  /**
   * `requested`: sent, outcome unknown (a crash or a dropped connection);
   * `unconfirmed`: Neon accepted it but it did not finish while we waited;
   * `finished`: done, `preservedBranchId` known.
   */
  status: 'requested' | 'unconfirmed' | 'finished';
  /** Set when prune deleted the preserved branch. */
  deletedAt?: string;
}

/**
 * A pinned checkpoint's Neon snapshot: the point it holds (as the journal
 * names it), so `fork(at)` and the listings find it from the point alone.
 */
export interface NeonPinRecord {
  snapshotId: string;
  snapshotName: string;
  checkpointId: string;
  /** The checkpoint's point: its branch and LSN (null for a moment, held by `createdAt`). */
  timelineId: string;
  lsn: string | null;
  createdAt?: string;
  /** The branch the snapshot was taken of (where the point's history lived then). */
  sourceBranchId: string;
  takenAt: string;
}

/**
 * One restore from a snapshot, finalized onto the serving branch: Neon moved
 * the computes (and the branch's name) to a new branch, so the serving branch
 * id changed; the replaced branch keeps its id, renamed "<name> (old)", and
 * with it the history of every checkpoint taken on it.
 */
export interface NeonSnapshotRestoreRecord {
  snapshotId: string;
  /** The branch whose computes moved (the serving one before). */
  replacedBranchId: string;
  /** Its name before: the restored branch takes it when the restore is finalized (how an unconfirmed one is settled). */
  replacedBranchName?: string;
  /** The branch serving after it; known once Neon answered. */
  newBranchId: string | null;
  startedAt: string;
  finishedAt: string | null;
  status: 'requested' | 'unconfirmed' | 'finished';
  /** Set when prune deleted the replaced branch. */
  deletedAt?: string;
}

export interface NeonState {
  version: 1;
  projectId: string;
  restores: NeonRestoreRecord[];
  pins?: NeonPinRecord[];
  snapshotRestores?: NeonSnapshotRestoreRecord[];
  /**
   * The branch that serves now, when a snapshot restore moved the computes
   * away from the configured one (`configuredBranchId`); ignored when the
   * configuration names another branch since.
   */
  serving?: { branchId: string; configuredBranchId: string | null };
}

/** The pin whose snapshot holds `at`: same branch and LSN (or, for a moment, the same time). */
export function pinFor(state: NeonState, at: PointInHistory): NeonPinRecord | undefined {
  return (state.pins ?? []).find((p) => p.timelineId === at.timelineId && (at.lsn === null ? p.lsn === null && p.createdAt === at.createdAt : p.lsn === at.lsn));
}

export function loadNeonState(file: string, projectId: string): NeonState {
  let raw: unknown;
  try {
    raw = readJsonFile(file);
  } catch (error) {
    throw new LockstepError('CONFIG', `${file} is not valid JSON`, {
      hint: 'It maps checkpoints to the branches Neon preserved on restore; restore it from a backup or delete it (older checkpoints then restore from the branch itself).',
      cause: error,
    });
  }
  if (raw === undefined) return { version: 1, projectId, restores: [] };
  const state = raw as Partial<NeonState>;
  if (state.version !== 1 || !Array.isArray(state.restores)) {
    throw new LockstepError('CONFIG', `${file}: unsupported format`);
  }
  if (state.projectId !== projectId) {
    throw new LockstepError('CONFIG', `${file} belongs to Neon project ${String(state.projectId)}, not ${projectId}`, {
      hint: 'The project changed in the configuration; move the file away if the old project is gone.',
    });
  }
  return state as NeonState;
}

export function saveNeonState(file: string, state: NeonState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeJsonFile(file, state, 0o600);
}

export type SourceResolution =
  /** Restore from this branch at the checkpoint's LSN. `headLsn`: where its history ends, when known. */
  | { kind: 'branch'; branchId: string; headLsn?: string | null; preservedBy?: NeonRestoreRecord }
  /** A restore whose outcome is not known yet covers the checkpoint: look its preserved branch up by name. */
  | { kind: 'unconfirmed'; record: NeonRestoreRecord }
  /** The history is gone: its preserved branch was pruned, or its id was never learnt. */
  | { kind: 'gone'; record: NeonRestoreRecord; reason: string };

/**
 * A checkpoint taken on `branchId` before restore k maps to the branch that
 * restore k preserved: the first restore of the branch that started at or
 * after the checkpoint (or was still running when it was taken). Checkpoints
 * on any other branch, or without a time, stay where they are.
 */
export function resolveSource(state: NeonState, branchId: string, at: PointInHistory): SourceResolution {
  if (at.timelineId !== branchId || !at.createdAt) return { kind: 'branch', branchId: at.timelineId };
  const taken = Date.parse(at.createdAt);
  if (Number.isNaN(taken)) return { kind: 'branch', branchId: at.timelineId };
  const restores = state.restores
    .filter((r) => r.branchId === branchId)
    .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  for (const record of restores) {
    const started = Date.parse(record.startedAt);
    const finished = record.finishedAt ? Date.parse(record.finishedAt) : started;
    if (!(taken <= started || taken < finished)) continue;
    if (record.status !== 'finished') return { kind: 'unconfirmed', record };
    if (record.deletedAt) {
      return { kind: 'gone', record, reason: `its history was kept on branch ${record.preservedName}, which was pruned on ${record.deletedAt}` };
    }
    if (!record.preservedBranchId) {
      return { kind: 'gone', record, reason: `the restore of ${record.startedAt} did not report where it preserved the branch` };
    }
    return { kind: 'branch', branchId: record.preservedBranchId, headLsn: record.preservedHeadLsn, preservedBy: record };
  }
  return { kind: 'branch', branchId };
}

/**
 * A readable name for the branch that keeps the pre-restore state, unique
 * among the names this project's restores used: `lockstep-pre-restore-2026-11-22T15-04-05Z`.
 */
export function preservedBranchName(now: Date, taken: ReadonlySet<string>): string {
  const stamp = now.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');
  const base = `lockstep-pre-restore-${stamp}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const name = `${base}-${n}`;
    if (!taken.has(name)) return name;
  }
}

/** Preserved branches prune may delete: beyond the newest `keepCount`, and needed by no kept checkpoint. */
export function preservedBranchesToDelete(state: NeonState, keepCount: number, needed: ReadonlySet<string>): NeonRestoreRecord[] {
  const live = state.restores
    .filter((r) => r.status === 'finished' && r.preservedBranchId && !r.deletedAt)
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
  return live.slice(Math.max(0, keepCount)).filter((r) => !needed.has(r.preservedBranchId!));
}
