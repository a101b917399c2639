// Taking checkpoints: the commit hook's record, manual snapshots, and the pre-restore marker of "now".

import { readCommit, readHead, resolveCommit } from '../git/repository';
import { shouldRecord } from '../git/hook';
import { newCheckpointId, type Checkpoint, type CheckpointKind } from './checkpoint';
import type { OperationOptions } from './engine';
import type { Project } from './project';

export interface MarkerRequest extends OperationOptions {
  kind: CheckpointKind;
  label?: string | null;
  /** Pair the position with this commit (full sha) instead of HEAD's. */
  commitSha?: string;
}

/**
 * A marker at HEAD: the engine's durable position plus what HEAD is. Both are
 * read at once; neither allocates data. Appended to the journal before return.
 */
export async function takeMarker(project: Project, request: MarkerRequest): Promise<Checkpoint> {
  const checkpoint = await readMarker(project, request);
  await project.journal.append(checkpoint);
  // Not while restoring: the pre-restore marker must not push out the checkpoint being restored.
  if (request.kind !== 'pre-restore') await pruneIfOverKeep(project);
  return checkpoint;
}

async function pruneIfOverKeep(project: Project): Promise<void> {
  const keep = project.config().keep;
  if (project.journal.exceeds(keep)) await pruneJournal(project, keep);
}

/** The checkpoint a marker would be, not yet in the journal. */
export async function readMarker(project: Project, request: MarkerRequest): Promise<Checkpoint> {
  const config = project.config();
  const engine = await project.engine();
  const [position, commit] = await Promise.all([
    engine.head({ signal: request.signal }),
    request.commitSha ? readCommit(project.repo, request.commitSha) : readHead(project.repo),
  ]);
  const checkpoint: Checkpoint = {
    id: newCheckpointId(),
    kind: request.kind,
    commitSha: commit?.sha ?? null,
    branch: commit?.branch ?? null,
    subject: commit?.subject ?? null,
    author: commit?.author ?? null,
    filesChanged: request.kind === 'commit' ? (commit?.filesChanged ?? null) : null,
    label: request.label?.trim() ? request.label.trim() : null,
    createdAt: new Date().toISOString(),
    engine: config.engine,
    timelineId: position.timelineId,
    lsn: position.lsn,
  };
  return checkpoint;
}

export type RecordOutcome =
  | { recorded: true; checkpoint: Checkpoint; maintenanceDue: boolean }
  | { recorded: false; reason: string; quiet: boolean };

/**
 * What the post-commit hook runs (for HEAD's commit, or `commit` when given).
 * Never throws for the expected cases (not set up, rebase, no such commit): it
 * says why it did not record. Engine failures do throw; the CLI turns them into
 * one stderr line and exit code 0.
 */
export async function recordCommit(project: Project, options: OperationOptions & { commit?: string } = {}): Promise<RecordOutcome> {
  const config = project.tryConfig();
  if (!config) return { recorded: false, reason: 'Lockstep is not set up in this repository (`lockstep init`)', quiet: false };
  let commitSha: string | undefined;
  if (options.commit) {
    // A commit named by hand is recorded whatever git is doing.
    commitSha = (await resolveCommit(project.repo, options.commit)) ?? undefined;
    if (!commitSha) return { recorded: false, reason: `no commit matches "${options.commit}"`, quiet: false };
  } else {
    const decision = shouldRecord(project.repo);
    if (!decision.record) return { recorded: false, reason: decision.reason ?? 'not recorded', quiet: true };
  }
  const checkpoint = await readMarker(project, { kind: 'commit', signal: options.signal, commitSha });
  // Recording the same commit at the same position twice (hook, then by hand) adds nothing.
  const same = project.journal
    .recent()
    .find((c) => c.kind === 'commit' && c.commitSha === checkpoint.commitSha && c.timelineId === checkpoint.timelineId && c.lsn === checkpoint.lsn);
  if (same) return { recorded: false, reason: `already recorded as ${same.id}`, quiet: true };
  await project.journal.append(checkpoint);
  const engine = await project.engine();
  const maintenanceDue = engine.maintenanceDue?.({ timelineId: checkpoint.timelineId, lsn: checkpoint.lsn }) ?? false;
  await pruneIfOverKeep(project);
  return { recorded: true, checkpoint, maintenanceDue };
}

/**
 * Checkpoints a person may still need are never pruned by count: the target
 * of the last restore (what serves now) and its pre-restore marker (its undo).
 */
export function pinnedCheckpoints(project: Project): Set<string> {
  const pinned = new Set<string>();
  const lastRestore = project.audit.list().find((e) => e.op === 'restore' && e.phase === 'finished');
  if (lastRestore?.checkpointId) pinned.add(lastRestore.checkpointId);
  if (lastRestore?.undoCheckpointId) pinned.add(lastRestore.undoCheckpointId);
  return pinned;
}

export async function pruneJournal(project: Project, keep: number): Promise<Checkpoint[]> {
  const { removed } = await project.journal.prune(keep, pinnedCheckpoints(project));
  if (removed.length > 0) {
    await project.audit.append({
      op: 'prune',
      phase: 'finished',
      operationId: newCheckpointId(),
      detail: `removed ${removed.length} checkpoint(s) beyond the newest ${keep}`,
    });
  }
  return removed;
}
