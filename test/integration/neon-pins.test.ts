// Pins on the Neon engine through the real CLI against the Neon double: a pin is a snapshot; past the window it restores the way Neon's snapshots-as-checkpoints demo does.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { NeonDouble, neonError } from '../doubles/neon';
import type { LoggedExchange } from '../doubles/server';
import { sql } from '../support/fingerprint';
import { explain, expectOk, lockstep } from '../support/cli';
import { createRepo, removeTempDirs, type TestRepo } from '../support/git';
import { startScratchPostgres, type ScratchPostgres } from '../support/postgres';

const API_KEY = 'neon-test-key-5a4b3c2d1e0f98877665544332211ab';

interface Listed {
  id: string;
  kind: string;
  lsn: string | null;
  timelineId: string;
  restorable: boolean;
  pinned?: boolean;
  unrestorable: { reason: string; message: string } | null;
}

describe('cli: pins on the neon engine (Neon snapshots) against the Neon double', function () {
  this.timeout(240_000);
  let compute: ScratchPostgres;
  let double: NeonDouble;
  let repo: TestRepo;
  let v1: { id: string; lsn: string; timelineId: string };
  let v2: { id: string; lsn: string };
  let snapshotId: string;
  let lastEventAt = 0;
  const env = () => ({ NEON_API_KEY: API_KEY, LOCKSTEP_NEON_API_URL: double.apiUrl });
  const run = (...args: string[]) => lockstep(repo.dir, args, { env: env(), timeoutMs: 120_000 });
  const p = () => `/projects/${double.projectId}`;
  const neonState = () =>
    JSON.parse(fs.readFileSync(repo.path('.git', 'lockstep', 'neon-state.json'), 'utf8')) as {
      pins?: { snapshotId: string; checkpointId: string; lsn: string | null; sourceBranchId: string }[];
      serving?: { branchId: string };
    };
  const pinsFile = () => {
    const file = repo.path('.git', 'lockstep', 'pins.json');
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { pins: { checkpointId: string }[] }).pins : [];
  };
  const line = (c: LoggedExchange) => `${c.method} ${c.path}`;

  /** The app writes a row: on the real compute, and into the double's model of the serving branch. */
  async function write(label: string): Promise<void> {
    await sql(compute.url, 'INSERT INTO contacts (name) VALUES ($1)', [label]);
    const [row] = await sql(compute.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    double.noteWrite(label, String(row!.lsn));
    lastEventAt = Date.now();
  }

  async function list(): Promise<Listed[]> {
    return JSON.parse(expectOk(await run('list', '--json')).stdout) as Listed[];
  }

  /** Each operation an answer returned is polled until Neon says it finished. */
  function assertPolledToFinish(calls: LoggedExchange[], post: LoggedExchange): void {
    const operations = (post.response as { operations: { id: string }[] }).operations;
    assert.ok(operations.length > 0, `${line(post)} returned operations`);
    for (const op of operations) {
      const polls = calls.filter((c) => c.method === 'GET' && c.path === `${p()}/operations/${op.id}`);
      assert.ok(polls.length > 0, `operation ${op.id} polled`);
      assert.equal((polls[polls.length - 1]!.response as { operation: { status: string } }).operation.status, 'finished', `operation ${op.id} polled to finished`);
    }
  }

  before(async () => {
    compute = await startScratchPostgres();
    await sql(compute.url, 'CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL)');
    double = await NeonDouble.start({
      apiKey: API_KEY,
      connectionUri: compute.url,
      readComputeLsn: async () => String((await sql(compute.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn),
      subscriptionType: 'free_v3',
    });
    repo = createRepo();
    expectOk(await run('init', '--engine', 'neon', '--project-id', double.projectId, '--no-hook'));
  });

  after(async () => {
    await double?.stop();
    await compute?.stop();
    removeTempDirs();
  });

  it('pin takes a Neon snapshot of the branch at the checkpoint\'s LSN: query parameters only, every operation polled', async () => {
    await write('ada');
    repo.commit('app.txt', 'v1\n', 'v1');
    v1 = JSON.parse(expectOk(await run('snapshot', '--json', '-m', 'v1 data')).stdout) as typeof v1;
    await write('bob');
    repo.commit('app.txt', 'v2\n', 'v2');
    v2 = JSON.parse(expectOk(await run('snapshot', '--json', '-m', 'v2 data')).stdout) as typeof v2;
    lastEventAt = Date.now();

    const from = double.log.length;
    const pinned = await run('pin', v1.id, '--json');
    assert.equal(pinned.code, 0, explain(pinned));
    const calls = double.log.slice(from);
    const changes = calls.filter((c) => c.method !== 'GET');
    assert.deepEqual(changes.map(line), [`POST ${p()}/branches/${double.mainBranchId}/snapshot`], 'one change: the snapshot');
    const post = changes[0]!;
    assert.deepEqual(Object.keys(post.query).sort(), ['lsn', 'name']);
    assert.equal(post.query.lsn, v1.lsn, 'at the checkpoint\'s LSN');
    assert.match(post.query.name!, new RegExp(`^lockstep ${v1.id}: `), 'named after the checkpoint');
    assert.equal(post.body, undefined, 'no body: the contract takes query parameters');
    assertPolledToFinish(calls, post);
    // The plan was read and the snapshots counted before the snapshot was taken.
    const before = calls.slice(0, calls.indexOf(post)).map(line);
    assert.ok(before.includes(`GET ${p()}/snapshots`), before.join('\n'));

    const pin = JSON.parse(pinned.stdout) as { checkpointId: string; engine: string; hold: { ref: { snapshotId: string }; summary: string } };
    assert.equal(pin.checkpointId, v1.id);
    assert.equal(pin.engine, 'neon');
    snapshotId = pin.hold.ref.snapshotId;
    assert.deepEqual(double.liveSnapshots().map((s) => [s.id, s.lsn, s.sourceBranchId]), [[snapshotId, v1.lsn, double.mainBranchId]]);
    assert.match(pin.hold.summary, /Neon snapshot/);
    const state = neonState();
    assert.deepEqual(state.pins?.map((x) => [x.snapshotId, x.checkpointId, x.lsn]), [[snapshotId, v1.id, v1.lsn]], 'neon-state.json maps the snapshot to the point');
    assert.deepEqual(pinsFile().map((x) => x.checkpointId), [v1.id]);
    assert.deepEqual(double.violations, []);
  });

  it('on a free plan with 1 snapshot, a second pin is refused before anything is created: exit 1, the limit, the count and what to do', async () => {
    const from = double.log.length;
    const refused = await run('pin', v2.id);
    assert.equal(refused.code, 1, explain(refused));
    assert.match(refused.stderr, /free plan \(free_v3\) keeps 1 snapshot per project/);
    assert.match(refused.stderr, /has 1 \(/);
    assert.match(refused.stderr, /lockstep unpin REF/);
    assert.ok(!refused.stderr.includes(API_KEY));
    assert.deepEqual(double.log.slice(from).filter((c) => c.method !== 'GET').map(line), [], 'no snapshot requested');
    assert.equal(double.liveSnapshots().length, 1);
    assert.deepEqual(pinsFile().map((x) => x.checkpointId), [v1.id], 'pins.json unchanged');
    assert.equal(neonState().pins?.length, 1);
  });

  it('Neon\'s own refusal for the snapshot limit is a QUOTA error too (exit 1), and nothing is pinned', async () => {
    // A paid plan passes Lockstep's count; Neon refuses anyway (a limit Lockstep does not know of).
    double.subscriptionType = 'launch_v3';
    double.inject({
      kind: 'status',
      status: 422,
      body: neonError(422, 'snapshots limit exceeded for this project'),
      match: (r) => r.method === 'POST' && r.template === '/projects/{project_id}/branches/{branch_id}/snapshot',
      times: 1,
    });
    try {
      const refused = await run('pin', v2.id);
      assert.equal(refused.code, 1, explain(refused));
      assert.match(refused.stderr, /snapshots limit exceeded/);
      assert.match(refused.stderr, /unpin/);
    } finally {
      double.clearFaults();
      double.subscriptionType = 'free_v3';
    }
    assert.deepEqual(pinsFile().map((x) => x.checkpointId), [v1.id]);
    assert.equal(double.liveSnapshots().length, 1);
  });

  it('past the history window, the pinned checkpoint is listed restorable (the unpinned one is not), and the restore is the snapshot restore with finalize', async () => {
    // Neon keeps 1 s of history from now on: wait until every write and checkpoint so far is older than that.
    double.historyRetentionSeconds = 1;
    while (Date.now() - lastEventAt <= 1_500) await new Promise((resolve) => setTimeout(resolve, 100));
    const listed = await list();
    const one = listed.find((c) => c.id === v1.id)!;
    const two = listed.find((c) => c.id === v2.id)!;
    assert.equal(one.restorable, true, JSON.stringify(one));
    assert.equal(two.restorable, false, JSON.stringify(two));
    assert.equal(two.unrestorable?.reason, 'expired');
    // The double really refuses the in-place restore there: only the snapshot can bring it back.
    const direct = await fetch(`${double.apiUrl}${p()}/branches/${double.mainBranchId}/restore`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source_branch_id: double.mainBranchId, source_lsn: v1.lsn, preserve_under_name: 'probe' }),
    });
    assert.equal(direct.status, 400, 'the window has passed in the double too');

    const from = double.log.length;
    const restored = await run('restore', v1.id, '--yes');
    assert.equal(restored.code, 0, explain(restored));
    assert.match(restored.stdout, /Restored code and data/);
    const calls = double.log.slice(from);
    const changes = calls.filter((c) => c.method !== 'GET');
    assert.deepEqual(changes.map(line), [`POST ${p()}/snapshots/${snapshotId}/restore`], 'one change: the snapshot restore (no branch restore)');
    const post = changes[0]!;
    const body = post.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['finalize_restore', 'name', 'target_branch_id']);
    assert.equal(body.target_branch_id, double.mainBranchId, 'onto the serving branch');
    assert.equal(body.finalize_restore, true);
    assertPolledToFinish(calls, post);
    const newBranch = (post.response as { branch: { id: string } }).branch.id;
    assert.equal(double.computeBranchId, newBranch, 'the computes moved to the restored branch');
    assert.deepEqual(double.content(), ['ada'], 'the compute serves the data as at the checkpoint');
    assert.deepEqual(double.content(double.mainBranchId), ['ada', 'bob'], 'the replaced state stays on the old branch');
    assert.equal(neonState().serving?.branchId, newBranch, 'neon-state.json knows which branch serves now');
    assert.equal(repo.read('app.txt'), 'v1\n', 'and the code is back');
    assert.deepEqual(double.violations, []);
  });

  it('afterwards the same connection serves, new checkpoints are on the new branch, and the undo point restores from the replaced branch', async () => {
    double.historyRetentionSeconds = 86_400;
    const status = expectOk(await run('status'));
    assert.match(status.stdout, new RegExp(double.computeBranchId));
    await write('cyd');
    const v3 = JSON.parse(expectOk(await run('snapshot', '--json', '-m', 'after the snapshot restore')).stdout) as { timelineId: string };
    assert.equal(v3.timelineId, double.computeBranchId);
    const undo = (await list()).find((c) => c.kind === 'pre-restore' && c.timelineId === double.mainBranchId);
    assert.ok(undo, 'the undo point of the snapshot restore is listed');
    assert.equal(undo.restorable, true, JSON.stringify(undo));
    const from = double.log.length;
    expectOk(await run('restore', undo.id, '--yes'));
    const changes = double.log.slice(from).filter((c) => c.method !== 'GET');
    assert.deepEqual(changes.map(line), [`POST ${p()}/branches/${double.computeBranchId}/restore`]);
    const body = changes[0]!.body as Record<string, unknown>;
    assert.equal(body.source_branch_id, double.mainBranchId, 'from the branch the snapshot restore replaced');
    assert.equal(body.source_lsn, undo.lsn);
    assert.deepEqual(double.content(), ['ada', 'bob']);
    assert.deepEqual(double.violations, []);
  });

  it('unpin deletes the snapshot (operations polled) and forgets it; a second unpin changes nothing', async () => {
    const from = double.log.length;
    const out = expectOk(await run('unpin', v1.id));
    assert.match(out.stdout, /unpinned/);
    const calls = double.log.slice(from);
    const changes = calls.filter((c) => c.method !== 'GET');
    assert.deepEqual(changes.map(line), [`DELETE ${p()}/snapshots/${snapshotId}`]);
    assertPolledToFinish(calls, changes[0]!);
    assert.deepEqual(double.liveSnapshots(), []);
    assert.deepEqual(neonState().pins, []);
    assert.deepEqual(pinsFile(), []);
    const again = expectOk(await run('unpin', v1.id));
    assert.match(again.stdout, /was not pinned/);
    assert.deepEqual(double.violations, []);
  });
});
