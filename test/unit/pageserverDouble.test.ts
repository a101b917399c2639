// The pageserver double holds requests to the OpenAPI spec (and the repoint endpoint to Lockstep's own small contract).

import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { request } from 'undici';
import { CONTRACTS_DIR, OpenApiContract } from '../doubles/contract';
import { PageserverDouble, REPOINT_PATH } from '../doubles/pageserver';

describe('pageserver double: the contract is enforced', function () {
  let double: PageserverDouble;

  beforeEach(async () => {
    double = await PageserverDouble.start({ token: 'jwt' });
  });
  afterEach(() => double.stop());

  async function call(method: 'GET' | 'POST' | 'DELETE' | 'PATCH', pathAndQuery: string, body?: unknown, token = 'jwt') {
    const response = await request(`${double.apiUrl}${pathAndQuery}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.statusCode, body: (await response.body.json().catch(() => undefined)) as Record<string, unknown> | undefined };
  }

  const problems = () => double.violations.map((v) => v.problem);
  const timelines = () => `/v1/tenant/${double.tenantId}/timeline`;

  it('branches a timeline as the spec describes, validated both ways', async () => {
    const lsn = double.write('a');
    const id = 'ab'.repeat(16);
    const r = await call('POST', timelines(), { new_timeline_id: id, ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: lsn });
    assert.equal(r.status, 201);
    assert.equal(r.body?.ancestor_lsn, lsn);
    assert.equal(r.body?.last_record_lsn, lsn);
    // The same request again is answered the same (the pageserver's idempotency); other parameters are a conflict.
    assert.equal((await call('POST', timelines(), { new_timeline_id: id, ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: lsn })).status, 201);
    assert.equal((await call('POST', timelines(), { new_timeline_id: id, ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: '0/1000000' })).status, 409);
    assert.deepEqual(double.violations, []);
  });

  it('a create without new_timeline_id, or with a non-hex id, is refused and recorded', async () => {
    await call('POST', timelines(), { ancestor_timeline_id: double.rootTimelineId });
    await call('POST', timelines(), { new_timeline_id: 'not hex!', ancestor_timeline_id: double.rootTimelineId });
    const found = problems().join('\n');
    assert.match(found, /must have required property 'new_timeline_id'/);
    assert.match(found, /new_timeline_id: must match format "hex"/);
  });

  it('paths and methods the spec does not have are refused', async () => {
    assert.equal((await call('GET', `/v1/tenant/${double.tenantId}/branches`)).status, 404);
    assert.equal((await call('PATCH', timelines(), {})).status, 405);
    assert.deepEqual(problems(), ['no such path in the contract', 'PATCH is not allowed on this path']);
  });

  it('a call the spec allows but the double does not implement is a violation, not a silent success', async () => {
    const r = await call('GET', `/v1/tenant/${double.tenantId}/synthetic_size`);
    assert.equal(r.status, 501);
    assert.deepEqual(problems(), ['the double does not implement GET /v1/tenant/{tenant_id}/synthetic_size']);
  });

  it('a missing token is refused (except for the health check)', async () => {
    assert.equal((await call('GET', `${timelines()}/${double.rootTimelineId}`, undefined, 'nope')).status, 401);
    assert.equal((await call('GET', '/v1/status', undefined, 'nope')).status, 200);
    assert.deepEqual(double.violations, []);
  });

  it('GC moves the cutoff past leases; below it only a validly leased LSN can be branched', async () => {
    const first = double.write('a');
    const second = double.write('b');
    const head = double.write('c');
    const lease = await call('POST', `${timelines()}/${double.rootTimelineId}/lsn_lease`, { lsn: second });
    assert.equal(lease.status, 200);
    assert.ok(Date.parse(String(lease.body?.valid_until)) > Date.now());
    assert.equal(double.gc(double.rootTimelineId, 'FFFFFFFF/0'), head, 'the cutoff goes to the horizon (the head), past the lease');
    const info = await call('GET', `${timelines()}/${double.rootTimelineId}`);
    assert.equal(info.body?.min_readable_lsn, head, 'min_readable_lsn is the cutoff, as the pageserver reports it');
    const refused = await call('POST', timelines(), { new_timeline_id: 'cd'.repeat(16), ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: first });
    assert.equal(refused.status, 406);
    assert.match(String(refused.body?.msg), /GC cutoff/);
    const leased = await call('POST', timelines(), { new_timeline_id: 'ef'.repeat(16), ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: second });
    assert.equal(leased.status, 201, String(leased.body?.msg));
    assert.deepEqual(double.content('ef'.repeat(16)), ['a', 'b'], 'the branch reads the history as it was at the leased LSN');
    assert.deepEqual(double.violations, []);
  });

  it('below the cutoff a new lease is refused (as a 500, as the pageserver answers) but a valid one is renewed', async () => {
    let now = Date.now();
    await double.stop();
    double = await PageserverDouble.start({ token: 'jwt', leaseLengthMs: 60_000, now: () => now });
    const first = double.write('a');
    const second = double.write('b');
    double.write('c');
    const leaseAt = (lsn: string) => call('POST', `${timelines()}/${double.rootTimelineId}/lsn_lease`, { lsn });
    const granted = await leaseAt(second);
    assert.equal(Date.parse(String(granted.body?.valid_until)), now + 60_000);
    double.gc(double.rootTimelineId, 'FFFFFFFF/0');
    const fresh = await leaseAt(first);
    assert.equal(fresh.status, 500);
    assert.match(String(fresh.body?.msg), /lsn lease for an lsn below the latest gc cutoff/);
    now += 30_000;
    const renewed = await leaseAt(second);
    assert.equal(renewed.status, 200, 'a valid lease is renewed below the cutoff');
    assert.equal(Date.parse(String(renewed.body?.valid_until)), now + 60_000, 'renewal runs from now');
    // Lapsed: neither renewable below the cutoff nor a branch point any more.
    now += 60_001;
    assert.deepEqual(double.leasesOn(double.rootTimelineId), []);
    assert.equal((await leaseAt(second)).status, 500);
    const branch = await call('POST', timelines(), { new_timeline_id: 'cd'.repeat(16), ancestor_timeline_id: double.rootTimelineId, ancestor_start_lsn: second });
    assert.equal(branch.status, 406);
    assert.deepEqual(double.violations, []);
  });

  it('above the cutoff a lapsed lease is simply taken again', async () => {
    let now = Date.now();
    await double.stop();
    double = await PageserverDouble.start({ token: 'jwt', leaseLengthMs: 1_000, now: () => now });
    const lsn = double.write('a');
    double.write('b');
    assert.equal((await call('POST', `${timelines()}/${double.rootTimelineId}/lsn_lease`, { lsn })).status, 200);
    now += 5_000;
    assert.deepEqual(double.leasesOn(double.rootTimelineId), []);
    const again = await call('POST', `${timelines()}/${double.rootTimelineId}/lsn_lease`, { lsn });
    assert.equal(again.status, 200);
    assert.equal(Date.parse(String(again.body?.valid_until)), now + 1_000);
    assert.deepEqual(double.leasesOn(double.rootTimelineId), [lsn]);
  });

  it('the repoint endpoint takes exactly {tenant_id, timeline_id} as JSON', async () => {
    const r = await request(`${double.apiUrl}${REPOINT_PATH}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ timeline: 'x' }) });
    await r.body.dump();
    assert.equal(r.statusCode, 400);
    assert.match(problems().join('\n'), /exactly tenant_id and timeline_id/);
    const ok = await request(`${double.apiUrl}${REPOINT_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant_id: double.tenantId, timeline_id: double.rootTimelineId }),
    });
    await ok.body.dump();
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(double.repoints, [{ tenant_id: double.tenantId, timeline_id: double.rootTimelineId }]);
  });
});

describe('contract checker: pageserver answers', function () {
  const contract = OpenApiContract.load(path.join(CONTRACTS_DIR, 'pageserver-openapi.yml'), {
    undocumentedErrors: { statuses: [404, 503], schemaRef: '#/components/schemas/Error' },
  });
  const getTimeline = contract.match('GET', '/v1/tenant/t/timeline/' + 'ab'.repeat(16))!.operation;

  it('a TimelineInfo without last_record_lsn is a violation; error bodies need msg', () => {
    assert.match(contract.checkResponse(getTimeline, 200, { timeline_id: 'ab', tenant_id: 't' }).join('\n'), /required property 'last_record_lsn'/);
    assert.deepEqual(contract.checkResponse(getTimeline, 404, { msg: 'gone' }), []);
    assert.match(contract.checkResponse(getTimeline, 404, { message: 'gone' }).join('\n'), /required property 'msg'/);
    assert.deepEqual(contract.checkResponse(getTimeline, 418, { msg: 'teapot' }), ['status 418 is not documented for GET /v1/tenant/{tenant_id}/timeline/{timeline_id}']);
  });

  it('literal paths win over parameters', () => {
    assert.equal(contract.match('PUT', '/v1/tenant/config')?.operation.template, '/v1/tenant/config');
    assert.equal(contract.match('GET', '/v1/tenant/abc')?.operation.template, '/v1/tenant/{tenant_id}');
  });
});
