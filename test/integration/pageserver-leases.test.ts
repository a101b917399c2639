// The CLI against the pageserver double once GC passed its checkpoints: a leased one stays listed, restored and renewed; an unleased or lapsed one is expired; pin and unpin hold a lease.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { CheckpointListing } from '../../src/core/checkpoint';
import { PageserverDouble } from '../doubles/pageserver';
import { explain, expectOk, lockstep, upkeepProcesses } from '../support/cli';
import { eventually } from '../support/eventually';
import { createRepo, removeTempDirs, type TestRepo } from '../support/git';

const TOKEN = 'pageserver-jwt-5e7a9c1b3d5f7081a2c4e6f8091b3d5e';
const REPOINT_TOKEN = 'repoint-token-7788aabbccddeeff0011223344556677';

interface Snapshot {
  id: string;
  lsn: string;
  timelineId: string;
}

describe('cli: pageserver leases below the GC cutoff (pageserver double, the real CLI)', function () {
  this.timeout(240_000);
  let double: PageserverDouble;
  let repo: TestRepo;
  const env = () => ({ LOCKSTEP_PAGESERVER_TOKEN: TOKEN, LOCKSTEP_REPOINT_TOKEN: REPOINT_TOKEN });
  const run = (...args: string[]) => lockstep(repo.dir, args, { env: env(), timeoutMs: 120_000 });
  const leaseCalls = (from: number) => double.log.slice(from).filter((c) => c.template?.endsWith('/lsn_lease'));
  const creates = (from: number) => double.log.slice(from).filter((c) => c.method === 'POST' && c.template === '/v1/tenant/{tenant_id}/timeline');
  const list = async () => JSON.parse(expectOk(await run('list', '--json')).stdout) as CheckpointListing[];

  /** A commit of the app with its data change, then a checkpoint of it. */
  async function commitWith(label: string): Promise<Snapshot> {
    double.write(label);
    repo.commit('app.txt', `${label}\n`, label);
    return JSON.parse(expectOk(await run('snapshot', '--json', '-m', label)).stdout) as Snapshot;
  }

  async function setUp(leaseLengthMs?: number): Promise<void> {
    double = await PageserverDouble.start({ token: TOKEN, repointToken: REPOINT_TOKEN, ...(leaseLengthMs ? { leaseLengthMs } : {}) });
    repo = createRepo();
    expectOk(
      await run(
        'init',
        '--engine',
        'pageserver',
        '--api-url',
        double.apiUrl,
        '--tenant-id',
        double.tenantId,
        '--timeline-id',
        double.rootTimelineId,
        '--repoint-url',
        double.repointUrl,
        '--no-hook',
      ),
    );
  }

  afterEach(async function () {
    // A restore or a commit may have started the background upkeep (lease renewal): let it end before the double does.
    await new Promise((r) => setTimeout(r, 300));
    await eventually('the background upkeep to end', () => (upkeepProcesses(repo.dir).length === 0 ? true : undefined), { timeoutMs: 120_000, intervalMs: 50 });
    const violations = double.violations.map((v) => `${v.request}: ${v.problem}`);
    await double.stop();
    removeTempDirs();
    if (this.currentTest?.state === 'passed') assert.deepEqual(violations, [], 'every request and answer within the contract');
  });

  it('below the cutoff with a lease: listed restorable, restored through a timeline create, renewed by prune; without one: expired, code only', async () => {
    await setUp();
    const leased = await commitWith('v1');
    let from = double.log.length;
    expectOk(await run('prune'));
    assert.ok(
      leaseCalls(from).some((c) => (c.body as { lsn: string }).lsn === leased.lsn && c.status === 200),
      'prune leased the kept checkpoint',
    );
    const unleased = await commitWith('v2');
    await commitWith('v3');
    const head = double.write('after v3');
    assert.equal(double.gc(double.rootTimelineId, head), head, 'GC moved the cutoff past v1 and v2');

    const listed = await list();
    const byId = (id: string) => listed.find((c) => c.id === id)!;
    assert.equal(byId(leased.id).restorable, true, 'the lease keeps v1 restorable');
    assert.equal(byId(unleased.id).restorable, false);
    assert.equal(byId(unleased.id).unrestorable?.reason, 'expired');

    // Without a lease: as before, the code only, and nothing branched.
    from = double.log.length;
    const codeOnly = await run('restore', unleased.id, '--yes');
    assert.deepEqual(creates(from), [], `no timeline create for v2: ${explain(codeOnly)}`);
    assert.match(`${codeOnly.stdout}${codeOnly.stderr}`, /retention window|expired/i, explain(codeOnly));
    assert.equal(double.serving, double.rootTimelineId, 'the compute still serves the same timeline');

    // With the lease: branched at its LSN and served.
    from = double.log.length;
    const restored = await run('restore', leased.id, '--yes');
    assert.equal(restored.code, 0, explain(restored));
    const created = creates(from);
    assert.equal(created.length, 1, explain(restored));
    assert.equal(created[0]!.status, 201);
    assert.deepEqual(
      { ancestor: (created[0]!.body as { ancestor_timeline_id: string }).ancestor_timeline_id, lsn: (created[0]!.body as { ancestor_start_lsn: string }).ancestor_start_lsn },
      { ancestor: leased.timelineId, lsn: leased.lsn },
    );
    assert.deepEqual(double.content(), ['v1'], 'the compute serves the data as at v1');
    assert.equal(repo.read('app.txt'), 'v1\n', 'and the code is back');

    // prune renews the lease below the cutoff (a valid lease is always renewed).
    const endBefore = double.leaseEnd(leased.timelineId, leased.lsn)!;
    from = double.log.length;
    expectOk(await run('prune'));
    const renewed = leaseCalls(from).filter((c) => (c.body as { lsn: string }).lsn === leased.lsn);
    assert.deepEqual(renewed.map((c) => c.status), [200], 'renewed, once');
    assert.ok(double.leaseEnd(leased.timelineId, leased.lsn)! >= endBefore);
    assert.equal((await list()).find((c) => c.id === leased.id)?.restorable, true);
  });

  it('a lapsed lease: listed expired with why, restore brings the code only, status warns', async () => {
    // Two-second leases, so that one can lapse in the test; the test waits for the end the pageserver gave, not for a time.
    await setUp(2_000);
    const m = await commitWith('v1');
    await commitWith('v2');
    expectOk(await run('prune'));
    const end = double.leaseEnd(m.timelineId, m.lsn);
    assert.ok(end, 'leased');
    double.gc(double.rootTimelineId, double.write('after v2'));
    while (Date.now() <= end + 50) await new Promise((r) => setTimeout(r, Math.max(10, end + 60 - Date.now())));

    const listed = (await list()).find((c) => c.id === m.id)!;
    assert.equal(listed.restorable, false);
    assert.equal(listed.unrestorable?.reason, 'expired');
    assert.match(listed.unrestorable?.message ?? '', /LSN lease lapsed at /);
    const from = double.log.length;
    const codeOnly = await run('restore', m.id, '--yes');
    assert.deepEqual(creates(from), [], explain(codeOnly));
    const status = await run('status');
    assert.match(`${status.stdout}${status.stderr}`, /lease\(s\) lapsed/, explain(status));
  });

  it('pin takes a lease now, which prune and the upkeep keep renewing; unpin lets it go', async () => {
    // Two-day leases: "not due yet" below cannot depend on how slowly the test runs.
    await setUp(2 * 86_400_000);
    const m = await commitWith('v1');
    await commitWith('v2');
    let from = double.log.length;
    const pinned = await run('pin', m.id, '--json');
    assert.equal(pinned.code, 0, explain(pinned));
    const pin = JSON.parse(pinned.stdout) as { checkpointId: string; engine: string; hold: { ref: Record<string, unknown>; summary: string } };
    assert.equal(pin.engine, 'pageserver');
    assert.deepEqual(pin.hold.ref, { timelineId: m.timelineId, lsn: m.lsn, checkpointId: m.id });
    assert.match(pin.hold.summary, /LSN lease on timeline .* renewed by prune and the upkeep$/, 'a lease of two days needs no warning');
    assert.deepEqual(leaseCalls(from).map((c) => c.body), [{ lsn: m.lsn }], 'the lease is taken at once');

    double.gc(double.rootTimelineId, double.write('after v2'));
    assert.equal((await list()).find((c) => c.id === m.id)?.restorable, true);
    from = double.log.length;
    expectOk(await run('prune', '--keep', '1'));
    assert.deepEqual(leaseCalls(from).filter((c) => (c.body as { lsn: string }).lsn === m.lsn).map((c) => c.status), [200], 'prune --keep 1 renews the pin');
    assert.ok((await list()).some((c) => c.id === m.id), 'the pinned checkpoint survives --keep 1');
    const state = JSON.parse(fs.readFileSync(repo.path('.git', 'lockstep', 'pageserver-state.json'), 'utf8')) as { pins: { checkpointId: string }[] };
    assert.deepEqual(state.pins.map((p) => p.checkpointId), [m.id]);
    // The upkeep the commit hook starts (`db backup --if-due`) is not due before half the lease passed; forced, it renews.
    from = double.log.length;
    expectOk(await run('db', 'backup', '--if-due'));
    assert.deepEqual(leaseCalls(from), [], 'not due: no call');
    const forced = expectOk(await run('db', 'backup'));
    assert.match(forced.stdout, /renewed \d+ LSN lease\(s\)/);
    assert.ok(leaseCalls(from).some((c) => (c.body as { lsn: string }).lsn === m.lsn && c.status === 200), 'the upkeep renewed the pin');

    expectOk(await run('unpin', m.id));
    const after = JSON.parse(fs.readFileSync(repo.path('.git', 'lockstep', 'pageserver-state.json'), 'utf8')) as { pins: unknown[] };
    assert.deepEqual(after.pins, []);
    from = double.log.length;
    expectOk(await run('prune', '--keep', '1'));
    assert.deepEqual(leaseCalls(from).filter((c) => (c.body as { lsn: string }).lsn === m.lsn), [], 'unpinned and beyond --keep 1: no longer renewed');
    assert.ok(!(await list()).some((c) => c.id === m.id), 'and pruned from the list');
  });
});
