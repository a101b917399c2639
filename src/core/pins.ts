// Pinned checkpoints: kept restorable past retention. pins.json beside the journal lists them; each engine keeps what it holds for them.

import { LockstepError } from '../base/errors';
import { readJsonFile, writeJsonFile } from '../base/files';
import { withLock } from '../base/locks';
import { newCheckpointId, pointOf, type Checkpoint } from './checkpoint';
import type { EngineKind, OperationOptions, PinHold } from './engine';
import { restorabilityError } from './engine';
import { displayText, displayTitle } from './journalText';
import { runGit } from '../git/gitProcess';
import type { LockstepPaths } from './paths';
import type { Project } from './project';

export interface Pin {
  checkpointId: string;
  /** ISO time it was pinned. */
  pinnedAt: string;
  engine: EngineKind;
  /** What the engine holds for it (a Neon snapshot, a lease, the base backup kept). */
  hold: PinHold;
  /** Pinned by Lockstep itself because its commit carries a tag (`pinTags`), not by a person. */
  tag?: string;
}

interface PinsFile {
  version: 1;
  pins: Pin[];
}

function isPin(value: unknown): value is Pin {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return typeof p.checkpointId === 'string' && typeof p.pinnedAt === 'string' && typeof p.engine === 'string' && typeof p.hold === 'object' && p.hold !== null;
}

/** pins.json: small (one entry per pin), rewritten atomically under its own lock. */
export class PinStore {
  constructor(private readonly paths: LockstepPaths) {}

  list(): Pin[] {
    let file: PinsFile | undefined;
    try {
      file = readJsonFile<PinsFile>(this.paths.pins);
    } catch {
      // A torn or hand-edited file: no pins rather than no listing; `lockstep status` would show none pinned.
      return [];
    }
    return Array.isArray(file?.pins) ? file.pins.filter(isPin) : [];
  }

  ids(): Set<string> {
    return new Set(this.list().map((p) => p.checkpointId));
  }

  get(checkpointId: string): Pin | undefined {
    return this.list().find((p) => p.checkpointId === checkpointId);
  }

  /** Runs `change` on the pins under the lock and writes the result; returns what `change` returned. */
  async update<R>(change: (pins: Pin[]) => Promise<R> | R): Promise<R> {
    return withLock(this.paths.pinsLock, { waitMs: 60_000, what: 'the pinned checkpoints', hint: 'Another pin or unpin is running; try again when it ends.' }, async () => {
      const pins = this.list();
      const result = await change(pins);
      writeJsonFile(this.paths.pins, { version: 1, pins } satisfies PinsFile);
      return result;
    });
  }
}

export interface PinOutcome {
  pin: Pin;
  /** It was pinned already: nothing changed. */
  already: boolean;
}

/**
 * Pins a checkpoint: the engine takes its hold first (a Neon snapshot, a
 * lease, the local base backup's exemption), then pins.json names it. A
 * checkpoint that cannot be restored now cannot be pinned (EXPIRED, exit 2),
 * and an engine that refuses (QUOTA) leaves nothing changed.
 */
export async function pinCheckpoint(project: Project, checkpoint: Checkpoint, options: OperationOptions & { tag?: string } = {}): Promise<PinOutcome> {
  const engine = await project.engine();
  if (!engine.pin) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine cannot pin checkpoints`);
  return project.pins.update(async (pins) => {
    const existing = pins.find((p) => p.checkpointId === checkpoint.id);
    if (existing) return { pin: existing, already: true };
    const at = pointOf(checkpoint);
    const verdict = await engine.restorability(at, options);
    if (!verdict.restorable) throw restorabilityError(verdict, at);
    const hold = await engine.pin!(at, { checkpointId: checkpoint.id, name: `lockstep ${checkpoint.id}: ${displayTitle(checkpoint)}`.slice(0, 200) }, options);
    const pin: Pin = { checkpointId: checkpoint.id, pinnedAt: new Date().toISOString(), engine: engine.kind, hold, ...(options.tag ? { tag: options.tag } : {}) };
    pins.push(pin);
    await project.audit.append({ op: 'pin', phase: 'finished', operationId: newCheckpointId(), checkpointId: checkpoint.id, detail: hold.summary });
    return { pin, already: false };
  });
}

/** Unpins: the engine lets go of its hold, then pins.json forgets it. Undefined when it was not pinned. */
export async function unpinCheckpoint(project: Project, checkpointId: string, options: OperationOptions = {}): Promise<Pin | undefined> {
  const engine = await project.engine();
  return project.pins.update(async (pins) => {
    const index = pins.findIndex((p) => p.checkpointId === checkpointId);
    if (index < 0) return undefined;
    const pin = pins[index]!;
    if (pin.engine === engine.kind) await engine.unpin?.(pin.hold, options);
    pins.splice(index, 1);
    await project.audit.append({ op: 'unpin', phase: 'finished', operationId: newCheckpointId(), checkpointId, detail: pin.hold.summary });
    return pin;
  });
}

export interface TagPinsOutcome {
  /** Checkpoints pinned now because their commit carries a tag. */
  pinned: Pin[];
  /** Tagged checkpoints the engine refused to pin (QUOTA, unreachable), one line each: the caller says them and goes on. */
  skipped: string[];
  /** Tagged checkpoints that can no longer be restored (expired before the tag, or before pinTags was on): nothing to keep; `pin --tags` names them, a prune need not repeat them each time. */
  unrestorable: string[];
}

/**
 * `pinTags`: pins the checkpoint of every tagged commit that is not pinned
 * yet (the commit's own checkpoint, else the newest at it), before a prune
 * could take it. One git call for all tags; annotated tags count by the
 * commit they point at. Never throws for one checkpoint: each refusal
 * becomes a line (`skipped`: QUOTA and the like, tried again next time;
 * `unrestorable`: expired, nothing left to keep).
 */
export async function pinTaggedCheckpoints(project: Project, options: OperationOptions = {}): Promise<TagPinsOutcome> {
  const tags = await tagsByCommit(project.repo.topLevel);
  const outcome: TagPinsOutcome = { pinned: [], skipped: [], unrestorable: [] };
  if (tags.size === 0) return outcome;
  const pinned = project.pins.ids();
  const byCommit = new Map<string, Checkpoint>();
  const held = new Set<string>();
  for (const c of project.journal.list()) {
    if (!c.commitSha || !tags.has(c.commitSha)) continue;
    // A tagged commit with any pinned checkpoint (a person pinned its snapshot) is kept already.
    if (pinned.has(c.id)) held.add(c.commitSha);
    const chosen = byCommit.get(c.commitSha);
    // Newest first: the first seen is the newest; a commit's own checkpoint wins over a snapshot at it.
    if (!chosen || (chosen.kind !== 'commit' && c.kind === 'commit')) byCommit.set(c.commitSha, c);
  }
  for (const [sha, checkpoint] of byCommit) {
    if (held.has(sha)) continue;
    const tag = tags.get(sha)![0]!;
    try {
      const { pin, already } = await pinCheckpoint(project, checkpoint, { ...options, tag });
      if (!already) outcome.pinned.push(pin);
    } catch (error) {
      const line = `${checkpoint.id} (tag ${displayText(tag, 80)}): ${(error as Error).message}`;
      // A verdict on the point (expired, its timeline gone) is bad input for a pin: it will not change by trying again.
      if (error instanceof LockstepError && error.isBadInput) outcome.unrestorable.push(line);
      else outcome.skipped.push(line);
    }
  }
  return outcome;
}

/** Commit sha → the tags on it, from one `git for-each-ref` (an annotated tag's `*objectname` is its commit). */
export async function tagsByCommit(cwd: string): Promise<Map<string, string[]>> {
  const run = await runGit(cwd, ['for-each-ref', '--format=%(objectname)%09%(*objectname)%09%(refname:short)', 'refs/tags']);
  const tags = new Map<string, string[]>();
  if (run.exitCode !== 0) throw new LockstepError('GIT_FAILED', `git for-each-ref refs/tags failed: ${run.stderr.trim()}`);
  for (const line of run.stdout.split('\n')) {
    const [object, peeled, name] = line.split('\t');
    if (!object || name === undefined) continue;
    const sha = peeled || object;
    tags.set(sha, [...(tags.get(sha) ?? []), name]);
  }
  return tags;
}
