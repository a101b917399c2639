// What the pageserver engine remembers between runs: the serving timeline, the forks it created, the leases it holds.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';
import { readJsonFile, writeJsonFile } from '../../base/files';

export interface ForkRecord {
  timelineId: string;
  ancestorTimelineId: string;
  ancestorLsn: string;
  createdAt: string;
  /** Last time the compute was repointed to it. */
  servedAt?: string;
}

/** A lease Lockstep holds on (timeline, LSN): the pageserver lets its holder branch there even below the GC cutoff while it is valid. */
export interface LeaseRecord {
  timelineId: string;
  lsn: string;
  /** The pageserver's `valid_until`. */
  validUntil: string;
  /** When it was granted or last renewed (our clock): with `validUntil`, its length, so renewal starts at half of it. */
  grantedAt?: string;
  /** For a time-based checkpoint: its time, so the lease is found from the moment alone once GC passed it (the LSN lookup then answers `past`). */
  moment?: string;
  /** It lapsed and GC passed its LSN (the pageserver refused it again): it cannot be held any more, so nothing asks again. */
  lost?: boolean;
}

/** A pinned checkpoint: its lease is renewed until it is unpinned, whatever prune is told to keep. */
export interface PinRecord {
  checkpointId: string;
  timelineId: string;
  lsn: string;
  moment?: string;
  pinnedAt: string;
}

export interface PageserverState {
  version: 1;
  tenantId: string;
  /** The timeline the compute serves; the configured one until the first repoint. */
  serving: string;
  forks: ForkRecord[];
  leases: LeaseRecord[];
  /** Pinned checkpoints (absent in files written before pins). */
  pins?: PinRecord[];
  /** This pageserver has no lease endpoint; do not ask again. */
  leasesUnsupported?: boolean;
}

export function loadPageserverState(file: string, tenantId: string, configuredTimeline: string): PageserverState {
  let raw: unknown;
  try {
    raw = readJsonFile(file);
  } catch (error) {
    throw new LockstepError('CONFIG', `${file} is not valid JSON`, {
      hint: 'It records which timeline serves; delete it only if the compute serves the configured timeline.',
      cause: error,
    });
  }
  if (raw === undefined) return { version: 1, tenantId, serving: configuredTimeline, forks: [], leases: [] };
  const state = raw as Partial<PageserverState>;
  if (
    state.version !== 1 ||
    typeof state.serving !== 'string' ||
    !Array.isArray(state.forks) ||
    !Array.isArray(state.leases) ||
    (state.pins !== undefined && !Array.isArray(state.pins))
  ) {
    throw new LockstepError('CONFIG', `${file}: unsupported format`);
  }
  if (state.tenantId !== tenantId) {
    throw new LockstepError('CONFIG', `${file} belongs to tenant ${String(state.tenantId)}, not ${tenantId}`, {
      hint: 'The tenant changed in the configuration; move the file away if the old tenant is gone.',
    });
  }
  return state as PageserverState;
}

export function savePageserverState(file: string, state: PageserverState): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeJsonFile(file, state, 0o600);
}

/** The timelines `timelineId` descends from, through the forks Lockstep made (nearest first). */
export function forkAncestors(state: PageserverState, timelineId: string): string[] {
  const out: string[] = [];
  let current = timelineId;
  for (let guard = 0; guard < 1000; guard++) {
    const fork = state.forks.find((f) => f.timelineId === current);
    if (!fork || out.includes(fork.ancestorTimelineId)) break;
    out.push(fork.ancestorTimelineId);
    current = fork.ancestorTimelineId;
  }
  return out;
}

/**
 * Forks prune may delete: not serving, not holding a kept checkpoint, and not
 * an ancestor of either (a child reads its history before the branch point
 * from its ancestor, and the pageserver refuses to delete a parent anyway).
 */
export function forksToDelete(state: PageserverState, keptTimelines: readonly string[]): ForkRecord[] {
  const needed = new Set<string>();
  for (const timelineId of [state.serving, ...keptTimelines]) {
    needed.add(timelineId);
    for (const ancestor of forkAncestors(state, timelineId)) needed.add(ancestor);
  }
  return state.forks.filter((f) => !needed.has(f.timelineId));
}
