// The pageserver engine against the pageserver double: the conformance suite, branching on the wire, leases, repoint through the owner, prune.

import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { PageserverEngineConfig } from '../../../src/core/config';
import type { EngineContext, MomentInHistory, PointInHistory, PositionInHistory } from '../../../src/core/engine';
import { LockstepError, isLockstepError, type ErrorCode } from '../../../src/base/errors';
import { compareLsn } from '../../../src/base/lsn';
import { engineStateFile } from '../../../src/core/paths';
import { COMPUTE_PASSWORD_SECRET, PAGESERVER_TOKEN_SECRET, REPOINT_TOKEN_SECRET } from '../../../src/engines/pageserver/api';
import { PageserverEngine, type PageserverEngineOptions } from '../../../src/engines/pageserver/engine';
import { connectPageserver } from '../../../src/engines/pageserver/setup';
import { loadPageserverState } from '../../../src/engines/pageserver/state';
import { resolveTarget } from '../../../src/core/target';
import { CapturingLog } from '../../doubles/log';
import { projectWith } from '../../support/engineProject';
import { PageserverDouble, REPOINT_PATH, pageserverError, type PageserverDoubleOptions } from '../../doubles/pageserver';
import type { Fault } from '../../doubles/server';
import { sql } from '../../support/fingerprint';
import { startScratchPostgres, type ScratchPostgres } from '../../support/postgres';
import { defineEngineConformance, type ConformanceHarness, type FaultKind } from './suite';

const TOKEN = 'pageserver-jwt-3b1f9d7c5a2e4f6081c3e5a7b9d1f3a5';
const REPOINT_TOKEN = 'repoint-token-c0ffee11deadbeef2233445566778899';

const FAST: PageserverEngineOptions = {
  retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
  deletePollMs: 5,
  deleteTimeoutMs: 2_000,
  computeTimeoutMs: 10_000,
};

interface PageserverSetup extends ConformanceHarness {
  double: PageserverDouble;
  engine: PageserverEngine;
  config: PageserverEngineConfig;
  ctx: EngineContext;
  log: CapturingLog;
  mark(): Promise<PositionInHistory>;
}

const isGet = (r: { method: string }) => r.method === 'GET';
const isCreate = (r: { method: string; template: string | undefined }) => r.method === 'POST' && r.template === '/v1/tenant/{tenant_id}/timeline';
const isRepoint = (r: { path: string }) => r.path === REPOINT_PATH;

function pageserverFault(kind: FaultKind, times: number | 'always'): Fault {
  switch (kind) {
    case 'auth':
      return { kind: 'status', status: 401, body: pageserverError('malformed or missing authorization header'), times };
    case 'not-found':
      return { kind: 'status', status: 404, body: { message: 'no such compute' }, match: isRepoint, times };
    case 'busy':
      return { kind: 'status', status: 409, body: { message: 'the compute is being reconfigured' }, match: isRepoint, times };
    case 'rate-limited':
      // Documented for timeline creation: the same id is being created; back off and retry.
      return { kind: 'status', status: 429, body: pageserverError('creation already in progress'), retryAfterSeconds: 0, match: isCreate, times };
    case 'server-error':
      return { kind: 'status', status: 503, body: pageserverError('temporarily unavailable, please retry'), times };
    case 'network':
      return { kind: 'drop', match: isGet, times };
  }
}

async function makePageserverSetup(
  pg: ScratchPostgres,
  doubleOptions: PageserverDoubleOptions = {},
  secrets: Record<string, string> = {},
  engineOptions: PageserverEngineOptions = {},
): Promise<PageserverSetup> {
  const double = await PageserverDouble.start({ token: TOKEN, repointToken: REPOINT_TOKEN, ...doubleOptions });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-pageserver-'));
  const lockstepDir = path.join(dir, 'lockstep');
  fs.mkdirSync(lockstepDir);
  const log = new CapturingLog();
  const url = new URL(pg.url);
  const password = decodeURIComponent(url.password);
  url.password = '';
  const values: Record<string, string> = { [PAGESERVER_TOKEN_SECRET]: TOKEN, [REPOINT_TOKEN_SECRET]: REPOINT_TOKEN, [COMPUTE_PASSWORD_SECRET]: password, ...secrets };
  const ctx: EngineContext = { lockstepDir, log, secrets: { get: async (name) => values[name] } };
  const config: PageserverEngineConfig = {
    apiUrl: double.apiUrl,
    tenantId: double.tenantId,
    timelineId: double.rootTimelineId,
    repointUrl: double.repointUrl,
    connectionString: url.toString(),
  };
  const engine = new PageserverEngine(config, ctx, { ...FAST, ...engineOptions });
  const setup: PageserverSetup = {
    double,
    engine,
    config,
    ctx,
    log,
    async write(label) {
      double.write(label);
    },
    async readLabels() {
      return double.content();
    },
    async address() {
      const status = await engine.status();
      assert.equal(status.state, 'running', status.summary);
      return status.address!;
    },
    async expiredPoint() {
      double.write('expire-a');
      const m = await setup.mark();
      double.write('expire-b');
      double.gc(m.timelineId, (await engine.head()).lsn);
      return m;
    },
    unknownTimelineId: randomBytes(16).toString('hex'),
    injectFault(kind, times) {
      double.inject(pageserverFault(kind, times));
    },
    clearFaults() {
      double.clearFaults();
    },
    violations() {
      return double.violations.map((v) => `${v.request}: ${v.problem}`);
    },
    async mark() {
      const head = await engine.head();
      return { ...head, createdAt: new Date().toISOString() };
    },
    async close() {
      await engine.close();
      await double.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  return setup;
}

async function rejectsWith(work: Promise<unknown>, code: ErrorCode): Promise<LockstepError> {
  try {
    await work;
  } catch (error) {
    assert.ok(isLockstepError(error), `expected LockstepError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

async function restore(s: PageserverSetup, at: PointInHistory) {
  return s.engine.repoint(await s.engine.fork(at));
}

describe('pageserver engine (pageserver double, real Postgres as the compute)', function () {
  this.timeout(120_000);
  let pg: ScratchPostgres;

  before(async function () {
    pg = await startScratchPostgres();
    await sql(pg.url, 'CREATE TABLE IF NOT EXISTS conformance (id serial PRIMARY KEY, label text NOT NULL)');
  });

  after(async function () {
    await pg?.stop();
  });

  defineEngineConformance('pageserver', () => makePageserverSetup(pg), { faults: ['auth', 'not-found', 'busy', 'rate-limited', 'server-error', 'network'] });

  describe('pageserver: on the wire', function () {
    let s: PageserverSetup;
    beforeEach(async () => {
      s = await makePageserverSetup(pg);
    });
    afterEach(async function () {
      const violations = s.violations!();
      await s.close();
      if (this.currentTest?.state === 'passed') assert.deepEqual(violations, []);
    });

    it('a restore is: read the ancestor, branch it at the marker, confirm, one POST to the compute owner, read the new head', async () => {
      s.double.write('wire-a');
      const m = await s.mark();
      s.double.write('wire-b');
      const from = s.double.log.length;
      const head = await restore(s, m);
      const calls = s.double.log.slice(from);
      const t = `/v1/tenant/${s.double.tenantId}/timeline`;
      const created = calls.find(isCreate)!;
      const newId = (created.body as { new_timeline_id: string }).new_timeline_id;
      assert.deepEqual(
        calls.map((c) => `${c.method} ${c.path}`),
        [`GET ${t}/${m.timelineId}`, `POST ${t}`, `GET ${t}/${newId}`, `POST ${REPOINT_PATH}`, `GET ${t}/${newId}`],
      );
      assert.match(newId, /^[0-9a-f]{32}$/);
      assert.deepEqual(created.body, { new_timeline_id: newId, ancestor_timeline_id: m.timelineId, ancestor_start_lsn: m.lsn });
      assert.deepEqual(calls.find(isRepoint)!.body, { tenant_id: s.double.tenantId, timeline_id: newId });
      assert.deepEqual(s.double.repoints, [{ tenant_id: s.double.tenantId, timeline_id: newId }]);
      assert.equal(head.timelineId, newId);
      assert.equal(head.lsn, m.lsn, 'a fresh branch starts at its branch point');
      assert.deepEqual(s.double.content(), ['wire-a']);
      assert.equal(loadPageserverState(engineStateFile(s.ctx.lockstepDir, 'pageserver'), s.double.tenantId, s.double.rootTimelineId).serving, newId);
    });

    it('by time: a time-based checkpoint is found with get_lsn_by_timestamp, then branched at exactly that LSN', async () => {
      s.double.write('moment-a');
      await new Promise((r) => setTimeout(r, 10));
      const moment: MomentInHistory = { timelineId: s.double.serving, lsn: null, createdAt: new Date().toISOString() };
      await new Promise((r) => setTimeout(r, 10));
      const after = s.double.write('moment-b');
      const from = s.double.log.length;
      const handle = await s.engine.fork(moment);
      const calls = s.double.log.slice(from);
      const lookup = calls.find((c) => c.method === 'GET' && c.path.includes('/get_lsn_by_timestamp'));
      assert.ok(lookup, 'the moment is looked up on the pageserver');
      assert.equal(lookup.path, `/v1/tenant/${s.double.tenantId}/timeline/${moment.timelineId}/get_lsn_by_timestamp`);
      assert.deepEqual(lookup.query, { timestamp: moment.createdAt });
      const answer = lookup.response as { kind: string; lsn: string };
      assert.equal(answer.kind, 'present');
      assert.ok(compareLsn(answer.lsn, after) < 0, `the LSN found (${answer.lsn}) lies before the write after the moment (${after})`);
      const created = calls.find(isCreate)!;
      assert.equal((created.body as { ancestor_start_lsn: string }).ancestor_start_lsn, answer.lsn, 'branched at the LSN the pageserver found');
      assert.deepEqual(handle.at, { timelineId: moment.timelineId, lsn: answer.lsn }, 'the handle says where the moment was found');
      await s.engine.repoint(handle);
      assert.deepEqual(s.double.content(), ['moment-a']);
    });

    it('restore --at: a time is looked up with get_lsn_by_timestamp then branched there; an LSN is branched at directly (resolveTarget → fork)', async () => {
      const project = projectWith(s.engine, 'pageserver');
      s.double.write('at-a');
      await new Promise((r) => setTimeout(r, 10));
      const time = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 10));
      const afterTime = s.double.write('at-b');
      const lsn = (await s.engine.head()).lsn;
      s.double.write('at-c');

      const byTime = await resolveTarget(project, { at: time });
      assert.deepEqual(byTime.point, { timelineId: s.double.serving, lsn: null, createdAt: time });
      let from = s.double.log.length;
      const handle = await s.engine.fork(byTime.point);
      let calls = s.double.log.slice(from);
      const lookup = calls.find((c) => c.method === 'GET' && c.path.includes('/get_lsn_by_timestamp'));
      assert.ok(lookup, 'the time is looked up on the pageserver');
      assert.equal(lookup.path, `/v1/tenant/${s.double.tenantId}/timeline/${byTime.point.timelineId}/get_lsn_by_timestamp`);
      assert.deepEqual(lookup.query, { timestamp: time });
      const found = (lookup.response as { lsn: string }).lsn;
      assert.ok(compareLsn(found, afterTime) < 0);
      const created = calls.filter(isCreate);
      assert.equal(created.length, 1);
      assert.ok(calls.indexOf(lookup) < calls.indexOf(created[0]!), 'looked up, then branched');
      assert.equal((created[0]!.body as { ancestor_timeline_id: string }).ancestor_timeline_id, byTime.point.timelineId);
      assert.equal((created[0]!.body as { ancestor_start_lsn: string }).ancestor_start_lsn, found);
      await s.engine.discard(handle);

      const byLsn = await resolveTarget(project, { at: lsn });
      assert.deepEqual({ timelineId: byLsn.point.timelineId, lsn: byLsn.point.lsn }, { timelineId: s.double.serving, lsn });
      from = s.double.log.length;
      await s.engine.repoint(await s.engine.fork(byLsn.point));
      calls = s.double.log.slice(from);
      assert.equal(calls.filter((c) => c.path.includes('/get_lsn_by_timestamp')).length, 0, 'no lookup for an LSN');
      assert.equal((calls.find(isCreate)!.body as { ancestor_start_lsn: string }).ancestor_start_lsn, lsn);
      assert.deepEqual(s.double.content(), ['at-a', 'at-b']);
    });

    it('by time: a timeline with no commit time at all (nodata) is an honest verdict, and nothing is branched', async () => {
      const moment: MomentInHistory = { timelineId: s.double.serving, lsn: null, createdAt: new Date().toISOString() };
      const verdict = await s.engine.restorability(moment);
      assert.equal(!verdict.restorable && verdict.reason, 'unknown-timeline');
      assert.match(!verdict.restorable ? verdict.message : '', /nodata/);
      const from = s.double.log.length;
      const error = await rejectsWith(s.engine.fork(moment), 'TIMELINE_UNKNOWN');
      assert.match(error.message, /by time/);
      assert.equal(s.double.log.slice(from).filter(isCreate).length, 0, 'no timeline was created');
    });

    it('by time: prune leases the LSN a kept time-based checkpoint resolves to', async () => {
      s.double.write('lease-a');
      await new Promise((r) => setTimeout(r, 10));
      const moment: MomentInHistory = { timelineId: s.double.serving, lsn: null, createdAt: new Date().toISOString() };
      await new Promise((r) => setTimeout(r, 10));
      s.double.write('lease-b');
      await s.engine.prune([moment]);
      const found = s.double.timestampLookups.at(-1)!;
      assert.equal(found.kind, 'present');
      assert.deepEqual(s.double.leasesOn(moment.timelineId), [found.lsn], 'the lease holds the moment\'s LSN');
      // GC up to the head stops at the lease: the moment stays restorable.
      s.double.gc(moment.timelineId, (await s.engine.head()).lsn);
      assert.deepEqual(await s.engine.restorability(moment), { restorable: true });
    });

    it('sends the pageserver token to the pageserver and the repoint token to the compute owner, never crossed', async () => {
      s.double.write('tokens-a');
      await restore(s, await s.mark());
      const exchanges = s.double.server.log;
      assert.ok(exchanges.length > 3);
      // The double checks the tokens: a wrong or missing one would have been a 401 and a failed restore.
      const refused = await makePageserverSetup(pg, {}, { [PAGESERVER_TOKEN_SECRET]: 'not-the-token' });
      try {
        const error = await rejectsWith(refused.engine.head(), 'AUTH');
        assert.match(error.hint ?? '', /pageserver\.token/);
        assert.ok(!`${error.message} ${error.hint}`.includes('not-the-token'));
      } finally {
        await refused.close();
      }
      const wrongOwner = await makePageserverSetup(pg, {}, { [REPOINT_TOKEN_SECRET]: TOKEN });
      try {
        wrongOwner.double.write('tokens-b');
        const error = await rejectsWith(restore(wrongOwner, await wrongOwner.mark()), 'AUTH');
        assert.match(error.message, /compute configuration endpoint/);
        assert.equal(wrongOwner.double.serving, wrongOwner.double.rootTimelineId, 'the compute still serves the old timeline');
        assert.equal((await wrongOwner.engine.head()).timelineId, wrongOwner.double.rootTimelineId);
      } finally {
        await wrongOwner.close();
      }
      for (const line of s.log.lines) assert.ok(!line.includes(TOKEN) && !line.includes(REPOINT_TOKEN), `a token in the log: ${line}`);
    });

    it('a repoint whose request was lost says the compute may serve either timeline', async () => {
      s.double.write('lost-a');
      const m = await s.mark();
      s.double.inject({ kind: 'drop', match: isRepoint, times: 'always' });
      const error = await rejectsWith(restore(s, m), 'NETWORK');
      assert.match(error.message, /may serve either timeline/);
      assert.equal(s.double.server.log.filter(isRepoint).length, 3, 'repointing is idempotent, so it was retried within the bound');
    });

    it('a kept checkpoint\'s lease keeps it restorable once GC passed it; unkept ones expire', async () => {
      s.double.write('lease-a');
      const unkept = await s.mark();
      s.double.write('lease-b');
      const kept = await s.mark();
      s.double.write('lease-c');
      const report = await s.engine.prune([kept]);
      assert.deepEqual(report.removed, []);
      assert.deepEqual(s.double.leasesOn(kept.timelineId), [kept.lsn]);
      const lease = s.double.log.find((c) => c.template?.endsWith('/lsn_lease'))!;
      assert.deepEqual(lease.body, { lsn: kept.lsn });
      s.double.gc(kept.timelineId, (await s.engine.head()).lsn);
      assert.deepEqual(await s.engine.restorability(kept), { restorable: true });
      const verdict = await s.engine.restorability(unkept);
      assert.equal(!verdict.restorable && verdict.reason, 'expired');
      await restore(s, kept);
      assert.deepEqual(s.double.content(), ['lease-a', 'lease-b']);
      const state = loadPageserverState(engineStateFile(s.ctx.lockstepDir, 'pageserver'), s.double.tenantId, s.double.rootTimelineId);
      assert.equal(state.leases.length, 1);
      assert.ok(Date.parse(state.leases[0]!.validUntil) > Date.now());
    });

    it('a pageserver without leases is asked once, then not again', async () => {
      const plain = await makePageserverSetup(pg, { leasesOffered: false });
      try {
        plain.double.write('nolease-a');
        const m = await plain.mark();
        assert.deepEqual(await plain.engine.protect([m]), { leased: 0 });
        assert.deepEqual(await plain.engine.protect([m]), { leased: 0 });
        assert.equal(plain.double.log.filter((c) => c.template?.endsWith('/lsn_lease')).length, 1);
        assert.equal(loadPageserverState(engineStateFile(plain.ctx.lockstepDir, 'pageserver'), plain.double.tenantId, plain.double.rootTimelineId).leasesUnsupported, true);
        assert.deepEqual(plain.violations!(), []);
      } finally {
        await plain.close();
      }
    });

    it('prune deletes the forks no kept checkpoint needs, keeping the serving one and every ancestor', async () => {
      s.double.write('prune-a');
      const m1 = await s.mark();
      s.double.write('prune-b');
      const m2 = await s.mark();
      await restore(s, m1); // T1, child of root at m1
      const t1 = s.double.serving;
      s.double.write('prune-c');
      const m3 = await s.mark(); // on T1
      await restore(s, m2); // T2, child of root: T1 is abandoned
      const t2 = s.double.serving;
      await restore(s, m3); // T3, child of T1: T1 is an ancestor again
      const t3 = s.double.serving;
      await restore(s, m2); // T4, serving; T2 and T3 abandoned
      const t4 = s.double.serving;
      const report = await s.engine.prune([m2]);
      const live = s.double.timelineIds();
      assert.ok(live.includes(s.double.rootTimelineId) && live.includes(t4), 'root and the serving timeline stay');
      assert.ok(!live.includes(t2) && !live.includes(t3), 'abandoned forks no kept checkpoint needs are gone');
      assert.ok(!live.includes(t1), 'T1 held only m3, which is not kept, once T3 was gone');
      assert.equal(report.removed.length, 3, report.removed.join('\n'));
      const deletes = s.double.log.filter((c) => c.method === 'DELETE');
      assert.ok(deletes.every((c) => c.status === 404 || c.status === 409 || c.status === 412), 'deletion polled until gone');
      assert.deepEqual(await s.engine.restorability(m2), { restorable: true });
    });

    it('a listing judges many checkpoints with one call for all timelines', async () => {
      s.double.write('many-a');
      const old = await s.mark();
      s.double.write('many-b');
      const fresh = await s.mark();
      s.double.gc(fresh.timelineId, fresh.lsn);
      const from = s.double.log.length;
      const verdicts = await s.engine.restorableMany([
        fresh,
        old,
        { ...fresh, timelineId: randomBytes(16).toString('hex') },
        { ...fresh, lsn: 'FF/0' },
      ]);
      assert.deepEqual(
        verdicts.map((v) => (v.restorable ? 'restorable' : v.reason)),
        ['restorable', 'expired', 'unknown-timeline', 'beyond-head'],
      );
      assert.deepEqual(s.double.log.slice(from).map((c) => `${c.method} ${c.template}`), ['GET /v1/tenant/{tenant_id}/timeline']);
      const url = new URL(await s.engine.connectionUrl());
      assert.equal(decodeURIComponent(url.password), decodeURIComponent(new URL(pg.url).password), 'the password comes from the secret store');
    });

    it('discard removes an unused fork; the serving timeline cannot be discarded', async () => {
      s.double.write('discard-a');
      const handle = await s.engine.fork(await s.mark());
      assert.ok(s.double.timelineIds().includes(handle.timelineId));
      await s.engine.discard(handle);
      assert.ok(!s.double.timelineIds().includes(handle.timelineId));
      await rejectsWith(s.engine.discard({ ...handle, timelineId: s.double.serving }), 'BAD_INPUT');
      await s.engine.discard(await s.engine.serving());
      assert.ok(s.double.timelineIds().includes(s.double.serving));
    });

    it('retention follows the serving timeline back through its ancestors', async () => {
      s.double.write('ret-a');
      const m = await s.mark();
      s.double.write('ret-b');
      await restore(s, m);
      const retention = await s.engine.retention();
      assert.equal(retention.oldest?.timelineId, s.double.rootTimelineId, 'the fork reads older history from its ancestor');
      assert.equal(retention.oldest?.lsn, '0/1000000');
      // Once GC passes the branch point on the ancestor, the fork's own history is all there is.
      s.double.gc(s.double.rootTimelineId, 'FFFFFFFF/0');
      const after = await s.engine.retention();
      assert.deepEqual(after.oldest, { timelineId: s.double.serving, lsn: m.lsn });
      assert.match(after.summary, new RegExp(`forks reach back to ${m.lsn.replace('/', '\\/')} on timeline ${s.double.serving}`));
    });

    it('describe reads the compute (password from the secret store) and refuses a past position', async () => {
      const schema = await s.engine.describe();
      const table = schema.tables.find((t) => t.name === 'conformance');
      assert.ok(table);
      assert.deepEqual(table.columns.map((c) => c.name), ['id', 'label']);
      await rejectsWith(s.engine.describe(await s.mark()), 'BAD_INPUT');
      const bare = new PageserverEngine({ ...s.config, connectionString: undefined }, s.ctx, FAST);
      await rejectsWith(bare.describe(), 'CONFIG');
      await bare.close();
    });

    it('connectPageserver checks the timeline and keeps passwords out of the configuration', async () => {
      const choice = { apiUrl: s.double.apiUrl, tenantId: s.double.tenantId, timelineId: s.double.rootTimelineId, repointUrl: s.double.repointUrl };
      assert.deepEqual(await connectPageserver(choice, s.ctx), choice);
      await rejectsWith(connectPageserver({ ...choice, timelineId: randomBytes(16).toString('hex') }, s.ctx), 'NOT_FOUND');
      await rejectsWith(connectPageserver({ ...choice, connectionString: 'postgresql://app:hunter2@db/app' }, s.ctx), 'BAD_INPUT');
      await rejectsWith(connectPageserver({ ...choice, repointUrl: 'ftp://x' }, s.ctx), 'BAD_INPUT');
      await rejectsWith(connectPageserver({ ...choice, timelineId: 'main' }, s.ctx), 'BAD_INPUT');
    });
  });

  describe('pageserver: leases below the GC cutoff, and pins', function () {
    const LEASE_MS = 10 * 60_000;
    let s: PageserverSetup;
    /** One clock for the double and the engine, which the tests move: a lease lapses without waiting for it. */
    let skew: number;
    const now = () => Date.now() + skew;
    const state = () => loadPageserverState(engineStateFile(s.ctx.lockstepDir, 'pageserver'), s.double.tenantId, s.double.rootTimelineId);
    const leaseCalls = (from: number) => s.double.log.slice(from).filter((c) => c.template?.endsWith('/lsn_lease'));
    const creates = (from: number) => s.double.log.slice(from).filter(isCreate);

    beforeEach(async () => {
      skew = 0;
      s = await makePageserverSetup(pg, { leaseLengthMs: LEASE_MS, now }, {}, { now });
    });
    afterEach(async function () {
      const violations = s.violations!();
      await s.close();
      if (this.currentTest?.state === 'passed') assert.deepEqual(violations, []);
    });

    it('with a valid lease: listed restorable, restored through a timeline create at its LSN, renewed by prune; without one: expired, nothing branched', async () => {
      s.double.write('below-a');
      const leased = await s.mark();
      s.double.write('below-b');
      const unleased = await s.mark();
      await s.engine.prune([leased]);
      s.double.write('below-c');
      const head = (await s.engine.head()).lsn;
      assert.equal(s.double.gc(leased.timelineId, head), head, 'GC moved the cutoff past both, the lease notwithstanding');

      const verdicts = await s.engine.restorableMany([leased, unleased]);
      assert.deepEqual(verdicts[0], { restorable: true }, 'the lease keeps it restorable below min_readable_lsn');
      assert.equal(!verdicts[1]!.restorable && verdicts[1]!.reason, 'expired');
      assert.deepEqual(await s.engine.restorability(leased), { restorable: true });
      const verdict = await s.engine.restorability(unleased);
      assert.equal(!verdict.restorable && verdict.reason, 'expired');
      assert.match(!verdict.restorable ? verdict.message : '', /below what timeline .* still keeps/);

      let from = s.double.log.length;
      await rejectsWith(s.engine.fork(unleased), 'EXPIRED');
      assert.deepEqual(creates(from), [], 'no timeline create for a point GC took');

      from = s.double.log.length;
      const restored = await restore(s, leased);
      const created = creates(from);
      assert.equal(created.length, 1, 'the restore sent the timeline create');
      assert.deepEqual(created[0]!.body, { new_timeline_id: restored.timelineId, ancestor_timeline_id: leased.timelineId, ancestor_start_lsn: leased.lsn });
      assert.equal(created[0]!.status, 201);
      const renewedFirst = leaseCalls(from);
      assert.equal(renewedFirst.length, 1, 'the lease was renewed before branching below the cutoff');
      assert.ok(s.double.log.indexOf(renewedFirst[0]!) < s.double.log.indexOf(created[0]!));
      assert.deepEqual(s.double.content(), ['below-a']);

      // Six minutes on: prune renews the lease below the cutoff (a valid lease is always renewed).
      const endBefore = s.double.leaseEnd(leased.timelineId, leased.lsn)!;
      skew += 6 * 60_000;
      from = s.double.log.length;
      await s.engine.prune([leased]);
      const renewed = leaseCalls(from);
      assert.deepEqual(renewed.map((c) => [c.body, c.status]), [[{ lsn: leased.lsn }, 200]]);
      const validUntil = (renewed[0]!.response as { valid_until: string }).valid_until;
      assert.equal(s.double.leaseEnd(leased.timelineId, leased.lsn), Date.parse(validUntil));
      assert.ok(Date.parse(validUntil) >= endBefore + 6 * 60_000, 'extended by the six minutes that passed');
      const record = state().leases.find((l) => l.lsn === leased.lsn)!;
      assert.equal(record.validUntil, validUntil, 'the state holds the new end');
      assert.ok(Date.parse(record.validUntil) > now() + LEASE_MS / 2);
    });

    it('a lapsed lease: expired and said so, not branched, not revived by prune; status warns', async () => {
      s.double.write('lapse-a');
      const m = await s.mark();
      await s.engine.prune([m]);
      s.double.write('lapse-b');
      s.double.gc(m.timelineId, (await s.engine.head()).lsn);
      assert.deepEqual(await s.engine.restorability(m), { restorable: true });

      skew += LEASE_MS + 1_000;
      const verdict = await s.engine.restorability(m);
      assert.equal(!verdict.restorable && verdict.reason, 'expired');
      assert.match(!verdict.restorable ? verdict.message : '', /its LSN lease lapsed at /);
      assert.match(!verdict.restorable ? (verdict.hint ?? '') : '', /lsn_lease_length/);
      const [listed] = await s.engine.restorableMany([m]);
      assert.equal(!listed!.restorable && listed!.reason, 'expired');
      let from = s.double.log.length;
      await rejectsWith(s.engine.fork(m), 'EXPIRED');
      assert.deepEqual(creates(from), []);

      from = s.double.log.length;
      const report = await s.engine.prune([m]);
      assert.deepEqual(report.removed, []);
      assert.deepEqual(leaseCalls(from), [], 'no new lease is asked for below the cutoff');
      assert.equal(state().leases.length, 1, 'the lapsed lease is remembered, so the listing can say why');
      assert.equal(state().leases[0]!.lost, true);
      assert.equal(s.engine.maintenanceDue(await s.engine.head()), false, 'lost: the upkeep does not ask again');
      const status = await s.engine.status();
      assert.match((status.warnings ?? []).join('\n'), /1 kept checkpoint lease\(s\) lapsed/);
    });

    it('the pageserver no longer has a lease our record calls valid: prune says it lapsed instead of failing', async () => {
      s.double.write('gone-a');
      const m = await s.mark();
      await s.engine.prune([m]);
      s.double.write('gone-b');
      // The pageserver's clock runs ahead of ours: its lease lapsed and GC dropped it, our record still says valid.
      const ours = skew;
      skew += LEASE_MS + 1_000;
      s.double.gc(m.timelineId, s.double.write('gone-c'));
      skew = ours;
      const engineNow = now();
      const engineOnly = new PageserverEngine(s.config, s.ctx, { ...FAST, now: () => engineNow });
      try {
        const from = s.double.log.length;
        await engineOnly.prune([m]);
        assert.deepEqual(leaseCalls(from).map((c) => c.status), [500], 'asked once: the refusal is not retried');
        const record = state().leases.find((l) => l.lsn === m.lsn)!;
        assert.ok(Date.parse(record.validUntil) <= engineNow, 'recorded as lapsed');
        const verdict = await engineOnly.restorability(m);
        assert.equal(!verdict.restorable && verdict.reason, 'expired');
      } finally {
        await engineOnly.close();
      }
    });

    it('the upkeep renews leases once half their length has passed, and says whether it is due without a call', async () => {
      s.double.write('upkeep-a');
      const m = await s.mark();
      await s.engine.prune([m]);
      const head = await s.engine.head();
      let from = s.double.log.length;
      assert.equal(s.engine.maintenanceDue(head), false);
      assert.equal(await s.engine.maintain(), undefined, 'not due: nothing done');
      assert.equal(s.double.log.length, from, 'deciding costs no call');

      skew += LEASE_MS / 2 + 1_000;
      assert.equal(s.engine.maintenanceDue(head), true);
      from = s.double.log.length;
      const done = await s.engine.maintain();
      assert.match(done ?? '', /renewed 1 LSN lease\(s\)/);
      assert.deepEqual(leaseCalls(from).map((c) => c.body), [{ lsn: m.lsn }]);
      assert.equal(s.engine.maintenanceDue(head), false, 'renewed: not due again');
      assert.equal(Date.parse(state().leases[0]!.validUntil), s.double.leaseEnd(m.timelineId, m.lsn));

      skew += LEASE_MS - 60_000;
      const status = await s.engine.status();
      assert.match((status.warnings ?? []).join('\n'), /1 LSN lease\(s\) end soon \(the first in 1 min/);

      // Lockstep did not run for longer than the lease, but GC has not passed the checkpoint: the next upkeep takes it again.
      skew += 2 * 60_000;
      assert.deepEqual(s.double.leasesOn(m.timelineId), [], 'lapsed on the pageserver too');
      assert.equal(s.engine.maintenanceDue(head), true);
      from = s.double.log.length;
      assert.match((await s.engine.maintain()) ?? '', /renewed 1 LSN lease\(s\)/);
      assert.deepEqual(leaseCalls(from).map((c) => c.status), [200]);
      assert.deepEqual(s.double.leasesOn(m.timelineId), [m.lsn]);
      assert.equal(s.engine.maintenanceDue(head), false);
    });

    it('a pin is a lease taken now and renewed even when prune is not told to keep it; unpinned, it is no longer renewed', async () => {
      s.double.write('pin-a');
      const m = await s.mark();
      s.double.write('pin-b');
      const from = s.double.log.length;
      const hold = await s.engine.pin(m, { checkpointId: 'c0ffee000001', name: 'lockstep c0ffee000001: pin-a' });
      assert.deepEqual(leaseCalls(from).map((c) => c.body), [{ lsn: m.lsn }], 'the lease is taken at once');
      assert.deepEqual(hold.ref, { timelineId: m.timelineId, lsn: m.lsn, checkpointId: 'c0ffee000001' });
      assert.match(hold.summary, new RegExp(`an LSN lease on timeline ${m.timelineId} at ${m.lsn.replace('/', '\\/')}, valid until `));
      assert.match(hold.summary, /lapses if Lockstep does not run for 10 min: raise the tenant's lsn_lease_length/);
      assert.deepEqual(state().pins?.map((p) => p.checkpointId), ['c0ffee000001']);

      s.double.gc(m.timelineId, (await s.engine.head()).lsn);
      assert.deepEqual(await s.engine.restorability(m), { restorable: true });

      skew += 6 * 60_000;
      let calls = s.double.log.length;
      await s.engine.prune([]);
      assert.deepEqual(leaseCalls(calls).map((c) => [c.body, c.status]), [[{ lsn: m.lsn }, 200]], 'prune renews the pin though it keeps nothing else');
      assert.equal(s.double.leaseEnd(m.timelineId, m.lsn), Date.parse(state().leases[0]!.validUntil));

      await s.engine.unpin(hold);
      await s.engine.unpin(hold); // idempotent
      assert.deepEqual(state().pins, []);
      calls = s.double.log.length;
      await s.engine.prune([]);
      assert.deepEqual(leaseCalls(calls), [], 'unpinned and not kept: not renewed');
      assert.deepEqual(state().leases, []);
      skew += LEASE_MS + 1_000;
      const verdict = await s.engine.restorability(m);
      assert.equal(!verdict.restorable && verdict.reason, 'expired', 'the pageserver let the lease lapse; GC had passed it');
    });

    it('a pinned time-based checkpoint below the cutoff is branched at its leased LSN (the lookup by time answers past)', async () => {
      s.double.write('pin-moment-a');
      await new Promise((r) => setTimeout(r, 10));
      const moment: MomentInHistory = { timelineId: s.double.serving, lsn: null, createdAt: new Date().toISOString() };
      await new Promise((r) => setTimeout(r, 10));
      s.double.write('pin-moment-b');
      const hold = await s.engine.pin(moment, { checkpointId: 'c0ffee000002', name: 'by time' });
      const leasedLsn = String(hold.ref.lsn);
      s.double.gc(moment.timelineId, (await s.engine.head()).lsn);
      assert.deepEqual(await s.engine.restorability(moment), { restorable: true });
      const from = s.double.log.length;
      await restore(s, moment);
      const lookup = s.double.log.slice(from).find((c) => c.path.includes('/get_lsn_by_timestamp'));
      assert.equal((lookup?.response as { kind?: string } | undefined)?.kind, 'past', 'GC passed the moment: the pageserver cannot find it by time');
      assert.equal((creates(from)[0]!.body as { ancestor_start_lsn: string }).ancestor_start_lsn, leasedLsn);
      assert.deepEqual(s.double.content(), ['pin-moment-a']);
      assert.deepEqual(await s.engine.restorableMany([moment]), [{ restorable: true }], 'a listing judges the moment by its lease too');
      await s.engine.unpin(hold);
      skew += LEASE_MS + 1_000;
      const [listed] = await s.engine.restorableMany([moment]);
      assert.equal(!listed!.restorable && listed!.reason, 'expired', 'lapsed: the listing says so, not only the restore');
    });

    it('pinning on a pageserver without leases is refused and records nothing', async () => {
      const plain = await makePageserverSetup(pg, { leasesOffered: false });
      try {
        plain.double.write('nolease-pin');
        const m = await plain.mark();
        const error = await rejectsWith(plain.engine.pin(m, { checkpointId: 'c0ffee000003', name: 'x' }), 'BAD_INPUT');
        assert.match(error.message, /offers no LSN leases/);
        const after = loadPageserverState(engineStateFile(plain.ctx.lockstepDir, 'pageserver'), plain.double.tenantId, plain.double.rootTimelineId);
        assert.deepEqual(after.pins ?? [], []);
        assert.deepEqual(after.leases, []);
      } finally {
        await plain.close();
      }
    });
  });
});
