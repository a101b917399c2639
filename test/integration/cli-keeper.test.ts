// `lockstep keeper`, the guard's open connection: started by the guard, serving its safety points without a backend of
// their own, exact (before the command's writes), gone with the database and after a restore's cut-over, and refusing
// what is not a request of this repository. Real Postgres, real git, the real CLI and dist/guard.js as child processes.

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { CLI, explain, expectOk, initRepo, lockstep, type CliResult, type JournalRecord, type LockstepRepo } from '../support/cli';
import { eventually as poll } from '../support/eventually';
import { sql } from '../support/fingerprint';
import { gitTestEnv, makeTempDir, removeTempDirs } from '../support/git';

const GUARD = path.join(path.dirname(CLI), 'guard.js');

function claudePayload(command: string, cwd: string): string {
  return JSON.stringify({ session_id: 'keeper-tests', transcript_path: path.join(cwd, 't.jsonl'), cwd, permission_mode: 'default', hook_event_name: 'PreToolUse', tool_name: 'Bash', tool_input: { command }, tool_use_id: 'toolu_1' });
}

/** dist/guard.js as Claude Code runs it: the payload on stdin, to the end. */
function guard(command: string, cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(process.execPath, [GUARD, '--agent', 'claude'], { cwd, env: gitTestEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(claudePayload(command, cwd));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr, durationMs: performance.now() - started }));
  });
}

function takenId(result: CliResult): string {
  const id = /safety point (\S+) taken/.exec(result.stderr)?.[1];
  assert.ok(id, `no safety point: ${explain(result)}`);
  return id;
}

/** The support's poll, at this file's pace: 20 s, every 50 ms. */
const eventually = <T>(what: string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> => poll(what, probe, { timeoutMs: 20_000, intervalMs: 50 });

/** Pids of `lockstep keeper` processes working in `dir` (Linux /proc). */
function keepers(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[1] === CLI && argv[2] === 'keeper' && fs.readlinkSync(`/proc/${entry}/cwd`) === dir) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The guard with a preload that lists, at exit, the files of ours it loaded: guard-full.js is the engine's path. */
async function guardTraced(command: string, cwd: string): Promise<{ result: CliResult; loaded: string[] }> {
  const dir = makeTempDir('lockstep-keeper-trace-');
  const preload = path.join(dir, 'trace.cjs');
  const out = path.join(dir, 'loaded.txt');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, Object.keys(require.cache).join('\\n')));\n`);
  const result = await guard(command, cwd, { NODE_OPTIONS: `--require=${preload}` });
  return { result, loaded: fs.readFileSync(out, 'utf8').split('\n').filter((f) => f.startsWith(path.dirname(CLI))).map((f) => path.basename(f)) };
}

/** The serving timeline, as the WAL's file name carries it. */
async function servingTimeline(repo: LockstepRepo): Promise<string> {
  const rows = await sql(repo.url, 'SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS t');
  return String(Number.parseInt(String(rows[0]!.t).slice(0, 8), 16));
}

/** One raw line to the keeper's socket, and its answer. */
function askRaw(socketFile: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketFile);
    let received = '';
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(line));
    socket.on('data', (chunk: string) => (received += chunk));
    socket.once('close', () => resolve(received));
    // The keeper cuts off a line too long to be a request: what it said before (nothing) is the answer.
    socket.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' || error.code === 'EPIPE' ? resolve(received) : reject(error)));
  });
}

describe('cli: lockstep keeper (the guard’s open connection)', function () {
  let repo: LockstepRepo;
  let socketFile: string;
  const journal = (): JournalRecord[] => repo.journalLines().map((line) => JSON.parse(line) as JournalRecord);

  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-keeper-' });
    socketFile = path.join(repo.lockstepDir, 'keeper', 'keeper.sock');
    await sql(repo.url, 'CREATE TABLE contacts (id int PRIMARY KEY, name text); INSERT INTO contacts SELECT g, $$c$$ || g FROM generate_series(1, 5) g');
  });
  after(async () => {
    await repo?.cleanup();
    for (const pid of keepers(repo.dir)) process.kill(pid, 'SIGKILL');
    removeTempDirs();
  });

  it('is started by the first safety point, and serves the next ones without a backend of their own', async () => {
    assert.deepEqual(keepers(repo.dir), []);
    takenId(await guard(`psql -c 'delete from contacts where id = 5'`, repo.dir));
    await eventually('the keeper’s socket', () => (fs.existsSync(socketFile) ? true : undefined));
    assert.equal(keepers(repo.dir).length, 1);
    const stat = fs.statSync(socketFile);
    assert.equal(stat.mode & 0o777, 0o600, 'the socket is open to others');
    assert.equal(fs.statSync(path.dirname(socketFile)).mode & 0o777, 0o700, 'its folder is open to others');
    const activity = await sql(repo.url, "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'lockstep-keeper'");
    assert.equal(activity[0]!.n, '1');
    // `lockstep status` names it: which process holds a connection, and how it ends.
    const [pid] = keepers(repo.dir);
    assert.match(expectOk(await repo.lockstep('status')).stdout, new RegExp(`^keeper: pid ${pid} holds a connection .*lockstep keeper --stop`, 'm'));
    assert.equal((JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { keeper: { pid: number } | null }).keeper?.pid, pid);

    // Without hook.conf the guard cannot read the position itself but through the engine (guard-full.js): a safety
    // point that loads neither came from the keeper.
    const hookConf = path.join(repo.lockstepDir, 'hook.conf');
    const saved = fs.readFileSync(hookConf, 'utf8');
    fs.rmSync(hookConf);
    const lines = repo.journalLines().length;
    const ids = [];
    try {
      for (let i = 0; i < 3; i++) {
        const { result, loaded } = await guardTraced(`psql -c 'update contacts set name = name'`, repo.dir);
        ids.push(takenId(result));
        assert.deepEqual(loaded, ['guard.js'], 'the guard took another path');
      }
    } finally {
      fs.writeFileSync(hookConf, saved, { mode: 0o600 });
    }
    assert.equal(repo.journalLines().length, lines + 3);
    const points = journal().slice(-3);
    assert.deepEqual(points.map((p) => p.id), ids);
    for (const point of points) {
      assert.equal(point.kind, 'safety');
      assert.deepEqual(point.agent, { name: 'claude', session: 'keeper-tests' });
      assert.equal(point.command, `psql -c 'update contacts set name = name'`);
      assert.equal(point.commitSha, repo.git('rev-parse', 'HEAD'));
    }
    assert.equal(keepers(repo.dir).length, 1, 'a second keeper runs');
  });

  it('reads the position when asked: the safety point is after every write acknowledged before, and before the command’s', async () => {
    await sql(repo.url, "INSERT INTO contacts VALUES (100, 'acknowledged before the guard')");
    const id = takenId(await guard(`psql -c 'drop table contacts'`, repo.dir));
    await sql(repo.url, 'DROP TABLE contacts');
    expectOk(await lockstep(repo.dir, ['restore', id, '--yes', '--data-only']));
    const rows = await sql(repo.url, 'SELECT name FROM contacts WHERE id = 100');
    assert.deepEqual(rows, [{ name: 'acknowledged before the guard' }]);
  });

  it('ends with the restore’s cut-over, and the next safety point (and keeper) is on the new timeline', async () => {
    await eventually('no keeper after the cut-over', () => (keepers(repo.dir).length === 0 && !fs.existsSync(socketFile) ? true : undefined));
    const timeline = await servingTimeline(repo);
    const first = takenId(await guard(`psql -c 'truncate contacts'`, repo.dir));
    await eventually('a new keeper', () => (fs.existsSync(socketFile) ? true : undefined));
    const second = takenId(await guard(`psql -c 'truncate contacts'`, repo.dir));
    for (const id of [first, second]) assert.equal(journal().find((c) => c.id === id)?.timelineId, timeline);
  });

  it('left as a stale socket by a SIGKILL: the guard takes its safety point itself, and a new keeper takes the name', async () => {
    const [pid] = keepers(repo.dir);
    assert.ok(pid, 'no keeper to kill');
    process.kill(pid, 'SIGKILL');
    await eventually('the keeper gone', () => (keepers(repo.dir).length === 0 ? true : undefined));
    assert.ok(fs.existsSync(socketFile), 'SIGKILL left no socket file: nothing stale to test');
    takenId(await guard(`psql -c 'delete from contacts'`, repo.dir));
    await eventually('a new keeper', () => (keepers(repo.dir).length === 1 ? true : undefined));
    takenId(await guard(`psql -c 'delete from contacts'`, repo.dir));
  });

  it('refuses a work tree of another repository, a request past its deadline, and a line that is not a request, appending nothing', async () => {
    const other = await initRepo({ prefix: 'lockstep-keeper-other-' });
    try {
      const lines = repo.journalLines().length;
      const otherLines = other.journalLines().length;
      const request = (fields: object) => `${JSON.stringify({ op: 'safety', topLevel: repo.dir, command: 'dropdb app', agent: { name: 'claude' }, deadline: Date.now() + 5000, ...fields })}\n`;
      assert.match(await askRaw(socketFile, request({ topLevel: other.dir })), /"fallback":".*is not a work tree of this repository"/);
      assert.match(await askRaw(socketFile, request({ deadline: Date.now() - 1 })), /"fallback":"the position was read too late"/);
      assert.match(await askRaw(socketFile, request({ agent: { name: 'mcp' } })), /"fallback":"not a request the keeper knows"/);
      assert.match(await askRaw(socketFile, 'position please\n'), /"fallback":"not a request the keeper knows"/);
      assert.equal(await askRaw(socketFile, 'x'.repeat(300 * 1024)), '', 'an endless line is not cut off');
      assert.equal(repo.journalLines().length, lines, 'a refused request appended a checkpoint');
      assert.equal(other.journalLines().length, otherLines);
      // It still serves.
      assert.match(await askRaw(socketFile, request({})), /^\{"id":"[0-9a-f]{12}"\}\n$/);
      assert.equal(repo.journalLines().length, lines + 1);
    } finally {
      await other.cleanup();
    }
  });

  it('serves a second work tree with that work tree’s HEAD', async () => {
    const tree = path.join(path.dirname(repo.dir), `${path.basename(repo.dir)}-tree`);
    repo.git('worktree', 'add', '--quiet', '-b', 'feature', tree);
    try {
      fs.writeFileSync(path.join(tree, 'f.txt'), 'feature\n');
      repo.git('-C', tree, 'add', 'f.txt');
      repo.git('-C', tree, 'commit', '--quiet', '--no-verify', '-m', 'feature work');
      const head = repo.git('-C', tree, 'rev-parse', 'HEAD');
      assert.notEqual(head, repo.git('rev-parse', 'HEAD'));
      const id = takenId(await guard(`psql -c 'delete from contacts'`, tree));
      assert.equal(journal().find((c) => c.id === id)?.commitSha, head);
    } finally {
      repo.git('worktree', 'remove', '--force', tree);
    }
  });

  it('ends when the database stops, removing its socket; --stop says when none runs; bad input exits 2', async () => {
    assert.equal(keepers(repo.dir).length, 1);
    expectOk(await repo.lockstep('db', 'stop'));
    await eventually('the keeper gone', () => (keepers(repo.dir).length === 0 && !fs.existsSync(socketFile) ? true : undefined));
    assert.match(expectOk(await repo.lockstep('keeper', '--stop')).stdout, /no keeper runs here/);
    assert.doesNotMatch(expectOk(await repo.lockstep('status')).stdout, /^keeper:/m);
    assert.ok(!fs.existsSync(path.join(repo.lockstepDir, 'keeper', 'keeper.pid')), 'the pid file outlived its keeper');
    for (const args of [['keeper', '--idle', 'soon'], ['keeper', '--idle', '0'], ['keeper', 'extra'], ['keeper', '--stop', '--idle', '5']]) {
      const result = await repo.lockstep(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
    }
    expectOk(await repo.lockstep('db', 'start'));
  });

  it('run by hand, ends after --idle seconds without a question', async () => {
    const result = expectOk(await repo.lockstep('keeper', '--idle', '1'));
    assert.match(result.stderr, /serving on .*keeper\.sock/);
    assert.match(result.stderr, /ended \(idle for 1 s\)/);
    assert.ok(!fs.existsSync(socketFile), 'the socket outlived its keeper');
  });
});
