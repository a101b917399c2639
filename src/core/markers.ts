// Taking checkpoints: the commit hook's record, manual snapshots, and the pre-restore marker of "now".

import { headFromFiles, readCommit, readHead, resolveCommit } from '../git/repository';
import { shouldRecord } from '../git/hook';
import { newCheckpointId, type AgentIdentity, type Checkpoint, type CheckpointKind } from './checkpoint';
import type { Engine, OperationOptions, Position } from './engine';
import { checkLabel } from './journalText';
import { newestTimeline, pendingCheckpoint, readPending, readPendingFile, readerActive, removePending, stillMeasuring, type PendingCommit } from './pending';
import type { Project } from './project';

export interface MarkerRequest extends OperationOptions {
  kind: CheckpointKind;
  label?: string | null;
  /** Pair the position with this commit (full sha) instead of HEAD's. */
  commitSha?: string;
  /** A position read earlier (a terminal's reading at its prompt); default: read now. */
  at?: Position;
  /** Safety points: the command and who asked. */
  command?: string;
  agent?: AgentIdentity;
}

/**
 * A marker at HEAD: the engine's durable position plus what HEAD is. Both are
 * read at once; neither allocates data. Appended to the journal before return.
 */
export async function takeMarker(project: Project, request: MarkerRequest): Promise<Checkpoint> {
  const checkpoint = await readMarker(project, request, request.at);
  if (request.command !== undefined) checkpoint.command = request.command;
  if (request.agent) checkpoint.agent = request.agent;
  // Commits the hook spooled go in first, so that the journal stays in the order things happened
  // (a restore folds before its pre-restore marker itself).
  if (request.kind !== 'pre-restore') await foldPending(project);
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
export async function readMarker(project: Project, request: MarkerRequest, measured?: Position): Promise<Checkpoint> {
  // Before anything is read: a label that could forge output is refused, whichever face passed it.
  const label = checkLabel(request.label);
  const config = project.config();
  const engine = await project.engine();
  const [position, commit] = await Promise.all([
    measured ?? engine.head({ signal: request.signal }),
    request.commitSha ? readCommit(project.repo, request.commitSha) : request.kind === 'commit' ? readHead(project.repo) : headWithoutGit(project),
  ]);
  const checkpoint: Checkpoint = {
    id: newCheckpointId(),
    kind: request.kind,
    commitSha: commit?.sha ?? null,
    branch: commit?.branch ?? null,
    subject: commit?.subject ?? null,
    author: commit?.author ?? null,
    filesChanged: request.kind === 'commit' ? (commit?.filesChanged ?? null) : null,
    label,
    createdAt: new Date().toISOString(),
    engine: config.engine,
    timelineId: position.timelineId,
    lsn: position.lsn,
  };
  return checkpoint;
}

/** Subjects and authors of commits seen, by sha: a long-running face (MCP, VS Code) reads each commit once. */
const commitText = new Map<string, { subject: string | null; author: string | null }>();

/**
 * HEAD for a marker that is not a commit's (snapshots, safety points): from git's
 * files, with the subject and author of a checkpoint already made at that commit,
 * so that an agent's safety point starts no git process. Else git, as for commits.
 */
export async function headWithoutGit(project: Pick<Project, 'repo' | 'journal'>): Promise<{ sha: string; branch: string | null; subject: string | null; author: string | null; filesChanged: null } | null> {
  const head = headFromFiles(project.repo);
  const known = head && (commitText.get(head.sha) ?? project.journal.recent().find((c) => c.commitSha === head.sha && c.subject !== null));
  if (head && known) return { sha: head.sha, branch: head.branch, subject: known.subject, author: known.author, filesChanged: null };
  const commit = await readHead(project.repo);
  if (commit) commitText.set(commit.sha, { subject: commit.subject, author: commit.author });
  return commit && { ...commit, filesChanged: null };
}

export type RecordOutcome =
  | { recorded: true; checkpoint: Checkpoint; maintenanceDue: boolean; /** The database was stopped: the position is where it stopped. */ stopped?: boolean }
  | { recorded: false; reason: string; quiet: boolean };

export interface RecordOptions extends OperationOptions {
  /** A commit named by hand (full sha or unique prefix), recorded whatever git is doing. */
  commit?: string;
  /** The hook's spool file for this commit (LOCKSTEP_PENDING): its commit is the one recorded, under its id. */
  pending?: string;
}

/**
 * What the post-commit hook runs (for HEAD's commit, the spooled commit, or
 * `commit` when given). Never throws for the expected cases (not set up,
 * rebase, no such commit): it says why it did not record. Engine failures do
 * throw; the CLI turns them into one stderr line and exit code 0, and the
 * spooled commit stays, recorded by its time.
 */
export async function recordCommit(project: Project, options: RecordOptions = {}): Promise<RecordOutcome> {
  const config = project.tryConfig();
  if (!config) return { recorded: false, reason: 'Lockstep is not set up in this repository (`lockstep init`)', quiet: false };
  let commitSha: string | undefined;
  let spooled: PendingCommit | undefined;
  if (options.pending) {
    spooled = readPendingFile(options.pending);
    // Gone: folded in already (a restore folds what is left before it moves the timeline).
    if (!spooled) return { recorded: false, reason: 'this commit was already recorded by its time', quiet: true };
    commitSha = spooled.sha;
  } else if (options.commit) {
    commitSha = (await resolveCommit(project.repo, options.commit)) ?? undefined;
    if (!commitSha) return { recorded: false, reason: `no commit matches "${options.commit}"`, quiet: false };
  } else {
    const decision = shouldRecord(project.repo);
    if (!decision.record) return { recorded: false, reason: decision.reason ?? 'not recorded', quiet: true };
  }
  const engine = await project.engine();
  let stopped = false;
  const position = await engine.head({ signal: options.signal }).catch((error: unknown) => {
    // A cleanly stopped database has not moved since it stopped: that position is exact.
    const where = engine.positionWhileStopped?.();
    if (!where) throw error;
    stopped = true;
    return where;
  });
  const checkpoint = await readMarker(project, { kind: 'commit', signal: options.signal, commitSha }, position);
  if (spooled) {
    checkpoint.id = spooled.id;
    checkpoint.createdAt = spooled.time;
    checkpoint.branch = spooled.branch;
    const added = await project.journal.fold([checkpoint], () => removePending(spooled.file));
    if (added.length === 0) return { recorded: false, reason: 'this commit was already recorded by its time', quiet: true };
  } else {
    // Recording the same commit at the same position twice (hook, then by hand) adds nothing.
    const same = project.journal
      .recent()
      .find((c) => c.kind === 'commit' && c.commitSha === checkpoint.commitSha && c.timelineId === checkpoint.timelineId && c.lsn === checkpoint.lsn);
    if (same) return { recorded: false, reason: `already recorded as ${same.id}`, quiet: true };
    await project.journal.append(checkpoint);
  }
  const maintenanceDue = engine.maintenanceDue?.({ timelineId: position.timelineId, lsn: position.lsn }) ?? false;
  await pruneIfOverKeep(project);
  return { recorded: true, checkpoint, maintenanceDue, ...(stopped ? { stopped } : {}) };
}

/**
 * Folds the hook's spool into the journal: measured commits as they are,
 * unmeasured ones as time-based checkpoints on the timeline serving now (a
 * restore folds before it moves the timeline). With `waitForHooks`, waits (up
 * to the hook's bound) for hooks still measuring. Returns what was added.
 */
export async function foldPending(project: Project, options: { waitForHooks?: boolean } = {}): Promise<Checkpoint[]> {
  let entries = readPending(project.paths.root);
  if (entries.length === 0) return [];
  const config = project.tryConfig();
  if (!config) return [];
  const measuring = (e: PendingCommit) => stillMeasuring(e, Date.now(), readerActive(project.paths.root));
  if (options.waitForHooks) {
    const deadline = Date.now() + 2500;
    while (entries.some(measuring) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      entries = readPending(project.paths.root);
    }
  }
  entries = entries.filter((e) => !measuring(e));
  if (entries.length === 0) return [];
  const engine = await project.engine();
  const serving = servingTimelineOf(engine, project.journal.listWritten());
  const checkpoints: Checkpoint[] = [];
  for (const entry of entries) {
    const commit = await readCommit(project.repo, entry.sha).catch(() => undefined);
    const checkpoint = pendingCheckpoint(entry, config.engine, serving, commit);
    if (checkpoint) checkpoints.push(checkpoint);
  }
  const folded = new Set(checkpoints.map((c) => c.id));
  return project.journal.fold(checkpoints, () => {
    for (const entry of entries) if (folded.has(entry.id)) removePending(entry.file);
  });
}

/** The timeline a time-based commit belongs to: the engine knows it without the database; else the newest checkpoint's. */
function servingTimelineOf(engine: Engine, journal: readonly Checkpoint[]): string | undefined {
  return engine.servingTimelineId?.() ?? newestTimeline(journal);
}

/**
 * Checkpoints a person may still need are never pruned by count: the pinned
 * ones, the target of the last restore (what serves now) and its pre-restore
 * marker (its undo).
 */
export function pinnedCheckpoints(project: Pick<Project, 'audit' | 'pins'>): Set<string> {
  // Pinned by a person (or by its tag): kept past retention, so never pruned by count either.
  const pinned = project.pins.ids();
  const lastRestore = project.audit.list().find((e) => e.op === 'restore' && e.phase === 'finished');
  if (lastRestore?.checkpointId) pinned.add(lastRestore.checkpointId);
  if (lastRestore?.undoCheckpointId) pinned.add(lastRestore.undoCheckpointId);
  return pinned;
}

export async function pruneJournal(project: Pick<Project, 'journal' | 'audit' | 'pins'>, keep: number): Promise<Checkpoint[]> {
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
