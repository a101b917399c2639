// `lockstep restore` of a time-based checkpoint (no LSN: the hook could not read one) through the real CLI on a real Postgres: exact data, preview, undo, an idle database.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { newCheckpointId, type Checkpoint } from '../../src/core/checkpoint';
import { expectOk, explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

/** Keeps commits before and after a moment apart by the clock (commit times have microseconds, moments milliseconds). */
const pause = () => new Promise((r) => setTimeout(r, 50));

async function servingTimeline(repo: LockstepRepo): Promise<string> {
  const status = JSON.parse(expectOk(await repo.lockstep('db', 'status', '--json')).stdout) as { head?: { timelineId: string } };
  assert.ok(status.head, 'the database is running');
  return status.head.timelineId;
}

/**
 * A time-based checkpoint of HEAD at this moment, written to the journal as
 * the commit hook writes one when the database does not answer within its
 * budget; returns it with the data as it is at that moment.
 */
async function momentCheckpoint(repo: LockstepRepo, subject: string): Promise<{ checkpoint: Checkpoint; data: Fingerprint }> {
  const timelineId = await servingTimeline(repo);
  await pause();
  const checkpoint: Checkpoint = {
    id: newCheckpointId(),
    kind: 'commit',
    commitSha: repo.head(),
    branch: repo.git('branch', '--show-current').trim() || null,
    subject,
    author: 'Test <test@example.com>',
    filesChanged: 1,
    label: null,
    createdAt: new Date().toISOString(),
    engine: 'local',
    timelineId,
    lsn: null,
    unmeasured: 'the database did not answer within 2 s',
  };
  const data = await fingerprint(repo.url);
  await pause();
  fs.appendFileSync(repo.journalFile, `${JSON.stringify(checkpoint)}\n`);
  return { checkpoint, data };
}

function undoIdOf(stdout: string): string {
  const id = /undo: lockstep restore ([0-9a-f]{12})/.exec(stdout)?.[1];
  assert.ok(id, `the output names the undo checkpoint:\n${stdout}`);
  return id;
}

describe('cli: restore a time-based checkpoint (by its time, no LSN)', function () {
  let repo: LockstepRepo;
  let moment: { checkpoint: Checkpoint; data: Fingerprint };
  let v1: string;
  let now: Fingerprint;

  before(async () => {
    repo = await initRepo();
    await sql(repo.url, "CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL); INSERT INTO contacts (name) VALUES ('Ada'), ('Alan')");
    repo.write('app.js', 'export const v = 1;\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'v1');
    v1 = repo.head();
    // A write in the same second as the moment, just before it: it must come back.
    await sql(repo.url, "INSERT INTO contacts (name) VALUES ('Grace')");
    moment = await momentCheckpoint(repo, 'v1 (recorded by time)');
    // Writes after the moment, each its own transaction: none of them may come back.
    await sql(repo.url, "INSERT INTO contacts (name) VALUES ('Katherine')");
    await sql(repo.url, 'CREATE TABLE notes (id serial PRIMARY KEY, body text)');
    repo.write('app.js', 'export const v = 2;\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'v2');
    await sql(repo.url, "UPDATE contacts SET name = 'REDACTED'");
    now = await fingerprint(repo.url);
    assert.notDeepEqual(now, moment.data);
  });

  after(async () => {
    await repo?.cleanup();
  });

  it('lists the checkpoint as restorable', async () => {
    const listed = (await repo.list()).find((c) => c.id === moment.checkpoint.id);
    assert.ok(listed, 'listed');
    assert.equal(listed.lsn, null);
    assert.equal(listed.restorable, true, JSON.stringify(listed.unrestorable));
  });

  it('--dry-run previews the data as at the moment (by time) and changes nothing', async () => {
    const timeline = await servingTimeline(repo);
    const journal = repo.journalLines();
    const result = await repo.lockstep('restore', moment.checkpoint.id, '--dry-run');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /^\(dry run: nothing was changed\)/);
    assert.match(result.stdout, /by time/, 'the plan says the data is restored by time');
    assert.match(result.stdout, /- table notes disappears/, 'the preview copy was recovered to the moment, before the table was made');
    assert.deepEqual(await fingerprint(repo.url), now, 'the data is untouched');
    assert.equal(await servingTimeline(repo), timeline);
    assert.deepEqual(repo.journalLines(), journal);
  });

  let undo: string;
  it('restores exactly the data committed at the moment, and the audit trail says where the moment was found', async () => {
    const result = await repo.lockstep('restore', moment.checkpoint.id, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), moment.data, 'Grace (before the moment) back; Katherine, notes and the UPDATE (after it) not');
    assert.equal(repo.head(), v1);
    undo = undoIdOf(result.stdout);
    const finished = repo.audit().filter((e) => e.op === 'restore' && e.phase === 'finished').pop();
    assert.equal(finished?.checkpointId, moment.checkpoint.id);
    assert.match(finished?.detail ?? '', new RegExp(`by time: ${moment.checkpoint.timelineId} at ${moment.checkpoint.createdAt.replace(/\./g, '\\.')} \\(by time\\) resolved to \\d+ at [0-9A-F]+/[0-9A-F]+`));
  });

  it('undo brings back the data and code of before', async () => {
    const result = await repo.lockstep('restore', undo, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), now);
    assert.equal(repo.git('branch', '--show-current').trim(), 'main');
  });

  it('an idle database: a moment with nothing committed after it restores to that moment', async () => {
    await sql(repo.url, "INSERT INTO contacts (name) VALUES ('Barbara')");
    const idle = await momentCheckpoint(repo, 'idle');
    // Nothing is written after the moment: recovery by time needs a commit after it, which the restore makes itself.
    const result = await repo.lockstep('restore', idle.checkpoint.id, '--yes', '--data-only');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), idle.data);
  });
});
