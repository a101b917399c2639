// Turning what a person types (checkpoint id, commit sha, ISO time, `push`, `push~1`, `push:origin/main`) into one checkpoint, or a clear bad-input error.

import { runGit } from '../git/gitProcess';
import { resolveCommit, type Repository } from '../git/repository';
import type { Checkpoint } from './checkpoint';
import { displayText, displayTitle } from './journalText';
import { pushTargetOf } from './markers';
import { LockstepError } from '../base/errors';

const HEX = /^[0-9a-f]{4,64}$/i;
/** An ISO 8601 date or date-time (the CLI also takes `2026-11-22 15:04`). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * `push` (or `pushed`): the newest push checkpoint; `push~N`: the newest of the
 * Nth push before it; `push:origin/main`: the newest push to that remote ref
 * (`push:origin`: to that remote), `push:origin/main~N` the Nth before. `~`
 * cannot occur in a git ref name, so the forms cannot be mistaken for one.
 */
const PUSH_REF = /^push(?:ed)?(?::(.+?))?(?:~(\d{1,6}))?$/;

/**
 * REF is a checkpoint id (or unique prefix), a commit sha (or prefix: the
 * checkpoint its commit recorded, the newest if several), an ISO time (the
 * newest checkpoint at or before it), or a push (`push`, `push~1`,
 * `push:origin/main`: see PUSH_REF; these words win over a branch named
 * `push`, which `refs/heads/push` still names);
 * any other git revision (HEAD~1, a branch) stands for its commit.
 * `checkpoints` are newest first.
 */
export async function resolveRef(repo: Repository, ref: string, checkpoints: readonly Checkpoint[]): Promise<Checkpoint> {
  const text = ref.trim();
  if (text === '') throw new LockstepError('BAD_INPUT', 'no checkpoint given', { hint: 'Give a checkpoint id, a commit sha or an ISO time (see `lockstep list`).' });

  const push = PUSH_REF.exec(text);
  if (push) return resolvePush(push[1], push[2] === undefined ? 0 : Number(push[2]), checkpoints);

  if (HEX.test(text)) {
    const lower = text.toLowerCase();
    const byId = checkpoints.filter((c) => c.id.startsWith(lower));
    const byCommit = checkpoints.filter((c) => c.commitSha?.startsWith(lower) && !byId.includes(c));
    if (byId.length === 1 && byCommit.length === 0) return byId[0]!;
    if (byId.length > 1 || (byId.length === 1 && byCommit.length > 0)) {
      throw ambiguous(text, [...byId, ...byCommit]);
    }
    if (byCommit.length > 0) {
      const commits = new Set(byCommit.map((c) => c.commitSha));
      if (commits.size > 1) throw ambiguous(text, byCommit);
      return ofCommit(byCommit);
    }
    // A prefix git knows but no checkpoint uses: say so rather than "unknown" (ambiguity is reported as such).
    const sha = await resolveCommit(repo, lower);
    if (sha) throw noCheckpointFor(sha);
  }

  if (ISO_TIME.test(text)) {
    const time = Date.parse(text.includes('T') || text.length === 10 ? text : text.replace(' ', 'T'));
    if (Number.isNaN(time)) throw new LockstepError('BAD_INPUT', `"${text}" is not a valid time`);
    const hit = checkpoints.find((c) => Date.parse(c.createdAt) <= time);
    if (!hit) throw new LockstepError('UNKNOWN_REF', `no checkpoint at or before ${new Date(time).toISOString()}`);
    return hit;
  }

  // Any other git revision (HEAD~2, a branch, a tag): its commit's newest checkpoint.
  const sha = await revisionToCommit(repo, text);
  if (sha) {
    const matches = checkpoints.filter((c) => c.commitSha === sha);
    if (matches.length > 0) return ofCommit(matches);
    throw noCheckpointFor(sha);
  }
  throw new LockstepError('UNKNOWN_REF', `no checkpoint matches "${text}"`, {
    hint: 'Give a checkpoint id, a commit sha or an ISO time (see `lockstep list`).',
  });
}

/**
 * A commit's checkpoint is the one its commit recorded (the newest, after an
 * amend or a re-record); snapshots and pre-restore markers taken later at the
 * same HEAD hold later data, so they count only when the commit recorded none.
 */
function ofCommit(newestFirst: readonly Checkpoint[]): Checkpoint {
  return newestFirst.find((c) => c.kind === 'commit') ?? newestFirst[0]!;
}

/** The names a push checkpoint answers to after `push:`: the remote, remote/branch, remote/full-ref. */
function pushNames(c: Checkpoint): string[] {
  const target = pushTargetOf(c);
  if (!target) return [];
  const short = target.remoteRef.replace(/^refs\/(heads|tags)\//, '');
  return [target.remote, `${target.remote}/${short}`, `${target.remote}/${target.remoteRef}`];
}

function resolvePush(where: string | undefined, back: number, checkpoints: readonly Checkpoint[]): Checkpoint {
  const pushes = checkpoints.filter((c) => c.kind === 'push');
  if (pushes.length === 0) {
    throw new LockstepError('UNKNOWN_REF', 'no push checkpoint yet', {
      hint: 'The pre-push hook takes one for every push: `lockstep hook install --pre-push`.',
    });
  }
  const matching = where === undefined ? pushes : pushes.filter((c) => pushNames(c).includes(where));
  if (matching.length === 0) {
    const known = [...new Set(pushes.map((c) => pushNames(c)[1]).filter((n): n is string => n !== undefined))].slice(0, 8);
    throw new LockstepError('UNKNOWN_REF', `no push to "${displayText(where, 80)}" has a checkpoint`, {
      hint: known.length > 0 ? `Pushes with checkpoints: ${known.map((n) => `push:${displayText(n, 80)}`).join(', ')}.` : 'See `lockstep list`.',
    });
  }
  // One push of several refs makes several checkpoints at one moment: `~N` counts pushes, not refs.
  const moments: Checkpoint[] = [];
  for (const c of matching) if (moments.at(-1)?.createdAt !== c.createdAt) moments.push(c);
  const hit = moments[back];
  if (!hit) {
    const what = where === undefined ? 'push' : `push to "${displayText(where, 80)}"`;
    throw new LockstepError('UNKNOWN_REF', `there are only ${moments.length} ${what} checkpoint(s): ~${back} goes past the oldest`, {
      hint: `The oldest is ~${moments.length - 1}; see \`lockstep list\`.`,
    });
  }
  return hit;
}

function noCheckpointFor(sha: string): LockstepError {
  return new LockstepError('UNKNOWN_REF', `commit ${sha.slice(0, 12)} has no checkpoint`, {
    hint: 'Checkpoints are taken by the commit hook and `lockstep snapshot`; see `lockstep list`.',
  });
}

async function revisionToCommit(repo: Repository, revision: string): Promise<string | null> {
  // `--end-of-options` keeps a REF that starts with "-" from being read as an option.
  const run = await runGit(repo.topLevel, ['rev-parse', '--quiet', '--verify', '--end-of-options', `${revision}^{commit}`]);
  return run.exitCode === 0 ? run.stdout.trim() || null : null;
}

function ambiguous(text: string, matches: readonly Checkpoint[]): LockstepError {
  const lines = matches.slice(0, 8).map((c) => `  ${c.id}  ${c.commitSha?.slice(0, 7) ?? '-------'}  ${displayTitle(c)}`);
  return new LockstepError('AMBIGUOUS_REF', `"${text}" matches ${matches.length} checkpoints:\n${lines.join('\n')}`, {
    hint: 'Type more characters of the id.',
  });
}
