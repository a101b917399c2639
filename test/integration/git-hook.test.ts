// The post-commit hook (src/git/hook.ts) driven by real `git commit`s in temporary repositories, with a fake CLI.

import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import {
  CHAINED_HOOK_NAME,
  hookStatus,
  installHook,
  parseHookScript,
  renderHookScript,
  shellQuote,
  uninstallHook,
  type HookInstallOptions,
} from '../../src/git/hook';
import { findRepository, type Repository } from '../../src/git/repository';
import {
  addWorktree,
  createRepo,
  git,
  gitResult,
  gitTestEnv,
  isolateGitEnvironment,
  makeTempDir,
  removeTempDirs,
  type TestRepo,
} from '../support/git';

const ROOT = path.resolve(__dirname, '..', '..');
/** Directory names that shell quoting has to get right. */
const AWKWARD = `it's a "quoted" dir `;

interface CliCall {
  kind: string;
  argv0?: string;
  argv?: string[];
  cwd?: string;
  pid?: number;
  head?: string | null;
  commonDir?: string | null;
  env?: Record<string, string | undefined>;
}

interface FakeCli {
  path: string;
  log: string;
  calls(): CliCall[];
  clear(): void;
}

type Behaviour = 'record' | 'fail' | 'hang' | 'hang-ignoring-term';

/**
 * Stands in for dist/cli.js: appends what it was started with (argv, cwd, a
 * few environment variables, HEAD and the common dir as git sees them from
 * inside the hook) to a JSON-lines log, then does what `behaviour` says.
 */
function makeFakeCli(behaviour: Behaviour = 'record', dir = makeTempDir(AWKWARD), name = 'cli.js', shebang = ''): FakeCli {
  const file = path.join(dir, name);
  const log = path.join(dir, 'calls.jsonl');
  const source = `${shebang}
const fs = require('fs');
const { execFileSync } = require('child_process');
const git = (args) => {
  try { return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return null; }
};
const env = {};
for (const name of ['LOCKSTEP_HOOK', 'ELECTRON_RUN_AS_NODE', 'GIT_DIR']) env[name] = process.env[name];
fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({
  kind: 'cli', argv0: process.argv0, argv: process.argv.slice(1), cwd: process.cwd(), pid: process.pid,
  head: git(['rev-parse', 'HEAD']), commonDir: git(['rev-parse', '--path-format=absolute', '--git-common-dir']), env,
}) + '\\n');
const behaviour = ${JSON.stringify(behaviour)};
if (behaviour === 'fail') { process.stderr.write('fake record failed\\n'); process.exit(1); }
if (behaviour === 'hang-ignoring-term') process.on('SIGTERM', () => {});
if (behaviour.startsWith('hang')) setInterval(() => {}, 1000);
`;
  fs.writeFileSync(file, source, { mode: 0o755 });
  return {
    path: file,
    log,
    calls: () =>
      fs.existsSync(log)
        ? fs
            .readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l) as CliCall)
        : [],
    clear: () => fs.rmSync(log, { force: true }),
  };
}

/** A hook that appends `{"kind": kind}` to the fake CLI's log, so the log shows the order things ran in. */
function shellHookLogging(log: string, kind: string, extra = ''): string {
  return `#!/bin/sh\nprintf '%s\\n' '{"kind":"${kind}"}' >> ${shellQuote(log)}\n${extra}`;
}

interface CommitRun {
  status: number;
  stderr: string;
  durationMs: number;
}

/** `git commit` as a person types it, through a shell. */
function commitFromShell(dir: string, message: string, env: Record<string, string | undefined> = {}): CommitRun {
  const started = performance.now();
  const result = spawnSync('/bin/sh', ['-c', 'git commit --quiet --allow-empty -m "$1"', 'sh', message], {
    cwd: dir,
    env: gitTestEnv(env),
    encoding: 'utf8',
    // A hook that is not bounded fails the test here instead of hanging it.
    timeout: 30_000,
  });
  if (result.error) throw result.error;
  return { status: result.status ?? -1, stderr: result.stderr, durationMs: performance.now() - started };
}

function options(cli: FakeCli, extra: Partial<HookInstallOptions> = {}): HookInstallOptions {
  return { nodePath: process.execPath, cliPath: cli.path, ...extra };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function snapshot(file: string): { bytes: Buffer; mode: number; ino: number } {
  const stat = fs.statSync(file);
  return { bytes: fs.readFileSync(file), mode: stat.mode, ino: stat.ino };
}

describe('git post-commit hook (real git)', function () {
  let restoreEnv: () => void;
  before(() => {
    restoreEnv = isolateGitEnvironment();
  });
  after(() => {
    restoreEnv();
    removeTempDirs();
  });

  let repo: TestRepo;
  let found: Repository;
  let cli: FakeCli;
  beforeEach(async () => {
    repo = createRepo({ prefix: AWKWARD });
    found = await findRepository(repo.dir);
    cli = makeFakeCli();
  });

  describe('install, commit, uninstall', () => {
    it('runs `<node> <cli> record` in the work tree on a plain `git commit` from a shell, without slowing it', async () => {
      const result = await installHook(found, options(cli));
      assert.equal(result.action, 'installed');
      assert.equal(result.chainedHook, null);
      assert.equal(result.status.state, 'installed');

      const run = commitFromShell(repo.dir, 'first recorded commit');
      assert.equal(run.status, 0, run.stderr);
      const calls = cli.calls();
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]?.argv, [cli.path, 'record']);
      assert.equal(calls[0]?.argv0, process.execPath);
      assert.equal(calls[0]?.cwd, repo.dir);
      assert.equal(calls[0]?.head, repo.head());
      assert.equal(calls[0]?.env?.LOCKSTEP_HOOK, 'post-commit');
      assert.equal(calls[0]?.env?.ELECTRON_RUN_AS_NODE, undefined);
      // The watchdog must not hold the commit (or git's output pipe) until its own time is up.
      assert.ok(run.durationMs < 1500, `commit took ${Math.round(run.durationMs)} ms`);
    });

    it('keeps an existing hook, runs it first with its output shown, and uninstall puts it back byte for byte', async () => {
      const hookFile = repo.path('.git', 'hooks', 'post-commit');
      fs.writeFileSync(hookFile, shellHookLogging(cli.log, 'chained', 'echo "earlier hook says hi from $(basename "$0")"\nexit 3'), { mode: 0o750 });
      fs.chmodSync(hookFile, 0o750);
      const before = snapshot(hookFile);

      const result = await installHook(found, options(cli));
      assert.equal(result.chainedHook, repo.path('.git', 'hooks', CHAINED_HOOK_NAME));
      assert.equal(result.status.chainedHook, result.chainedHook);

      const run = commitFromShell(repo.dir, 'with a chained hook');
      assert.equal(run.status, 0);
      assert.match(run.stderr, /earlier hook says hi from post-commit$/m, 'its output appears, and it sees its own name in $0');
      assert.deepEqual(
        cli.calls().map((c) => c.kind),
        ['chained', 'cli'],
      );
      // git ignores post-commit's exit status; the hook still passes the earlier hook's on.
      assert.equal(spawnSync(hookFile, [], { cwd: repo.dir, env: gitTestEnv() }).status, 3);

      const removed = await uninstallHook(found);
      assert.deepEqual(removed, { removed: true, restored: hookFile, notes: [] });
      assert.deepEqual(snapshot(hookFile), before);
      assert.equal(fs.existsSync(result.chainedHook ?? ''), false);
      assert.equal((await hookStatus(found)).state, 'not-installed');
    });

    it('exits 0 whatever the CLI does, and passes on the exit status of an earlier hook in another language', async () => {
      const failing = makeFakeCli('fail');
      await installHook(found, options(failing));
      const hookFile = repo.path('.git', 'hooks', 'post-commit');
      const alone = spawnSync(hookFile, [], { cwd: repo.dir, env: gitTestEnv(), encoding: 'utf8' });
      assert.equal(alone.status, 0);
      assert.match(alone.stderr, /fake record failed/);

      await uninstallHook(found);
      const nodeHook = `#!${process.execPath}\nrequire('fs').appendFileSync(${JSON.stringify(failing.log)}, '{"kind":"chained-node"}\\n');\nprocess.exit(4);\n`;
      fs.writeFileSync(hookFile, nodeHook, { mode: 0o755 });
      await installHook(found, options(failing));
      failing.clear();
      assert.equal(spawnSync(hookFile, [], { cwd: repo.dir, env: gitTestEnv() }).status, 4);
      assert.deepEqual(
        failing.calls().map((c) => c.kind),
        ['chained-node', 'cli'],
      );
      await uninstallHook(found);
      assert.equal(fs.readFileSync(hookFile, 'utf8'), nodeHook);
    });

    it('is idempotent, and updates in place when the CLI moves', async () => {
      const hookFile = repo.path('.git', 'hooks', 'post-commit');
      fs.writeFileSync(hookFile, shellHookLogging(cli.log, 'chained'), { mode: 0o755 });
      const original = snapshot(hookFile);
      assert.equal((await installHook(found, options(cli))).action, 'installed');
      const installed = fs.readFileSync(hookFile);
      assert.equal((await installHook(found, options(cli))).action, 'unchanged');
      assert.deepEqual(fs.readFileSync(hookFile), installed);
      assert.deepEqual(
        fs.readdirSync(path.dirname(hookFile)).filter((f) => f.startsWith('post-commit') && !f.endsWith('.sample')).sort(),
        ['post-commit', CHAINED_HOOK_NAME],
      );

      commitFromShell(repo.dir, 'once');
      assert.deepEqual(
        cli.calls().map((c) => c.kind),
        ['chained', 'cli'],
      );

      const moved = makeFakeCli();
      const update = await installHook(found, options(moved));
      assert.equal(update.action, 'updated');
      assert.equal(update.status.config?.cliPath, moved.path);
      commitFromShell(repo.dir, 'after the move');
      assert.equal(moved.calls().filter((c) => c.kind === 'cli').length, 1);

      await uninstallHook(found);
      assert.deepEqual(snapshot(hookFile), original);
    });

    it('goes back in front of a hook that a hook manager wrote again, and refuses to guess between two different ones', async () => {
      const hookFile = repo.path('.git', 'hooks', 'post-commit');
      const managed = shellHookLogging(cli.log, 'managed');
      fs.writeFileSync(hookFile, managed, { mode: 0o755 });
      await installHook(found, options(cli));
      // The manager rewrites its hook over ours, the same as before.
      fs.rmSync(hookFile);
      fs.writeFileSync(hookFile, managed, { mode: 0o755 });
      const status = await hookStatus(found);
      assert.equal(status.state, 'not-installed');
      assert.equal(status.otherHook, hookFile);

      assert.equal((await installHook(found, options(cli))).action, 'installed');
      commitFromShell(repo.dir, 'managed and recorded');
      assert.deepEqual(
        cli.calls().map((c) => c.kind),
        ['managed', 'cli'],
      );

      fs.rmSync(hookFile);
      fs.writeFileSync(hookFile, shellHookLogging(cli.log, 'something else'), { mode: 0o755 });
      await assert.rejects(installHook(found, options(cli)), (error: unknown) => isLockstepError(error, 'CONFLICT'));
    });

    it('reports installed, stale (CLI gone, not executable), and what is in the way', async () => {
      const hookFile = repo.path('.git', 'hooks', 'post-commit');
      const none = await hookStatus(found);
      assert.equal(none.state, 'not-installed');
      assert.equal(none.hookFile, hookFile);
      assert.equal(none.hooksPath, null);
      assert.equal(none.otherHook, null);

      const temporary = makeFakeCli();
      await installHook(found, options(temporary));
      assert.equal((await hookStatus(found)).state, 'installed');
      fs.rmSync(temporary.path);
      const stale = await hookStatus(found);
      assert.equal(stale.state, 'stale');
      assert.match(stale.problems.join('\n'), /CLI it runs is gone/);

      await installHook(found, options(cli));
      fs.chmodSync(hookFile, 0o644);
      assert.match((await hookStatus(found)).problems.join('\n'), /not executable/);
    });

    it('refuses relative or missing programs', async () => {
      await assert.rejects(installHook(found, { nodePath: 'node', cliPath: cli.path }), (e: unknown) => isLockstepError(e, 'BAD_INPUT'));
      await assert.rejects(installHook(found, options(cli, { cliPath: path.join(makeTempDir(), 'missing.js') })), (e: unknown) =>
        isLockstepError(e, 'BAD_INPUT'),
      );
      assert.equal((await hookStatus(found)).state, 'not-installed');
    });
  });

  describe('where hooks live', () => {
    it('follows core.hooksPath to husky 9 (.husky/_), keeps husky working, and says husky may rewrite it', async () => {
      const husky = repo.path('.husky');
      const stubDir = path.join(husky, '_');
      fs.mkdirSync(stubDir, { recursive: true });
      // What husky 9 writes: every stub sources `h`, which runs .husky/<name of the stub, from $0>.
      fs.writeFileSync(path.join(stubDir, 'h'), '#!/usr/bin/env sh\nn=$(basename "$0")\ns=$(dirname "$(dirname "$0")")/$n\n[ ! -f "$s" ] && exit 0\nsh -e "$s" "$@"\n', { mode: 0o755 });
      fs.writeFileSync(path.join(stubDir, 'husky.sh'), 'echo "husky - DEPRECATED"\n');
      fs.writeFileSync(path.join(stubDir, '.gitignore'), '*');
      const stub = path.join(stubDir, 'post-commit');
      fs.writeFileSync(stub, '#!/usr/bin/env sh\n. "${0%/*}/h"', { mode: 0o755 });
      fs.writeFileSync(path.join(husky, 'post-commit'), `printf '%s\\n' '{"kind":"husky user hook"}' >> ${shellQuote(cli.log)}\n`);
      repo.git('config', 'core.hooksPath', '.husky/_');
      const before = snapshot(stub);

      const result = await installHook(found, options(cli));
      assert.equal(result.status.hookFile, stub);
      assert.equal(result.status.hooksPath, '.husky/_');
      assert.equal(result.status.manager, 'husky');
      assert.equal(result.status.mayBeRegenerated, true);
      assert.ok(result.status.notes.some((n) => n.includes('husky rewrites')));

      const run = commitFromShell(repo.dir, 'through husky');
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(
        cli.calls().map((c) => c.kind),
        ['husky user hook', 'cli'],
      );
      assert.equal(fs.existsSync(repo.path('.git', 'hooks', 'post-commit')), false, 'nothing written where git does not look');

      await uninstallHook(found);
      assert.deepEqual(snapshot(stub), before);
    });

    it('creates a core.hooksPath folder that does not exist, and removes it again on uninstall', async () => {
      repo.git('config', 'core.hooksPath', 'my hooks');
      const result = await installHook(found, options(cli));
      assert.equal(result.status.hooksDir, repo.path('my hooks'));
      assert.equal(result.status.insideWorkTree, true);
      assert.equal(commitFromShell(repo.dir, 'custom hooks path').status, 0);
      assert.equal(cli.calls().length, 1);
      await uninstallHook(found);
      assert.equal(fs.existsSync(repo.path('my hooks')), false);
    });

    it('will not install into a hooks folder outside the repository unless asked to', async () => {
      const shared = makeTempDir('lockstep-shared-hooks-');
      repo.git('config', 'core.hooksPath', shared);
      await assert.rejects(installHook(found, options(cli)), (e: unknown) => isLockstepError(e, 'CONFLICT'));
      assert.deepEqual(fs.readdirSync(shared), []);
      const result = await installHook(found, options(cli, { allowSharedHooksDir: true }));
      assert.equal(result.status.outsideRepository, true);
      assert.equal(result.status.hookFile, path.join(shared, 'post-commit'));
    });

    it('runs for a commit in a linked worktree, which resolves the same common dir', async () => {
      await installHook(found, options(cli));
      const wt = addWorktree(repo, 'side');
      const wtRepo = await findRepository(wt.dir);
      assert.equal(wtRepo.commonDir, found.commonDir);
      assert.equal((await hookStatus(wtRepo)).state, 'installed');

      assert.equal(commitFromShell(wt.dir, 'in the worktree').status, 0);
      const [call] = cli.calls();
      assert.equal(call?.cwd, wt.dir);
      assert.equal(call?.head, wt.head());
      assert.equal(call?.commonDir, found.commonDir);
      assert.equal(call?.env?.GIT_DIR, wtRepo.gitDir);
    });
  });

  describe('finding Node', () => {
    it('survives spaces and quotes in the repository, node and CLI paths', async () => {
      const nodeDir = makeTempDir(AWKWARD);
      const node = path.join(nodeDir, `no'de "x"`);
      fs.symlinkSync(process.execPath, node);
      const odd = makeFakeCli('record', makeTempDir(`$(touch pwned) \`x\` ${AWKWARD}`), `c'li "$HOME".js`);
      await installHook(found, { nodePath: node, cliPath: odd.path });
      assert.equal(commitFromShell(repo.dir, 'awkward paths').status, 0);
      const [call] = odd.calls();
      assert.equal(call?.argv0, node);
      assert.deepEqual(call?.argv, [odd.path, 'record']);
      assert.equal(fs.existsSync(path.join(repo.dir, 'pwned')), false);
      assert.equal(fs.existsSync('pwned'), false);
      const config = parseHookScript(fs.readFileSync(repo.path('.git', 'hooks', 'post-commit'), 'utf8'));
      assert.deepEqual([config?.nodePath, config?.cliPath], [node, odd.path]);
    });

    it("sets ELECTRON_RUN_AS_NODE=1 when the program is VS Code's own binary", async () => {
      await installHook(found, options(cli, { electronRunAsNode: true }));
      commitFromShell(repo.dir, 'from the extension');
      assert.equal(cli.calls()[0]?.env?.ELECTRON_RUN_AS_NODE, '1');
    });

    it('falls back to node on PATH, then lockstep on PATH, then says so in one line and lets the commit through', async () => {
      const nodeDir = makeTempDir('lockstep-node-');
      const node = path.join(nodeDir, 'node');
      fs.symlinkSync(process.execPath, node);
      await installHook(found, { nodePath: node, cliPath: cli.path });
      fs.rmSync(node);
      const status = await hookStatus(found);
      assert.equal(status.state, 'stale');
      assert.match(status.problems.join('\n'), /falls back to node/);

      // 1. `node` from PATH.
      assert.equal(commitFromShell(repo.dir, 'node from PATH').status, 0);
      assert.deepEqual(cli.calls().map((c) => [c.argv0, c.argv]), [['node', [cli.path, 'record']]]);

      // 2. No node on PATH, CLI gone: `lockstep` from PATH. Only git and sleep are on this PATH.
      const bin = makeTempDir('lockstep-bin-');
      for (const tool of ['git', 'sleep']) {
        const target = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        fs.symlinkSync(target, path.join(bin, tool));
      }
      const onPath = makeFakeCli('record', bin, 'lockstep', `#!${process.execPath}`);
      fs.rmSync(cli.path);
      assert.equal(commitFromShell(repo.dir, 'lockstep from PATH', { PATH: bin }).status, 0);
      assert.deepEqual(onPath.calls().map((c) => c.argv), [[path.join(bin, 'lockstep'), 'record']]);

      // 3. Nothing at all.
      fs.rmSync(path.join(bin, 'lockstep'));
      const run = commitFromShell(repo.dir, 'nothing to run', { PATH: bin });
      assert.equal(run.status, 0);
      const lines = run.stderr.split('\n').filter((l) => l.includes('lockstep'));
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0] ?? '', /^lockstep: could not record a checkpoint for this commit: .*lockstep hook install/);
      assert.equal(repo.git('log', '-1', '--format=%s'), 'nothing to run');

      // 4. Nothing to run, in a repository that is set up: the commit is spooled (time-based) and the log says why.
      const lockstepDir = path.join(found.commonDir, 'lockstep');
      fs.mkdirSync(lockstepDir, { recursive: true });
      // A machine's usual tools, but no Node and no lockstep.
      for (const tool of ['date', 'mkdir', 'mv', 'find', 'rmdir']) {
        const target = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim();
        fs.symlinkSync(target, path.join(bin, tool));
      }
      const spooled = commitFromShell(repo.dir, 'nothing to run, set up', { PATH: bin });
      assert.equal(spooled.status, 0);
      const spooledLines = spooled.stderr.split('\n').filter((l) => l.includes('lockstep'));
      assert.equal(spooledLines.length, 1, spooled.stderr);
      assert.match(spooledLines[0] ?? '', /^lockstep: .*, or a Node\.js to run it, is missing; run `lockstep hook install` again: this commit is recorded by its time/);
      assert.match(fs.readFileSync(path.join(lockstepDir, 'lockstep.log'), 'utf8'), /record failed: .*is missing.*; recorded by time\n$/);
      assert.ok(fs.readdirSync(path.join(lockstepDir, 'pending')).some((n) => n.startsWith(repo.head())), 'the commit is in the spool');
    });
  });

  describe('time bound', () => {
    for (const behaviour of ['hang', 'hang-ignoring-term'] as const) {
      it(`lets the commit return within the bound when the CLI hangs (${behaviour})`, async () => {
        const hanging = makeFakeCli(behaviour);
        await installHook(found, options(hanging));
        const lockstepDir = path.join(found.commonDir, 'lockstep');
        fs.mkdirSync(lockstepDir, { recursive: true });
        const run = commitFromShell(repo.dir, `while the database hangs (${behaviour})`);
        assert.equal(run.status, 0);
        assert.ok(run.durationMs < 5000, `commit took ${Math.round(run.durationMs)} ms`);
        // One line, the same words `lockstep record` uses when it gives up by itself, and the same log entry.
        const lines = run.stderr.split('\n').filter((l) => l !== '');
        assert.equal(lines.length, 1, run.stderr);
        assert.match(lines[0]!, /^lockstep: stopped by the commit hook after 1\.7 s: this commit is recorded by its time \(\S+Z\) and restored to that moment$/);
        assert.match(fs.readFileSync(path.join(lockstepDir, 'lockstep.log'), 'utf8'), /^\S+Z record failed: stopped by the commit hook after 1\.7 s; recorded by time\n$/);
        // The commit is not lost: the spool holds it, with the moment and the reason.
        const spooled = fs.readdirSync(path.join(lockstepDir, 'pending')).filter((n) => n.startsWith(repo.head()));
        assert.equal(spooled.length, 1, 'one spool file for the commit');
        const text = fs.readFileSync(path.join(lockstepDir, 'pending', spooled[0]!), 'utf8');
        assert.match(text, new RegExp(`^lockstep-pending 1\nsha ${repo.head()}\ntime \\S+Z\nref refs/heads/\\S+\nms \\d+\nend\nwhy stopped by the commit hook after 1\\.7 s\n$`));
        const [call] = hanging.calls();
        assert.ok(call?.pid, 'the CLI started');
        assert.equal(isAlive(call.pid), false, 'and was stopped, not left running');
      });
    }
  });

  describe('rebase, amend, cherry-pick, merge with the hook installed', () => {
    beforeEach(async () => {
      await installHook(found, options(cli));
      repo.git('checkout', '--quiet', '-b', 'topic');
      repo.commit('t1', '1', 't1');
      repo.commit('t2', '2', 't2');
      repo.git('checkout', '--quiet', 'main');
      repo.commit('b', 'b', 'main-b');
      cli.clear();
    });

    it('records an amended commit under its new sha', () => {
      const before = repo.head();
      repo.git('commit', '--quiet', '--amend', '-m', 'main-b, amended');
      const calls = cli.calls();
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.head, repo.head());
      assert.notEqual(calls[0]?.head, before);
    });

    it('records nothing while a rebase replays commits, says so once, and records again afterwards', () => {
      repo.git('checkout', '--quiet', 'topic');
      const run = gitResult(repo.dir, ['rebase', 'main']);
      assert.equal(run.status, 0, run.stderr);
      assert.deepEqual(cli.calls(), []);
      // git's progress ends its lines with \r, so count the note itself rather than lines.
      assert.equal(run.stderr.match(/lockstep: a rebase is in progress/g)?.length, 1, run.stderr);
      assert.equal(repo.git('log', '-2', '--format=%s'), 't2\nt1');

      repo.commit('after', 'x', 'after the rebase');
      assert.deepEqual(
        cli.calls().map((c) => c.head),
        [repo.head()],
      );
    });

    it('records each commit a cherry-pick makes', () => {
      repo.git('cherry-pick', 'main..topic');
      assert.deepEqual(
        cli.calls().map((c) => c.head),
        [repo.git('rev-parse', 'HEAD~1'), repo.head()],
      );
    });

    it('records nothing for a merge git commits by itself (post-commit does not run)', () => {
      repo.git('merge', '--quiet', '--no-edit', 'topic');
      assert.equal(repo.git('log', '-1', '--format=%s'), "Merge branch 'topic'");
      assert.deepEqual(cli.calls(), []);
    });
  });

  describe('which commands run post-commit, and what shouldRecord says there (verified against real git)', () => {
    /** A raw post-commit hook that runs the real readHead/shouldRecord in the hook's own environment. */
    function installProbe(target: TestRepo, log: string): void {
      const probe = path.join(makeTempDir('lockstep-probe-'), 'probe.cjs');
      fs.writeFileSync(
        probe,
        `const fs = require('fs');
require(require.resolve('tsx/cjs/api', { paths: [${JSON.stringify(ROOT)}] })).register();
const { findRepository, readHead, operationInProgress } = require(${JSON.stringify(path.join(ROOT, 'src/git/repository.ts'))});
const { shouldRecord } = require(${JSON.stringify(path.join(ROOT, 'src/git/hook.ts'))});
(async () => {
  const repo = await findRepository(process.cwd());
  const head = await readHead(repo);
  const decision = shouldRecord(repo);
  fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ subject: head.subject, sha: head.sha, branch: head.branch, op: operationInProgress(repo), record: decision.record }) + '\\n');
})().catch((error) => fs.appendFileSync(${JSON.stringify(log)}, JSON.stringify({ error: String(error) }) + '\\n'));
`,
      );
      fs.writeFileSync(target.path('.git', 'hooks', 'post-commit'), `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(probe)}\n`, {
        mode: 0o755,
      });
    }

    interface Seen {
      subject: string;
      op: string | null;
      record: boolean;
      branch?: string | null;
    }

    /** A sequence editor that turns the first pick of a rebase to-do list into an edit (awk: any sed would do, but not portably). */
    function editFirstPick(): string {
      const script = path.join(makeTempDir('lockstep-editor-'), 'edit-first.sh');
      fs.writeFileSync(script, `awk 'NR==1{sub(/^pick/,"edit")}1' "$1" > "$1.new" && mv "$1.new" "$1"\n`);
      return `sh ${shellQuote(script)}`;
    }

    const scenarios: { name: string; setup?: (r: TestRepo) => void; run: (r: TestRepo) => void; expect: Seen[] }[] = [
      { name: 'git commit', run: (r) => r.commit('x', 'x', 'plain'), expect: [{ subject: 'plain', op: null, record: true }] },
      {
        name: 'git commit --amend',
        run: (r) => r.git('commit', '--quiet', '--amend', '-m', 'amended'),
        expect: [{ subject: 'amended', op: null, record: true }],
      },
      { name: 'git merge (creates the merge commit itself)', run: (r) => r.git('merge', '--quiet', '--no-edit', 'topic'), expect: [] },
      {
        name: 'git merge (fast-forward)',
        run: (r) => {
          r.git('checkout', '--quiet', '-b', 'behind', 'topic~1');
          r.git('merge', '--quiet', '--ff-only', 'topic');
        },
        expect: [],
      },
      {
        name: 'conflicted merge concluded by git commit',
        setup: (r) => r.commit('t1', 'main side', 'main t1'),
        run: (r) => {
          gitResult(r.dir, ['merge', 'topic']);
          r.write('t1', 'resolved');
          r.git('add', 't1');
          r.git('commit', '--quiet', '--no-edit');
        },
        expect: [{ subject: "Merge branch 'topic'", op: null, record: true }],
      },
      {
        name: 'conflicted merge concluded by git merge --continue',
        setup: (r) => r.commit('t1', 'main side', 'main t1'),
        run: (r) => {
          gitResult(r.dir, ['merge', 'topic']);
          r.write('t1', 'resolved');
          r.git('add', 't1');
          r.git('merge', '--continue');
        },
        expect: [{ subject: "Merge branch 'topic'", op: null, record: true }],
      },
      {
        name: 'git merge --squash, then git commit',
        run: (r) => {
          r.git('merge', '--quiet', '--squash', 'topic');
          r.git('commit', '--quiet', '-m', 'squashed');
        },
        expect: [{ subject: 'squashed', op: null, record: true }],
      },
      {
        name: 'git cherry-pick (one commit)',
        run: (r) => r.git('cherry-pick', 'topic~1'),
        expect: [{ subject: 't1', op: 'cherry-pick', record: true, branch: 'main' }],
      },
      {
        name: 'git cherry-pick (a range)',
        run: (r) => r.git('cherry-pick', 'main..topic'),
        expect: [
          { subject: 't1', op: 'cherry-pick', record: true },
          { subject: 't2', op: 'cherry-pick', record: true },
        ],
      },
      { name: 'git revert', run: (r) => r.git('revert', '--no-edit', 'HEAD'), expect: [{ subject: 'Revert "main-b"', op: null, record: true }] },
      {
        name: 'git rebase',
        run: (r) => {
          r.git('checkout', '--quiet', 'topic');
          r.git('rebase', 'main');
        },
        expect: [
          { subject: 't1', op: 'rebase', record: false, branch: null },
          { subject: 't2', op: 'rebase', record: false, branch: null },
        ],
      },
      {
        name: 'git rebase -i, amend at an edit stop, --continue',
        run: (r) => {
          r.git('checkout', '--quiet', 'topic');
          git(r.dir, ['rebase', '-i', 'main'], { env: { GIT_SEQUENCE_EDITOR: editFirstPick() } });
          r.git('commit', '--quiet', '--amend', '-m', 't1 amended');
          r.git('rebase', '--continue');
        },
        expect: [
          { subject: 't1', op: 'rebase', record: false },
          { subject: 't1 amended', op: 'rebase', record: false },
          { subject: 't2', op: 'rebase', record: false },
        ],
      },
      {
        name: 'git rebase --apply',
        run: (r) => {
          r.git('checkout', '--quiet', 'topic');
          r.git('rebase', '--apply', 'main');
        },
        expect: [],
      },
      {
        name: 'git am',
        run: (r) => {
          const patches = makeTempDir();
          r.git('format-patch', '--quiet', 'main..topic', '-o', patches);
          r.git('am', '--quiet', ...fs.readdirSync(patches).sort().map((f) => path.join(patches, f)));
        },
        expect: [],
      },
      {
        name: 'git stash push -u, pop',
        run: (r) => {
          r.write('b', 'dirty');
          r.write('untracked', 'u');
          r.git('stash', 'push', '--quiet', '--include-untracked');
          r.git('stash', 'pop', '--quiet');
        },
        expect: [],
      },
      {
        name: 'git commit during git bisect',
        run: (r) => {
          r.git('checkout', '--quiet', 'topic');
          r.git('bisect', 'start', 'topic', 'topic~2');
          r.commit('bisecting', 'x', 'commit while bisecting');
        },
        expect: [{ subject: 'commit while bisecting', op: 'bisect', record: true, branch: null }],
      },
    ];

    for (const scenario of scenarios) {
      it(scenario.name, () => {
        const r = createRepo();
        r.git('checkout', '--quiet', '-b', 'topic');
        r.commit('t1', '1', 't1');
        r.commit('t2', '2', 't2');
        r.git('checkout', '--quiet', 'main');
        r.commit('b', 'b', 'main-b');
        scenario.setup?.(r);
        const log = path.join(makeTempDir('lockstep-probe-log-'), 'seen.jsonl');
        installProbe(r, log);

        scenario.run(r);
        const seen = fs.existsSync(log)
          ? fs
              .readFileSync(log, 'utf8')
              .split('\n')
              .filter((l) => l !== '')
              .map((l) => JSON.parse(l) as Seen & { error?: string })
          : [];
        for (const s of seen) assert.equal(s.error, undefined);
        assert.deepEqual(
          seen.map((s, i) => {
            const keep: Seen = { subject: s.subject, op: s.op, record: s.record };
            if (scenario.expect[i] && 'branch' in scenario.expect[i]) keep.branch = s.branch;
            return keep;
          }),
          scenario.expect,
        );
      });
    }
  });

  describe('the script', () => {
    it('quotes every value so that sh reads it back unchanged', () => {
      for (const value of [`plain`, `with space`, `it's`, `"double"`, `$(touch x) \`y\` $HOME \\n`, `new\nline`]) {
        const echoed = spawnSync('sh', ['-c', `printf '%s' ${shellQuote(value)}`], { encoding: 'utf8' }).stdout;
        assert.equal(echoed, value);
      }
      const config = { version: 1, nodePath: `/a b/it's/node`, cliPath: `/c "d"/cli.js`, electronRunAsNode: true, createdHooksDir: false };
      assert.deepEqual(parseHookScript(renderHookScript(config)), config);
      assert.equal(parseHookScript('#!/bin/sh\necho not ours\n'), null);
      assert.equal(spawnSync('sh', ['-n', '-c', renderHookScript(config)]).status, 0, 'valid sh');
    });
  });
});
