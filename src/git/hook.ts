// The git hooks that run `lockstep record` (post-commit, and the optional pre-push): install, uninstall, status, and when a commit is recorded at all.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../base/errors';
import { writeFileAtomic } from '../base/files';
import { gitClient, gitFailure } from './gitProcess';
import { operationInProgress, type Repository } from './repository';

/*
 * Which git commands run post-commit, and what `lockstep record` does then.
 * Verified with git 2.39.5 (test/integration/git-hook.test.ts keeps checking it):
 *
 * | command                                         | post-commit? | record                           |
 * | ----------------------------------------------- | ------------ | -------------------------------- |
 * | git commit                                      | yes          | yes                              |
 * | git commit --amend                              | yes          | yes: a new checkpoint for the new sha; the old one stays (the old commit lives on in the reflog) |
 * | git merge that creates a merge commit by itself | no           | nothing runs (git runs post-merge, not post-commit) |
 * | git merge, fast-forward; git pull               | no           | nothing runs                     |
 * | conflicted merge, then git commit / merge --continue | yes     | yes (MERGE_HEAD is already gone) |
 * | git merge --squash, then git commit             | yes          | yes                              |
 * | git cherry-pick A (and A..B, --continue, -n + commit) | yes, per commit | yes, each: new commits on the current branch. CHERRY_PICK_HEAD (and sequencer/ for a range) still exist while the hook runs, so "a cherry-pick is in progress" must not mean "skip" |
 * | git revert                                      | yes          | yes                              |
 * | git rebase (default merge backend, -i, --continue, pull --rebase) | yes, per replayed commit, HEAD detached, rebase-merge/ present | no: the replayed commits are old work on a new base and the database did not move with them; one stderr line per rebase says so. `lockstep snapshot` marks the result |
 * | git commit / --amend at a rebase -i `edit` stop | yes          | no (the rebase is still in progress) |
 * | git rebase --apply, git am                      | no           | nothing runs                     |
 * | git stash (push, pop)                           | no           | nothing runs                     |
 * | git commit during git bisect                    | yes          | yes                              |
 *
 * The hook script skips a rebase itself, without starting Node, so a rebase of
 * fifty commits does not pay fifty Node start-ups; `shouldRecord` says the same
 * for `lockstep record` started any other way.
 */

export const HOOK_NAME = 'post-commit';
/** The sibling name an existing post-commit hook is kept under while ours is installed; it runs first. */
export const CHAINED_HOOK_NAME = `${HOOK_NAME}.lockstep-chained`;

/**
 * The hooks Lockstep installs: post-commit (a checkpoint per commit, the
 * default) and pre-push (optional: a `push` checkpoint per pushed ref, marking
 * the data state a push ships with; src/git/pre-push.sh). Both are installed,
 * chained and removed the same way; each has its own body shipped beside the bundle.
 */
export type HookName = 'post-commit' | 'pre-push';
export const PRE_PUSH_HOOK_NAME: HookName = 'pre-push';

/** The sibling name an existing hook of that name is kept under while ours is installed. */
export function chainedHookName(name: HookName): string {
  return `${name}.lockstep-chained`;
}

/** What each hook's header says it does (the body explains how). */
const HOOK_PURPOSE: Record<HookName, string> = {
  'post-commit': 'records a checkpoint of the database for each new commit',
  'pre-push': 'records a checkpoint of the database for each pushed ref (the data state the push ships with)',
};

/**
 * The hook stops `lockstep record` with SIGTERM after this long, and with SIGKILL
 * after `HOOK_RECORD_KILL_MS`, so that a commit returns within 2 s even if the
 * database hangs. `record` should bound itself well below (and say why it gave up).
 */
export const HOOK_RECORD_TERM_MS = 1700;
export const HOOK_RECORD_KILL_MS = 1900;

/**
 * The pre-push hook's bound (src/git/pre-push.sh): longer than a commit's,
 * because a push is rarer and slower (the network dominates it), and its
 * checkpoint, the data state that shipped, is the one a person comes back for.
 * On a loaded machine (load 9 on 2 cores) Node alone took 0.8 s to start and
 * `record --push` up to 1.6 s: within a commit's 1.5 s, pushes went unrecorded.
 * The push waits this long only when the database hangs.
 */
export const PUSH_RECORD_TERM_MS = 4000;
export const PUSH_RECORD_KILL_MS = 4300;

/** Set in the environment of `lockstep record` when the hook runs it. */
export const HOOK_ENV = 'LOCKSTEP_HOOK';

const MARKER = '# lockstep-hook: ';
const SCRIPT_VERSION = 2;

export interface HookInstallOptions {
  /** Absolute path of the program that runs the CLI: Node, or VS Code's own binary. */
  nodePath: string;
  /** Absolute path of `dist/cli.js`. */
  cliPath: string;
  /**
   * True when `nodePath` is an Electron binary (VS Code's `process.execPath`,
   * with `process.versions.electron` set): the hook then sets
   * ELECTRON_RUN_AS_NODE=1 so that it behaves as Node.
   */
  electronRunAsNode?: boolean;
  /**
   * Install even when the hooks directory (core.hooksPath) lies outside this
   * repository, e.g. a global ~/.githooks shared by every repository.
   */
  allowSharedHooksDir?: boolean;
  /** Which hook: post-commit (the default) or pre-push. */
  hook?: HookName;
}

/** What the hook was installed with, kept in the script itself (one JSON comment line). */
export interface HookConfig {
  version: number;
  nodePath: string;
  cliPath: string;
  electronRunAsNode: boolean;
  /** The hooks directory did not exist before; uninstall removes it again if it is empty. */
  createdHooksDir: boolean;
}

export type HookManager = 'husky' | 'lefthook' | 'pre-commit';

export interface HookLocation {
  /** Where git looks for hooks: `git rev-parse --git-path hooks` (core.hooksPath, worktrees' common dir). */
  hooksDir: string;
  hookFile: string;
  chainedFile: string;
  /** core.hooksPath as configured, or null. */
  hooksPath: string | null;
  /** The hooks directory is outside this repository, so other repositories may share it. */
  outsideRepository: boolean;
  /** The hooks directory is in the work tree: the hook files show in `git status` unless ignored. */
  insideWorkTree: boolean;
}

export type HookState = 'not-installed' | 'installed' | 'stale';

export interface HookStatus extends HookLocation {
  state: HookState;
  /** What our hook runs, when it is installed. */
  config: HookConfig | null;
  /** Why the hook is stale, in words for a person. */
  problems: string[];
  /** The earlier hook that runs before ours, when installed. */
  chainedHook: string | null;
  /** A post-commit hook that is not Lockstep's, in the way of ours (when not installed). */
  otherHook: string | null;
  /** A hook manager that owns this hooks directory or the other hook. */
  manager: HookManager | null;
  /** That manager rewrites its hooks (e.g. husky on every `npm install`), which removes ours: install again afterwards. */
  mayBeRegenerated: boolean;
  notes: string[];
}

export interface HookInstallResult {
  action: 'installed' | 'updated' | 'unchanged';
  /** The hook that was there before, now kept under the sibling name and run first. */
  chainedHook: string | null;
  status: HookStatus;
}

export interface HookUninstallResult {
  /** Our hook was removed. */
  removed: boolean;
  /** The hook that was there before, put back under its own name. */
  restored: string | null;
  notes: string[];
}

export interface RecordDecision {
  record: boolean;
  /** Why not, in words for a person. */
  reason?: string;
}

/**
 * Whether `lockstep record` should record the commit HEAD now points at. Cheap:
 * reads a few files in the git dir, starts no process. See the table above.
 */
export function shouldRecord(repo: Repository): RecordDecision {
  switch (operationInProgress(repo)) {
    case 'rebase':
      return {
        record: false,
        reason: 'a rebase is in progress; the commits it replays are not recorded (`lockstep snapshot` marks the result)',
      };
    case 'am':
      return { record: false, reason: '`git am` is applying patches; they are not recorded' };
    default:
      return { record: true };
  }
}

/** Where the post-commit (or `name`) hook of this worktree lives. */
export async function hookLocation(repo: Repository, name: HookName = HOOK_NAME): Promise<HookLocation> {
  const git = await gitClient(repo.topLevel);
  let hooksDir: string;
  let hooksPath: string | null;
  try {
    hooksDir = path.resolve(repo.topLevel, (await git.raw(['rev-parse', '--git-path', 'hooks'])).trim());
    // Exits 1 without a message when unset.
    hooksPath = (await git.raw(['config', '--get', 'core.hooksPath'])).trim() || null;
  } catch (error) {
    throw gitFailure(`could not find the hooks directory of ${repo.topLevel}`, error);
  }
  hooksDir = realpathIfExists(hooksDir);
  const inGitDirs = [repo.gitDir, repo.commonDir].some((dir) => isInside(hooksDir, dir));
  return {
    hooksDir,
    hookFile: path.join(hooksDir, name),
    chainedFile: path.join(hooksDir, chainedHookName(name)),
    hooksPath,
    outsideRepository: !inGitDirs && !isInside(hooksDir, repo.topLevel),
    insideWorkTree: !inGitDirs && isInside(hooksDir, repo.topLevel),
  };
}

/**
 * Installs (or updates) the post-commit hook. An existing post-commit hook that
 * is not ours is renamed to `post-commit.lockstep-chained` (content, mode and
 * inode untouched) and runs first; uninstall renames it back. Idempotent.
 */
export async function installHook(repo: Repository, options: HookInstallOptions): Promise<HookInstallResult> {
  checkProgram(options.nodePath, 'the Node.js program', true);
  checkProgram(options.cliPath, 'the Lockstep CLI', false);
  const name = options.hook ?? HOOK_NAME;
  const location = await hookLocation(repo, name);
  if (location.outsideRepository && !options.allowSharedHooksDir) {
    throw new LockstepError('CONFLICT', `core.hooksPath points outside this repository, at ${location.hooksDir}`, {
      hint: 'a hook there runs for every repository that shares it; install anyway only if that is what you want',
    });
  }

  let createdHooksDir = false;
  if (!fs.existsSync(location.hooksDir)) {
    fs.mkdirSync(location.hooksDir, { recursive: true });
    createdHooksDir = true;
  }
  const current = readHookFile(location.hookFile);
  if (current.kind === 'ours') createdHooksDir = current.config.createdHooksDir;
  const script = renderHookScript(
    {
      version: SCRIPT_VERSION,
      nodePath: options.nodePath,
      cliPath: options.cliPath,
      electronRunAsNode: options.electronRunAsNode === true,
      createdHooksDir,
    },
    name,
  );

  let action: HookInstallResult['action'] = 'installed';
  if (current.kind === 'ours') {
    action = current.text === script && isExecutable(location.hookFile) ? 'unchanged' : 'updated';
  } else if (current.kind === 'other') {
    if (lexists(location.chainedFile)) {
      // A hook manager wrote its hook again over ours (husky does on `npm install`): the copy we kept is
      // the same hook, so ours goes back in front of it. A different one we cannot keep both of.
      if (!sameFile(location.hookFile, location.chainedFile)) {
        throw new LockstepError('CONFLICT', `both ${location.hookFile} and ${location.chainedFile} exist and differ`, {
          hint: `keep the one you want as ${name}, remove the other, and install again`,
        });
      }
      fs.rmSync(location.hookFile);
    } else {
      fs.renameSync(location.hookFile, location.chainedFile);
    }
  }
  if (action !== 'unchanged') writeFileAtomic(location.hookFile, script, 0o755);
  return {
    action,
    chainedHook: lexists(location.chainedFile) ? location.chainedFile : null,
    status: await hookStatus(repo, name),
  };
}

/** Removes our hook and puts back, byte for byte and with its mode, the hook that was there before. */
export async function uninstallHook(repo: Repository, name: HookName = HOOK_NAME): Promise<HookUninstallResult> {
  const location = await hookLocation(repo, name);
  const current = readHookFile(location.hookFile);
  const chained = lexists(location.chainedFile);
  if (current.kind === 'ours') {
    fs.rmSync(location.hookFile);
    if (chained) {
      fs.renameSync(location.chainedFile, location.hookFile);
      return { removed: true, restored: location.hookFile, notes: [] };
    }
    if (current.config.createdHooksDir) removeIfEmpty(location.hooksDir);
    return { removed: true, restored: null, notes: [] };
  }
  if (current.kind === 'absent' && chained) {
    // An install stopped between moving the old hook aside and writing ours.
    fs.renameSync(location.chainedFile, location.hookFile);
    return { removed: false, restored: location.hookFile, notes: ['the Lockstep hook was not installed; the earlier hook was put back'] };
  }
  if (current.kind === 'other' && chained) {
    return {
      removed: false,
      restored: null,
      notes: [
        `${location.hookFile} is not Lockstep's (a hook manager may have rewritten it); the hook Lockstep kept is left at ${location.chainedFile}`,
      ],
    };
  }
  return { removed: false, restored: null, notes: ['the Lockstep hook is not installed'] };
}

export async function hookStatus(repo: Repository, name: HookName = HOOK_NAME): Promise<HookStatus> {
  const location = await hookLocation(repo, name);
  const current = readHookFile(location.hookFile);
  const config = current.kind === 'ours' ? current.config : null;
  const problems: string[] = [];
  const notes: string[] = [];
  if (config) {
    if (!fs.existsSync(config.cliPath)) problems.push(`the CLI it runs is gone: ${config.cliPath}`);
    if (!isExecutable(config.nodePath)) {
      problems.push(`the program it runs the CLI with is gone: ${config.nodePath} (it falls back to node, then lockstep, on PATH)`);
    }
    if (!isExecutable(location.hookFile)) problems.push(`git does not run it: ${location.hookFile} is not executable`);
  }
  const chainedHook = config && lexists(location.chainedFile) ? location.chainedFile : null;
  const otherHook = !config && current.kind === 'other' ? location.hookFile : null;
  const sniffed = chainedHook ?? otherHook;
  const { manager, mayBeRegenerated } = detectManager(location, sniffed === null ? '' : readText(sniffed));

  if (location.hooksPath !== null) notes.push(`core.hooksPath is set (${location.hooksPath}); hooks live in ${location.hooksDir}`);
  if (mayBeRegenerated) {
    notes.push(
      manager === 'husky'
        ? `husky rewrites this hook when it runs (on \`npm install\`): install the Lockstep hook again afterwards, or call \`${name === 'pre-push' ? 'lockstep record --push="$1" --url="$2"' : 'lockstep record'}\` from .husky/${name}`
        : `${manager ?? 'a hook manager'} may rewrite this hook: install the Lockstep hook again afterwards`,
    );
  }
  if (location.insideWorkTree) notes.push('the hooks directory is in the work tree: the hook files show in `git status` unless ignored');
  if (location.outsideRepository) notes.push('the hooks directory is outside this repository: other repositories may run this hook too');
  if (otherHook) notes.push(`a ${name} hook that is not Lockstep's is installed; installing keeps it and runs it first`);
  if (!config && lexists(location.chainedFile)) notes.push(`a hook Lockstep had kept aside is still at ${location.chainedFile}`);

  return {
    ...location,
    state: config === null ? 'not-installed' : problems.length > 0 ? 'stale' : 'installed',
    config,
    problems,
    chainedHook,
    otherHook,
    manager,
    mayBeRegenerated,
    notes,
  };
}

/**
 * The hook script: a header with what it runs (in single quotes), then the body
 * shipped beside the bundle, `post-commit.sh` or `pre-push.sh` (POSIX sh: dash,
 * bash, BusyBox). The installed hook is a copy, so it keeps working (and keeps
 * running the chained hook) when the extension that installed it moves or goes.
 */
export function renderHookScript(config: HookConfig, name: HookName = HOOK_NAME): string {
  // The post-commit header stays byte for byte what earlier versions wrote, so an install over it is "unchanged".
  const promise =
    name === 'pre-push'
      ? `# and its exit status is this hook's: when it fails, the push is refused and nothing is recorded.
# Recording never fails the push and is stopped after ${seconds(PUSH_RECORD_TERM_MS)} s. Deleted refs are not recorded.`
      : `# and its exit status is this hook's. Recording never fails the commit and is stopped
# after ${seconds(HOOK_RECORD_TERM_MS)} s. Commits replayed by a rebase are not recorded.`;
  return `#!/bin/sh
# Lockstep ${name} hook: ${HOOK_PURPOSE[name]}.
# Written by \`lockstep hook install${name === 'pre-push' ? ' --pre-push' : ''}\`; \`lockstep hook uninstall${name === 'pre-push' ? ' --pre-push' : ''}\` puts back what was here before.
${MARKER}${JSON.stringify(config)}
#
# A ${name} hook that was here before is kept as ${chainedHookName(name)}, runs first,
${promise}

lockstep_node=${shellQuote(config.nodePath)}
lockstep_cli=${shellQuote(config.cliPath)}
lockstep_electron=${config.electronRunAsNode ? 1 : 0}

${hookBody(name)}`;
}

const bodies = new Map<HookName, string>();

/** post-commit.sh or pre-push.sh: beside this module (src/git/ under tsx), or beside the bundle (dist/). */
function hookBody(name: HookName): string {
  let body = bodies.get(name);
  if (body === undefined) {
    const script = `${name}.sh`;
    const file = [path.join(__dirname, script), path.join(__dirname, '..', 'src', 'git', script)].find((f) => fs.existsSync(f));
    if (!file) throw new LockstepError('NOT_FOUND', `${script} is missing beside ${__dirname}: the Lockstep installation is incomplete`);
    body = fs.readFileSync(file, 'utf8');
    bodies.set(name, body);
  }
  return body;
}

/** What our hook script was installed with; null when the text is not our hook. */
export function parseHookScript(text: string): HookConfig | null {
  const line = text.split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) return null;
  try {
    const value = JSON.parse(line.slice(MARKER.length)) as Partial<HookConfig>;
    if (typeof value.nodePath !== 'string' || typeof value.cliPath !== 'string') return null;
    return {
      version: typeof value.version === 'number' ? value.version : 0,
      nodePath: value.nodePath,
      cliPath: value.cliPath,
      electronRunAsNode: value.electronRunAsNode === true,
      createdHooksDir: value.createdHooksDir === true,
    };
  } catch {
    return null;
  }
}

/** `value` as one sh word: single quotes, with each `'` written as `'\''`. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

type HookFile = { kind: 'absent' } | { kind: 'ours'; text: string; config: HookConfig } | { kind: 'other' };

function readHookFile(file: string): HookFile {
  if (!lexists(file)) return { kind: 'absent' };
  const head = readText(file);
  const config = parseHookScript(head);
  if (config === null) return { kind: 'other' };
  // Ours: whole, to compare with what an install would write.
  return { kind: 'ours', text: fs.readFileSync(file, 'utf8'), config };
}

function readText(file: string): string {
  try {
    // Enough to find our marker or a manager's signature, without reading a large binary hook.
    const fd = fs.openSync(file, 'r');
    try {
      const buffer = Buffer.alloc(16 * 1024);
      const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
      return buffer.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

function detectManager(location: HookLocation, hookText: string): { manager: HookManager | null; mayBeRegenerated: boolean } {
  const dir = location.hooksDir;
  // husky 9 points core.hooksPath at .husky/_ and rewrites everything in it; husky 5–8 at .husky, whose scripts are the user's.
  if (path.basename(dir) === '_' && path.basename(path.dirname(dir)) === '.husky') return { manager: 'husky', mayBeRegenerated: true };
  if (fs.existsSync(path.join(dir, 'h')) && fs.existsSync(path.join(dir, 'husky.sh'))) return { manager: 'husky', mayBeRegenerated: true };
  if (path.basename(dir) === '.husky' || fs.existsSync(path.join(dir, '_', 'husky.sh'))) return { manager: 'husky', mayBeRegenerated: false };
  if (/lefthook/i.test(hookText)) return { manager: 'lefthook', mayBeRegenerated: true };
  if (/generated by pre-commit/i.test(hookText)) return { manager: 'pre-commit', mayBeRegenerated: true };
  return { manager: null, mayBeRegenerated: false };
}

function checkProgram(file: string, what: string, executable: boolean): void {
  if (!path.isAbsolute(file)) throw new LockstepError('BAD_INPUT', `${what} must be given as an absolute path, not ${file}`);
  try {
    fs.accessSync(file, executable ? fs.constants.X_OK : fs.constants.R_OK);
  } catch {
    throw new LockstepError('BAD_INPUT', `${what} is not there${executable ? ' or not executable' : ''}: ${file}`);
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

function lexists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Same kind, same mode, same bytes (or the same target, for symbolic links). */
function sameFile(a: string, b: string): boolean {
  const sa = fs.lstatSync(a);
  const sb = fs.lstatSync(b);
  if (sa.isSymbolicLink() || sb.isSymbolicLink()) {
    return sa.isSymbolicLink() && sb.isSymbolicLink() && fs.readlinkSync(a) === fs.readlinkSync(b);
  }
  if (!sa.isFile() || !sb.isFile() || sa.mode !== sb.mode || sa.size !== sb.size) return false;
  return fs.readFileSync(a).equals(fs.readFileSync(b));
}

function realpathIfExists(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

function isInside(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

function removeIfEmpty(dir: string): void {
  try {
    fs.rmdirSync(dir);
  } catch {
    // Not empty (someone else's hooks are in it) or already gone: leave it.
  }
}
