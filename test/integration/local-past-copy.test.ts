// The local engine's past copy against real Postgres: a preview is a prepared restore (kept paused, reused, promoted without a second replay), bounded, and crash-safe.

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { isLockstepError } from '../../src/base/errors';
import type { PointInHistory } from '../../src/core/engine';
import { listBackups } from '../../src/engines/local/baseBackup';
import type { LocalEngine } from '../../src/engines/local/engine';
import { fingerprint, sql } from '../support/fingerprint';
import { startScratchPostgres, type ScratchPostgres } from '../support/postgres';

const ROOT = path.resolve(__dirname, '..', '..');

/** Data directories with a live postmaster. */
function running(engine: LocalEngine): string[] {
  return fs
    .readdirSync(engine.layout.root)
    .filter((e) => /^(data|preview)-/.test(e) && engine.cluster.runningPid(e) !== undefined)
    .sort();
}

/** What a postmaster listens on over TCP: the 6th line of its pid file ('' when listen_addresses = ''). */
function tcpListenAddress(engine: LocalEngine, name: string): string {
  return (fs.readFileSync(path.join(engine.layout.dataDir(name), 'postmaster.pid'), 'utf8').split('\n')[5] ?? '').trim();
}

/** Only the serving server may be on the app's address: every other running copy is on a private socket, with no TCP listener. */
function nothingElseOnTheAppPort(engine: LocalEngine): void {
  const serving = engine.layout.readState().serving;
  for (const name of running(engine)) {
    if (name === serving) continue;
    assert.equal(engine.cluster.endpointOf(name).private, true, `${name} is confined to a private socket`);
    assert.equal(tcpListenAddress(engine, name), '', `${name} listens on no TCP address`);
  }
}

/** How many times a data directory's server started replaying WAL, from its own log. */
function redoStarts(engine: LocalEngine, name: string): number {
  return (fs.readFileSync(engine.layout.serverLog(name), 'utf8').match(/redo starts at/g) ?? []).length;
}

function prepared(engine: LocalEngine): string[] {
  return fs.readdirSync(engine.layout.root).filter((n) => n.startsWith('prepared-'));
}

async function rows(client: Client, text: string): Promise<unknown[]> {
  return (await client.query(text)).rows;
}

/** Read through a past copy, then release it (as a diff or a preview does). */
async function readPast(engine: LocalEngine, at: PointInHistory, text: string, steps: string[] = []) {
  const past = await engine.openPast(at, { onProgress: (s) => steps.push(s) });
  try {
    const client = await past.connect();
    try {
      return { past, rows: await rows(client, text), steps };
    } finally {
      await client.end();
    }
  } finally {
    await past.release();
  }
}

/**
 * A child process that runs one engine call and is killed at a progress line (or by a LOCKSTEP_FAULT), as a person's
 * Ctrl-C or a crash would: resolves with the lines it printed.
 */
function childRun(pg: ScratchPostgres, call: 'openPast' | 'fork', at: PointInHistory, killAt: RegExp | undefined, env: Record<string, string> = {}): Promise<string> {
  const script = `
    const { LocalEngine } = require(${JSON.stringify(path.join(ROOT, 'src/engines/local/engine.ts'))});
    const { silentLog } = require(${JSON.stringify(path.join(ROOT, 'src/base/log.ts'))});
    const engine = new LocalEngine(JSON.parse(process.env.PAST_CONFIG), { lockstepDir: process.env.PAST_DIR, log: silentLog, secrets: { get: async () => undefined } });
    engine[process.env.PAST_CALL](JSON.parse(process.env.PAST_AT), { onProgress: (s) => process.stderr.write(s + '\\n') })
      .then(() => process.stderr.write('DONE\\n'), (e) => process.stderr.write('FAILED ' + e.message + '\\n'));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, ...env, PAST_CONFIG: JSON.stringify(pg.config), PAST_DIR: pg.ctx.lockstepDir, PAST_CALL: call, PAST_AT: JSON.stringify(at) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      if (killAt && killAt.test(err)) child.kill('SIGKILL');
    });
    child.once('error', reject);
    child.once('close', () => resolve(err));
  });
}

describe('local engine — the preview is a prepared restore', function () {
  this.timeout(180_000);
  let pg: ScratchPostgres;
  beforeEach(async () => {
    pg = await startScratchPostgres();
  });
  afterEach(async () => {
    await pg?.stop();
  });

  it('openPast: a paused, read-only copy on a private socket, kept after release, named in status, reused at the same point', async () => {
    await sql(pg.url, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'then')");
    const marker = await pg.engine.head();
    await sql(pg.url, "UPDATE t SET v = 'now'; INSERT INTO t VALUES (2, 'new')");
    const before = await fingerprint(pg.url);

    const first = await readPast(pg.engine, marker, 'SELECT id, v FROM t ORDER BY id');
    assert.deepEqual(first.rows, [{ id: 1, v: 'then' }]);
    assert.equal(first.past.ancestorOfNow, true, 'a point on the serving timeline is its ancestor');
    assert.match(first.past.origin, /^recovered from the prepared copy of base backup /);
    assert.ok(first.steps.some((s) => /^Taking the prepared copy of base backup /.test(s)), first.steps.join('\n'));
    assert.deepEqual(await fingerprint(pg.url), before, 'the serving database is untouched');

    const state = pg.engine.layout.readState();
    const copy = state.pastCopy;
    assert.ok(copy?.ready, 'the copy is kept after release');
    assert.ok(state.pendingForks?.[copy.name], 'its data directory is a pending fork (an interrupted restore removes it)');
    assert.equal(pg.engine.cluster.runningPid(copy.name) !== undefined, true);
    nothingElseOnTheAppPort(pg.engine);
    const status = await pg.engine.status();
    assert.equal(status.kept?.length, 1);
    assert.match(status.kept![0]!, new RegExp(`^preview copy of 1 at ${marker.lsn.replace('/', '\\/')} \\(\\d+ MB\\), kept until \\d\\d:\\d\\d$`));

    // Read-only: it is a standby paused in recovery.
    const past = await pg.engine.openPast(marker);
    try {
      assert.equal(past.origin, 'kept from the last preview');
      const client = await past.connect();
      try {
        await assert.rejects(client.query("INSERT INTO t VALUES (3, 'x')"), /read-only transaction/);
      } finally {
        await client.end();
      }
    } finally {
      await past.release();
    }
    assert.equal(pg.engine.layout.readState().pastCopy?.name, copy.name, 'the same copy, reused');
    assert.equal(redoStarts(pg.engine, copy.name), 1, 'reused without a second replay');
    assert.deepEqual((await pg.engine.head()).timelineId, '1', 'a preview never takes a timeline id');
  });

  it('preview then restore replays once: the fork promotes the kept copy (log: one "redo starts at")', async () => {
    await sql(pg.url, "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g");
    const expected = await fingerprint(pg.url);
    const marker = await pg.engine.head();
    await sql(pg.url, "UPDATE t SET v = 'oops'; DELETE FROM t WHERE id > 500");

    const schema = await pg.engine.describe(marker);
    assert.deepEqual(schema.tables.map((t) => t.name), ['t']);
    const kept = pg.engine.layout.readState().pastCopy;
    assert.ok(kept, 'describe(at) leaves the copy kept');

    const steps: string[] = [];
    const fork = await pg.engine.fork(marker, { onProgress: (s) => steps.push(s) });
    assert.equal(fork.ref.reusedPreview, true);
    assert.equal(fork.ref.dataDir, kept.name);
    assert.deepEqual(steps, ['Promoting the preview copy (no replay)']);
    assert.equal(pg.engine.layout.readState().pastCopy, undefined, 'claimed: no longer a preview copy');
    assert.equal(pg.engine.cluster.runningPid(kept.name), undefined, 'stopped cleanly, as a fork is left');
    nothingElseOnTheAppPort(pg.engine);

    const head = await pg.engine.repoint(fork);
    assert.equal(head.timelineId, '2');
    assert.deepEqual(await fingerprint(pg.url), expected);
    assert.equal(redoStarts(pg.engine, kept.name), 1, 'one replay for the preview and the restore together');
    assert.deepEqual(Object.keys(pg.engine.layout.readState().pendingForks ?? {}), []);
    assert.equal((await pg.engine.status()).kept, undefined);
  });

  it('by time: a moment is previewed, kept as a moment, and restored from the same copy', async () => {
    await sql(pg.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('a')");
    await new Promise((r) => setTimeout(r, 20));
    const moment: PointInHistory = { timelineId: '1', lsn: null, createdAt: new Date().toISOString() };
    await new Promise((r) => setTimeout(r, 20));
    await sql(pg.url, "INSERT INTO t VALUES ('b')");
    const read = await readPast(pg.engine, moment, 'SELECT v FROM t ORDER BY v');
    assert.deepEqual(read.rows, [{ v: 'a' }]);
    assert.deepEqual(read.past.at, moment, 'a moment stays a moment');
    const fork = await pg.engine.fork(moment);
    assert.equal(fork.ref.reusedPreview, true);
    assert.equal(fork.at?.timelineId, '1');
    await pg.engine.repoint(fork);
    assert.deepEqual(await sql(pg.url, 'SELECT v FROM t ORDER BY v'), [{ v: 'a' }]);
  });

  it('one copy at a time: another point drops the old one; the worst case copies the backup and says so', async () => {
    await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const a = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (2)');
    const b = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (3)');

    await readPast(pg.engine, a, 'SELECT 1');
    const first = pg.engine.layout.readState().pastCopy!.name;
    assert.deepEqual(prepared(pg.engine), [], 'the preview took the prepared copy');
    assert.equal(pg.engine.maintenanceDue(await pg.engine.head()), true, 'so the upkeep is due, to prepare the next one');
    assert.match((await pg.engine.maintain()) ?? '', /ready copy of base backup/);

    const second = await readPast(pg.engine, b, 'SELECT id FROM t ORDER BY id');
    assert.deepEqual(second.rows, [{ id: 1 }, { id: 2 }]);
    const now = pg.engine.layout.readState().pastCopy!.name;
    assert.notEqual(now, first);
    assert.equal(fs.existsSync(pg.engine.layout.dataDir(first)), false, 'the copy at the other point is gone');
    assert.deepEqual(running(pg.engine), ['data-1', now].sort());

    // The worst case: the target lies before the newest base backup, whose prepared copy cannot serve it.
    await pg.engine.maintain({ force: true });
    const steps: string[] = [];
    const worst = await readPast(pg.engine, a, 'SELECT id FROM t ORDER BY id', steps);
    assert.deepEqual(worst.rows, [{ id: 1 }]);
    assert.ok(
      steps.some((s) => /^Copying base backup \S+ \(\d+ MB, about \d+ s\)$/.test(s)),
      `the copy is announced with its size and an estimate:\n${steps.join('\n')}`,
    );
    assert.equal(prepared(pg.engine).length, 1, 'the prepared copy of the newest backup stays for the next restore');
    assert.match(worst.past.origin, /^recovered from a copy of base backup /);
  });

  it('bounded: dropped when its time is up (upkeep), by `prune` (not the background prune), by `db stop`, by abandonForks, and not kept on a short disk', async () => {
    await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const a = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (2)');
    const copyName = () => pg.engine.layout.readState().pastCopy?.name;

    // Time up: the hook's cheap question says the upkeep is due, and the upkeep drops it.
    pg.engine.pastCopyPolicy = { ...pg.engine.pastCopyPolicy, keepMs: 300 };
    await readPast(pg.engine, a, 'SELECT 1');
    const expiring = copyName()!;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(pg.engine.maintenanceDue(await pg.engine.head()), true);
    assert.equal((await pg.engine.status()).kept, undefined, 'status names no copy past its time');
    assert.match((await pg.engine.maintain()) ?? '', /^dropped the preview copy of 1 at \S+ in data-\d+/);
    assert.equal(fs.existsSync(pg.engine.layout.dataDir(expiring)), false);
    pg.engine.pastCopyPolicy = { ...pg.engine.pastCopyPolicy, keepMs: 600_000 };

    // The background prune runs right after a preview: it keeps the copy; `lockstep prune` drops it.
    await readPast(pg.engine, a, 'SELECT 1');
    await pg.engine.prune([a], { keepPrevious: true });
    assert.ok(copyName(), 'the background prune keeps a copy in its time');
    const pruned = copyName()!;
    const report = await pg.engine.prune([a]);
    assert.ok(report.removed.includes(`the preview copy of 1 at ${a.lsn} in ${pruned}`), report.removed.join('\n'));
    assert.equal(copyName(), undefined);

    // An interrupted restore's clean-up removes it like any fork.
    await readPast(pg.engine, a, 'SELECT 1');
    const abandoned = copyName()!;
    assert.deepEqual(await pg.engine.abandonForks(), [`the preview copy of 1 at ${a.lsn} in ${abandoned}`]);
    assert.deepEqual(running(pg.engine), ['data-1']);

    // A short disk: read, then dropped at release.
    pg.engine.pastCopyPolicy = { ...pg.engine.pastCopyPolicy, minFreeBytes: Number.MAX_SAFE_INTEGER };
    const short = await readPast(pg.engine, a, 'SELECT id FROM t');
    assert.deepEqual(short.rows, [{ id: 1 }]);
    assert.equal(copyName(), undefined, 'not kept when the disk would fall below the margin');
    assert.deepEqual(running(pg.engine), ['data-1']);
    pg.engine.pastCopyPolicy = { ...pg.engine.pastCopyPolicy, minFreeBytes: 0 };

    // `db stop` leaves nothing running.
    await readPast(pg.engine, a, 'SELECT 1');
    await pg.engine.stop();
    assert.deepEqual(running(pg.engine), []);
    assert.equal(copyName(), undefined);
    await pg.engine.start();
  });

  it('ancestorOfNow follows the history files: an ancestor before the switch point yes, the abandoned line after it no', async () => {
    await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const before = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (2)');
    const branch = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (3)');
    const after = await pg.engine.head();
    await pg.engine.repoint(await pg.engine.fork(branch)); // timeline 2 branches off 1 at `branch`

    assert.equal((await readPast(pg.engine, before, 'SELECT 1')).past.ancestorOfNow, true);
    assert.equal((await readPast(pg.engine, branch, 'SELECT 1')).past.ancestorOfNow, true, 'at the switch point itself');
    const abandoned = await readPast(pg.engine, after, 'SELECT id FROM t ORDER BY id');
    assert.deepEqual(abandoned.rows, [{ id: 1 }, { id: 2 }, { id: 3 }]);
    assert.equal(abandoned.past.ancestorOfNow, false, 'after the switch point: not the history of now');
  });

  it('bad points are refused as restores refuse them, and change nothing', async () => {
    await assert.rejects(pg.engine.openPast({ timelineId: '9', lsn: '0/1000000' }), (e: unknown) => isLockstepError(e, 'TIMELINE_UNKNOWN'));
    await assert.rejects(pg.engine.openPast({ timelineId: '1', lsn: 'zz' }), (e: unknown) => isLockstepError(e, 'BAD_LSN'));
    assert.equal(pg.engine.layout.readState().pastCopy, undefined);
    assert.deepEqual(running(pg.engine), ['data-1']);
  });

  it('SIGKILL while a preview recovers: nothing on the app port, and the next call that holds the lock removes the stray', async () => {
    await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const a = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (2)');
    const printed = await childRun(pg, 'openPast', a, /Recovering a preview copy/);
    assert.doesNotMatch(printed, /DONE/, printed);
    const stray = pg.engine.layout.readState().pastCopy;
    assert.ok(stray && !stray.ready, 'the record says it was being made');
    nothingElseOnTheAppPort(pg.engine);
    const report = await pg.engine.prune([a], { keepPrevious: true });
    assert.ok(report.removed.some((r) => r.endsWith(` in ${stray.name}`)), report.removed.join('\n'));
    assert.deepEqual(running(pg.engine), ['data-1']);
    assert.deepEqual(Object.keys(pg.engine.layout.readState().pendingForks ?? {}), []);
    assert.deepEqual((await readPast(pg.engine, a, 'SELECT id FROM t')).rows, [{ id: 1 }], 'and a preview works again');
  });

  it('SIGKILL while a restore promotes the kept copy: nothing on the app port; abandonForks removes it; the restore works again', async () => {
    await sql(pg.url, 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
    const a = await pg.engine.head();
    await sql(pg.url, 'INSERT INTO t VALUES (2)');
    await readPast(pg.engine, a, 'SELECT 1');
    const kept = pg.engine.layout.readState().pastCopy!;
    const printed = await childRun(pg, 'fork', a, undefined, { LOCKSTEP_FAULT: 'after-promote:kill' });
    assert.match(printed, /Promoting the preview copy/);
    assert.doesNotMatch(printed, /DONE|FAILED/, printed);
    nothingElseOnTheAppPort(pg.engine);
    assert.deepEqual(await sql(pg.url, 'SELECT id FROM t ORDER BY id'), [{ id: 1 }, { id: 2 }], 'the old server serves on');
    assert.deepEqual(await pg.engine.abandonForks(), [kept.name]);
    assert.deepEqual(running(pg.engine), ['data-1']);
    await pg.engine.repoint(await pg.engine.fork(a));
    assert.deepEqual(await sql(pg.url, 'SELECT id FROM t'), [{ id: 1 }]);
    assert.equal(listBackups(pg.engine.layout.backups).length > 0, true);
  });
});
