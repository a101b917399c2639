// The git facts Lockstep pairs with data (where the repository is, what HEAD is) and the git steps a restore takes.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { SimpleGit } from 'simple-git';
import { LockstepError } from '../base/errors';
import { firstLines, gitClient, gitFailure, runGit } from './gitProcess';

/** Where a work tree and its git directories are. All paths absolute and canonical (symlinks resolved). */
export interface Repository {
  /** Top of the work tree (of this worktree, for a linked worktree). */
  topLevel: string;
  /** This worktree's git dir: HEAD, index, and the state of a rebase or merge live here. */
  gitDir: string;
  /** The git dir shared by all worktrees: objects, refs, hooks, and Lockstep's journal. */
  commonDir: string;
}

/** What HEAD is, as a restore needs to put it back. `sha` is null on an unborn branch. */
export interface HeadRef {
  sha: string | null;
  /** Short branch name (`main`), or null when HEAD is detached. */
  branch: string | null;
}

/** The commit HEAD points at, with what a checkpoint shows of it. */
export interface HeadCommit extends HeadRef {
  sha: string;
  subject: string;
  author: string;
  /** Files the commit changed (against its first parent for a merge; every file for a root commit). */
  filesChanged: number;
}

/**
 * A git operation stopped half-way in this worktree. `am` is `git am` applying
 * patches (it shares `rebase-apply/` with the old rebase backend).
 */
export type GitOperation = 'rebase' | 'am' | 'merge' | 'cherry-pick' | 'revert' | 'bisect';

export interface WorkingTreeState {
  /** Tracked files changed in the index or the work tree (added, deleted, renamed, type-changed included). */
  modified: string[];
  untracked: string[];
  /** Files with unresolved merge conflicts. */
  conflicted: string[];
}

/** A stash entry. The commit sha stays valid when newer stashes push it down the list (`git stash apply <sha>`). */
export interface StashRef {
  sha: string;
  /** As `git stash list` shows it: `On main: <message>`. */
  message: string;
}

export type CheckoutMode = 'branch' | 'detached';

export interface CheckoutResult {
  sha: string;
  /** The branch now checked out, or null for a detached checkout. */
  branch: string | null;
  /** True when `checkoutCommit` created `branch`, so that undoing the restore deletes it. */
  createdBranch: boolean;
}

export interface RestoreHeadResult {
  /** The restore branch deleted because `checkoutCommit` had created it. */
  deletedBranch: string | null;
  /** The created restore branch kept because it no longer pointed where it was created (someone committed on it). */
  keptBranch: string | null;
  /** Changes found in the work tree that stood in the way of going back, stashed rather than lost. */
  stash: StashRef | null;
}

export interface FileDiffStat {
  /** As git names it; a rename reads `old => new`. */
  path: string;
  insertions: number;
  deletions: number;
  binary: boolean;
}

export interface DiffStat {
  files: FileDiffStat[];
  insertions: number;
  deletions: number;
  /** `git diff --stat` as git prints it. */
  text: string;
}

export const RESTORE_BRANCH_PREFIX = 'lockstep/restore-';

const HEX = /^[0-9a-f]+$/i;
const FULL_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;
/** git will not look up object name prefixes shorter than this. */
const MIN_PREFIX = 4;

/**
 * The repository containing `cwd`. Outside a repository, in a bare one, or
 * inside the `.git` directory it throws `NOT_A_REPOSITORY`: Lockstep pairs
 * commits with a work tree. One git process (on the commit hook's hot path).
 */
export async function findRepository(cwd: string): Promise<Repository> {
  const dir = path.resolve(cwd);
  const known = repositoryAtTop(dir);
  if (known) return known;
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new LockstepError('NOT_A_REPOSITORY', `${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new LockstepError('NOT_A_REPOSITORY', `${dir} is not a directory`);

  // Relative answers are relative to cwd (git ≥ 2.13); `--path-format=absolute`
  // would need git 2.31, and we resolve symlinks ourselves anyway.
  const run = await runGit(dir, [
    'rev-parse',
    '--is-bare-repository',
    '--is-inside-git-dir',
    '--git-dir',
    '--git-common-dir',
    '--show-toplevel',
  ]);
  const [bare, insideGitDir, gitDir, commonDir, topLevel] = run.stdout.split('\n');
  if (bare === 'true') {
    throw new LockstepError('NOT_A_REPOSITORY', `${dir} is a bare repository; Lockstep needs a work tree`, {
      hint: 'run Lockstep in a clone with a work tree, or add one with `git worktree add`',
    });
  }
  if (insideGitDir === 'true') {
    throw new LockstepError('NOT_A_REPOSITORY', `${dir} is inside a git directory, not a work tree`, {
      hint: 'run Lockstep from the top of the work tree or one of its folders',
    });
  }
  if (run.exitCode !== 0 || !gitDir || !commonDir || !topLevel) {
    throw new LockstepError('NOT_A_REPOSITORY', `${dir} is not in a git repository`, {
      hint: firstLines(run.stderr, 2) || 'run `git init` first, or open the folder of a repository',
    });
  }
  return {
    topLevel: fs.realpathSync(topLevel),
    gitDir: fs.realpathSync(path.resolve(dir, gitDir)),
    commonDir: fs.realpathSync(path.resolve(dir, commonDir)),
  };
}

/**
 * The commit hook runs at the top of the work tree: there `.git` says where
 * everything is, without starting git (a few ms on every commit). Anything
 * unusual (git variables in the environment, a `core.worktree`, no HEAD) goes
 * to `git rev-parse`, which knows every case.
 */
function repositoryAtTop(dir: string): Repository | undefined {
  if (process.env.GIT_DIR || process.env.GIT_WORK_TREE || process.env.GIT_COMMON_DIR) return undefined;
  const dotGit = path.join(dir, '.git');
  let gitDir: string;
  try {
    const stat = fs.statSync(dotGit);
    if (stat.isDirectory()) gitDir = dotGit;
    else {
      // A linked worktree or a submodule: "gitdir: <path>".
      const match = /^gitdir: (.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
      if (!match) return undefined;
      gitDir = path.resolve(dir, match[1]!.trim());
    }
    if (!fs.statSync(path.join(gitDir, 'HEAD')).isFile()) return undefined;
    let commonDir = gitDir;
    if (fs.existsSync(path.join(gitDir, 'commondir'))) {
      commonDir = path.resolve(gitDir, fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim());
    }
    const config = fs.readFileSync(path.join(commonDir, 'config'), 'utf8');
    if (/^\s*worktree\s*=|^\s*bare\s*=\s*true/im.test(config)) return undefined;
    return { topLevel: fs.realpathSync(dir), gitDir: fs.realpathSync(gitDir), commonDir: fs.realpathSync(commonDir) };
  } catch {
    return undefined;
  }
}

const HEAD_FORMAT = '%H%x00%D%x00%an%x00%s%x00';

/**
 * The commit HEAD points at, or null on an unborn branch. One git process: the
 * commit hook calls this on every commit.
 */
export function readHead(repo: Repository): Promise<HeadCommit | null> {
  return readCommitInfo(repo, 'HEAD');
}

/**
 * A given commit (full sha), as a checkpoint shows it. Its branch is HEAD's
 * when HEAD is at it, else null. Throws NOT_FOUND when there is no such commit.
 */
export async function readCommit(repo: Repository, sha: string): Promise<HeadCommit> {
  if (!FULL_SHA.test(sha)) throw new LockstepError('BAD_INPUT', `not a full commit sha: ${sha}`);
  const commit = await readCommitInfo(repo, sha);
  if (!commit) throw new LockstepError('NOT_FOUND', `commit ${sha.slice(0, 12)} is not in this repository`);
  const head = await readHead(repo);
  return { ...commit, branch: head?.sha === commit.sha ? head.branch : null };
}

async function readCommitInfo(repo: Repository, revision: string): Promise<HeadCommit | null> {
  const run = await runGit(repo.topLevel, [
    'log',
    '-1',
    `--format=${HEAD_FORMAT}`,
    // Only file names: counting changed files needs no file contents, where
    // `--shortstat` would diff every blob (slow for a commit of a large dump).
    '--name-only',
    '--no-renames',
    // A merge counts the files it brought in over its first parent; a root commit counts all of its files.
    '-m',
    '--first-parent',
    '--root',
    // The user's configuration must not change what we parse.
    '--no-color',
    '--no-show-signature',
    '--no-ext-diff',
    '--no-textconv',
    // An unborn HEAD (or a missing commit) prints nothing instead of failing.
    '--ignore-missing',
    revision,
    '--',
  ]);
  if (run.exitCode !== 0) {
    throw new LockstepError('GIT_FAILED', `could not read ${revision} in ${repo.topLevel}: ${firstLines(run.stderr, 2)}`);
  }
  if (run.stdout.trim() === '') return null;
  const fields = run.stdout.split('\0');
  const [sha, decorations, author, subject] = fields;
  if (sha === undefined || !FULL_SHA.test(sha) || author === undefined || subject === undefined) {
    throw new LockstepError('GIT_FAILED', `unexpected output from git log in ${repo.topLevel}`);
  }
  const names = fields.slice(4).join('\0').split('\n');
  return {
    sha,
    branch: branchFromHeadFile(repo.gitDir) ?? branchFromDecorations(decorations ?? ''),
    subject,
    author,
    filesChanged: names.filter((n) => n !== '').length,
  };
}

/**
 * The branch from `<gitDir>/HEAD`, read as a file (no process). Undefined when
 * the file says nothing usable (the reftable format keeps a placeholder there):
 * then the caller falls back to git's decorations.
 */
function branchFromHeadFile(gitDir: string): string | null | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (FULL_SHA.test(text)) return null;
  const match = /^ref: refs\/heads\/(.+)$/.exec(text);
  if (!match || match[1] === '.invalid') return undefined;
  return match[1];
}

/**
 * HEAD's commit and branch from the files git keeps (no process): `<gitDir>/HEAD`,
 * then the loose ref or `packed-refs` in the common dir. Undefined when the
 * files do not say (reftable, an unborn branch, anything unusual): callers then
 * ask git.
 */
export function headFromFiles(repo: Repository): { sha: string; branch: string | null } | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(repo.gitDir, 'HEAD'), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (FULL_SHA.test(text)) return { sha: text, branch: null };
  const match = /^ref: (refs\/heads\/(.+))$/.exec(text);
  if (!match || match[2] === '.invalid') return undefined;
  const [, ref, branch] = match as unknown as [string, string, string];
  const loose = readFirstLine(path.join(repo.commonDir, ref));
  if (loose !== null) return FULL_SHA.test(loose.trim()) ? { sha: loose.trim(), branch } : undefined;
  let packed: string;
  try {
    packed = fs.readFileSync(path.join(repo.commonDir, 'packed-refs'), 'utf8');
  } catch {
    return undefined;
  }
  for (const line of packed.split('\n')) {
    const [sha, name] = line.split(' ');
    if (name === ref && sha && FULL_SHA.test(sha)) return { sha, branch };
  }
  return undefined;
}

function branchFromDecorations(decorations: string): string | null {
  const match = /^HEAD -> (?:refs\/heads\/)?([^,]+)/.exec(decorations);
  return match?.[1] ?? null;
}

/**
 * The operation stopped half-way in this worktree, from the files git keeps in
 * the git dir (no process). Note that git runs post-commit hooks while some of
 * these files still exist: CHERRY_PICK_HEAD during every cherry-pick and every
 * commit a rebase replays, `sequencer/` during a multi-commit cherry-pick.
 */
export function operationInProgress(repo: Repository): GitOperation | null {
  const has = (name: string): boolean => fs.existsSync(path.join(repo.gitDir, name));
  // A rebase replays commits as cherry-picks (and `-r` as merges): it comes first.
  if (has('rebase-merge')) return 'rebase';
  if (has('rebase-apply')) return has('rebase-apply/applying') ? 'am' : 'rebase';
  if (has('MERGE_HEAD')) return 'merge';
  if (has('CHERRY_PICK_HEAD')) return 'cherry-pick';
  if (has('REVERT_HEAD')) return 'revert';
  // A stopped multi-commit pick or revert whose conflict was committed by hand still has a to-do list.
  const todo = readFirstLine(path.join(repo.gitDir, 'sequencer', 'todo'));
  if (todo !== null) {
    if (/^(?:p|pick)\s/.test(todo)) return 'cherry-pick';
    if (/^revert\s/.test(todo)) return 'revert';
  }
  if (has('BISECT_LOG')) return 'bisect';
  return null;
}

function readFirstLine(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').split('\n', 1)[0] ?? '';
  } catch {
    return null;
  }
}

/** HEAD as a restore must put it back: the branch (possibly unborn) or the detached commit. */
export async function readHeadRef(repo: Repository): Promise<HeadRef> {
  const git = await gitClient(repo.topLevel);
  try {
    // Both exit 1 without a message when there is nothing to print (detached; unborn).
    const symbolic = (await git.raw(['symbolic-ref', '--quiet', 'HEAD'])).trim();
    const sha = (await git.raw(['rev-parse', '--quiet', '--verify', 'HEAD^{commit}'])).trim();
    return {
      sha: sha === '' ? null : sha,
      branch: symbolic.startsWith('refs/heads/') ? symbolic.slice('refs/heads/'.length) : null,
    };
  } catch (error) {
    throw gitFailure(`could not read HEAD in ${repo.topLevel}`, error);
  }
}

/** Uncommitted work: what a restore must refuse or stash before it checks anything out. */
export async function workingTreeState(repo: Repository): Promise<WorkingTreeState> {
  const git = await gitClient(repo.topLevel);
  let files: { path: string; index: string; working_dir: string }[];
  let conflicted: string[];
  try {
    const status = await git.status(['--untracked-files=all']);
    files = status.files;
    conflicted = status.conflicted;
  } catch (error) {
    throw gitFailure(`could not read the state of the work tree in ${repo.topLevel}`, error);
  }
  const conflictedSet = new Set(conflicted);
  const state: WorkingTreeState = { modified: [], untracked: [], conflicted: [...conflicted] };
  for (const file of files) {
    if (conflictedSet.has(file.path)) continue;
    if (file.index === '?' && file.working_dir === '?') state.untracked.push(file.path);
    else if (file.index === '!' && file.working_dir === '!') continue;
    else state.modified.push(file.path);
  }
  return state;
}

export function isClean(state: WorkingTreeState): boolean {
  return state.modified.length === 0 && state.untracked.length === 0 && state.conflicted.length === 0;
}

/**
 * Stashes every uncommitted change, untracked files included (ignored ones stay,
 * as with `git stash -u`). Null when there was nothing to stash. Fails with
 * conflicted files (git cannot stash them) and on an unborn branch.
 */
export async function stashAll(repo: Repository, message: string): Promise<StashRef | null> {
  const git = await gitClient(repo.topLevel);
  try {
    const before = await stashTip(git);
    await git.raw(['stash', 'push', '--include-untracked', '--message', message]);
    const after = await stashTip(git);
    // `git stash` says "No local changes to save" and exits 0 when the tree was clean.
    if (after === null || after === before) return null;
    const subject = (await git.raw(['log', '-1', '--no-show-signature', '--format=%s', after])).trim();
    return { sha: after, message: subject };
  } catch (error) {
    throw gitFailure(`could not stash the changes in ${repo.topLevel}`, error, 'commit or discard the changes, then try again');
  }
}

async function stashTip(git: SimpleGit): Promise<string | null> {
  const sha = (await git.raw(['rev-parse', '--quiet', '--verify', 'refs/stash'])).trim();
  return sha === '' ? null : sha;
}

/** The newest stash entry made with exactly this message (`git stash push --message`), if any is still in the list. */
export async function findStash(repo: Repository, message: string): Promise<StashRef | null> {
  const git = await gitClient(repo.topLevel);
  const lines = (await git.raw(['stash', 'list', '--format=%H%x00%gs'])).split('\n').filter((l) => l.includes('\0'));
  for (const line of lines) {
    const [sha, subject] = line.split('\0') as [string, string];
    // `On <branch>: <message>`, or `On (no branch): <message>` when detached.
    if (subject.endsWith(`: ${message}`)) return { sha: sha.trim(), message: subject };
  }
  return null;
}

/** Whether the stash entry is still in `git stash list` (popped or dropped entries are not). */
export async function isStashed(repo: Repository, stash: StashRef): Promise<boolean> {
  const git = await gitClient(repo.topLevel);
  const list = (await git.raw(['stash', 'list', '--format=%H'])).split('\n').map((l) => l.trim());
  return list.includes(stash.sha);
}

/**
 * Pop the stash entry, index kept. False when it is no longer in the list
 * (popped already, or dropped by hand): applying it again would only conflict.
 */
export async function unstash(repo: Repository, stash: StashRef): Promise<boolean> {
  const git = await gitClient(repo.topLevel);
  try {
    const list = (await git.raw(['stash', 'list', '--format=%H'])).split('\n').map((l) => l.trim());
    const index = list.indexOf(stash.sha);
    if (index < 0) return false;
    await git.raw(['stash', 'pop', '--quiet', '--index', `stash@{${index}}`]);
    return true;
  } catch (error) {
    throw gitFailure(`could not put back the stash ${stash.sha.slice(0, 12)} (${stash.message})`, error, `the changes are safe in the stash; \`git stash apply ${stash.sha}\` when the tree allows it`);
  }
}

/**
 * Checks out `sha`. With 'branch': on `preferBranch` if it points at `sha`,
 * else on `lockstep/restore-<sha7>`, created at `sha`; if that name is taken
 * by a branch pointing elsewhere, `-2`, `-3`… An existing branch is never moved. The caller makes sure the tree is clean
 * first (`workingTreeState`): git would carry uncommitted changes along.
 */
export async function checkoutCommit(repo: Repository, sha: string, mode: CheckoutMode, preferBranch?: string | null): Promise<CheckoutResult> {
  if (!FULL_SHA.test(sha)) throw new LockstepError('BAD_INPUT', `not a full commit sha: ${sha}`);
  const operation = operationInProgress(repo);
  if (operation !== null) {
    throw new LockstepError('DIRTY_TREE', `a ${operation} is in progress in ${repo.topLevel}`, {
      hint: operation === 'bisect' ? 'end it with `git bisect reset`' : `finish it, or abort it with \`git ${operation} --abort\``,
    });
  }
  if (!(await commitExists(repo, sha))) {
    throw new LockstepError('NOT_FOUND', `commit ${sha.slice(0, 12)} is not in this repository`, {
      hint: 'it may have been amended or rebased away and then pruned by `git gc`',
    });
  }
  const git = await gitClient(repo.topLevel);
  const full = sha.toLowerCase();
  if (mode === 'detached') {
    await checkout(git, ['--detach', full], `could not check out ${full.slice(0, 12)}`);
    return { sha: full, branch: null, createdBranch: false };
  }
  // The branch the checkpoint was taken on, when it still points at the commit
  // (an undo, or the newest commit of a branch): back on it, rather than on a new one.
  if (preferBranch && (await branchTip(git, preferBranch)) === full) {
    await checkout(git, [preferBranch, '--'], `could not check out ${preferBranch}`);
    return { sha: full, branch: preferBranch, createdBranch: false };
  }
  const base = `${RESTORE_BRANCH_PREFIX}${full.slice(0, 7)}`;
  for (let n = 1; n <= 1000; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    const tip = await branchTip(git, name);
    if (tip === null) {
      // `-b` (not `-B`) fails rather than move a branch created since we looked.
      await checkout(git, ['-b', name, full], `could not check out ${full.slice(0, 12)} on a new branch ${name}`);
      return { sha: full, branch: name, createdBranch: true };
    }
    if (tip === full) {
      await checkout(git, [name, '--'], `could not check out ${name}`);
      return { sha: full, branch: name, createdBranch: false };
    }
  }
  throw new LockstepError('CONFLICT', `every branch name ${base}-N up to 1000 is taken`, {
    hint: `delete old restore branches: git branch --list '${RESTORE_BRANCH_PREFIX}*'`,
  });
}

async function checkout(git: SimpleGit, args: string[], what: string): Promise<void> {
  try {
    await git.raw(['checkout', '--quiet', ...args]);
  } catch (error) {
    throw gitFailure(what, error);
  }
}

/** Whether local branch `name` exists and points at `sha`. */
export async function branchPointsAt(repo: Repository, name: string, sha: string): Promise<boolean> {
  return (await branchTip(await gitClient(repo.topLevel), name)) === sha.toLowerCase();
}

/** Delete local branch `name` only if it still points at `sha` (nothing committed on it since) and is not checked out. */
export async function deleteBranchIfAt(repo: Repository, name: string, sha: string): Promise<boolean> {
  if ((await readHeadRef(repo)).branch === name) return false;
  const git = await gitClient(repo.topLevel);
  try {
    await git.raw(['update-ref', '-d', `refs/heads/${name}`, sha]);
    return true;
  } catch {
    return false;
  }
}

export async function branchExists(repo: Repository, name: string): Promise<boolean> {
  return (await branchTip(await gitClient(repo.topLevel), name)) !== null;
}

async function branchTip(git: SimpleGit, name: string): Promise<string | null> {
  try {
    const sha = (await git.raw(['rev-parse', '--quiet', '--verify', `refs/heads/${name}^{commit}`])).trim();
    return sha === '' ? null : sha;
  } catch (error) {
    throw gitFailure(`could not read branch ${name}`, error);
  }
}

/**
 * Puts HEAD back where `previous` says, after a failed restore step: the same
 * branch (or the same detached commit, or the same unborn branch), and deletes
 * the restore branch `checkout` created, unless someone has committed on it
 * since. Anything in the work tree that stands in the way is stashed, never
 * discarded.
 */
export async function restoreHeadState(
  repo: Repository,
  previous: HeadRef,
  checkout?: CheckoutResult,
): Promise<RestoreHeadResult> {
  const result: RestoreHeadResult = { deletedBranch: null, keptBranch: null, stash: null };
  const current = await readHeadRef(repo);
  if (current.branch !== previous.branch || (previous.branch === null && current.sha !== previous.sha)) {
    const git = await gitClient(repo.topLevel);
    try {
      await goBackTo(git, previous);
    } catch (first) {
      // Most likely changes git would not overwrite: keep them, then try again.
      // If there was nothing to stash, or stashing fails too, git's first answer is the one to show.
      const stash = await stashAll(repo, 'lockstep: changes found while undoing a failed restore').catch(() => null);
      if (stash === null) throw first;
      result.stash = stash;
      await goBackTo(git, previous);
    }
  }
  if (checkout?.createdBranch && checkout.branch !== null && checkout.branch !== previous.branch) {
    const git = await gitClient(repo.topLevel);
    try {
      // Deletes only if the branch still points where we created it.
      await git.raw(['update-ref', '-d', `refs/heads/${checkout.branch}`, checkout.sha]);
      result.deletedBranch = checkout.branch;
    } catch {
      result.keptBranch = checkout.branch;
    }
  }
  return result;
}

async function goBackTo(git: SimpleGit, previous: HeadRef): Promise<void> {
  try {
    if (previous.branch !== null && previous.sha !== null) {
      await git.raw(['checkout', '--quiet', previous.branch, '--']);
    } else if (previous.branch !== null) {
      // An unborn branch: HEAD back on it, and the files the restore checked out
      // removed again (the tree was clean when the restore began).
      await git.raw(['checkout', '--quiet', '--orphan', previous.branch]);
      await git.raw(['rm', '-r', '--quiet', '--force', '--ignore-unmatch', '--', '.']);
    } else if (previous.sha !== null) {
      await git.raw(['checkout', '--quiet', '--detach', previous.sha]);
    }
  } catch (error) {
    throw gitFailure(`could not put HEAD back on ${previous.branch ?? previous.sha ?? 'its branch'}`, error);
  }
}

/** What changes between two commits, per file and as `git diff --stat` prints it. */
export async function diffStat(repo: Repository, fromSha: string, toSha: string): Promise<DiffStat> {
  for (const sha of [fromSha, toSha]) {
    if (!HEX.test(sha) || sha.length < MIN_PREFIX) throw new LockstepError('BAD_INPUT', `not a commit sha: ${sha}`);
  }
  const git = await gitClient(repo.topLevel);
  try {
    const summary = await git.diffSummary(['--numstat', fromSha, toSha, '--']);
    const text = await git.raw(['diff', '--stat', '--no-color', fromSha, toSha, '--']);
    const files = summary.files.map((f): FileDiffStat =>
      f.binary
        ? { path: f.file, insertions: 0, deletions: 0, binary: true }
        : { path: f.file, insertions: f.insertions, deletions: f.deletions, binary: false },
    );
    return { files, insertions: summary.insertions, deletions: summary.deletions, text };
  } catch (error) {
    throw gitFailure(`could not compare ${fromSha.slice(0, 12)} with ${toSha.slice(0, 12)}`, error);
  }
}

/** True when `sha` (full or a unique prefix) names a commit in this repository. */
export async function commitExists(repo: Repository, sha: string): Promise<boolean> {
  try {
    return (await resolveCommit(repo, sha)) !== null;
  } catch (error) {
    if (error instanceof LockstepError && error.code === 'AMBIGUOUS_REF') return false;
    throw error;
  }
}

/**
 * The full sha of the one commit whose sha starts with `prefix` (at least 4 hex
 * digits); null when no commit does (or `prefix` is not hex). Several commits →
 * `AMBIGUOUS_REF`. Only object names count: a branch that happens to be called
 * `cafe` does not answer for `cafe`.
 */
export async function resolveCommit(repo: Repository, prefix: string): Promise<string | null> {
  const wanted = prefix.toLowerCase();
  if (!HEX.test(wanted) || wanted.length < MIN_PREFIX || wanted.length > 64) return null;
  const git = await gitClient(repo.topLevel);
  try {
    // Usual case, one process: git picks the only commit among the objects with this prefix.
    const sha = (await git.raw(['rev-parse', '--quiet', '--verify', `${wanted}^{commit}`])).trim();
    if (sha.startsWith(wanted)) return sha;
  } catch {
    // Not a commit (a blob or tree with that prefix): the careful way below tells.
  }
  try {
    const candidates = (await git.raw(['rev-parse', `--disambiguate=${wanted}`]))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
    const commits: string[] = [];
    for (const candidate of candidates) {
      if ((await git.catFile(['-t', candidate])).trim() === 'commit') commits.push(candidate);
      if (commits.length > 1) break;
    }
    if (commits.length > 1) {
      throw new LockstepError('AMBIGUOUS_REF', `more than one commit starts with ${wanted}`, {
        hint: `type more of the sha, e.g. ${commits.map((c) => c.slice(0, wanted.length + 4)).join(' or ')}`,
      });
    }
    return commits[0] ?? null;
  } catch (error) {
    throw gitFailure(`could not look up commit ${wanted}`, error);
  }
}
