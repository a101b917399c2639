// A safety point from a position read elsewhere (the agent guard's reading over the local database's private socket),
// appended without opening the engine: the same checkpoint takeSafetyPoint makes, for a face that must start in milliseconds.

import type { Repository } from '../git/repository';
import { newCheckpointId, type AgentIdentity, type Checkpoint } from './checkpoint';
import type { ProjectConfig } from './config';
import type { Position } from './engine';
import type { AuditTrail, Journal } from './journal';
import { checkLabel } from './journalText';
import { headWithoutGit, pruneJournal } from './markers';
import type { LockstepPaths } from './paths';
import type { PinStore } from './pins';
import { readPending } from './pending';
import { labelFor, safetyCommandText } from './safety';

/** What the quick path needs of a project: its files, never its engine. */
export interface QuickProject {
  repo: Repository;
  paths: LockstepPaths;
  config: ProjectConfig;
  journal: Journal;
  audit: AuditTrail;
  pins: PinStore;
}

export interface QuickSafetyRequest {
  command: string;
  agent?: AgentIdentity;
}

/**
 * Appends a `safety` checkpoint at the position `at` gives (read by the caller
 * while HEAD is read here) and HEAD: the same checkpoint
 * `takeSafetyPoint(project, { command, agent, at })` makes, HEAD from git's
 * files with the subject and author of a checkpoint already at that commit
 * (else git), the label derived from the command, pruned to `keep` afterwards.
 * Returns undefined, appending nothing, when `at` gives no position, or when
 * commits the hook spooled wait to be folded in first: folding needs the
 * engine, so the caller takes the full path (takeSafetyPoint), which keeps the
 * journal in the order things happened.
 */
export async function quickSafetyPoint(project: QuickProject, at: PromiseLike<Position | undefined>, request: QuickSafetyRequest, options: { prune?: boolean } = {}): Promise<Checkpoint | undefined> {
  if (readPending(project.paths.root).length > 0) return undefined;
  // Everything that does not need the position is done while the database answers.
  const command = safetyCommandText(request.command);
  const label = checkLabel(labelFor(command));
  const [commit, position] = await Promise.all([headWithoutGit(project), at]);
  if (!position) return undefined;
  const checkpoint: Checkpoint = {
    id: newCheckpointId(),
    kind: 'safety',
    commitSha: commit?.sha ?? null,
    branch: commit?.branch ?? null,
    subject: commit?.subject ?? null,
    author: commit?.author ?? null,
    filesChanged: null,
    label,
    createdAt: new Date().toISOString(),
    engine: project.config.engine,
    timelineId: position.timelineId,
    lsn: position.lsn,
  };
  checkpoint.command = command;
  if (request.agent) checkpoint.agent = request.agent;
  await project.journal.append(checkpoint);
  if (options.prune !== false) await pruneQuickly(project);
  return checkpoint;
}

/** Prunes the journal to the configuration's `keep` when it holds more (a caller that answers first prunes after). */
export async function pruneQuickly(project: QuickProject): Promise<void> {
  const keep = project.config.keep;
  if (project.journal.exceeds(keep)) await pruneJournal(project, keep);
}
