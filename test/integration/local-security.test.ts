// Lockstep's connections against impostors (fake servers asking for cleartext or MD5 passwords, or skipping SCRAM), the app role's privileges,
// one OS account per cluster when root, and `db start` with the port held by another process.

import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Client } from 'pg';
import { readInsertLsn } from '../../src/core/compute';
import { isLockstepError } from '../../src/base/errors';
import { silentLog } from '../../src/base/log';
import { findPostgresBinaries } from '../../src/engines/local/binaries';
import { LocalEngine, localAdminAccess } from '../../src/engines/local/engine';
import { runningAsRoot } from '../../src/engines/local/osUser';
import { setUpLocalDatabase } from '../../src/engines/local/setup';
import { explain, initRepo, lockstep, shell, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';
import { freePort, traversableTempDir } from '../support/postgres';

type FakeKind = 'cleartext' | 'md5' | 'trust' | 'scram-bad-signature' | 'scram-no-final';

/** What one connection to a fake server sent after its startup packet. */
interface FakeConnection {
  /** Every byte the client sent. */
  bytes: Buffer;
  /** Frontend message types after the startup packet ('p': a password or SASL message). */
  types: string[];
  /** The startup packet's application_name ('lockstep' for Lockstep's own connections). */
  application?: string;
}

interface FakePostgres {
  connections: FakeConnection[];
  close(): Promise<void>;
}

function authMessage(code: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.write('R', 0);
  head.writeInt32BE(8 + payload.length, 1);
  head.writeInt32BE(code, 5);
  return Buffer.concat([head, payload]);
}

const READY = Buffer.from([0x5a, 0, 0, 0, 5, 0x49]); // ReadyForQuery, idle

/**
 * A program that speaks just enough of Postgres' protocol to ask for a
 * password the way `kind` says, on a TCP port or a Unix socket path, and
 * keeps everything the client sends.
 */
async function startFakePostgres(kind: FakeKind, listen: { port: number } | { path: string }): Promise<FakePostgres> {
  const connections: FakeConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const record: FakeConnection = { bytes: Buffer.alloc(0), types: [] };
    connections.push(record);
    let pending = Buffer.alloc(0);
    let started = false;
    let clientNonce = '';
    const onMessage = (type: string, body: Buffer) => {
      record.types.push(type);
      if (type !== 'p' || !kind.startsWith('scram')) return;
      const text = body.toString('latin1');
      if (clientNonce === '') {
        // SASLInitialResponse: mechanism\0, int32 length, "n,,n=*,r=<nonce>"
        clientNonce = /r=([^,]+)/.exec(text)?.[1] ?? '';
        const serverFirst = `r=${clientNonce}fake${crypto.randomBytes(6).toString('base64')},s=${crypto.randomBytes(16).toString('base64')},i=4096`;
        socket.write(authMessage(11, Buffer.from(serverFirst)));
      } else if (kind === 'scram-bad-signature') {
        socket.write(authMessage(12, Buffer.from(`v=${crypto.randomBytes(32).toString('base64')}`)));
        socket.write(Buffer.concat([authMessage(0), READY]));
      } else {
        socket.write(Buffer.concat([authMessage(0), READY]));
      }
    };
    socket.on('data', (chunk: Buffer) => {
      record.bytes = Buffer.concat([record.bytes, chunk]);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 8) return;
          const length = pending.readInt32BE(0);
          if (pending.length < length) return;
          const protocol = pending.readInt32BE(4);
          const packet = pending.subarray(8, length);
          pending = pending.subarray(length);
          if (protocol === 80877103 || protocol === 80877104) {
            socket.write('N'); // no TLS here; the startup packet follows
            continue;
          }
          started = true;
          const params = packet.toString('utf8').split('\0');
          const at = params.indexOf('application_name');
          if (at >= 0) record.application = params[at + 1];
          if (kind === 'cleartext') socket.write(authMessage(3));
          else if (kind === 'md5') socket.write(authMessage(5, crypto.randomBytes(4)));
          else if (kind === 'trust') socket.write(Buffer.concat([authMessage(0), READY]));
          else socket.write(authMessage(10, Buffer.from('SCRAM-SHA-256\0\0', 'latin1')));
          continue;
        }
        if (pending.length < 5) return;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) return;
        const type = String.fromCharCode(pending[0]!);
        const body = pending.subarray(5, 1 + length);
        pending = pending.subarray(1 + length);
        onMessage(type, body);
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if ('port' in listen) server.listen(listen.port, '127.0.0.1', resolve);
    else server.listen(listen.path, resolve);
  });
  return {
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      if ('path' in listen) fs.rmSync(listen.path, { force: true });
    },
  };
}

/** No password, no MD5 hash of it, no password message: what a fake that asked for cleartext or MD5 must have received. */
function assertNoPassword(fake: FakePostgres, secrets: string[], what: string, only?: (c: FakeConnection) => boolean): void {
  for (const [i, connection] of fake.connections.entries()) {
    if (only && !only(connection)) continue;
    assert.ok(!connection.types.includes('p'), `${what}: connection ${i} sent a password message (${connection.types.join(',')})`);
    const text = connection.bytes.toString('latin1');
    for (const secret of secrets) assert.ok(!text.includes(secret), `${what}: connection ${i} carried the password`);
  }
}

/** No password bytes, when SCRAM messages (which carry a proof, never the password) are allowed. */
function assertNoPasswordBytes(fake: FakePostgres, secrets: string[], what: string): void {
  for (const [i, connection] of fake.connections.entries()) {
    const text = connection.bytes.toString('latin1');
    for (const secret of secrets) assert.ok(!text.includes(secret), `${what}: connection ${i} carried the password`);
  }
}

function passwordsOf(root: string): string[] {
  return ['password', 'admin-password']
    .map((f) => path.join(root, f))
    .filter((f) => fs.existsSync(f))
    .map((f) => fs.readFileSync(f, 'utf8').trim());
}

function stateOf(root: string): string {
  return fs.readFileSync(path.join(root, 'state.json'), 'utf8');
}

/** A commit the hook does not see, so that `lockstep record` has something new to record. */
function commitWithoutHook(repo: LockstepRepo, message: string): void {
  repo.git('-c', 'core.hooksPath=/nonexistent', 'commit', '--quiet', '--allow-empty', '-m', message);
}

/**
 * What a person has after Postgres died and its pid was reused (or what a
 * program can fake): a pid file naming a live process. Lockstep then takes the
 * database for running and connects, reaching whatever answers. The pid is
 * this test's own: never let a stop signal it (`forget` removes the file).
 */
function pretendRunning(root: string, port: number): { forget(): void } {
  const serving = (JSON.parse(stateOf(root)) as { serving: string }).serving;
  const file = path.join(root, serving, 'postmaster.pid');
  const lines = [String(process.pid), path.join(root, serving), String(Math.floor(Date.now() / 1000)), String(port), '', '127.0.0.1', '0 0', 'ready', ''];
  fs.writeFileSync(file, lines.join('\n'));
  return { forget: () => fs.rmSync(file, { force: true }) };
}

const REFUSED = /asked for (a cleartext password|an MD5-hashed password), and Lockstep refused/;

describe('local engine security', function () {
  this.timeout(300_000);

  describe('no password to an impostor (real CLI, database stopped)', () => {
    let repo: LockstepRepo;
    let root: string;
    let secrets: string[];
    before(async () => {
      repo = await initRepo();
      root = path.join(repo.lockstepDir, 'local');
      secrets = passwordsOf(root);
      assert.ok(secrets.length > 0);
      const stop = await repo.lockstep('db', 'stop');
      assert.equal(stop.code, 0, explain(stop));
    });
    after(async () => {
      await repo?.cleanup();
    });

    for (const kind of ['cleartext', 'md5', 'trust'] as const) {
      it(`a fake server on the TCP port asking ${kind === 'trust' ? 'nothing (trust)' : `for a ${kind} password`} gets no password from record, the hook, db status or list`, async () => {
        const fake = await startFakePostgres(kind, { port: repo.port });
        const running = pretendRunning(root, repo.port);
        try {
          commitWithoutHook(repo, `before record ${kind}`);
          const record = await repo.lockstep('record');
          assert.equal(record.code, 0, explain(record));
          assert.match(record.stderr, /not answering|could not record|refused/, explain(record));
          const commit = await shell(repo.dir, 'git commit --quiet --allow-empty -m "$1"', [`impostor ${kind}`]);
          assert.equal(commit.code, 0, explain(commit));
          assert.match(commit.stderr, /not answering|could not record|refused/, explain(commit));
          const status = await repo.lockstep('db', 'status');
          assert.equal(status.code, 1, explain(status));
          const list = await repo.lockstep('list');
          assert.equal(list.code, 0, explain(list));
          const snapshot = await repo.lockstep('snapshot', '-m', 'impostor');
          assert.notEqual(snapshot.code, 0, explain(snapshot));
          assertNoPassword(fake, secrets, `TCP ${kind}`);
        } finally {
          running.forget();
          await fake.close();
        }
      });
    }

    for (const kind of ['cleartext', 'md5'] as const) {
      it(`a fake server on the socket path asking for a ${kind} password is refused, and the person is told`, async () => {
        const socketPath = path.join(root, 'run', `.s.PGSQL.${repo.port}`);
        fs.mkdirSync(path.dirname(socketPath), { recursive: true });
        const fake = await startFakePostgres(kind, { path: socketPath });
        const running = pretendRunning(root, repo.port);
        try {
          commitWithoutHook(repo, `before record socket ${kind}`);
          const record = await repo.lockstep('record');
          assert.equal(record.code, 0, explain(record));
          assert.match(record.stderr, REFUSED, explain(record));
          // The hook reads the position with psql over the socket when it can (libpq before 16 cannot refuse a
          // cleartext request: the socket's private directory is its protection), else with `lockstep record`.
          const commit = await shell(repo.dir, 'git commit --quiet --allow-empty -m "$1"', [`impostor socket ${kind}`], { env: { LOCKSTEP_NO_PSQL: '1' } });
          assert.equal(commit.code, 0, explain(commit));
          assert.match(commit.stderr, REFUSED, explain(commit));
          const snapshot = await repo.lockstep('snapshot', '-m', 'impostor');
          assert.equal(snapshot.code, 1, explain(snapshot));
          assert.match(snapshot.stderr, REFUSED, explain(snapshot));
          const status = await repo.lockstep('db', 'status');
          assert.equal(status.code, 1, explain(status));
          assert.match(status.stdout, REFUSED, explain(status));
          const list = await repo.lockstep('list');
          assert.equal(list.code, 0, explain(list));
          assert.ok(fake.connections.length >= 4, `Lockstep reached the socket (${fake.connections.length} connections)`);
          assertNoPassword(fake, secrets, `socket ${kind}`, (c) => c.application === 'lockstep');
          assert.ok(fake.connections.every((c) => c.application === 'lockstep'), `only Lockstep's own connections: ${fake.connections.map((c) => c.application).join(',')}`);
        } finally {
          running.forget();
          await fake.close();
        }
      });
    }

    it('a project made before the admin role (falls back to 127.0.0.1) still refuses a cleartext request there', async () => {
      // Such a project has no admin password file: Lockstep connects as `lockstep`, over the socket, else TCP.
      const admin = path.join(root, 'admin-password');
      const saved = fs.existsSync(admin) ? fs.readFileSync(admin) : undefined;
      fs.rmSync(admin, { force: true });
      const fake = await startFakePostgres('cleartext', { port: repo.port });
      const running = pretendRunning(root, repo.port);
      try {
        commitWithoutHook(repo, 'before record legacy');
        const record = await repo.lockstep('record');
        assert.equal(record.code, 0, explain(record));
        assert.match(record.stderr, REFUSED, explain(record));
        assert.ok(fake.connections.length >= 1, 'the fallback reached 127.0.0.1');
        assertNoPassword(fake, secrets, 'legacy TCP');
      } finally {
        running.forget();
        await fake.close();
        if (saved) fs.writeFileSync(admin, saved, { mode: 0o600 });
      }
    });

    it('the database starts again afterwards and records', async () => {
      const start = await repo.lockstep('db', 'start');
      assert.equal(start.code, 0, explain(start));
      commitWithoutHook(repo, 'after the impostors');
      const record = await repo.lockstep('record');
      assert.equal(record.stderr, '', explain(record));
    });
  });

  describe('the guard itself (every Lockstep connection: withCompute for Neon and the pageserver)', () => {
    for (const kind of ['cleartext', 'md5', 'trust', 'scram-bad-signature', 'scram-no-final'] as const) {
      it(`refuses a server that ${kind === 'trust' ? 'lets it in without SCRAM' : kind.startsWith('scram') ? `does not finish SCRAM (${kind})` : `asks for a ${kind} password`}`, async () => {
        const port = await freePort();
        const fake = await startFakePostgres(kind, { port });
        const password = `secret-${crypto.randomBytes(9).toString('base64url')}`;
        try {
          await assert.rejects(
            readInsertLsn(`postgresql://app:${password}@127.0.0.1:${port}/app`, { what: 'the compute', timeoutMs: 5000 }),
            (error: unknown) => {
              assert.ok(isLockstepError(error), String(error));
              assert.equal(error.code, 'AUTH', error.message);
              assert.match(error.message, kind === 'cleartext' || kind === 'md5' ? REFUSED : /SCRAM-SHA-256/);
              return true;
            },
          );
          if (kind.startsWith('scram')) assertNoPasswordBytes(fake, [password], kind);
          else assertNoPassword(fake, [password], kind);
        } finally {
          await fake.close();
        }
      });
    }
  });

  for (const source of ['system', 'embedded'] as const) {
    let version: string | undefined;
    try {
      version = findPostgresBinaries({ only: source }).version;
    } catch {
      version = undefined;
    }
    describe(`the app's role (${source} binaries${version ? `, Postgres ${version}` : ''})`, () => {
      let dir: string;
      let engine: LocalEngine;
      let url: string;
      before(async function () {
        if (!version) this.skip();
        dir = traversableTempDir('lockstep-roles-');
        const lockstepDir = path.join(dir, 'lockstep');
        fs.mkdirSync(lockstepDir);
        const ctx = { lockstepDir, log: silentLog, secrets: { get: async () => undefined } };
        const config = await setUpLocalDatabase(ctx, undefined, { port: await freePort(), pgSource: source });
        engine = new LocalEngine(config, ctx);
        url = await engine.connectionUrl();
      });
      after(async () => {
        if (!engine) return;
        await engine.close();
        await engine.cluster.stop(engine.layout.readState().serving, 'immediate').catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it('keeps the connection string`s shape: lockstep@127.0.0.1:<port>/app', () => {
        assert.match(url, /^postgresql:\/\/lockstep:[^@]+@127\.0\.0\.1:\d+\/app$/);
      });

      it('runs what migrations need, and is not a superuser', async () => {
        await sql(url, `
          CREATE SCHEMA billing;
          CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, total numeric NOT NULL);
          CREATE INDEX invoices_total ON billing.invoices (total);
          ALTER TABLE billing.invoices ADD COLUMN paid boolean DEFAULT false;
          CREATE SEQUENCE billing.numbers;
          CREATE TABLE public.users (id serial PRIMARY KEY, email text UNIQUE);
          CREATE EXTENSION IF NOT EXISTS pgcrypto;
          CREATE VIEW billing.open AS SELECT * FROM billing.invoices WHERE NOT paid;
          DROP VIEW billing.open; DROP TABLE billing.invoices; DROP SCHEMA billing CASCADE;`);
        const [role] = await sql(url, `SELECT rolsuper, pg_has_role(current_user, 'pg_read_server_files', 'MEMBER') AS reads,
          pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER') AS runs FROM pg_roles WHERE rolname = current_user`);
        assert.deepEqual(role, { rolsuper: false, reads: false, runs: false });
      });

      it("cannot run programs or read the server's files", async () => {
        await assert.rejects(sql(url, "COPY (SELECT 1) TO PROGRAM 'id'"), /must be superuser or have privileges of the pg_execute_server_program role|permission denied/);
        await assert.rejects(sql(url, "SELECT pg_read_file('PG_VERSION')"), /permission denied/);
        await assert.rejects(sql(url, "COPY (SELECT 1) TO '/tmp/lockstep-should-not-exist'"), /must be superuser|permission denied/);
      });

      it("Lockstep's own superuser is refused over TCP, and Lockstep still works (over its socket)", async () => {
        const adminPassword = fs.readFileSync(path.join(engine.layout.root, 'admin-password'), 'utf8').trim();
        const client = new Client({ host: '127.0.0.1', port: engine.config.port, user: 'lockstep_admin', password: adminPassword, database: 'postgres' });
        await assert.rejects(client.connect(), /pg_hba\.conf rejects connection/);
        await client.end().catch(() => undefined);
        const head = await engine.head();
        assert.match(head.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
      });
    });
  }

  describe('a data root too long for a socket path', () => {
    let dir: string;
    let engine: LocalEngine | undefined;
    after(async () => {
      if (engine) {
        await engine.close();
        await engine.cluster.stop(engine.layout.readState().serving, 'immediate').catch(() => undefined);
      }
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('puts the socket in a private directory elsewhere, checks it at every use, and psql gets what it needs', async () => {
      dir = traversableTempDir('lockstep-long-');
      const lockstepDir = path.join(dir, 'lockstep');
      fs.mkdirSync(lockstepDir);
      let dataRoot = dir;
      for (let i = 0; i < 3; i++) {
        dataRoot = path.join(dataRoot, 'a-rather-long-directory-name-for-a-socket');
        fs.mkdirSync(dataRoot, { mode: 0o755 });
      }
      dataRoot = path.join(dataRoot, 'local');
      const ctx = { lockstepDir, log: silentLog, secrets: { get: async () => undefined } };
      const config = await setUpLocalDatabase(ctx, undefined, { port: await freePort(), dataRoot });
      engine = new LocalEngine(config, ctx);
      const access = localAdminAccess(config, lockstepDir);
      assert.ok(access.socketDir, 'a socket directory');
      assert.ok(!access.socketDir.startsWith(dataRoot), access.socketDir);
      const stat = fs.lstatSync(access.socketDir);
      assert.equal(stat.mode & 0o777, 0o700);
      assert.equal(stat.uid, fs.statSync(engine.layout.archive).uid);
      assert.equal(fs.statSync(access.passfile).mode & 0o777, 0o600);
      const psql = path.join(findPostgresBinaries({ only: 'system' }).bin, 'psql');
      if (fs.existsSync(psql)) {
        const out = spawnSync(psql, [`host=${access.socketDir} port=${access.port} user=${access.user} dbname=${access.database}`, '-Atc', 'select current_user'], {
          env: { PATH: process.env.PATH, PGPASSFILE: access.passfile },
          encoding: 'utf8',
        });
        assert.equal(out.stdout.trim(), 'lockstep_admin', out.stderr);
      }
      await engine.head();
      await engine.close();
      // Opened to others (as a directory someone else made under the same name would be): no longer trusted.
      fs.chmodSync(access.socketDir, 0o755);
      try {
        await assert.rejects(engine.head(), /private socket directory is missing or not private/);
      } finally {
        fs.chmodSync(access.socketDir, 0o700);
      }
      await engine.head();
    });
  });

  describe('one OS account per cluster when running as root', () => {
    const roots: { dir: string; engine: LocalEngine }[] = [];
    before(async function () {
      if (!runningAsRoot()) this.skip();
      for (let i = 0; i < 2; i++) {
        const dir = traversableTempDir('lockstep-accounts-');
        const lockstepDir = path.join(dir, 'lockstep');
        fs.mkdirSync(lockstepDir);
        const ctx = { lockstepDir, log: silentLog, secrets: { get: async () => undefined } };
        const config = await setUpLocalDatabase(ctx, undefined, { port: await freePort() });
        roots.push({ dir, engine: new LocalEngine(config, ctx) });
      }
    });
    after(async () => {
      for (const { dir, engine } of roots) {
        await engine.close();
        await engine.cluster.stop(engine.layout.readState().serving, 'immediate').catch(() => undefined);
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it("run as different accounts, and neither can read the other's archive or data", () => {
      const uids = roots.map(({ engine }) => {
        const pid = engine.cluster.runningPid(engine.layout.readState().serving);
        assert.ok(pid, 'running');
        return Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
      });
      assert.notEqual(uids[0], 0);
      assert.notEqual(uids[0], uids[1], 'the two clusters run as different accounts');
      for (const [a, b] of [
        [0, 1],
        [1, 0],
      ] as const) {
        const other = roots[b]!.engine.layout;
        for (const target of [other.archive, other.dataDir(other.readState().serving)]) {
          const listing = spawnSync('ls', [target], { uid: uids[a], gid: fs.statSync(roots[a]!.engine.layout.archive).gid });
          assert.notEqual(listing.status, 0, `account ${uids[a]} listed ${target}: ${String(listing.stdout)}`);
          assert.match(String(listing.stderr), /Permission denied/);
        }
      }
    });
  });

  describe('db start with the port held by another process', () => {
    let repo: LockstepRepo;
    let squatter: ChildProcess | undefined;
    before(async () => {
      repo = await initRepo();
      const stop = await repo.lockstep('db', 'stop');
      assert.equal(stop.code, 0, explain(stop));
    });
    after(async () => {
      squatter?.kill('SIGKILL');
      await repo?.cleanup();
    });

    it('names the holder (pid and program), exits as PORT_TAKEN and changes nothing', async () => {
      const root = path.join(repo.lockstepDir, 'local');
      const stateBefore = stateOf(root);
      const script = `require('net').createServer().listen(${repo.port}, '127.0.0.1', () => console.log('listening'))`;
      squatter = spawn(process.execPath, ['-e', script, 'lockstep-squatter'], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve, reject) => {
        squatter!.stdout!.once('data', () => resolve());
        squatter!.once('exit', (code) => reject(new Error(`the squatter exited (${code})`)));
      });
      const start = await repo.lockstep('db', 'start');
      assert.equal(start.code, 1, explain(start));
      assert.match(start.stderr, new RegExp(`port ${repo.port} on 127\\.0\\.0\\.1 is used by another program: .*node.*\\(pid ${squatter.pid}\\)`), explain(start));
      assert.equal(stateOf(root), stateBefore, 'the state file is unchanged');
      assert.equal(fs.existsSync(path.join(root, 'data-1', 'postmaster.pid')), false, 'no Postgres was started');
      assert.equal(squatter.exitCode, null, 'the squatter still runs');
      const status = await repo.lockstep('db', 'status');
      assert.match(status.stdout, /stopped/, explain(status));
      // Once the port is free, the same command starts the database.
      squatter.kill('SIGKILL');
      await new Promise((r) => squatter!.once('exit', r));
      const again = await lockstep(repo.dir, ['db', 'start']);
      assert.equal(again.code, 0, explain(again));
    });
  });
});
