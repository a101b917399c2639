// The cut-over under load, through the real CLI on a real Postgres: writers, readers and pgbench run while `lockstep restore` and its undo run.
// Every acknowledged write is in reach of undo; readers see the state before, then an error, then the target, and nothing else.

import * as assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { Client } from 'pg';
import { explain, initRepo, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';

const PG_BIN = '/usr/lib/postgresql/15/bin';

/** Errors a client may meet while the server it talks to is stopped and another starts: nothing about the data. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', '57P01', '57P02', '57P03', '08006', '08003', '08001']);

function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  if (e.code && CONNECTION_ERRORS.has(e.code)) return true;
  return /Connection terminated|connection.*(closed|ended)|not queryable|Client has encountered a connection error/i.test(e.message ?? '');
}

interface Observation {
  at: number;
  state?: string;
  error?: string;
}

/** Reads the one-row table `state` every few ms, reconnecting after errors, until stopped. */
function startReader(url: string): { stop: () => Promise<Observation[]> } {
  const seen: Observation[] = [];
  let running = true;
  const loop = (async () => {
    let client: Client | undefined;
    while (running) {
      try {
        if (!client) {
          client = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
          client.on('error', () => undefined);
          await client.connect();
        }
        const { rows } = await client.query<{ v: string }>('SELECT v FROM state');
        seen.push({ at: Date.now(), state: rows[0]?.v });
      } catch (error) {
        seen.push({ at: Date.now(), error: isConnectionError(error) ? 'connection' : `${(error as { code?: string }).code ?? ''} ${(error as Error).message}` });
        await client?.end().catch(() => undefined);
        client = undefined;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    await client?.end().catch(() => undefined);
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** Inserts 1, 2, 3… one autocommit statement each, recording every acknowledged id; stops at its first error (the cut-over). */
function startWriter(url: string): { done: Promise<{ acknowledged: number[]; error?: string }> } {
  const done = (async () => {
    const acknowledged: number[] = [];
    const client = new Client({ connectionString: url });
    client.on('error', () => undefined);
    await client.connect();
    try {
      for (let id = 1; id < 1_000_000; id++) {
        await client.query('INSERT INTO w (id) VALUES ($1)', [id]);
        acknowledged.push(id);
      }
      return { acknowledged };
    } catch (error) {
      return { acknowledged, error: (error as Error).message };
    } finally {
      await client.end().catch(() => undefined);
    }
  })();
  return { done };
}

function startPgbench(url: string, seconds: number): ChildProcess {
  return spawn(`${PG_BIN}/pgbench`, ['-n', '-c', '4', '-T', String(seconds), url], { stdio: 'ignore' });
}

/** The distinct states in the order readers saw them, with errors folded into one word. */
function sequence(seen: Observation[]): string[] {
  const out: string[] = [];
  for (const o of seen) {
    const word = o.state ?? `error: ${o.error}`;
    if (out[out.length - 1] !== word) out.push(word);
  }
  return out;
}

describe('cli: the cut-over under writers, readers and pgbench', function () {
  this.timeout(300_000);
  let repo: LockstepRepo;
  before(async function () {
    if (!fs.existsSync(`${PG_BIN}/pgbench`)) {
      if (process.env.LOCKSTEP_REQUIRE_BOTH_SOURCES === '1') assert.fail(`pgbench is not installed in ${PG_BIN}`);
      this.skip();
    }
    repo = await initRepo();
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('keeps every acknowledged write in reach of undo, and readers see only the state before, then the target', async () => {
    // The target: a commit recorded by the hook, with the tables every client uses already there.
    await sql(repo.url, "CREATE TABLE state (v text); INSERT INTO state VALUES ('target'); CREATE TABLE w (id int PRIMARY KEY)");
    const init = spawn(`${PG_BIN}/pgbench`, ['-i', '-s', '2', '-q', repo.url], { stdio: 'ignore' });
    assert.equal(await new Promise((r) => init.once('exit', r)), 0, 'pgbench -i');
    repo.write('app.txt', 'target\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'target');
    const target = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === repo.head());
    assert.ok(target, 'the hook recorded the target');
    await sql(repo.url, "UPDATE state SET v = 'before'");
    repo.write('app.txt', 'before\n');
    repo.git('commit', '--quiet', '-am', 'before');

    const reader = startReader(repo.url);
    const writer = startWriter(repo.url);
    const pgbench = startPgbench(repo.url, 60);
    await new Promise((r) => setTimeout(r, 1000));
    const restore = await repo.lockstep('restore', target.id, '--yes');
    const written = await writer.done;
    pgbench.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const seen = await reader.stop();
    assert.equal(restore.code, 0, explain(restore));

    // Readers: the state before, at most a gap of connection errors, then the target.
    const order = sequence(seen);
    assert.equal(order[0], 'before', order.join(' → '));
    assert.equal(order[order.length - 1], 'target', order.join(' → '));
    for (const word of order) assert.ok(['before', 'target', 'error: connection'].includes(word), `a reader saw ${word}: ${order.join(' → ')}`);
    assert.ok(order.lastIndexOf('before') < order.indexOf('target'), `never back to before once the target served: ${order.join(' → ')}`);

    // The target is exact: the writer's rows came after it.
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM state'), [{ v: 'target' }]);
    assert.deepEqual(await sql(repo.url, 'SELECT count(*)::int AS n FROM w'), [{ n: 0 }]);
    assert.ok(written.acknowledged.length > 10, `the writer wrote during the restore (${written.acknowledged.length} acknowledged)`);

    // Undo: every id acknowledged on the old timeline is back.
    const undoId = /undo: lockstep restore (\S+)/.exec(restore.stdout)?.[1];
    assert.ok(undoId, restore.stdout);
    const undo = await repo.lockstep('restore', undoId, '--yes');
    assert.equal(undo.code, 0, explain(undo));
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM state'), [{ v: 'before' }]);
    const ids = new Set((await sql(repo.url, 'SELECT id FROM w')).map((r) => Number(r.id)));
    const lost = written.acknowledged.filter((id) => !ids.has(id));
    assert.deepEqual(lost, [], `${lost.length} of ${written.acknowledged.length} acknowledged inserts are missing after undo`);
    assert.equal(repo.read('app.txt'), 'before\n');
  });
});

describe('cli: a stuck WAL archive is said, not silent', function () {
  this.timeout(300_000);
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
  });
  after(async () => {
    fs.chmodSync(repo.path('.git', 'lockstep', 'local', 'archive'), 0o700);
    await repo?.cleanup();
  });

  it('snapshot and status warn; a checkpoint past the archive is listed as not yet restorable, and a restore to it refuses at once with the archiver\'s own error, changing nothing; once archiving works, it restores', async () => {
    await sql(repo.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('one')");
    const snap = await repo.lockstep('snapshot', '-m', 'before the archive broke');
    assert.equal(snap.code, 0, explain(snap));
    assert.equal(snap.stderr, '', 'no warning while archiving works');
    const archivedId = /^(\S+) /.exec(snap.stdout)![1]!;
    // Its WAL reaches the archive before the archive breaks.
    const archivedBefore = Number((await sql(repo.url, 'SELECT archived_count FROM pg_stat_archiver'))[0]!.archived_count);
    await sql(repo.url, 'SELECT pg_switch_wal()');
    const archivedBy = Date.now() + 30_000;
    while (Number((await sql(repo.url, 'SELECT archived_count FROM pg_stat_archiver'))[0]!.archived_count) <= archivedBefore) {
      assert.ok(Date.now() < archivedBy, 'the archiver never took the segment');
      await new Promise((r) => setTimeout(r, 100));
    }

    const archive = repo.path('.git', 'lockstep', 'local', 'archive');
    fs.chmodSync(archive, 0o000);
    await sql(repo.url, "INSERT INTO t VALUES ('two'); SELECT pg_switch_wal()");
    // Twice: the archiver retries after a second, so the failed segment has waited that long (what `list --json` goes by).
    const deadline = Date.now() + 30_000;
    while (Number((await sql(repo.url, 'SELECT failed_count FROM pg_stat_archiver'))[0]!.failed_count) < 2) {
      assert.ok(Date.now() < deadline, 'the archiver never failed');
      await new Promise((r) => setTimeout(r, 100));
    }

    const warned = await repo.lockstep('snapshot', '-m', 'while it is broken');
    assert.equal(warned.code, 0, explain(warned));
    assert.match(warned.stderr, /^lockstep: warning: WAL archiving is failing \([0-9A-F]{24} failed \d+ time\(s\)/m);
    assert.equal(warned.stderr.trim().split('\n').length, 1, 'one line');
    const notYet = /^(\S+) /.exec(warned.stdout)![1]!;
    const status = await repo.lockstep('status');
    assert.match(status.stdout, /warning: WAL archiving is failing/);

    // Listed as not yet restorable, with the archiver's own reason: in text (which reads the head) and in JSON (which asks no database).
    const listed = await repo.lockstep('list');
    assert.equal(listed.code, 0, explain(listed));
    assert.match(listed.stdout, new RegExp(`^.~ ${notYet} `, 'm'), listed.stdout);
    assert.match(listed.stderr, /^~ not yet restorable: its WAL is not archived yet \(Postgres cannot archive WAL: .*(Permission denied|could not)/m);
    const json = (await repo.list()).find((c) => c.id === notYet);
    assert.equal(json?.restorable, false);
    assert.equal(json?.unrestorable?.reason, 'not-archived');
    assert.match(json?.unrestorable?.message ?? '', /Postgres cannot archive WAL: .*(Permission denied|could not)/);

    const before = await sql(repo.url, 'SELECT v FROM t ORDER BY v');
    const checkpoints = (await repo.list()).length;
    const started = Date.now();
    const restore = await repo.lockstep('restore', notYet, '--yes');
    const took = Date.now() - started;
    assert.equal(restore.code, 1, explain(restore));
    assert.match(restore.stderr, /cannot be restored: its WAL is not archived yet \(Postgres cannot archive WAL: [0-9A-F]{24} failed \d+ time\(s\).*(Permission denied|could not)/);
    assert.ok(took < 30_000, `refused at once, not after the archive wait (${took} ms)`);
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM t ORDER BY v'), before, 'the data is as it was');
    assert.equal(repo.git('branch', '--show-current'), 'main');
    assert.equal((await repo.list()).length, checkpoints, 'no undo point taken');

    // An archived checkpoint is refused as fast: the cut-over needs the current timeline's end in the archive.
    const archivedRestore = await repo.lockstep('restore', archivedId, '--yes');
    assert.equal(archivedRestore.code, 1, explain(archivedRestore));
    assert.match(archivedRestore.stderr, /cannot be restored: WAL archiving fails, and a restore cuts over only once the current timeline's WAL is archived \(Postgres cannot archive WAL: .*(Permission denied|could not)/);
    assert.doesNotMatch(archivedRestore.stderr, /Recovering|Copying base backup/, 'refused before any fork');
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM t ORDER BY v'), before, 'the data is as it was');
    assert.equal((await repo.list()).length, checkpoints, 'no undo point taken');

    // Fixed: once Postgres archives again (a new segment wakes its archiver), the checkpoint is restorable.
    fs.chmodSync(archive, 0o700);
    await sql(repo.url, "INSERT INTO t VALUES ('three'); SELECT pg_switch_wal()");
    const healed = Date.now() + 30_000;
    while ((await sql(repo.url, 'SELECT last_failed_time > coalesce(last_archived_time, last_failed_time - interval \'1s\') AS failing FROM pg_stat_archiver'))[0]!.failing) {
      assert.ok(Date.now() < healed, 'the archiver never recovered');
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = (await repo.list()).find((c) => c.id === notYet);
    assert.deepEqual([after?.restorable, after?.unrestorable], [true, null]);
    const again = await repo.lockstep('restore', notYet, '--yes');
    assert.equal(again.code, 0, explain(again));
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM t ORDER BY v'), [{ v: 'one' }, { v: 'two' }]);
  });
});
