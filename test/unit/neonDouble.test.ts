// The Neon double holds requests to the contract: what the contract does not allow is refused and recorded, and so is a wrong answer of its own.

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { request } from 'undici';
import { CONTRACTS_DIR, OpenApiContract } from '../doubles/contract';
import { NeonDouble } from '../doubles/neon';

const KEY = 'neon_unit_key_0123456789';

describe('Neon double: the contract is enforced', function () {
  let double: NeonDouble;
  let p: string;

  beforeEach(async () => {
    double = await NeonDouble.start({ apiKey: KEY, connectionUri: 'postgresql://neondb_owner:pw@127.0.0.1:1/neondb', readComputeLsn: async () => '0/5000000' });
    p = `/projects/${double.projectId}`;
  });
  afterEach(() => double.stop());

  async function call(method: 'GET' | 'POST' | 'DELETE' | 'PUT', pathAndQuery: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await request(`${double.apiUrl}${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.statusCode, body: (await response.body.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  }

  const problems = () => double.violations.map((v) => v.problem);

  it('answers an allowed request, validated both ways', async () => {
    const r = await call('GET', `${p}/branches/${double.mainBranchId}`);
    assert.equal(r.status, 200);
    assert.equal((r.body?.branch as { id: string }).id, double.mainBranchId);
    assert.deepEqual(double.violations, []);
  });

  it('a restore without the required source_branch_id is refused and recorded', async () => {
    const r = await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_lsn: '0/1' });
    assert.equal(r.status, 400);
    assert.match(String(r.body?.message), /source_branch_id/);
    assert.deepEqual(problems(), ["request body: must have required property 'source_branch_id'"]);
  });

  it('a field of the wrong type, a bad pattern and a bad format are each recorded', async () => {
    await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: 'BR_UPPER', source_lsn: 42, source_timestamp: 'yesterday' });
    const found = problems().join('\n');
    assert.match(found, /source_branch_id: must match pattern/);
    assert.match(found, /source_lsn: must be string/);
    assert.match(found, /source_timestamp: must match format "date-time"/);
  });

  it('an enum value the contract does not list is refused', async () => {
    await call('GET', `${p}/branches?sort_order=sideways`);
    assert.match(problems().join('\n'), /sort_order: must be equal to one of the allowed values \["asc","desc"\]/);
  });

  it('a missing required query parameter, an unknown one, and a non-integer are refused', async () => {
    await call('GET', `${p}/connection_uri?database_name=neondb`);
    await call('GET', `${p}/branches?colour=blue`);
    await call('GET', `${p}/branches?limit=lots`);
    const found = problems();
    assert.ok(found.includes('required query parameter "role_name" is missing'), found.join('\n'));
    assert.ok(found.includes('query parameter "colour" is not in the contract'), found.join('\n'));
    assert.ok(found.some((f) => /limit: must be integer/.test(f)), found.join('\n'));
  });

  it('a path or method the contract does not have is refused', async () => {
    assert.equal((await call('GET', `${p}/timelines`)).status, 404);
    assert.equal((await call('PUT', `${p}/branches/${double.mainBranchId}/restore`, {})).status, 405);
    assert.deepEqual(problems(), ['no such path in the contract', 'PUT is not allowed on this path']);
  });

  it('a body where none belongs, a body that is not JSON, and an operation id that is not a uuid are refused', async () => {
    await call('GET', `${p}`, { surprise: true });
    await call('POST', `${p}/branches/${double.mainBranchId}/restore`, '{"source_branch_id": ');
    await call('GET', `${p}/operations/not-a-uuid`);
    const found = problems();
    assert.ok(found.includes('a request body was sent, but the operation takes none'));
    assert.ok(found.includes('the request body is not JSON'));
    assert.ok(found.some((f) => /path parameter operation_id: must match format "uuid"/.test(f)), found.join('\n'));
  });

  it('a wrong key is a 401 with a contract-shaped error, not a violation', async () => {
    const r = await call('GET', p, undefined, { authorization: 'Bearer wrong' });
    assert.equal(r.status, 401);
    assert.equal(typeof r.body?.message, 'string');
    assert.deepEqual(double.violations, []);
  });

  it('restore moves through scheduling → running → finished, one step per poll', async () => {
    const r = await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: double.mainBranchId, source_lsn: '0/1', preserve_under_name: 'keep-me' });
    assert.equal(r.status, 200);
    const ops = r.body?.operations as { id: string; status: string }[];
    assert.deepEqual(ops.map((o) => o.status), ['scheduling', 'scheduling']);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push(((await call('GET', `${p}/operations/${ops[0]!.id}`)).body?.operation as { status: string }).status);
    assert.deepEqual(seen, ['running', 'finished', 'finished']);
    assert.ok(!double.liveBranches().some((b) => b.name === 'keep-me'), 'not done until every operation finished');
    await call('GET', `${p}/operations/${ops[1]!.id}`);
    await call('GET', `${p}/operations/${ops[1]!.id}`);
    assert.ok(double.liveBranches().some((b) => b.name === 'keep-me'), 'the preserved branch exists once all finished');
    assert.deepEqual(double.violations, []);
  });

  it('refuses a restore beyond the head, and a second restore while one runs (423)', async () => {
    const beyond = await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: double.mainBranchId, source_lsn: '0/6000000', preserve_under_name: 'x' });
    assert.equal(beyond.status, 400);
    await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: double.mainBranchId, source_lsn: '0/1', preserve_under_name: 'a' });
    const busy = await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: double.mainBranchId, source_lsn: '0/1', preserve_under_name: 'b' });
    assert.equal(busy.status, 423);
    assert.deepEqual(double.violations, []);
  });
});

describe('contract checker: the double\'s own answers are checked too', function () {
  const contract = OpenApiContract.load(path.join(CONTRACTS_DIR, 'neon-api-v2-shapes.json'));
  const getOperation = contract.match('GET', '/api/v2/projects/p-1/operations/00000000-0000-0000-0000-000000000000')!.operation;

  it('an operation with a status outside the enum, or missing fields, is a violation', () => {
    const good = {
      operation: {
        id: '00000000-0000-0000-0000-000000000000',
        project_id: 'p-1',
        action: 'create_timeline',
        status: 'finished',
        failures_count: 0,
        created_at: '2026-11-22T10:00:00Z',
        updated_at: '2026-11-22T10:00:00Z',
        total_duration_ms: 5,
      },
    };
    assert.deepEqual(contract.checkResponse(getOperation, 200, good), []);
    assert.match(contract.checkResponse(getOperation, 200, { operation: { ...good.operation, status: 'done' } }).join('\n'), /status: must be equal to one of the allowed values/);
    const { failures_count: _dropped, ...missing } = good.operation;
    assert.match(contract.checkResponse(getOperation, 200, { operation: missing }).join('\n'), /must have required property 'failures_count'/);
  });

  it('errors follow GeneralError; the $refs are followed through allOf', () => {
    assert.deepEqual(contract.checkResponse(getOperation, 404, { code: '', message: 'no' }), []);
    assert.match(contract.checkResponse(getOperation, 404, { error: 'no' }).join('\n'), /required property 'message'/);
    const listBranches = contract.match('GET', '/api/v2/projects/p-1/branches')!.operation;
    assert.match(contract.checkResponse(listBranches, 200, { branches: [] }).join('\n'), /required property 'annotations'/);
  });

  it('knows the base path from the contract\'s server URL', () => {
    assert.equal(contract.basePath, '/api/v2');
    assert.equal(contract.match('GET', '/projects/p-1'), undefined);
  });
});

describe('Neon double: snapshots as the contract and Neon\'s plans have them', function () {
  let double: NeonDouble;
  let p: string;
  /** The compute's LSN: the tests move it on with each write. */
  let lsn = 0x5000000;
  const hex = (n: number) => `0/${n.toString(16).toUpperCase()}`;

  beforeEach(async () => {
    lsn = 0x5000000;
    double = await NeonDouble.start({ apiKey: KEY, connectionUri: 'postgresql://neondb_owner:pw@127.0.0.1:1/neondb', readComputeLsn: async () => hex(lsn), subscriptionType: 'launch_v3' });
    p = `/projects/${double.projectId}`;
  });
  afterEach(() => double.stop());

  async function call(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', pathAndQuery: string, body?: unknown) {
    const response = await request(`${double.apiUrl}${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.statusCode, body: (await response.body.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  }

  function write(label: string): string {
    lsn += 0x100;
    double.noteWrite(label, hex(lsn));
    return hex(lsn);
  }

  async function finish(operations: unknown): Promise<void> {
    for (const op of operations as { id: string }[]) {
      for (let i = 0; i < 5; i++) await call('GET', `${p}/operations/${op.id}`);
    }
  }

  it('creates by query parameters (lsn, name); a JSON body as some clients send is outside the contract', async () => {
    const at = write('ada');
    write('bob');
    const r = await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${encodeURIComponent(at)}&name=first`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const snapshot = r.body?.snapshot as { id: string; name: string; lsn: string; source_branch_id: string };
    assert.equal(snapshot.name, 'first');
    assert.equal(snapshot.lsn, at);
    assert.equal(snapshot.source_branch_id, double.mainBranchId);
    assert.ok((r.body?.operations as unknown[]).length > 0, 'the creation returns its operations');
    assert.equal(double.violations.length, 0);
    await call('POST', `${p}/branches/${double.mainBranchId}/snapshot`, { lsn: at, name: 'in a body' });
    assert.deepEqual(double.violations.map((v) => v.problem), ['a request body was sent, but the operation takes none']);
  });

  it('lsn and timestamp together, an LSN beyond the head, and an LSN past the history window are refused', async () => {
    const old = write('ada');
    write('bob');
    assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${old}&timestamp=${encodeURIComponent(new Date().toISOString())}`)).status, 400);
    assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${hex(lsn + 0x1000)}`)).status, 400);
    double.historyRetentionSeconds = 0;
    // Wait until the writes are older than a window of 0 s (a millisecond): then both lie below the cutoff but the newest.
    const noted = Date.now();
    while (Date.now() <= noted) await new Promise((resolve) => setTimeout(resolve, 1));
    const past = await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${old}`);
    assert.equal(past.status, 400);
    assert.match(String(past.body?.message), /history retention/);
    const restore = await call('POST', `${p}/branches/${double.mainBranchId}/restore`, { source_branch_id: double.mainBranchId, source_lsn: old, preserve_under_name: 'x' });
    assert.equal(restore.status, 400, 'a branch restore past the window is refused too');
    assert.deepEqual(double.violations, []);
  });

  it('keeps 1 manual snapshot on a free plan and 10 on a paid one; scheduled ones do not count', async () => {
    double.subscriptionType = 'free_v3';
    await double.addSnapshot('scheduled', { manual: false });
    write('ada');
    assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?name=one`)).status, 200);
    const refused = await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?name=two`);
    assert.equal(refused.status, 422);
    assert.match(String(refused.body?.message), /limit/);
    double.subscriptionType = 'scale_v3';
    for (let i = 2; i <= 10; i++) assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?name=n${i}`)).status, 200, `snapshot ${i}`);
    assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?name=eleven`)).status, 422);
    const project = (await call('GET', p)).body?.project as { owner: { subscription_type: string } };
    assert.equal(project.owner.subscription_type, 'scale_v3');
    assert.deepEqual(double.violations, []);
  });

  it('lists, renames and deletes (202 with operations; 404 once gone)', async () => {
    write('ada');
    const id = ((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?name=a`)).body?.snapshot as { id: string }).id;
    const renamed = await call('PATCH', `${p}/snapshots/${id}`, { snapshot: { name: 'b' } });
    assert.equal((renamed.body?.snapshot as { name: string }).name, 'b');
    const listed = (await call('GET', `${p}/snapshots`)).body?.snapshots as { id: string; name: string }[];
    assert.deepEqual(listed.map((x) => [x.id, x.name]), [[id, 'b']]);
    const deleted = await call('DELETE', `${p}/snapshots/${id}`);
    assert.equal(deleted.status, 202);
    assert.ok(Array.isArray(deleted.body?.operations));
    assert.equal((await call('DELETE', `${p}/snapshots/${id}`)).status, 404);
    assert.deepEqual((await call('GET', `${p}/snapshots`)).body?.snapshots, []);
    assert.deepEqual(double.violations, []);
  });

  it('restore with target_branch_id and finalize_restore: a new branch takes the computes and the name once its operations finish', async () => {
    const at = write('ada');
    const id = ((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${at}&name=keep`)).body?.snapshot as { id: string }).id;
    write('bob');
    const r = await call('POST', `${p}/snapshots/${id}/restore`, { name: 'restored', target_branch_id: double.mainBranchId, finalize_restore: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const restored = (r.body?.branch as { id: string }).id;
    assert.notEqual(restored, double.mainBranchId, 'the branch id changes');
    assert.equal(double.computeBranchId, double.mainBranchId, 'nothing moves before the operations finish');
    await finish(r.body?.operations);
    assert.equal(double.computeBranchId, restored);
    const names = Object.fromEntries(double.liveBranches().map((b) => [b.id, b.name]));
    assert.equal(names[restored], 'main');
    assert.equal(names[double.mainBranchId], 'main (old)');
    assert.deepEqual(double.content(), ['ada'], 'the compute serves the snapshot');
    assert.deepEqual(double.content(double.mainBranchId), ['ada', 'bob'], 'the replaced branch keeps its state');
    const uri = (b: string) => call('GET', `${p}/connection_uri?branch_id=${b}&database_name=neondb&role_name=neondb_owner`);
    assert.equal((await uri(restored)).status, 200);
    assert.equal((await uri(double.mainBranchId)).status, 404);
    assert.deepEqual(double.violations, []);
  });

  it('restore without finalize leaves the computes; finalize_restore on the new branch moves them', async () => {
    const at = write('ada');
    const id = ((await call('POST', `${p}/branches/${double.mainBranchId}/snapshot?lsn=${at}`)).body?.snapshot as { id: string }).id;
    write('bob');
    const r = await call('POST', `${p}/snapshots/${id}/restore`, { target_branch_id: double.mainBranchId });
    await finish(r.body?.operations);
    const restored = (r.body?.branch as { id: string }).id;
    assert.equal(double.computeBranchId, double.mainBranchId);
    assert.deepEqual(double.content(restored), ['ada']);
    assert.equal((await call('POST', `${p}/branches/${double.mainBranchId}/finalize_restore`, {})).status, 400, 'only a restored branch can be finalized');
    const f = await call('POST', `${p}/branches/${restored}/finalize_restore`, {});
    assert.equal(f.status, 200);
    await finish(f.body?.operations);
    assert.equal(double.computeBranchId, restored);
    assert.deepEqual(double.violations, []);
  });
});
