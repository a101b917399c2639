// The local engine against real Postgres, from each binary source: exact restores, timelines, port, errors.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'pg';
import { isLockstepError } from '../../src/base/errors';
import { formatLsn, parseLsn, walFileName } from '../../src/base/lsn';
import { findPostgresBinaries, type BinarySource } from '../../src/engines/local/binaries';
import { listBackups } from '../../src/engines/local/baseBackup';
import { LocalEngine } from '../../src/engines/local/engine';
import { runningAsRoot } from '../../src/engines/local/osUser';
import { setUpLocalDatabase } from '../../src/engines/local/setup';
import { silentLog } from '../../src/base/log';
import { fingerprint, sql } from '../support/fingerprint';
import { freePort, startScratchPostgres, traversableTempDir, type ScratchPostgres } from '../support/postgres';

const SOURCES: ('system' | 'embedded')[] = ['system', 'embedded'];

function available(source: BinarySource): string | undefined {
  try {
    return findPostgresBinaries({ only: source as 'system' | 'embedded' }).version;
  } catch {
    return undefined;
  }
}

async function restore(engine: LocalEngine, at: { timelineId: string; lsn: string }) {
  const fork = await engine.fork(at);
  return engine.repoint(fork);
}

/** The engine's data directories (serving, forks, previews), sorted. */
function dataDirs(engine: LocalEngine): string[] {
  return fs
    .readdirSync(engine.layout.root)
    .filter((e) => /^(data|preview)-/.test(e))
    .sort();
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isLockstepError(error), `expected a LockstepError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  });
}

for (const source of SOURCES) {
  const version = available(source);
  describe(`local engine — ${source} binaries${version ? ` (Postgres ${version})` : ''}`, function () {
    this.timeout(180_000);
    if (!version) {
      it(`needs the ${source} Postgres binaries`, function () {
        if (process.env.LOCKSTEP_REQUIRE_BOTH_SOURCES === '1') assert.fail(`${source} Postgres binaries are not installed`);
        this.skip(); // reported as pending, never as passed
      });
      return;
    }

    let pg: ScratchPostgres;
    beforeEach(async () => {
      pg = await startScratchPostgres({ pgSource: source });
    });
    afterEach(async () => {
      await pg?.stop();
    });

    it('takes markers that write nothing and advance only with writes', async () => {
      const a = await pg.engine.head();
      assert.equal(a.timelineId, '1');
      assert.match(a.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
      for (let i = 0; i < 50; i++) await pg.engine.head();
      const b = await pg.engine.head();
      assert.equal(b.lsn, a.lsn, 'head() must not write WAL (no switch per marker)');
      await sql(pg.url, 'CREATE TABLE t (id int)');
      const c = await pg.engine.head();
      assert.ok(parseLsn(c.lsn) > parseLsn(b.lsn));
    });

    it('restores exactly to a marker on timeline 1, on the same port, onto timeline 2', async () => {
      await sql(pg.url, `CREATE TABLE contacts (id serial PRIMARY KEY, name text, email text);
        INSERT INTO contacts (name, email) SELECT 'n' || g, 'e' || g || '@x' FROM generate_series(1, 500) g;`);
      const expected = await fingerprint(pg.url);
      const marker = await pg.engine.head();
      await sql(pg.url, `ALTER TABLE contacts ADD COLUMN role text; UPDATE contacts SET role = 'admin', name = 'oops';
        CREATE TABLE other (x int); INSERT INTO other VALUES (1);`);
      assert.notDeepEqual(await fingerprint(pg.url), expected);
      const head = await restore(pg.engine, marker);
      assert.equal(head.timelineId, '2');
      assert.deepEqual(await fingerprint(pg.url), expected);
      assert.equal((await pg.engine.status()).state, 'running');
      assert.equal(pg.engine.config.port, pg.port);
    });

    it('leaves out a transaction committed right after the marker (also with synchronous_commit off)', async () => {
      await sql(pg.url, 'CREATE TABLE t (id int)');
      const client = new Client({ connectionString: pg.url });
      await client.connect();
      await client.query('SET synchronous_commit = off');
      await client.query('INSERT INTO t VALUES (1)');
      const marker = await pg.engine.head();
      await client.query('INSERT INTO t VALUES (2)');
      await client.end();
      await restore(pg.engine, marker);
      assert.deepEqual(await sql(pg.url, 'SELECT id FROM t ORDER BY id'), [{ id: 1 }]);
    });

    it('restores to a marker on an abandoned timeline, and to timeline 2 from timeline 3', async () => {
      await sql(pg.url, 'CREATE TABLE t (id int, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 100) g');
      const a = await pg.engine.head();
      await sql(pg.url, "INSERT INTO t VALUES (101, 'on one')");
      const printB = await fingerprint(pg.url);
      const b = await pg.engine.head();
      await sql(pg.url, 'DELETE FROM t');

      await restore(pg.engine, a); // timeline 2
      await sql(pg.url, "INSERT INTO t VALUES (200, 'on two')");
      const printC = await fingerprint(pg.url);
      const c = await pg.engine.head();
      assert.equal(c.timelineId, '2');
      await sql(pg.url, 'TRUNCATE t');

      const onThree = await restore(pg.engine, b); // back on timeline 1's history, abandoned since a
      assert.equal(onThree.timelineId, '3');
      assert.deepEqual(await fingerprint(pg.url), printB);

      const onFour = await restore(pg.engine, c); // timeline 2's marker, from timeline 3
      assert.equal(onFour.timelineId, '4');
      assert.deepEqual(await fingerprint(pg.url), printC);
    });

    it('restores to a marker exactly at a branch point', async () => {
      await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
      const a = await pg.engine.head();
      await sql(pg.url, 'INSERT INTO t VALUES (2)');
      const branched = await restore(pg.engine, a);
      // The first marker on the new timeline sits right after the branch point.
      const first = await pg.engine.head();
      assert.equal(first.timelineId, branched.timelineId);
      await sql(pg.url, 'INSERT INTO t VALUES (3)');
      await restore(pg.engine, first);
      assert.deepEqual(await sql(pg.url, 'SELECT id FROM t ORDER BY id'), [{ id: 1 }]);
      await restore(pg.engine, a);
      assert.deepEqual(await sql(pg.url, 'SELECT id FROM t ORDER BY id'), [{ id: 1 }]);
    });

    it('keeps the address: a client connected before the restore reconnects to the restored data', async () => {
      await sql(pg.url, 'CREATE TABLE t (v text); INSERT INTO t VALUES (\'before\')');
      const marker = await pg.engine.head();
      await sql(pg.url, "UPDATE t SET v = 'after'");
      const client = new Client({ connectionString: pg.url });
      client.on('error', () => undefined);
      await client.connect();
      assert.deepEqual((await client.query('SELECT v FROM t')).rows, [{ v: 'after' }]);
      await restore(pg.engine, marker);
      await assert.rejects(client.query('SELECT v FROM t'), 'the old connection is gone with the old server');
      await client.end().catch(() => undefined);
      const again = new Client({ connectionString: pg.url });
      await again.connect();
      assert.deepEqual((await again.query('SELECT v FROM t')).rows, [{ v: 'before' }]);
      await again.end();
    });

    it('previews the schema and rows at a marker without touching the serving database', async () => {
      await sql(pg.url, 'CREATE TABLE a (id int); INSERT INTO a SELECT generate_series(1, 42)');
      const marker = await pg.engine.head();
      await sql(pg.url, 'ALTER TABLE a ADD COLUMN extra text; CREATE TABLE b (id int)');
      const before = await fingerprint(pg.url);
      const then = await pg.engine.describe(marker);
      assert.deepEqual(then.tables.map((t) => [t.name, t.columns.map((c) => c.name), t.approxRows]), [['a', ['id'], 42]]);
      const now = await pg.engine.describe();
      assert.deepEqual(now.tables.map((t) => t.name), ['a', 'b']);
      assert.deepEqual(await fingerprint(pg.url), before);
      assert.equal((await pg.engine.head()).timelineId, '1', 'a preview never takes a timeline id');
      assert.deepEqual(fs.readdirSync(pg.engine.layout.root).filter((n) => n.startsWith('preview-')), []);
    });

    it('takes base backups by policy and restores from the newest usable one', async () => {
      const engine = new LocalEngine({ ...pg.config, baseBackupWalBytes: 1024 * 1024 }, pg.ctx);
      try {
        assert.equal(engine.maintenanceDue(await engine.head()), false);
        await sql(pg.url, "CREATE TABLE big AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g");
        const marker = await engine.head();
        assert.equal(engine.maintenanceDue(marker), true);
        const done = await engine.maintain();
        assert.match(done ?? '', /^base backup /, 'a backup was due');
        const backup = listBackups(engine.layout.backups).at(-1)!;
        assert.equal(engine.maintenanceDue(await engine.head()), false);
        await sql(pg.url, 'DELETE FROM big WHERE g > 10');
        const after = await engine.head();
        const fork = await engine.fork(after);
        assert.equal(fork.ref.backupId, backup.id, 'the newest backup before the target is used');
        await engine.repoint(fork);
        assert.deepEqual(await sql(pg.url, 'SELECT count(*)::int AS n FROM big'), [{ n: 10 }]);
      } finally {
        await engine.close();
      }
    });

    it('a restore claims the prepared copy of the newest backup (a preview too, kept for the restore); the upkeep makes a new one', async () => {
      const prepared = () => fs.readdirSync(pg.engine.layout.root).filter((n) => n.startsWith('prepared-'));
      const backups = listBackups(pg.engine.layout.backups);
      assert.deepEqual(prepared(), [`prepared-${backups.at(-1)!.id}`], 'init leaves one ready for the first restore');
      await sql(pg.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')");
      const a = await pg.engine.head();
      await sql(pg.url, "INSERT INTO t VALUES ('b')");
      const b = await pg.engine.head();
      await sql(pg.url, "INSERT INTO t VALUES ('c')");
      await pg.engine.describe(a);
      assert.deepEqual(prepared(), [], 'a preview takes it too: its copy is kept for the restore that follows');
      assert.equal(pg.engine.maintenanceDue(await pg.engine.head()), true, 'the upkeep is due: no prepared copy left');
      assert.match((await pg.engine.maintain()) ?? '', /ready copy of base backup/);

      const first = await pg.engine.fork(b);
      assert.equal(first.ref.prepared, true);
      assert.deepEqual(prepared(), []);
      await pg.engine.repoint(first);
      assert.deepEqual(await sql(pg.url, 'SELECT v FROM t ORDER BY v'), [{ v: 'a' }, { v: 'b' }]);
      assert.equal(pg.engine.maintenanceDue(await pg.engine.head()), true, 'the upkeep is due: no prepared copy left');

      const second = await pg.engine.fork(a);
      assert.equal(second.ref.reusedPreview, true, 'the copy the preview kept at a is promoted');
      assert.equal(second.ref.prepared, false);
      await pg.engine.repoint(second);
      assert.deepEqual(await sql(pg.url, 'SELECT v FROM t ORDER BY v'), [{ v: 'a' }]);

      assert.match((await pg.engine.maintain()) ?? '', /ready copy of base backup/);
      assert.equal(prepared().length, 1);
      assert.equal(pg.engine.maintenanceDue(await pg.engine.head()), false);
    });

    it('prune leaves a fork that is prepared and not yet served; the background prune keeps the previous data directory', async () => {
      await sql(pg.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')");
      const a = await pg.engine.head();
      await sql(pg.url, "INSERT INTO t VALUES ('b')");
      const fork = await pg.engine.fork(a);
      await pg.engine.prune([]); // another process's prune, between this restore's fork and repoint
      assert.ok(fs.existsSync(pg.engine.layout.dataDir(String(fork.ref.dataDir))), 'the pending fork survived');
      await pg.engine.repoint(fork);
      assert.deepEqual(await sql(pg.url, 'SELECT v FROM t'), [{ v: 'a' }]);

      const dataDirs = () => fs.readdirSync(pg.engine.layout.root).filter((n) => n.startsWith('data-')).sort();
      assert.deepEqual(dataDirs(), ['data-1', 'data-2']);
      await pg.engine.prune([], { keepPrevious: true });
      assert.deepEqual(dataDirs(), ['data-1', 'data-2'], 'the upkeep keeps what served before the restore');
      const report = await pg.engine.prune([]);
      assert.deepEqual(dataDirs(), ['data-2'], '`lockstep prune` removes it');
      assert.ok(report.removed.includes('data directory data-1'));
    });

    it('the background prune keeps the base backup that serves the undo point, even before the journal has it', async () => {
      await sql(pg.url, 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');
      const target = await pg.engine.head();
      await pg.engine.takeBaseBackup(); // the newest backup of timeline 1, after the target
      await sql(pg.url, 'INSERT INTO t SELECT g FROM generate_series(1, 1000) g');
      const backupsOf1 = () => listBackups(pg.engine.layout.backups).filter((b) => b.timeline === 1).map((b) => b.id);
      const newestOf1 = backupsOf1().at(-1)!;
      await restore(pg.engine, target);
      const end = pg.engine.layout.readState().timelines['1']?.endLsn;
      assert.ok(end, 'the cut-over recorded where timeline 1 ends');
      // The upkeep's prune, with the checkpoints read before the restore journaled its undo point: none of them needs that backup.
      await pg.engine.prune([target], { keepPrevious: true });
      assert.ok(backupsOf1().includes(newestOf1), `the backup that serves the end of timeline 1 (${end}) is kept`);
      await pg.engine.prune([target]);
      assert.ok(!backupsOf1().includes(newestOf1), '`lockstep prune` goes by the kept checkpoints alone');
    });

    it('prunes backups, WAL and old data directories that no kept marker needs; old markers then expire', async () => {
      const old = await pg.engine.head();
      await sql(pg.url, "CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g");
      const kept = await pg.engine.head();
      await restore(pg.engine, kept); // leaves data-1 behind
      await pg.engine.takeBaseBackup();
      assert.equal((await pg.engine.restorability(old)).restorable, true);
      const report = await pg.engine.prune([]);
      assert.ok(report.removed.some((r) => r.startsWith('base backup')), report.removed.join('\n'));
      assert.ok(report.removed.includes('data directory data-1'), report.removed.join('\n'));
      const verdict = await pg.engine.restorability(old);
      assert.equal(verdict.restorable, false);
      assert.equal(verdict.restorable === false && verdict.reason, 'expired');
      await expectCode(pg.engine.fork(old), 'EXPIRED');
      const retention = await pg.engine.retention();
      assert.ok(retention.oldest && parseLsn(retention.oldest.lsn) > parseLsn(old.lsn));
    });

    describe('errors leave the running database as it was', () => {
      async function unchanged(before: Awaited<ReturnType<typeof fingerprint>>, timeline: string) {
        assert.deepEqual(await fingerprint(pg.url), before);
        assert.equal((await pg.engine.head()).timelineId, timeline);
      }

      it('LSN beyond head', async () => {
        await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
        const before = await fingerprint(pg.url);
        const head = await pg.engine.head();
        const future = formatLsn(parseLsn(head.lsn) + 1024n * 1024n);
        await expectCode(pg.engine.fork({ timelineId: '1', lsn: future }), 'LSN_BEYOND_HEAD');
        await unchanged(before, '1');
      });

      it('unknown timeline and malformed LSN', async () => {
        const before = await fingerprint(pg.url);
        await expectCode(pg.engine.fork({ timelineId: '9', lsn: '0/1000000' }), 'TIMELINE_UNKNOWN');
        await expectCode(pg.engine.fork({ timelineId: '1', lsn: 'zz' }), 'BAD_LSN');
        await unchanged(before, '1');
      });

      it('port taken by another program', async () => {
        await pg.engine.stop();
        const squatter = net.createServer();
        await new Promise<void>((r) => squatter.listen(pg.port, '127.0.0.1', r));
        try {
          await expectCode(pg.engine.start(), 'PORT_TAKEN');
        } finally {
          await new Promise((r) => squatter.close(r));
        }
        await pg.engine.start();
        assert.equal((await pg.engine.status()).state, 'running');
      });

      it('archive stuck before the restore: the fork stops before anything changes', async () => {
        const engine = new LocalEngine({ ...pg.config, archiveTimeoutMs: 3000 }, pg.ctx);
        try {
          await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
          const marker = await engine.head();
          await sql(pg.url, 'INSERT INTO t VALUES (2)');
          const before = await fingerprint(pg.url);
          const dirsBefore = dataDirs(engine);
          fs.chmodSync(engine.layout.archive, 0o000);
          try {
            await expectCode(engine.fork(marker), 'ARCHIVE_STUCK');
          } finally {
            fs.chmodSync(engine.layout.archive, 0o700);
          }
          await unchanged(before, '1');
          assert.deepEqual(dataDirs(engine), dirsBefore, 'no fork directory left behind');
          // Once the archive is writable again, the same restore works.
          await restore(engine, marker);
          assert.deepEqual(await sql(pg.url, 'SELECT id FROM t'), [{ id: 1 }]);
        } finally {
          await engine.close();
        }
      });

      it('archive stuck between the fork and the cut-over: refused with the archiver\'s own failure, the old server still serving', async () => {
        await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
        const marker = await pg.engine.head();
        await sql(pg.url, 'INSERT INTO t VALUES (2)');
        const fork = await pg.engine.fork(marker);
        fs.chmodSync(pg.engine.layout.archive, 0o000);
        try {
          await sql(pg.url, 'INSERT INTO t VALUES (3); SELECT pg_switch_wal()');
          const deadline = Date.now() + 30_000;
          while (Number((await sql(pg.url, 'SELECT failed_count FROM pg_stat_archiver'))[0]!.failed_count) === 0) {
            assert.ok(Date.now() < deadline, 'the archiver never failed');
            await new Promise((r) => setTimeout(r, 100));
          }
          const before = await fingerprint(pg.url);
          await assert.rejects(pg.engine.repoint(fork), (error: unknown) => {
            assert.ok(isLockstepError(error, 'ARCHIVE_STUCK'), String(error));
            assert.match(error.message, /Postgres cannot archive WAL: [0-9A-F]{24} failed \d+ time/);
            return true;
          });
          await unchanged(before, '1');
        } finally {
          fs.chmodSync(pg.engine.layout.archive, 0o700);
        }
        await pg.engine.discard(fork);
      });

      it('recovery that cannot reach its target: Postgres\' reason, the old server never stopped, no fork left', async () => {
        await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
        await sql(pg.url, 'SELECT pg_switch_wal()');
        await sql(pg.url, 'INSERT INTO t SELECT g FROM generate_series(2, 1000) g');
        const marker = await pg.engine.head();
        await sql(pg.url, 'INSERT INTO t VALUES (2)');
        const before = await fingerprint(pg.url);
        const dirsBefore = dataDirs(pg.engine);
        const postmaster = pg.engine.cluster.runningPid('data-1');
        // As if the archived WAL up to the marker were lost: recovery ends before its target and Postgres exits.
        await sql(pg.url, 'SELECT pg_switch_wal()');
        const segment = walFileName(1, parseLsn(marker.lsn), 16 * 1024 * 1024);
        const archived = path.join(pg.engine.layout.archive, segment);
        const deadline = Date.now() + 30_000;
        while (!fs.existsSync(archived)) {
          assert.ok(Date.now() < deadline, `${segment} was never archived`);
          await new Promise((r) => setTimeout(r, 50));
        }
        fs.renameSync(archived, `${archived}.aside`);
        try {
          await assert.rejects(pg.engine.fork(marker), (error: unknown) => {
            assert.ok(isLockstepError(error, 'RECOVERY_FAILED'), String(error));
            assert.match(error.message, /recovery to [0-9A-F]+\/[0-9A-F]+ failed: .*recovery/i);
            return true;
          });
        } finally {
          fs.renameSync(`${archived}.aside`, archived);
        }
        await unchanged(before, '1');
        assert.equal(pg.engine.cluster.runningPid('data-1'), postmaster, 'the serving postmaster was never stopped');
        assert.deepEqual(dataDirs(pg.engine), dirsBefore, 'no fork directory left behind');
      });

      it('binaries not found: a clear error that says how to get them, and nothing created', async () => {
        const dir = traversableTempDir('lockstep-nobin-');
        try {
          const lockstepDir = path.join(dir, 'lockstep');
          fs.mkdirSync(lockstepDir);
          const ctx = { lockstepDir, log: silentLog, secrets: { get: async () => undefined } };
          await assert.rejects(setUpLocalDatabase(ctx, undefined, { pgBin: path.join(dir, 'nowhere'), port: await freePort() }), (error: unknown) => {
            assert.ok(isLockstepError(error, 'BINARIES_NOT_FOUND'));
            assert.match(error.hint ?? '', /LOCKSTEP_PG_BIN/);
            return true;
          });
          assert.deepEqual(fs.readdirSync(lockstepDir), []);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    });

    it('works in a repository whose path has quotes, $, a backtick, a backslash and spaces', async () => {
      const dir = traversableTempDir(`lockstep it's "q" $HOME \`b\` \\ x-`);
      const lockstepDir = path.join(dir, 'lockstep');
      fs.mkdirSync(lockstepDir);
      const ctx = { lockstepDir, log: silentLog, secrets: { get: async () => undefined } };
      const config = await setUpLocalDatabase(ctx, undefined, { pgSource: source, port: await freePort() });
      const engine = new LocalEngine(config, ctx);
      try {
        const url = await engine.connectionUrl();
        await sql(url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')");
        const marker = await engine.head();
        await sql(url, 'DELETE FROM t');
        await restore(engine, marker);
        assert.deepEqual(await sql(url, 'SELECT v FROM t'), [{ v: 'kept' }]);
      } finally {
        await engine.close();
        for (const entry of fs.readdirSync(engine.layout.root)) {
          if (entry.startsWith('data-')) await engine.cluster.stop(entry, 'immediate').catch(() => undefined);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('keeps a SCRAM verifier of fewer iterations for its generated password, and password auth works with it', async () => {
      // pg_authid is for superusers: read through Lockstep's own role, the app's role and its own.
      const admin = await pg.engine.cluster.connect({ database: 'postgres' });
      try {
        const { rows } = await admin.query<{ rolpassword: string }>("SELECT rolpassword FROM pg_authid WHERE rolname IN ('lockstep', 'lockstep_admin')");
        assert.equal(rows.length, 2);
        for (const row of rows) assert.match(row.rolpassword, /^SCRAM-SHA-256\$256:/);
      } finally {
        await admin.end();
      }
      const wrong = new URL(pg.url);
      wrong.password = 'not-the-password';
      await assert.rejects(sql(wrong.toString(), 'SELECT 1'), /password authentication failed/);
    });

    it('runs Postgres as an unprivileged account when Lockstep runs as root', async () => {
      const pid = pg.engine.cluster.runningPid(pg.engine.layout.readState().serving);
      assert.ok(pid);
      const uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      if (runningAsRoot()) assert.notEqual(uid, 0, 'Postgres must not run as root');
      else assert.equal(uid, process.getuid!());
    });
  });
}
