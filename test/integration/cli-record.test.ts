// The post-commit hook and `lockstep record` through the real CLI: plain shell commits, chained and husky hooks, worktrees, and a database that is down or hangs.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { compareLsn } from '../../src/base/lsn';
import type { CheckpointListing } from '../../src/core/checkpoint';
import { expectOk, explain, initRepo, localRootOf, lockstep, shell, type CliResult, type JournalRecord, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';
import { eventually } from '../support/eventually';
import { addWorktree, git, makeTempDir, removeTempDirs, type TestRepo } from '../support/git';

/**
 * `git commit` as a person types it in a terminal; the hook runs as git runs it.
 * Returns once the hook's spool is folded into the journal: by the background
 * process the hook starts, with no other command run (so the tests below that
 * read the journal file see each commit in it).
 */
async function commitFromShell(dir: string, message: string, env: Record<string, string> = {}): Promise<CliResult> {
  const result = await shell(dir, 'git commit --quiet --allow-empty -m "$1"', [message], { env });
  const spool = path.join(path.resolve(dir, git(dir, ['rev-parse', '--git-common-dir'])), 'lockstep', 'pending');
  // Spooled commits are named <sha>.<pid>; the fold holds .folding while it runs (.last, the shared reading, stays).
  const busy = () => fs.existsSync(spool) && fs.readdirSync(spool).some((name) => !name.startsWith('.') || name === '.folding');
  await eventually('the background fold to empty the spool', () => (busy() ? undefined : true), { timeoutMs: 20_000, intervalMs: 50 });
  return result;
}

function lastRecord(repo: LockstepRepo): JournalRecord {
  const lines = repo.journalLines();
  return JSON.parse(lines[lines.length - 1]!) as JournalRecord;
}

async function insertLsn(url: string): Promise<string> {
  return String((await sql(url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn);
}

function nonEmptyLines(text: string): string[] {
  return text.split('\n').filter((l) => l.trim() !== '');
}

/** A TCP server that accepts connections and never answers: a database that hangs. */
async function hangingServer(port: number): Promise<{ connections(): number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  return {
    connections: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A module for NODE_OPTIONS=--require that holds Node's start-up for `ms`, as a slow machine does. */
function slowStart(ms: number): string {
  const file = path.join(makeTempDir('lockstep-slow-start-'), 'slow-start.cjs');
  fs.writeFileSync(file, `const until = Date.now() + ${ms}; while (Date.now() < until);\n`);
  return file;
}

function readLog(repo: LockstepRepo): string[] {
  return fs.existsSync(repo.logFile) ? nonEmptyLines(fs.readFileSync(repo.logFile, 'utf8')) : [];
}

describe('cli: the post-commit hook records commits', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  it('records a plain `git commit` typed in a shell, pairing the new sha with the LSN of that moment', async () => {
    await sql(repo.url, 'CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) VALUES ($$one$$), ($$two$$)');
    const lsnBefore = await insertLsn(repo.url);
    const linesBefore = repo.journalLines().length;

    repo.write('app.txt', 'version 1\n');
    repo.git('add', 'app.txt');
    const commit = await commitFromShell(repo.dir, 'add the app');
    assert.equal(commit.code, 0, explain(commit));
    assert.equal(commit.stderr, '', 'a recorded commit prints nothing');
    const sha = repo.head();
    const lsnAfter = await insertLsn(repo.url);

    assert.equal(repo.journalLines().length, linesBefore + 1, 'one new journal line');
    const record = lastRecord(repo);
    assert.equal(record.kind, 'commit');
    assert.equal(record.commitSha, sha);
    assert.equal(record.branch, 'main');
    assert.equal(record.subject, 'add the app');
    const status = JSON.parse(expectOk(await repo.lockstep('db', 'status', '--json')).stdout) as { head: { timelineId: string } };
    assert.equal(record.timelineId, status.head.timelineId);
    assert.ok(record.lsn !== null, 'measured, not time-based');
    assert.ok(compareLsn(lsnBefore, record.lsn) <= 0 && compareLsn(record.lsn, lsnAfter) <= 0, `LSN ${record.lsn} should lie in [${lsnBefore}, ${lsnAfter}]`);

    const listed = await repo.list();
    assert.equal(listed[0]?.id, record.id, 'newest first');
    assert.equal(listed[0]?.commitSha, sha);
  });

  it('`lockstep record` by hand after the hook adds nothing and exits 0', async () => {
    const before = repo.journalLines();
    const result = await repo.lockstep('record');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stderr, /already recorded as [0-9a-f]{12}/);
    assert.deepEqual(repo.journalLines(), before);
  });

  let worktree: TestRepo;
  it('records a commit made in a linked worktree in the same journal, in the git common dir', async () => {
    worktree = addWorktree(repo, 'feature');
    const linesBefore = repo.journalLines().length;
    worktree.write('feature.txt', 'feature\n');
    worktree.git('add', 'feature.txt');
    const commit = await commitFromShell(worktree.dir, 'a feature');
    assert.equal(commit.code, 0, explain(commit));

    assert.equal(repo.journalLines().length, linesBefore + 1);
    const record = lastRecord(repo);
    assert.equal(record.commitSha, worktree.head());
    assert.equal(record.branch, 'feature');
    const worktreeGitDir = worktree.git('rev-parse', '--absolute-git-dir');
    assert.ok(!fs.existsSync(path.join(worktreeGitDir, 'lockstep')), 'no second journal in the worktree git dir');

    const fromWorktree = JSON.parse(expectOk(await lockstep(worktree.dir, ['list', '--json'])).stdout) as { id: string }[];
    assert.deepEqual(
      fromWorktree.map((c) => c.id),
      (await repo.list()).map((c) => c.id),
      'both work trees list the same checkpoints',
    );
  });

  it('records two commits made at the same moment in two worktrees, both whole', async () => {
    const linesBefore = repo.journalLines().length;
    const [main, feature] = await Promise.all([commitFromShell(repo.dir, 'main at once'), commitFromShell(worktree.dir, 'feature at once')]);
    assert.equal(main.code, 0, explain(main));
    assert.equal(feature.code, 0, explain(feature));
    const added = repo.journalLines().slice(linesBefore).map((l) => JSON.parse(l) as JournalRecord);
    assert.deepEqual(added.map((r) => r.commitSha).sort(), [repo.head(), worktree.head()].sort());
  });

  it('`lockstep record --commit SHA` (the form DESIGN.md gives the hook) records that commit', async () => {
    const sha = repo.head();
    const linesBefore = repo.journalLines().length;
    await sql(repo.url, "INSERT INTO items (name) VALUES ('moves the LSN')");
    const result = await repo.lockstep('record', '--commit', sha);
    assert.equal(result.code, 0, explain(result));
    assert.doesNotMatch(result.stderr, /Unknown option/, explain(result));
    assert.equal(repo.journalLines().length, linesBefore + 1, explain(result));
    assert.equal(lastRecord(repo).commitSha, sha);
  });
});

describe('cli: an existing post-commit hook is kept', function () {
  const ORIGINAL = '#!/bin/sh\n# the project\'s own hook\ngit rev-parse HEAD >> "$(git rev-parse --git-common-dir)/own-hook-ran"\n';
  let repo: LockstepRepo;
  let ownHookLog: string;
  before(async () => {
    repo = await initRepo({
      beforeInit: (r) => fs.writeFileSync(r.path('.git', 'hooks', 'post-commit'), ORIGINAL, { mode: 0o755 }),
    });
    ownHookLog = repo.path('.git', 'own-hook-ran');
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('`init` keeps it, it still runs on each commit, and the commit is recorded too', async () => {
    const hooks = repo.path('.git', 'hooks');
    assert.equal(fs.readFileSync(path.join(hooks, 'post-commit.lockstep-chained'), 'utf8'), ORIGINAL);
    assert.match(fs.readFileSync(path.join(hooks, 'post-commit'), 'utf8'), /lockstep-hook/);

    const commit = await commitFromShell(repo.dir, 'with both hooks');
    assert.equal(commit.code, 0, explain(commit));
    const sha = repo.head();
    assert.deepEqual(nonEmptyLines(fs.readFileSync(ownHookLog, 'utf8')), [sha], 'the own hook ran once, for this commit');
    assert.equal(lastRecord(repo).commitSha, sha);
  });

  it('`hook uninstall` puts the own hook back byte for byte; it keeps running and nothing is recorded', async () => {
    const result = expectOk(await repo.lockstep('hook', 'uninstall'));
    assert.match(result.stdout, /earlier hook is back/);
    const hookFile = repo.path('.git', 'hooks', 'post-commit');
    assert.equal(fs.readFileSync(hookFile, 'utf8'), ORIGINAL);
    assert.equal(fs.statSync(hookFile).mode & 0o777, 0o755);
    assert.ok(!fs.existsSync(`${hookFile}.lockstep-chained`));

    const linesBefore = repo.journalLines().length;
    const commit = await commitFromShell(repo.dir, 'own hook only');
    assert.equal(commit.code, 0, explain(commit));
    assert.equal(nonEmptyLines(fs.readFileSync(ownHookLog, 'utf8')).pop(), repo.head());
    assert.equal(repo.journalLines().length, linesBefore);
    assert.equal((await repo.lockstep('hook', 'status')).code, 1, 'not installed');
  });
});

describe('cli: core.hooksPath (a husky-style .husky directory)', function () {
  const HUSKY_HOOK = '#!/usr/bin/env sh\necho "husky post-commit $(git rev-parse HEAD)" >> "$(git rev-parse --git-common-dir)/husky-ran"\n';
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo({
      beforeInit: (r) => {
        r.commit('.husky/post-commit', HUSKY_HOOK, 'add husky hook');
        fs.chmodSync(r.path('.husky', 'post-commit'), 0o755);
        r.git('config', 'core.hooksPath', '.husky');
      },
    });
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('installs into the hooks path, keeps the husky hook running first, and records the commit', async () => {
    const status = JSON.parse(expectOk(await repo.lockstep('hook', 'status', '--json')).stdout) as { state: string; hooksDir: string; chainedHook: string };
    assert.equal(status.state, 'installed');
    assert.equal(status.hooksDir, repo.path('.husky'));
    assert.equal(status.chainedHook, repo.path('.husky', 'post-commit.lockstep-chained'));
    assert.ok(!fs.existsSync(repo.path('.git', 'hooks', 'post-commit')), 'nothing written where git does not look');

    repo.write('src.txt', 'source\n');
    repo.git('add', 'src.txt');
    const commit = await commitFromShell(repo.dir, 'under husky');
    assert.equal(commit.code, 0, explain(commit));
    const sha = repo.head();
    assert.deepEqual(nonEmptyLines(fs.readFileSync(repo.path('.git', 'husky-ran'), 'utf8')), [`husky post-commit ${sha}`]);
    const record = lastRecord(repo);
    assert.equal(record.kind, 'commit');
    assert.equal(record.commitSha, sha);
  });
});

describe('cli: a repository whose path has spaces and quotes', function () {
  let repo: LockstepRepo | undefined;
  after(async () => {
    await repo?.cleanup();
  });

  it('is set up by `init`, and its commits are recorded by the hook', async () => {
    repo = await initRepo({ prefix: `it's a "quoted" dir ` });
    assert.match(repo.dir, /it's a "quoted" dir /);
    const commit = await commitFromShell(repo.dir, 'in an awkward place');
    assert.equal(commit.code, 0, explain(commit));
    assert.equal(commit.stderr, '', explain(commit));
    assert.equal(lastRecord(repo).commitSha, repo.head());
  });
});

describe('cli: the database is down or hangs, and every commit is still recorded', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
    await sql(repo.url, 'CREATE TABLE t (v text)');
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  /** A commit while the position cannot be read: it succeeds, returns in bounded time, says once how it was recorded, and is listed. */
  async function commitAndList(message: string, env: Record<string, string> = {}): Promise<{ commit: CliResult; entry: CheckpointListing; line: string }> {
    const headBefore = repo.head();
    const commit = await commitFromShell(repo.dir, message, env);
    assert.equal(commit.code, 0, explain(commit));
    assert.notEqual(repo.head(), headBefore, 'the commit was made');
    // A correctness bound, not a benchmark: the hook is bounded to 2 s.
    assert.ok(commit.durationMs < 5000, `the commit took ${Math.round(commit.durationMs)} ms`);
    const lines = nonEmptyLines(commit.stderr);
    assert.equal(lines.length, 1, `one stderr line: ${explain(commit)}`);
    const entries = (await repo.list()).filter((c) => c.commitSha === repo.head());
    assert.equal(entries.length, 1, `the commit is listed once: ${JSON.stringify(entries)}`);
    return { commit, entry: entries[0]!, line: lines[0]! };
  }

  async function rows(): Promise<string[]> {
    return (await sql(repo.url, 'SELECT v FROM t ORDER BY v')).map((r) => String(r.v));
  }

  it('stopped (`lockstep db stop`): recorded exactly where the database stopped, and restorable there after `db start`', async () => {
    await sql(repo.url, "INSERT INTO t VALUES ('before the stop')");
    expectOk(await repo.lockstep('db', 'stop'));
    const { entry, line } = await commitAndList('while the database is stopped');
    assert.match(line, /^lockstep: the database is stopped: this commit is recorded where it stopped \(timeline \d+ @ [0-9A-F]+\/[0-9A-F]+\)$/);
    assert.ok(entry.lsn !== null, 'by position, not by time');
    assert.equal(entry.restorable, true, JSON.stringify(entry));
    const status = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { recordFailures: string[] };
    assert.deepEqual(status.recordFailures, [], 'nothing failed to record');

    // A program that took the port meanwhile gets nothing: Lockstep talks to its database over its private socket.
    const squatter = await hangingServer(repo.port);
    try {
      const second = await commitAndList('while the database is stopped and its port is taken');
      assert.match(second.line, /recorded where it stopped/);
      assert.equal(second.entry.lsn, entry.lsn, 'the same position: the database has not moved');
      assert.equal(squatter.connections(), 0, 'nothing connected to the program on the port');
    } finally {
      await squatter.close();
    }

    expectOk(await repo.lockstep('db', 'start'));
    await sql(repo.url, "INSERT INTO t VALUES ('after the start')");
    expectOk(await repo.lockstep('restore', entry.id, '--yes'));
    assert.deepEqual(await rows(), ['before the stop']);
  });

  it('hung (SIGSTOP): recorded by its time, listed as such, and restored to that moment once the database answers again', async () => {
    await sql(repo.url, "DELETE FROM t; INSERT INTO t VALUES ('before the commit')");
    const pid = repo.postmasterPid();
    process.kill(pid, 'SIGSTOP');
    let result;
    try {
      result = await commitAndList('while the database hangs');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.match(result.line, /recorded by its time/);
    assert.equal(result.entry.lsn, null, 'time-based');
    const log = readLog(repo);
    assert.match(log[log.length - 1]!, /record failed: .*recorded by time/);
    const text = expectOk(await repo.lockstep('list')).stdout;
    assert.match(text.split('\n').find((l) => l.includes(result.entry.id)) ?? '', /time-based/, text);

    await sql(repo.url, "INSERT INTO t VALUES ('after the commit')");
    const restored = await repo.lockstep('restore', result.entry.id, '--yes');
    expectOk(restored);
    assert.deepEqual(await rows(), ['before the commit']);
  });

  it('hanging, with a Node that starts too slowly to give up by itself: the hook stops it, and the commit is recorded by its time', async () => {
    const pid = repo.postmasterPid();
    process.kill(pid, 'SIGSTOP');
    let result;
    try {
      result = await commitAndList('while the database hangs, with a very slow Node start-up', { NODE_OPTIONS: `--require ${slowStart(2500)}`, LOCKSTEP_NO_PSQL: '1' });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.match(result.line, /^lockstep: stopped by the commit hook after 1\.7 s: this commit is recorded by its time/);
    assert.equal(result.entry.lsn, null);
  });

  it('records again once `lockstep db start` brings the database back', async () => {
    expectOk(await repo.lockstep('db', 'start'));
    const commit = await commitFromShell(repo.dir, 'database is back');
    assert.equal(commit.code, 0, explain(commit));
    assert.equal(commit.stderr, '');
    assert.equal(lastRecord(repo).commitSha, repo.head());
  });
});

describe('cli: the base-backup policy after a commit', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  it('takes the base backup that is due even when another command folds the commit first', async () => {
    await repo.waitForUpkeep();
    const configFile = path.join(repo.lockstepDir, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { local: { baseBackupWalBytes: number } };
    config.local.baseBackupWalBytes = 1024 * 1024;
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const backupsDir = path.join(localRootOf(repo.lockstepDir), 'backups');
    const before = new Set(fs.readdirSync(backupsDir));
    // About 10 MB of WAL: ten times the policy.
    await sql(repo.url, "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 40000) g");
    // The hook's fold is held back (the hook starts none while this exists), so that another command folds first.
    const folding = path.join(repo.lockstepDir, 'pending', '.folding');
    fs.mkdirSync(folding, { recursive: true });
    expectOk(await shell(repo.dir, 'git commit --quiet --allow-empty -m "$1"', ['after 10 MB of WAL']));
    const sha = repo.git('rev-parse', 'HEAD');
    // As the extension's tree does when the spool changes: this command folds the commit.
    const listed = JSON.parse(expectOk(await lockstep(repo.dir, ['list', '--json'])).stdout) as CheckpointListing[];
    assert.ok(listed.some((c) => c.commitSha === sha), 'the commit is listed');
    assert.deepEqual(fs.readdirSync(path.dirname(folding)).filter((name) => !name.startsWith('.')), [], 'list folded the spooled commit');
    // Then the hook's fold, as the hook starts it: nothing is left for it to fold.
    expectOk(await lockstep(repo.dir, ['record', '--fold'], { env: { LOCKSTEP_FOLDING: folding } }));
    assert.ok(!fs.existsSync(folding), 'the fold let go of its directory');
    await repo.waitForUpkeep();
    const taken = fs.readdirSync(backupsDir).filter((id) => !before.has(id));
    assert.equal(taken.length, 1, `one base backup taken after the commit (backups: ${fs.readdirSync(backupsDir).join(', ')})`);
  });
});
