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
