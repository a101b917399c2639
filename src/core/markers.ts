// Taking checkpoints: the commit hook's record, the pre-push hook's push checkpoints, manual snapshots, and the pre-restore marker of "now".

import { headFromFiles, readCommit, readHead, resolveCommit } from '../git/repository';
import { shouldRecord } from '../git/hook';
import { newCheckpointId, type AgentIdentity, type Checkpoint, type CheckpointKind } from './checkpoint';
import type { Engine, OperationOptions, Position } from './engine';
import { checkLabel, displayText, MAX_LABEL_LENGTH } from './journalText';
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
  const config = project.config();
  if (!project.journal.exceeds(config.keep)) return;
  // pinTags: a tagged commit's checkpoint is pinned before the count can drop it (not only at the next prune or upkeep).
  if (config.pinTags) {
    const { pinTaggedCheckpoints } = await import('./pins');
    await pinTaggedCheckpoints(project).catch((error: unknown) => project.log.warn(`could not pin tagged checkpoints before pruning: ${(error as Error).message}`));
  }
  await pruneJournal(project, config.keep);
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
  const { position, stopped } = await headOrWhereStopped(engine, options.signal);
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

/** One line git gives a pre-push hook: `<local ref> <local sha> <remote ref> <remote sha>`. */
export interface PushedRef {
  localRef: string;
  localSha: string;
  remoteRef: string;
  remoteSha: string;
}

/**
 * Where a push checkpoint's commit went, kept in its journal line (`push`):
 * `restore push:origin/main` finds it by these. Raw, as git gave them; printed through `displayText`.
 */
export interface PushTarget {
  /** The remote's name as git gave it (a URL when pushed to a URL: then without its user and password). */
  remote: string;
  /** The ref on the remote, e.g. `refs/heads/main`. */
  remoteRef: string;
  /** The local ref pushed, e.g. `refs/heads/main` (or `HEAD`, or a sha, as typed). */
  localRef: string;
}

export type PushCheckpoint = Checkpoint & { push: PushTarget };

/** At most this many refs of one push are recorded (the current branch's first): `git push --tags` must not flood the journal. */
export const MAX_PUSH_CHECKPOINTS = 10;

const ZERO_SHA = /^0+$/;
const OBJECT_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/** git's pre-push lines; malformed lines are skipped, deletions (an all-zero local sha) dropped. */
export function parsePushLines(text: string): PushedRef[] {
  const refs: PushedRef[] = [];
  for (const line of text.split('\n')) {
    const fields = line.replace(/\r$/, '').split(' ');
    if (fields.length !== 4) continue;
    const [localRef, localSha, remoteRef, remoteSha] = fields as [string, string, string, string];
    if (!OBJECT_SHA.test(localSha) || ZERO_SHA.test(localSha)) continue;
    refs.push({ localRef, localSha, remoteRef, remoteSha });
  }
  return refs;
}

/** The push data a checkpoint carries, when it is a push checkpoint written by `recordPush`. */
export function pushTargetOf(c: Checkpoint): PushTarget | undefined {
  if (c.kind !== 'push') return undefined;
  const push = (c as { push?: unknown }).push;
  if (typeof push !== 'object' || push === null) return undefined;
  const { remote, remoteRef, localRef } = push as Record<string, unknown>;
  return typeof remote === 'string' && typeof remoteRef === 'string' && typeof localRef === 'string' ? { remote, remoteRef, localRef } : undefined;
}

/**
 * The remote as a person names it: the remote's name, or for a push to a URL
 * that URL without the user and password it may carry (a token must not land
 * in the journal or on screen).
 */
export function remoteDisplayName(remote: string): string {
  // scheme://user:password@host/… and user@host:path (scp-like: the user is no secret, but keep it short).
  return remote.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1');
}

/** `refs/heads/main` → `main`, `refs/tags/v1` → `v1`; anything else as it is. */
function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

/**
 * "pushed main to origin", "pushed feature to origin/main", "pushed tag v1 to origin":
 * made safe to store as a label whatever git passed (control and direction
 * characters become visible escapes; long names are cut).
 */
export function pushLabel(ref: PushedRef, remote: string): string {
  const local = shortRef(ref.localRef);
  const target = shortRef(ref.remoteRef);
  const where = remoteDisplayName(remote);
  const text = ref.remoteRef.startsWith('refs/tags/')
    ? `pushed tag ${target} to ${where}`
    : local === target
      ? `pushed ${target} to ${where}`
      : `pushed ${local} to ${where}/${target}`;
  return displayText(text, MAX_LABEL_LENGTH);
}

export interface PushRecordOptions extends OperationOptions {
  /** The remote's name ($1 of the pre-push hook). */
  remote: string;
  /** Its URL ($2); kept only for the remote's name when that is empty. */
  url?: string;
  /** git's lines, parsed (`parsePushLines`). */
  refs: readonly PushedRef[];
}

export type PushRecordOutcome =
  | { recorded: true; checkpoints: Checkpoint[]; skipped: string[]; maintenanceDue: boolean; stopped?: boolean }
  | { recorded: false; reason: string; quiet: boolean };

/**
 * What the pre-push hook runs: one `push` checkpoint per pushed ref (deleted
 * refs and refs that are no commit are skipped), all at the engine's head now
 * (the data state the push ships with), each paired with the pushed commit.
 * Never throws for the expected cases (not set up, nothing to record); engine
 * failures throw, and the CLI turns them into one "not recorded" line, exit 0.
 */
export async function recordPush(project: Project, options: PushRecordOptions): Promise<PushRecordOutcome> {
  const config = project.tryConfig();
  if (!config) return { recorded: false, reason: 'Lockstep is not set up in this repository (`lockstep init`)', quiet: false };
  const remote = remoteDisplayName(options.remote || options.url || 'a remote');
  if (options.refs.length === 0) return { recorded: false, reason: 'nothing pushed but deletions', quiet: true };
  // The branch checked out first: it is the one a person means by "the last push".
  const head = headFromFiles(project.repo);
  const ordered = [...options.refs].sort((a, b) => Number(b.localRef === `refs/heads/${head?.branch}`) - Number(a.localRef === `refs/heads/${head?.branch}`));
  const chosen = ordered.slice(0, MAX_PUSH_CHECKPOINTS);
  const skipped = ordered.slice(MAX_PUSH_CHECKPOINTS).map((r) => `${shortRef(r.localRef)}: more than ${MAX_PUSH_CHECKPOINTS} refs in one push`);

  const engine = await project.engine();
  const { position, stopped } = await headOrWhereStopped(engine, options.signal);
  // One moment for all: the journal orders equal times by append, so the current branch's, appended last, is the newest.
  const moment = new Date().toISOString();
  const checkpoints: Checkpoint[] = [];
  for (const ref of chosen) {
    let checkpoint: Checkpoint;
    try {
      // readCommit peels an annotated tag to its commit; a tag of a tree or blob has none.
      checkpoint = await readMarker(project, { kind: 'push', label: pushLabel(ref, remote), commitSha: ref.localSha, signal: options.signal }, position);
    } catch {
      skipped.push(`${displayText(shortRef(ref.localRef), 80)}: not a commit`);
      continue;
    }
    checkpoint.createdAt = moment;
    checkpoint.branch = ref.localRef.startsWith('refs/heads/') ? ref.localRef.slice('refs/heads/'.length) : null;
    const target: PushTarget = { remote, remoteRef: ref.remoteRef, localRef: ref.localRef };
    const pushed: PushCheckpoint = { ...checkpoint, push: target };
    // The same push again (retried after the remote refused it) at the same position adds nothing.
    const same = project.journal.recent().find((c) => {
      const t = pushTargetOf(c);
      return t && c.commitSha === pushed.commitSha && c.timelineId === pushed.timelineId && c.lsn === pushed.lsn && t.remote === remote && t.remoteRef === ref.remoteRef;
    });
    if (same) {
      skipped.push(`${displayText(shortRef(ref.localRef), 80)}: already recorded as ${same.id}`);
      continue;
    }
    checkpoints.push(pushed);
  }
  if (checkpoints.length === 0) return { recorded: false, reason: skipped.join('; ') || 'nothing to record', quiet: skipped.every((s) => s.includes('already recorded')) };
  // Commits the hook spooled go in first, so that the journal stays in the order things happened.
  await foldPending(project);
  // The newest last: the current branch's push is what `push` names.
  await project.journal.fold([...checkpoints].reverse());
  const maintenanceDue = engine.maintenanceDue?.({ timelineId: position.timelineId, lsn: position.lsn }) ?? false;
  await pruneIfOverKeep(project);
  return { recorded: true, checkpoints, skipped, maintenanceDue, ...(stopped ? { stopped } : {}) };
}

/** The head, or where a cleanly stopped database stopped (it has not moved since: that position is exact). */
async function headOrWhereStopped(engine: Engine, signal: AbortSignal | undefined): Promise<{ position: Position; stopped: boolean }> {
  try {
    return { position: await engine.head({ signal }), stopped: false };
  } catch (error) {
    const where = engine.positionWhileStopped?.();
    if (!where) throw error;
    return { position: where, stopped: true };
  }
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
