// `lockstep restore --at TIME|LSN` through the real CLI on a real Postgres: any moment, not only checkpoints — exact to the commit, data only, across a restore, bad input refused; `list` says how far back.

import * as assert from 'node:assert/strict';
import { Client } from 'pg';
import { explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

/** Server time as text, to the microsecond (what Postgres stamps a commit with). */
const UTC_US = `'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'`;

async function serverNow(url: string): Promise<string> {
  return String((await sql(url, `SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', ${UTC_US}) AS t`))[0]!.t);
}

/**
 * One transaction that commits at least a millisecond after the moment it
 * returns: the moment is read inside it, a millisecond before the clock then,
 * and the commit comes after that read.
 */
async function commitOneMsAfterMoment(url: string, text: string): Promise<string> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    await client.query('INSERT INTO events (name) VALUES ($1)', [text]);
    const moment = String((await client.query(`SELECT to_char((clock_timestamp() - interval '1 millisecond') AT TIME ZONE 'UTC', ${UTC_US}) AS t`)).rows[0].t);
    await client.query('COMMIT');
    return moment;
  } finally {
    await client.end();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function undoIdOf(stdout: string): string {
  const id = /undo: lockstep restore ([0-9a-f]{12})/.exec(stdout)?.[1];
  assert.ok(id, `the output names the undo checkpoint:\n${stdout}`);
  return id;
}

describe('cli: restore --at any moment (time or LSN)', function () {
  let repo: LockstepRepo;
  /** Before anything of the test: a checkpoint (commit v1). */
  let v1Checkpoint: string;
  let v2: string;
  /** The moment: "kept" committed at or before it, "one-ms-after" one millisecond after it. */
  let moment: string;
  let atMoment: Fingerprint;
  let lsn: string;
  let atLsn: Fingerprint;
  let now: Fingerprint;

  before(async () => {
    repo = await initRepo();
    await sql(repo.url, "CREATE TABLE events (id serial PRIMARY KEY, name text NOT NULL); INSERT INTO events (name) VALUES ('first')");
    repo.write('app.js', 'export const v = 1;\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'v1');
    v1Checkpoint = (await repo.list())[0]!.id;
    await sql(repo.url, "INSERT INTO events (name) VALUES ('kept')");
    atMoment = await fingerprint(repo.url);
    const keptCommitted = await serverNow(repo.url);
    await pause(5);
    moment = await commitOneMsAfterMoment(repo.url, 'one-ms-after');
    assert.ok(moment >= keptCommitted, `the moment ${moment} is not before "kept" was committed (${keptCommitted})`);
    // The insert position: a commit made after it lies past it.
    lsn = String((await sql(repo.url, 'SELECT pg_current_wal_insert_lsn()::text AS l'))[0]!.l);
    atLsn = await fingerprint(repo.url);
    await sql(repo.url, "INSERT INTO events (name) VALUES ('after-lsn')");
    await sql(repo.url, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)');
    repo.write('app.js', 'export const v = 2;\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'v2');
    v2 = repo.head();
    now = await fingerprint(repo.url);
  });

  after(async () => {
    await repo?.cleanup();
  });

  it('refuses bad input with exit 2, says why, and changes nothing', async () => {
    await repo.list(); // folds the commit the hook spooled
    const journal = repo.journalLines();
    const cases: [string[], RegExp][] = [
      [['--at', 'sometime'], /"sometime" is not a moment[\s\S]*10 minutes ago[\s\S]*0\/3000028/],
      [['--at', '2099-01-01T00:00:00Z', '--dry-run'], /in the future/],
      [['--at', '2026-02-30 10:00'], /not a valid date/],
      [['--at', '5 parsecs ago'], /not a unit of time/],
      [[v1Checkpoint, '--at', '1 minute ago'], /REF\) or a moment \(--at\), not both/],
      [['--at', '1 minute ago', '--code-only'], /data only/],
      [['--at', 'FFFF/0', '--dry-run'], /cannot be restored: beyond the current head/],
      [['--at', '30 days ago', '--dry-run', '--yes'], /cannot be restored: older than every base backup/],
    ];
    for (const [args, message] of cases) {
      const result = await repo.lockstep('restore', ...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
      assert.match(result.stderr, message, args.join(' '));
    }
    assert.deepEqual(await fingerprint(repo.url), now);
    assert.deepEqual(repo.journalLines(), journal);
  });

  it('--dry-run names the moment, says the code stays, and changes nothing', async () => {
    const journal = repo.journalLines();
    const result = await repo.lockstep('restore', '--at', moment, '--dry-run');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /^\(dry run: nothing was changed\)/);
    assert.ok(result.stdout.includes(`Restore to the moment ${moment}`), result.stdout);
    assert.match(result.stdout, /is not a checkpoint: only the data is restored, the code stays as it is \(the newest checkpoint at or before it is on commit [0-9a-f]{7} "v1"\)/);
    assert.match(result.stdout, /code: unchanged \(data only\)/);
    assert.match(result.stdout, /- table notes disappears/, 'the preview copy was recovered to the moment');
    assert.deepEqual(await fingerprint(repo.url), now);
    assert.deepEqual(repo.journalLines(), journal);
  });

  let undo: string;
  it('restores exactly what was committed at or before the moment (to the microsecond); one committed a millisecond later is absent; the code stays', async () => {
    const journal = repo.journalLines();
    const result = await repo.lockstep('restore', '--at', moment, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /^Restored data to the moment /);
    const names = (await sql(repo.url, 'SELECT name FROM events ORDER BY id')).map((r) => r.name);
    assert.deepEqual(names, ['first', 'kept'], 'committed at or before the moment: present; one millisecond after: absent');
    assert.deepEqual(await fingerprint(repo.url), atMoment);
    assert.equal(repo.head(), v2, 'the code is not touched');
    assert.equal(repo.git('branch', '--show-current').trim(), 'main');
    undo = undoIdOf(result.stdout);
    // The journal gains the undo point only: the moment is not a checkpoint.
    const added = repo.journalLines().slice(journal.length).map((l) => JSON.parse(l) as { id: string; kind: string; at?: string });
    assert.deepEqual(added.map((c) => [c.id, c.kind]), [[undo, 'pre-restore']]);
    assert.ok(added.every((c) => c.at === undefined));
    const finished = repo.audit().filter((e) => e.op === 'restore' && e.phase === 'finished').pop();
    assert.match(finished?.detail ?? '', /^data-only/);
    assert.ok(finished?.detail?.includes(`by time: 1 at ${moment} (by time) resolved to`), finished?.detail);
  });

  it('undo brings back the data of before', async () => {
    const result = await repo.lockstep('restore', undo, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), now);
  });

  it('--at an LSN restores what was committed before that position', async () => {
    const result = await repo.lockstep('restore', '--at', lsn, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`^Restored data to timeline \\d+ at ${lsn.replace('/', '\\/')}`));
    assert.deepEqual(await fingerprint(repo.url), atLsn, '"one-ms-after" (before the LSN) present, "after-lsn" absent');
    assert.equal(repo.head(), v2);
    await expectOkUndo(result.stdout);
  });

  async function expectOkUndo(stdout: string): Promise<void> {
    const result = await repo.lockstep('restore', undoIdOf(stdout), '--yes');
    assert.equal(result.code, 0, explain(result));
  }

  it('a time before a restore goes to the timeline that served then, not the history of the one serving now', async () => {
    // Back to v1's data (before "kept"): the serving timeline now branches off before the moment.
    const back = await repo.lockstep('restore', v1Checkpoint, '--yes', '--data-only');
    assert.equal(back.code, 0, explain(back));
    assert.deepEqual((await sql(repo.url, 'SELECT name FROM events ORDER BY id')).map((r) => r.name), ['first']);
    const result = await repo.lockstep('restore', '--at', moment, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /on timeline \d+, which served then/);
    assert.deepEqual(await fingerprint(repo.url), atMoment, 'what the app saw at the moment');
    // An LSN on another timeline, named as `lockstep list` prints a position.
    const dry = await repo.lockstep('restore', '--at', `1@${lsn}`, '--dry-run');
    assert.equal(dry.code, 0, explain(dry));
    assert.ok(dry.stdout.includes(`Restore to timeline 1 at ${lsn} ("1@${lsn}")`), dry.stdout);
    assert.ok(dry.stdout.includes(`data: timeline 1 @ ${lsn}`), dry.stdout);
  });

  it('`list` and `status` say how far back is restorable; `list --json --retention` gives it with the checkpoints', async () => {
    const list = await repo.lockstep('list');
    assert.equal(list.code, 0, explain(list));
    assert.match(list.stderr, /Restorable back to \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ \((just now|\d+ minutes? ago)\): any moment since, with `lockstep restore --at`/);
    const json = await repo.lockstep('list', '--json', '--retention');
    assert.equal(json.code, 0, explain(json));
    const parsed = JSON.parse(json.stdout) as { retention: { since: string; oldest: { timelineId: string; lsn: string }; summary: string }; checkpoints: { id: string }[] };
    assert.ok(Date.parse(parsed.retention.since) <= Date.parse(moment), JSON.stringify(parsed.retention));
    assert.match(parsed.retention.oldest.lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.deepEqual(parsed.checkpoints.map((c) => c.id), (await repo.list()).map((c) => c.id), 'the same rows as the plain array');
    const bad = await repo.lockstep('list', '--retention');
    assert.equal(bad.code, 2, explain(bad));
    const status = await repo.lockstep('status');
    assert.equal(status.code, 0, explain(status));
    assert.match(status.stdout, /retention: restorable back to \d{4}-/);
    const statusJson = JSON.parse((await repo.lockstep('status', '--json')).stdout) as { retention: { since: string } };
    assert.equal(statusJson.retention.since, parsed.retention.since);
  });
});
