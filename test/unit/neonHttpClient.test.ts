// The HTTP client under the Neon engine, against the Neon double: which failures are retried, within what bound, and what a person is told.

import * as assert from 'node:assert/strict';
import { isLockstepError, type ErrorCode } from '../../src/base/errors';
import { RemoteCallError } from '../../src/core/http';
import { NeonApi } from '../../src/engines/neon/api';
import { CapturingLog } from '../doubles/log';
import { NeonDouble, neonError } from '../doubles/neon';

const KEY = 'neon_http_key_abcdef0123456789';

async function failsWith(work: Promise<unknown>, code: ErrorCode) {
  try {
    await work;
  } catch (error) {
    assert.ok(isLockstepError(error), String(error));
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

describe('Neon API client: retries and errors', function () {
  let double: NeonDouble;
  let api: NeonApi;
  const log = new CapturingLog();
  const restoreBody = () => ({ source_branch_id: double.mainBranchId, source_lsn: '0/1', preserve_under_name: `x-${Math.random().toString(16).slice(2)}` });

  beforeEach(async () => {
    double = await NeonDouble.start({ apiKey: KEY, connectionUri: 'postgresql://u:p@127.0.0.1:1/neondb', readComputeLsn: async () => '0/5000000' });
    api = new NeonApi(double.apiUrl, double.projectId, async () => KEY, log, { retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 300 } });
  });
  afterEach(async () => {
    await api.close();
    await double.stop();
    assert.deepEqual(double.violations, []);
  });

  const requests = (method: string) => double.log.filter((c) => c.method === method).length;

  it('a read that keeps failing with 500 is tried three times, then REMOTE', async () => {
    double.inject({ kind: 'status', status: 500, body: neonError(500, 'boom'), times: 'always' });
    const error = await failsWith(api.getProject(), 'REMOTE');
    assert.equal(requests('GET'), 3);
    assert.match(error.message, /failed \(HTTP 500\): boom/);
  });

  it('a restore answered 500 is not sent again: Neon may have acted on it', async () => {
    double.inject({ kind: 'status', status: 500, body: neonError(500, 'boom'), times: 'always' });
    const error = await failsWith(api.restoreBranch(double.mainBranchId, restoreBody()), 'REMOTE');
    assert.equal(requests('POST'), 1);
    assert.ok(error instanceof RemoteCallError && error.mayHaveActed);
    assert.match(error.hint ?? '', /not known whether Neon acted/);
  });

  it('a restore answered 503 was refused before any work, so it is retried', async () => {
    double.inject({ kind: 'status', status: 503, body: neonError(503, 'unavailable'), times: 1 });
    const result = await api.restoreBranch(double.mainBranchId, restoreBody());
    assert.equal(result.operations.length, 2);
    assert.equal(requests('POST'), 2);
  });

  it('a dropped restore is not resent and may have acted; a dropped read is retried', async () => {
    double.inject({ kind: 'drop', match: (r) => r.method === 'POST', times: 'always' });
    const error = await failsWith(api.restoreBranch(double.mainBranchId, restoreBody()), 'NETWORK');
    assert.ok(error instanceof RemoteCallError && error.mayHaveActed);
    assert.equal(requests('POST'), 1);
    double.clearFaults();
    double.inject({ kind: 'drop', match: (r) => r.method === 'GET', times: 2 });
    assert.equal((await api.getProject()).id, double.projectId);
  });

  it('Retry-After is honoured, within the bound', async () => {
    double.inject({ kind: 'status', status: 429, body: neonError(429, 'slow down'), retryAfterSeconds: 30, times: 1 });
    const started = Date.now();
    await api.getProject();
    const waited = Date.now() - started;
    assert.ok(waited >= 280, `waited ${waited} ms; Retry-After asks for more than the 300 ms bound`);
    assert.ok(waited < 5_000, `waited ${waited} ms; the bound is 300 ms`);
  });

  it('a 409 or 423 is retried as busy, then CONFLICT', async () => {
    double.inject({ kind: 'status', status: 409, body: neonError(409, 'conflict'), times: 'always' });
    const error = await failsWith(api.getBranch(double.mainBranchId), 'CONFLICT');
    assert.equal(requests('GET'), 3);
    assert.match(error.hint ?? '', /Wait for the running operation/);
  });

  it('cancelling during a backoff stops at once with CANCELLED', async () => {
    double.inject({ kind: 'status', status: 503, body: neonError(503, 'unavailable'), times: 'always' });
    const slow = new NeonApi(double.apiUrl, double.projectId, async () => KEY, log, { retry: { attempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000 } });
    const controller = new AbortController();
    const pending = slow.getProject({ signal: controller.signal });
    while (requests('GET') < 1) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    controller.abort();
    await failsWith(pending, 'CANCELLED');
    assert.ok(Date.now() - started < 1_000);
    await slow.close();
  });

  it('an unreachable API is NETWORK, naming the address and not the key', async () => {
    const nowhere = new NeonApi('http://127.0.0.1:9/api/v2', 'p-1', async () => KEY, log, { retry: { attempts: 2, baseDelayMs: 1 } });
    const error = await failsWith(nowhere.getProject(), 'NETWORK');
    await nowhere.close();
    assert.match(error.message, /could not reach Neon at http:\/\/127\.0\.0\.1:9 \(.*ECONNREFUSED/);
    assert.ok(!error.message.includes(KEY));
    for (const line of log.lines) assert.ok(!line.includes(KEY), line);
  });
});
