// Repository facts and restore steps (src/git/repository.ts) against real git in temporary repositories.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import {
  checkoutCommit,
  commitExists,
  diffStat,
  findRepository,
  findStash,
  headFromFiles,
  isClean,
  operationInProgress,
  readHead,
  readHeadRef,
  resolveCommit,
  restoreHeadState,
  stashAll,
  unstash,
  workingTreeState,
} from '../../src/git/repository';
import { shouldRecord } from '../../src/git/hook';
import { addWorktree, createRepo, git, gitResult, isolateGitEnvironment, makeTempDir, removeTempDirs, type TestRepo } from '../support/git';

/** The name of a directory that shell quoting has to get right. */
const AWKWARD = `it's a "quoted" dir `;

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isLockstepError(error), `expected a LockstepError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return true;
  });
}

/** main and topic each change conflict.txt differently. */
function conflictingBranches(repo: TestRepo): void {
  repo.commit('conflict.txt', 'base\n', 'base');
  repo.git('checkout', '--quiet', '-b', 'topic');
  repo.commit('conflict.txt', 'topic\n', 'topic change');
  repo.git('checkout', '--quiet', 'main');
  repo.commit('conflict.txt', 'main\n', 'main change');
}

describe('git repository (real git)', function () {
  let restoreEnv: () => void;
  before(() => {
    restoreEnv = isolateGitEnvironment();
  });
  after(() => {
    restoreEnv();
    removeTempDirs();
  });

  describe('findRepository', () => {
    it('finds the same repository from the top and from a sub-folder, with canonical paths', async () => {
      const repo = createRepo({ prefix: AWKWARD });
      fs.mkdirSync(repo.path('a', 'b c'), { recursive: true });
      const fromTop = await findRepository(repo.dir);
      const fromSub = await findRepository(repo.path('a', 'b c'));
      assert.deepEqual(fromSub, fromTop);
      assert.equal(fromTop.topLevel, repo.dir);
      assert.equal(fromTop.gitDir, path.join(repo.dir, '.git'));
      assert.equal(fromTop.commonDir, path.join(repo.dir, '.git'));
    });

    it('gives a linked worktree its own git dir and the shared common dir', async () => {
      const repo = createRepo();
      const wt = addWorktree(repo, 'feature');
      const main = await findRepository(repo.dir);
      const linked = await findRepository(wt.dir);
      assert.equal(linked.topLevel, wt.dir);
      assert.equal(linked.commonDir, main.commonDir);
      assert.equal(path.dirname(linked.gitDir), path.join(main.commonDir, 'worktrees'));
    });

    it('refuses a folder outside any repository, a bare repository and the inside of .git, clearly', async () => {
      const outside = makeTempDir();
      await rejectsWith(findRepository(outside), 'NOT_A_REPOSITORY', /not in a git repository/);
      await rejectsWith(findRepository(path.join(outside, 'missing')), 'NOT_A_REPOSITORY', /does not exist/);

      const bare = path.join(makeTempDir(), 'bare.git');
      git(path.dirname(bare), ['init', '--quiet', '--bare', bare]);
      await rejectsWith(findRepository(bare), 'NOT_A_REPOSITORY', /bare repository/);

      const repo = createRepo();
      await rejectsWith(findRepository(repo.path('.git')), 'NOT_A_REPOSITORY', /inside a git directory/);
    });
  });

  describe('readHead', () => {
    it('is null on an unborn branch', async () => {
      const repo = createRepo({ initialCommit: false });
      assert.equal(await readHead(await findRepository(repo.dir)), null);
    });

    it('reads sha, branch, subject, author and the number of files changed', async () => {
      const repo = createRepo();
      repo.write('one.txt', '1\n');
      repo.write('dir/two words.txt', '2\n');
      repo.write('ünïcode.txt', '3\n');
      repo.git('add', '.');
      repo.git('commit', '--quiet', '-m', 'Add three files — ✓', '-m', 'body line');
      const head = await readHead(await findRepository(repo.dir));
      assert.deepEqual(head, {
        sha: repo.head(),
        branch: 'main',
        subject: 'Add three files — ✓',
        author: 'Lockstep Test',
        filesChanged: 3,
      });
    });

    it('says null for the branch when HEAD is detached, and counts all files of a root commit', async () => {
      const repo = createRepo({ initialCommit: false });
      repo.write('a', 'a');
      repo.write('b', 'b');
      repo.git('add', '.');
      repo.git('commit', '--quiet', '-m', 'root');
      repo.commit('c', 'c');
      repo.git('checkout', '--quiet', '--detach', 'HEAD~1');
      const head = await readHead(await findRepository(repo.dir));
      assert.equal(head?.branch, null);
      assert.equal(head?.subject, 'root');
      assert.equal(head?.filesChanged, 2);
    });

    it('counts what a merge brought in over its first parent', async () => {
      const repo = createRepo();
      repo.git('checkout', '--quiet', '-b', 'topic');
      repo.commit('t1', '1');
      repo.commit('t2', '2');
      repo.git('checkout', '--quiet', 'main');
      repo.commit('m1', 'm');
      repo.git('merge', '--quiet', '--no-edit', 'topic');
      const head = await readHead(await findRepository(repo.dir));
      assert.equal(head?.subject, "Merge branch 'topic'");
      assert.equal(head?.filesChanged, 2);
    });

    it('reads the branch of a linked worktree, not of the main one', async () => {
      const repo = createRepo();
      const wt = addWorktree(repo, 'wt-branch');
      const sha = wt.commit('x', 'x', 'in the worktree');
      const head = await readHead(await findRepository(wt.dir));
      assert.equal(head?.branch, 'wt-branch');
      assert.equal(head?.sha, sha);
    });

    it('starts one git process; findRepository none at the top of the work tree (where hooks run), one below it; shouldRecord none', async () => {
      const repo = createRepo();
      const bin = makeTempDir();
      const log = path.join(bin, 'calls.log');
      const realGit = spawnSync('sh', ['-c', 'command -v git'], { encoding: 'utf8' }).stdout.trim();
      fs.writeFileSync(path.join(bin, 'git'), `#!/bin/sh\necho "$1" >> '${log}'\nexec '${realGit}' "$@"\n`, { mode: 0o755 });
      const savedPath = process.env.PATH;
      process.env.PATH = `${bin}${path.delimiter}${savedPath ?? ''}`;
      const calls = (): string[] => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []);
      try {
        const found = await findRepository(repo.dir);
        assert.deepEqual(calls(), []);
        fs.mkdirSync(path.join(repo.dir, 'sub'));
        const fromBelow = await findRepository(path.join(repo.dir, 'sub'));
        assert.deepEqual(calls(), ['rev-parse']);
        assert.deepEqual(fromBelow, found, 'both ways find the same repository');
        await readHead(found);
        assert.deepEqual(calls(), ['rev-parse', 'log']);
        shouldRecord(found);
        operationInProgress(found);
        assert.equal(calls().length, 2);
      } finally {
        process.env.PATH = savedPath;
      }
    });
  });

  describe('operationInProgress', () => {
    it('is null in a quiet repository', async () => {
      const repo = createRepo();
      assert.equal(operationInProgress(await findRepository(repo.dir)), null);
    });

    it('sees a stopped merge, rebase, cherry-pick, revert, am and bisect', async () => {
      const expectations: [string, (r: TestRepo) => void][] = [
        ['merge', (r) => r.git('merge', 'topic')],
        ['rebase', (r) => r.git('rebase', 'topic')],
        ['cherry-pick', (r) => r.git('cherry-pick', 'topic')],
        [
          'revert',
          (r) => {
            r.commit('conflict.txt', 'main again\n', 'another change');
            r.git('revert', '--no-edit', 'HEAD~1');
          },
        ],
        [
          'am',
          (r) => {
            const patches = makeTempDir();
            r.git('format-patch', '--quiet', '-1', 'topic', '-o', patches);
            r.git('am', ...fs.readdirSync(patches).map((f) => path.join(patches, f)));
          },
        ],
        ['bisect', (r) => r.git('bisect', 'start', 'HEAD', 'HEAD~2')],
      ];
      for (const [expected, stopHalfWay] of expectations) {
        const repo = createRepo();
        conflictingBranches(repo);
        try {
          stopHalfWay(repo);
        } catch {
          // the conflict we set up: the operation stops half-way
        }
        assert.equal(operationInProgress(await findRepository(repo.dir)), expected);
      }
    });

    it('belongs to one worktree: a rebase stopped in a linked worktree is not the main one', async () => {
      const repo = createRepo();
      conflictingBranches(repo);
      const wt = addWorktree(repo, 'other');
      wt.git('reset', '--quiet', '--hard', 'topic');
      assert.notEqual(gitResult(wt.dir, ['rebase', 'main']).status, 0);
      assert.equal(operationInProgress(await findRepository(wt.dir)), 'rebase');
      assert.equal(operationInProgress(await findRepository(repo.dir)), null);
    });
  });

  describe('working tree, stash', () => {
    it('lists modified, staged, deleted, untracked and conflicted files', async () => {
      const repo = createRepo();
      repo.commit('tracked.txt', 'v1\n');
      repo.commit('gone.txt', 'x\n');
      const found = await findRepository(repo.dir);
      assert.ok(isClean(await workingTreeState(found)));

      repo.write('tracked.txt', 'v2\n');
      repo.write('staged new.txt', 'new\n');
      repo.git('add', 'staged new.txt');
      fs.rmSync(repo.path('gone.txt'));
      repo.write('deep/dir/untracked é.txt', 'u\n');
      const state = await workingTreeState(found);
      assert.deepEqual([...state.modified].sort(), ['gone.txt', 'staged new.txt', 'tracked.txt']);
      assert.deepEqual(state.untracked, ['deep/dir/untracked é.txt']);
      assert.deepEqual(state.conflicted, []);

      const conflicted = createRepo();
      conflictingBranches(conflicted);
      assert.notEqual(gitResult(conflicted.dir, ['merge', 'topic']).status, 0);
      const conflictState = await workingTreeState(await findRepository(conflicted.dir));
      assert.deepEqual(conflictState.conflicted, ['conflict.txt']);
      assert.deepEqual(conflictState.modified, []);
    });

    it('stashes everything, untracked included, under a sha that stays valid; unstash puts it back', async () => {
      const repo = createRepo({ prefix: AWKWARD });
      repo.commit('a.txt', 'committed\n');
      const found = await findRepository(repo.dir);
      assert.equal(await stashAll(found, 'nothing to do'), null);

      repo.write('a.txt', 'changed\n');
      repo.write('staged.txt', 'staged\n');
      repo.git('add', 'staged.txt');
      repo.write('new dir/untracked.txt', 'untracked\n');
      const stash = await stashAll(found, 'lockstep: before restore to abc1234');
      assert.ok(stash);
      assert.match(stash.sha, /^[0-9a-f]{40}$/);
      assert.equal(stash.message, 'On main: lockstep: before restore to abc1234');
      assert.ok(isClean(await workingTreeState(found)));
      assert.equal(fs.existsSync(repo.path('new dir/untracked.txt')), false);

      // A newer stash pushes ours down the list; the sha still names it.
      repo.write('a.txt', 'other\n');
      repo.git('stash', 'push', '--quiet', '-m', 'someone else');
      assert.equal(repo.git('rev-parse', 'stash@{1}'), stash.sha);
      // Found again by its exact message alone (a restore killed before it recorded the sha), not by a prefix of it.
      assert.deepEqual(await findStash(found, 'lockstep: before restore to abc1234'), stash);
      assert.equal(await findStash(found, 'before restore to abc1234 (operation 1)'), null);
      assert.equal(await findStash(found, 'restore to abc123'), null);

      await unstash(found, stash);
      assert.equal(repo.read('a.txt'), 'changed\n');
      assert.equal(repo.read('new dir/untracked.txt'), 'untracked\n');
      assert.equal(repo.git('diff', '--cached', '--name-only'), 'staged.txt');
      assert.deepEqual(repo.git('stash', 'list', '--format=%s').split('\n'), ['On main: someone else']);
    });
  });

  describe('checkoutCommit and restoreHeadState', () => {
    it('checks out on a new lockstep/restore-<sha7> branch and goes back, deleting it', async () => {
      const repo = createRepo();
      const old = repo.commit('f.txt', 'v1\n', 'v1');
      const tip = repo.commit('f.txt', 'v2\n', 'v2');
      const found = await findRepository(repo.dir);
      const previous = await readHeadRef(found);
      assert.deepEqual(previous, { sha: tip, branch: 'main' });

      const result = await checkoutCommit(found, old, 'branch');
      assert.deepEqual(result, { sha: old, branch: `lockstep/restore-${old.slice(0, 7)}`, createdBranch: true });
      assert.equal(repo.read('f.txt'), 'v1\n');
      assert.deepEqual(await readHeadRef(found), { sha: old, branch: result.branch });

      const back = await restoreHeadState(found, previous, result);
      assert.deepEqual(back, { deletedBranch: result.branch, keptBranch: null, stash: null });
      assert.deepEqual(await readHeadRef(found), previous);
      assert.equal(repo.read('f.txt'), 'v2\n');
      assert.equal(repo.git('branch', '--list', 'lockstep/*'), '');
    });

    it('reuses a restore branch already at the commit, and never moves one that points elsewhere', async () => {
      const repo = createRepo();
      const old = repo.commit('f.txt', 'v1\n', 'v1');
      const other = repo.commit('f.txt', 'v2\n', 'v2');
      const name = `lockstep/restore-${old.slice(0, 7)}`;
      const found = await findRepository(repo.dir);

      repo.git('branch', name, other);
      const second = await checkoutCommit(found, old, 'branch');
      assert.deepEqual(second, { sha: old, branch: `${name}-2`, createdBranch: true });
      assert.equal(repo.git('rev-parse', name), other);

      repo.git('checkout', '--quiet', 'main');
      const again = await checkoutCommit(found, old, 'branch');
      assert.deepEqual(again, { sha: old, branch: `${name}-2`, createdBranch: false });
      // Going back must not delete a branch this checkout did not create.
      await restoreHeadState(found, { sha: other, branch: 'main' }, again);
      assert.equal(repo.git('rev-parse', `${name}-2`), old);
    });

    it('checks out detached and goes back to a detached HEAD at the same commit', async () => {
      const repo = createRepo();
      const old = repo.commit('f.txt', 'v1\n');
      const mid = repo.commit('f.txt', 'v2\n');
      repo.commit('f.txt', 'v3\n');
      repo.git('checkout', '--quiet', '--detach', mid);
      const found = await findRepository(repo.dir);
      const previous = await readHeadRef(found);
      assert.deepEqual(previous, { sha: mid, branch: null });

      const result = await checkoutCommit(found, old, 'detached');
      assert.deepEqual(result, { sha: old, branch: null, createdBranch: false });
      assert.deepEqual(await readHeadRef(found), { sha: old, branch: null });
      await restoreHeadState(found, previous, result);
      assert.deepEqual(await readHeadRef(found), previous);
      assert.equal(repo.read('f.txt'), 'v2\n');
      // Already back (a step failed before the checkout): nothing to do, nothing touched.
      repo.write('untracked.txt', 'kept\n');
      assert.deepEqual(await restoreHeadState(found, previous), { deletedBranch: null, keptBranch: null, stash: null });
      assert.equal(repo.read('untracked.txt'), 'kept\n');
    });

    it('keeps a restore branch someone committed on, and stashes changes that stand in the way', async () => {
      const repo = createRepo();
      const old = repo.commit('f.txt', 'v1\n');
      repo.commit('f.txt', 'v2\n');
      const found = await findRepository(repo.dir);
      const previous = await readHeadRef(found);
      const result = await checkoutCommit(found, old, 'branch');
      const work = repo.commit('g.txt', 'work on the restore branch\n');
      repo.write('f.txt', 'edited during the restore\n');

      const back = await restoreHeadState(found, previous, result);
      assert.equal(back.deletedBranch, null);
      assert.equal(back.keptBranch, result.branch);
      assert.equal(repo.git('rev-parse', result.branch ?? ''), work);
      assert.ok(back.stash, 'the edit is stashed, not lost');
      assert.deepEqual(await readHeadRef(found), previous);
      assert.equal(repo.git('show', `${back.stash.sha}:f.txt`), 'edited during the restore');
    });

    it('goes back to an unborn branch with the checked-out files removed', async () => {
      const source = createRepo();
      const sha = source.commit('from-elsewhere.txt', 'x\n');
      const repo = createRepo({ initialCommit: false });
      repo.git('fetch', '--quiet', source.dir, 'main');
      const found = await findRepository(repo.dir);
      const previous = await readHeadRef(found);
      assert.deepEqual(previous, { sha: null, branch: 'main' });

      const result = await checkoutCommit(found, sha, 'branch');
      assert.ok(fs.existsSync(repo.path('from-elsewhere.txt')));
      await restoreHeadState(found, previous, result);
      assert.deepEqual(await readHeadRef(found), previous);
      assert.equal(fs.existsSync(repo.path('from-elsewhere.txt')), false);
      assert.ok(isClean(await workingTreeState(found)));
    });

    it('refuses an unknown commit, a short sha, and a tree with an operation in progress', async () => {
      const repo = createRepo();
      conflictingBranches(repo);
      const found = await findRepository(repo.dir);
      await rejectsWith(checkoutCommit(found, '0'.repeat(40), 'branch'), 'NOT_FOUND');
      await rejectsWith(checkoutCommit(found, repo.head().slice(0, 7), 'branch'), 'BAD_INPUT');
      assert.notEqual(gitResult(repo.dir, ['merge', 'topic']).status, 0);
      await rejectsWith(checkoutCommit(found, repo.git('rev-parse', 'HEAD~1'), 'branch'), 'DIRTY_TREE', /merge is in progress/);
    });
  });

  describe('diffStat, commitExists, resolveCommit', () => {
    it('gives per-file insertions and deletions and the --stat text', async () => {
      const repo = createRepo();
      const from = repo.commit('a.txt', 'one\ntwo\nthree\n');
      repo.write('a.txt', 'one\n2\nthree\nfour\n');
      repo.write('dir/new file.txt', 'n\n');
      fs.writeFileSync(repo.path('bin.dat'), Buffer.from([0, 1, 2, 3, 0, 255]));
      repo.git('add', '.');
      repo.git('commit', '--quiet', '-m', 'change');
      const stat = await diffStat(await findRepository(repo.dir), from, repo.head());
      const byPath = new Map(stat.files.map((f) => [f.path, f]));
      assert.deepEqual(byPath.get('a.txt'), { path: 'a.txt', insertions: 2, deletions: 1, binary: false });
      assert.deepEqual(byPath.get('dir/new file.txt'), { path: 'dir/new file.txt', insertions: 1, deletions: 0, binary: false });
      assert.equal(byPath.get('bin.dat')?.binary, true);
      assert.equal(stat.insertions, 3);
      assert.equal(stat.deletions, 1);
      assert.match(stat.text, /3 files changed, 3 insertions\(\+\), 1 deletion\(-\)/);
      assert.match(stat.text, /a\.txt/);
    });

    it('resolves unique prefixes and full shas, and says null for what is not a commit', async () => {
      const repo = createRepo();
      const sha = repo.commit('f', 'x');
      const found = await findRepository(repo.dir);
      assert.equal(await resolveCommit(found, sha.slice(0, 7)), sha);
      assert.equal(await resolveCommit(found, sha.slice(0, 7).toUpperCase()), sha);
      assert.equal(await resolveCommit(found, sha), sha);
      assert.equal(await resolveCommit(found, 'abc'), null, 'shorter than git looks up');
      assert.equal(await resolveCommit(found, 'main'), null, 'not hex: refs are not prefixes');
      assert.equal(await resolveCommit(found, '--output=x'), null);
      const tree = repo.git('rev-parse', 'HEAD^{tree}');
      assert.equal(await resolveCommit(found, tree), null, 'a tree is not a commit');
      assert.equal(await commitExists(found, sha), true);
      assert.equal(await commitExists(found, tree), false);
      assert.equal(await commitExists(found, 'f'.repeat(40)), false);
    });

    it('says AMBIGUOUS_REF when two commits share the prefix, and is not fooled by a branch of that name', async () => {
      const repo = createRepo();
      const found = await findRepository(repo.dir);
      // Commits with fixed dates have fixed shas: make them until two share 4 hex digits (a few hundred).
      const env = { GIT_AUTHOR_DATE: '2020-01-01T00:00:00Z', GIT_COMMITTER_DATE: '2020-01-01T00:00:00Z' };
      const emptyTree = repo.git('hash-object', '-w', '-t', 'tree', '/dev/null');
      const seen = new Map<string, string>();
      let pair: [string, string] | undefined;
      for (let i = 0; i < 5000 && !pair; i++) {
        const sha = git(repo.dir, ['commit-tree', '-m', `c${i}`, emptyTree], { env });
        const other = seen.get(sha.slice(0, 4));
        if (other) pair = [other, sha];
        seen.set(sha.slice(0, 4), sha);
      }
      assert.ok(pair, 'found two commits with the same 4-digit prefix');
      const prefix = pair[0].slice(0, 4);
      await rejectsWith(resolveCommit(found, prefix), 'AMBIGUOUS_REF', new RegExp(prefix));
      assert.equal(await resolveCommit(found, pair[1].slice(0, 12)), pair[1]);

      // A branch called like a prefix must not answer for it.
      const unique = pair[1].slice(0, 10);
      repo.git('branch', unique, 'HEAD');
      assert.equal(await resolveCommit(found, unique), pair[1]);
    });
  });
});

describe('HEAD from git\'s files (no process)', () => {
  let restoreEnv: () => void;
  before(() => {
    restoreEnv = isolateGitEnvironment();
  });
  after(() => {
    restoreEnv();
    removeTempDirs();
  });

  it('agrees with git: a loose branch, packed refs, a detached HEAD, a worktree; says nothing for an unborn branch', async () => {
    const unborn = createRepo({ initialCommit: false });
    assert.equal(headFromFiles(await findRepository(unborn.dir)), undefined);

    const repo = createRepo();
    repo.commit('a.txt', 'a', 'first');
    const project = await findRepository(repo.dir);
    const expectHead = async () => {
      const viaGit = await readHeadRef(project);
      assert.deepEqual(headFromFiles(project), { sha: viaGit.sha, branch: viaGit.branch });
    };
    await expectHead();
    repo.git('pack-refs', '--all', '--prune');
    assert.ok(!fs.existsSync(path.join(project.commonDir, 'refs/heads/main')), 'the ref is packed now');
    await expectHead();
    repo.commit('b.txt', 'b', 'second');
    await expectHead();
    repo.git('checkout', '--quiet', '--detach', 'HEAD~1');
    await expectHead();
    assert.equal(headFromFiles(project)?.branch, null);

    const tree = addWorktree(repo, 'side');
    const worktree = await findRepository(tree.dir);
    assert.deepEqual(headFromFiles(worktree), { sha: (await readHeadRef(worktree)).sha, branch: 'side' });
  });
});
