// The Neon engine against the Neon double (head over a real Postgres): the conformance suite, the restore-and-poll wire sequence, pins as snapshots, secrets.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EngineContext, MomentInHistory, PointInHistory } from '../../../src/core/engine';
import { LockstepError, isLockstepError, type ErrorCode } from '../../../src/base/errors';
import { isLsn } from '../../../src/base/lsn';
import { engineStateFile } from '../../../src/core/paths';
import { NEON_API_KEY_SECRET, NeonApi } from '../../../src/engines/neon/api';
import { DEFAULT_POLL, waitForOperations } from '../../../src/engines/neon/operations';
import { NeonEngine, type NeonEngineOptions } from '../../../src/engines/neon/engine';
import { loadNeonState } from '../../../src/engines/neon/history';
import { connectNeonProject } from '../../../src/engines/neon/setup';
import { resolveTarget } from '../../../src/core/target';
import { CapturingLog } from '../../doubles/log';
import { projectWith } from '../../support/engineProject';
import { FAILS_FOREVER, FAILS_THEN_FINISHES, FINISHES, IS_CANCELLED, NEVER_ENDS, NeonDouble, neonError, type OperationScript } from '../../doubles/neon';
import type { Fault } from '../../doubles/server';
import { sql } from '../../support/fingerprint';
import { startScratchPostgres, type ScratchPostgres } from '../../support/postgres';
import { defineEngineConformance, type ConformanceHarness, type FaultKind } from './suite';

const API_KEY = 'neon_test_key_7f3c9a1e5b2d4f60a8c1e3b5d7f9a2c4';

const FAST: NeonEngineOptions = {
  retry: { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 },
  poll: { initialDelayMs: 5, maxDelayMs: 20, timeoutMs: 5_000, failedGraceMs: 100 },
  computeTimeoutMs: 10_000,
  env: {},
};

interface NeonSetup extends ConformanceHarness {
  double: NeonDouble;
  engine: NeonEngine;
  ctx: EngineContext;
  log: CapturingLog;
  dir: string;
  mark(): Promise<PointInHistory>;
}

const restoreCall = (r: { method: string; template: string | undefined }) => r.method === 'POST' && (r.template?.endsWith('/restore') ?? false);
const operationCall = (r: { method: string; template: string | undefined }) => r.method === 'GET' && (r.template?.includes('/operations/') ?? false);

/** Where each fault goes: on the restore request, except a dropped connection that must be retried (a poll). */
function neonFault(kind: FaultKind, times: number | 'always'): Fault {
  const onRestore = { match: restoreCall, times };
  switch (kind) {
    case 'auth':
      return { kind: 'status', status: 401, body: neonError(401, 'invalid API key'), ...onRestore };
    case 'not-found':
      return { kind: 'status', status: 404, body: neonError(404, 'branch not found'), ...onRestore };
    case 'busy':
      return { kind: 'status', status: 423, body: neonError(423, 'project already has running conflicting operations'), ...onRestore };
    case 'rate-limited':
      return { kind: 'status', status: 429, body: neonError(429, 'too many requests'), retryAfterSeconds: 0, ...onRestore };
    case 'server-error':
      return { kind: 'status', status: 503, body: neonError(503, 'service unavailable'), ...onRestore };
    case 'network':
      // A restore whose connection dropped may have happened, so it is never resent; polls are.
      return times === 'always' ? { kind: 'drop', ...onRestore } : { kind: 'drop', match: operationCall, times };
  }
}

async function makeNeonSetup(pg: ScratchPostgres, options: NeonEngineOptions = FAST, configExtra: { keepPreservedBranches?: number } = {}): Promise<NeonSetup> {
  const readComputeLsn = async () => String((await sql(pg.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn);
  const double = await NeonDouble.start({ apiKey: API_KEY, connectionUri: pg.url, readComputeLsn });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-neon-'));
  const lockstepDir = path.join(dir, 'lockstep');
  fs.mkdirSync(lockstepDir);
  const log = new CapturingLog();
  const ctx: EngineContext = { lockstepDir, log, secrets: { get: async (name) => (name === NEON_API_KEY_SECRET ? API_KEY : undefined) } };
  const engine = new NeonEngine(
    { projectId: double.projectId, branchId: double.mainBranchId, databaseName: double.databaseName, roleName: double.roleName, apiUrl: double.apiUrl, ...configExtra },
    ctx,
    options,
  );
  // Labels written before this double existed belong to no branch it knows; start from an empty model.
  return {
    double,
    engine,
    ctx,
    log,
    dir,
    async write(label) {
      await sql(pg.url, 'INSERT INTO conformance (label) VALUES ($1)', [label]);
      double.noteWrite(label, await readComputeLsn());
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
      const head = await engine.head();
      return { ...head, createdAt: new Date(Date.now() - (double.historyRetentionSeconds + 3600) * 1000).toISOString() };
    },
    unknownTimelineId: 'br-never-existed-00000000',
    injectFault(kind, times) {
      double.inject(neonFault(kind, times));
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

async function restore(s: NeonSetup, at: PointInHistory) {
  return s.engine.repoint(await s.engine.fork(at));
}

async function waitUntil(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

describe('neon engine (Neon double, real Postgres for the compute)', function () {
  this.timeout(120_000);
  let pg: ScratchPostgres;

  before(async function () {
    pg = await startScratchPostgres();
    await sql(pg.url, 'CREATE TABLE conformance (id serial PRIMARY KEY, label text NOT NULL)');
  });

  after(async function () {
    await pg?.stop();
  });

  defineEngineConformance('neon', () => makeNeonSetup(pg), { faults: ['auth', 'not-found', 'busy', 'rate-limited', 'server-error', 'network'] });

  describe('neon: the restore on the wire', function () {
    let s: NeonSetup;
    beforeEach(async () => {
      s = await makeNeonSetup(pg);
    });
    afterEach(async function () {
      const violations = s.violations!();
      await s.close();
      // A request outside the contract fails the test that made it.
      if (this.currentTest?.state === 'passed') assert.deepEqual(violations, []);
    });

    it('by time: a time-based checkpoint is restored with source_timestamp (never a guessed LSN), and previewed with timestamp', async () => {
      await s.write('moment-a');
      await new Promise((r) => setTimeout(r, 20));
      const moment: MomentInHistory = { timelineId: s.double.mainBranchId, lsn: null, createdAt: new Date().toISOString() };
      await new Promise((r) => setTimeout(r, 20));
      await s.write('moment-b');
      const schemaFrom = s.double.log.length;
      const then = await s.engine.describe(moment);
      const schemaCall = s.double.log.slice(schemaFrom).find((c) => c.method === 'GET' && c.path.includes('/schema'))!;
      assert.equal(schemaCall.query.timestamp, moment.createdAt);
      assert.equal(schemaCall.query.lsn, undefined);
      assert.deepEqual(
        then.tables.map((t) => t.name),
        ['label_moment-a'],
        'the schema as at the moment',
      );
      const handle = await s.engine.fork(moment);
      assert.equal(handle.at, undefined, 'Neon finds the moment on its side: no position is claimed before');
      const from = s.double.log.length;
      await s.engine.repoint(handle);
      const posts = s.double.log.slice(from).filter((c) => c.method === 'POST');
      assert.equal(posts.length, 1, 'one restore request');
      const post = posts[0]!;
      assert.equal(`${post.method} ${post.path}`, `POST /projects/${s.double.projectId}/branches/${s.double.mainBranchId}/restore`);
      const body = post.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['preserve_under_name', 'source_branch_id', 'source_timestamp']);
      assert.equal(body.source_timestamp, moment.createdAt);
      assert.equal(s.double.timestampsResolved.at(-1)?.kind, 'present');
      assert.deepEqual(s.double.content(), ['moment-a']);
    });

    it('restore --at: a time is sent as source_timestamp, an LSN as source_lsn, on the serving branch (resolveTarget → fork)', async () => {
      const project = projectWith(s.engine, 'neon');
      await s.write('at-a');
      await new Promise((r) => setTimeout(r, 20));
      const time = new Date().toISOString();
      await new Promise((r) => setTimeout(r, 20));
      await s.write('at-b');
      const lsn = (await s.engine.head()).lsn;
      await s.write('at-c');

      const byLsn = await resolveTarget(project, { at: lsn });
      assert.equal(byLsn.synthetic, true);
      assert.deepEqual({ timelineId: byLsn.point.timelineId, lsn: byLsn.point.lsn }, { timelineId: s.double.mainBranchId, lsn });
      let from = s.double.log.length;
      await s.engine.repoint(await s.engine.fork(byLsn.point));
      let posts = s.double.log.slice(from).filter((c) => c.method === 'POST');
      assert.equal(posts.length, 1, 'one restore request');
      assert.equal(posts[0]!.path, `/projects/${s.double.projectId}/branches/${s.double.mainBranchId}/restore`);
      let body = posts[0]!.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['preserve_under_name', 'source_branch_id', 'source_lsn']);
      assert.equal(body.source_lsn, lsn);
      assert.deepEqual(s.double.content(), ['at-a', 'at-b']);

      // After that restore the branch keeps its id: the time (before it) is found in the history Neon preserved.
      const byTime = await resolveTarget(project, { at: time });
      assert.deepEqual(byTime.point, { timelineId: s.double.mainBranchId, lsn: null, createdAt: time });
      from = s.double.log.length;
      await s.engine.repoint(await s.engine.fork(byTime.point));
      posts = s.double.log.slice(from).filter((c) => c.method === 'POST');
      assert.equal(posts.length, 1, 'one restore request');
      body = posts[0]!.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['preserve_under_name', 'source_branch_id', 'source_timestamp']);
      assert.equal(body.source_timestamp, time);
      assert.deepEqual(s.double.content(), ['at-a'], 'what was committed at the moment');
    });

    it('restore --at: a moment past the retention window, or past the head, is bad input and nothing is sent', async () => {
      const project = projectWith(s.engine, 'neon');
      await s.write('at-old');
      const from = s.double.log.length;
      await rejectsWith(resolveTarget(project, { at: `${s.double.historyRetentionSeconds + 3600} seconds ago` }), 'EXPIRED');
      await rejectsWith(resolveTarget(project, { at: 'FFFF/0' }), 'LSN_BEYOND_HEAD');
      assert.equal(s.double.log.slice(from).filter((c) => c.method === 'POST').length, 0);
    });

    it('by time: a moment past the retention window is refused before anything is sent; the double refuses it too', async () => {
      await s.write('old-a');
      const moment: MomentInHistory = { timelineId: s.double.mainBranchId, lsn: null, createdAt: new Date(Date.now() - (s.double.historyRetentionSeconds + 60) * 1000).toISOString() };
      const verdict = await s.engine.restorability(moment);
      assert.equal(!verdict.restorable && verdict.reason, 'expired');
      assert.match(!verdict.restorable ? verdict.message : '', /Neon keeps/);
      const from = s.double.log.length;
      const error = await rejectsWith(s.engine.fork(moment), 'EXPIRED');
      assert.match(error.message, /by time/);
      assert.equal(s.double.log.slice(from).filter((c) => c.method === 'POST').length, 0, 'no restore was requested');
      // The double holds Neon to the same window.
      const response = await fetch(`${s.double.apiUrl}/projects/${s.double.projectId}/branches/${s.double.mainBranchId}/restore`, {
        method: 'POST',
        headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ source_branch_id: s.double.mainBranchId, source_timestamp: moment.createdAt, preserve_under_name: 'too-old' }),
      });
      assert.equal(response.status, 400);
      assert.match(((await response.json()) as { message: string }).message, /history retention/);
      assert.deepEqual(s.double.content(), ['old-a'], 'nothing was restored');
    });

    it('a restore is exactly: POST restore, then polls of every returned operation until finished, then the preserved branch', async () => {
      await s.write('wire-a');
      const m = await s.mark();
      await s.write('wire-b');
      const handle = await s.engine.fork(m);
      const from = s.double.log.length;
      const head = await s.engine.repoint(handle);
      const calls = s.double.log.slice(from);
      const p = `/projects/${s.double.projectId}`;

      const post = calls[0]!;
      assert.equal(`${post.method} ${post.path}`, `POST ${p}/branches/${s.double.mainBranchId}/restore`);
      const body = post.body as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), ['preserve_under_name', 'source_branch_id', 'source_lsn']);
      assert.equal(body.source_branch_id, s.double.mainBranchId, 'a marker taken since the last restore restores from the branch itself');
      assert.equal(body.source_lsn, m.lsn);
      assert.match(String(body.preserve_under_name), /^lockstep-pre-restore-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ$/);
      const ops = (post.response as { operations: { id: string }[] }).operations.map((o) => o.id);
      assert.equal(ops.length, 2);

      // Each operation goes scheduling → running → finished: two polls each, in rounds, nothing after it finished.
      const expected = [
        `POST ${p}/branches/${s.double.mainBranchId}/restore`,
        ...ops.map((id) => `GET ${p}/operations/${id}`),
        ...ops.map((id) => `GET ${p}/operations/${id}`),
        `GET ${p}/branches?search=${body.preserve_under_name}`,
      ];
      assert.deepEqual(
        calls.map((c) => `${c.method} ${c.path}${Object.keys(c.query).length ? `?${new URLSearchParams(c.query)}` : ''}`),
        expected,
      );
      const statuses = calls.filter(operationCall).map((c) => (c.response as { operation: { status: string } }).operation.status);
      assert.deepEqual(statuses, ['running', 'running', 'finished', 'finished']);
      assert.equal(calls.filter((c) => c.method !== 'GET').length, 1, 'one change only: the restore');

      assert.deepEqual(s.double.content(), ['wire-a']);
      assert.equal(head.timelineId, s.double.mainBranchId, 'the branch id, and so the connection string, stays');
      const state = loadNeonState(engineStateFile(s.ctx.lockstepDir, 'neon'), s.double.projectId);
      assert.equal(state.restores.length, 1);
      const preserved = s.double.liveBranches().find((b) => b.name === body.preserve_under_name);
      assert.ok(preserved, 'Neon kept the pre-restore state');
      assert.equal(state.restores[0]!.preservedBranchId, preserved.id);
      assert.equal(state.restores[0]!.status, 'finished');
      assert.deepEqual(s.double.content(preserved.id), ['wire-a', 'wire-b'], 'the preserved branch holds what was replaced');
    });

    it('a checkpoint from before a restore is restored from the branch that restore preserved', async () => {
      await s.write('map-a');
      const m1 = await s.mark();
      await s.write('map-b');
      const m2 = await s.mark();
      await restore(s, m1);
      const preservedId = loadNeonState(engineStateFile(s.ctx.lockstepDir, 'neon'), s.double.projectId).restores[0]!.preservedBranchId!;
      const from = s.double.log.length;
      await restore(s, m2);
      const post = s.double.log.slice(from).find(restoreCall)!;
      assert.equal((post.body as { source_branch_id: string }).source_branch_id, preservedId);
      assert.equal((post.body as { source_lsn: string }).source_lsn, m2.lsn);
      assert.deepEqual(s.double.content(), ['map-a', 'map-b']);
    });

    it('Neon retrying a failed operation is not a failure; a lasting failure is, after the bound', async () => {
      await s.write('fail-a');
      const m = await s.mark();
      await s.write('fail-b');
      // failed, running, error, running, finished: each failure is shorter than the grace, so Neon's retries are waited out.
      s.double.scriptNextRestore(FAILS_THEN_FINISHES);
      await restore(s, m);
      assert.deepEqual(s.double.content(), ['fail-a']);
      await s.write('fail-c');
      // A failure that outlasts the grace is reported.
      s.double.scriptNextRestore(FAILS_FOREVER);
      const error = await rejectsWith(restore(s, m), 'REMOTE');
      assert.match(error.message, /operation create_timeline .* is failed after \d+ failure\(s\): timeline creation failed/);
      assert.match(error.hint ?? '', /Neon may still retry/);
      s.double.abandonRunningRestores();
      assert.deepEqual(s.double.content(), ['fail-a', 'fail-c'], 'the failed restore did not take effect');
    });

    it('an operation Neon cancels fails the restore', async () => {
      await s.write('cancelled-a');
      const m = await s.mark();
      s.double.scriptNextRestore(FINISHES, IS_CANCELLED);
      const error = await rejectsWith(restore(s, m), 'REMOTE');
      assert.match(error.message, /cancelled operation start_compute/);
    });

    it('a slow restore can be cancelled; the branch is then busy until Neon is done', async () => {
      await s.write('slow-a');
      const m = await s.mark();
      await s.write('slow-b');
      s.double.scriptNextRestore(NEVER_ENDS, FINISHES);
      const controller = new AbortController();
      const handle = await s.engine.fork(m);
      const pending = s.engine.repoint(handle, { signal: controller.signal, onProgress: () => undefined });
      await waitUntil(() => s.double.log.filter(operationCall).length >= 4, 'the polls to start');
      const started = Date.now();
      controller.abort();
      const error = await rejectsWith(pending, 'CANCELLED');
      assert.ok(Date.now() - started < 1_000, 'cancellation is prompt');
      assert.match(error.hint ?? '', /Neon may still finish it/);
      // Neon is still at it: a second restore is refused as busy (423), retried within the bound, then reported.
      const busy = await rejectsWith(restore(s, await s.mark()), 'CONFLICT');
      assert.match(busy.message, /busy/);
      assert.equal(s.double.log.filter(restoreCall).length, 1 + 3, 'the busy restore was tried three times');
      s.double.abandonRunningRestores();
    });

    it('a restore that outlasts the deadline fails with TIMEOUT', async () => {
      const quick = await makeNeonSetup(pg, { ...FAST, poll: { ...FAST.poll, timeoutMs: 200 } });
      try {
        await quick.write('timeout-a');
        const m = await quick.mark();
        quick.double.scriptNextRestore(NEVER_ENDS);
        const error = await rejectsWith(restore(quick, m), 'TIMEOUT');
        assert.match(error.message, /has not finished/);
        quick.double.abandonRunningRestores();
        assert.deepEqual(quick.violations!(), []);
      } finally {
        await quick.close();
      }
    });

    it('going back to the serving handle when no restore happened sends nothing', async () => {
      const serving = await s.engine.serving();
      const from = s.double.log.length;
      const head = await s.engine.repoint(serving);
      assert.ok(isLsn(head.lsn));
      assert.deepEqual(s.double.log.slice(from).filter((c) => c.method !== 'GET'), []);
    });

    it('describe at a checkpoint and the schema diff ask Neon about the right branch and LSN', async () => {
      await s.write('schema-a');
      const m = await s.mark();
      await s.write('schema-b');
      const past = await s.engine.describe(m);
      assert.deepEqual(past.tables.map((t) => t.name), ['label_schema-a']);
      assert.equal(past.tables[0]!.approxRows, -1);
      const diff = await s.engine.schemaDiff(m);
      assert.match(diff, /^-CREATE TABLE public\.label_schema-b/m);
      const call = s.double.log.filter((c) => c.template?.endsWith('/compare_schema')).pop()!;
      assert.deepEqual(call.query, { db_name: s.double.databaseName, lsn: m.lsn, base_branch_id: s.double.mainBranchId });
      // Now: the compute's own catalog, with the planner's row estimates.
      const now = await s.engine.describe();
      const table = now.tables.find((t) => t.name === 'conformance');
      assert.ok(table, 'the real table is described');
      assert.deepEqual(table.columns.map((c) => c.name), ['id', 'label']);
    });

    it('a listing judges many checkpoints from the window and the restore history alone', async () => {
      await s.write('many-a');
      const before = await s.mark();
      await restore(s, before);
      const fresh = await s.mark();
      const from = s.double.log.length;
      const verdicts = await s.engine.restorableMany([
        fresh,
        before,
        { ...fresh, createdAt: new Date(Date.now() - 2 * 86_400_000).toISOString() },
        { ...before, lsn: 'FF/0' },
        { ...fresh, lsn: 'not an lsn' },
      ]);
      assert.deepEqual(
        verdicts.map((v) => (v.restorable ? 'restorable' : v.reason)),
        ['restorable', 'restorable', 'expired', 'beyond-head', 'unknown-timeline'],
      );
      assert.ok(s.double.log.length - from <= 1, 'at most the project read');
      assert.equal(await s.engine.connectionUrl(), pg.url, 'the connection string to copy, password included');
    });

    it('status and retention come from the project', async () => {
      const status = await s.engine.status();
      assert.equal(status.state, 'running');
      assert.match(status.summary, /branch main/);
      assert.doesNotMatch(status.address!, /:[^:@/]+@/);
      const retention = await s.engine.retention();
      assert.equal(retention.windowSeconds, 86_400);
      assert.match(retention.summary, /1 day/);
    });

    it('prune deletes preserved branches beyond the kept count, never one a kept checkpoint needs', async () => {
      const pruned = await makeNeonSetup(pg, FAST, { keepPreservedBranches: 1 });
      try {
        const markers: PointInHistory[] = [];
        for (const l of ['p1', 'p2', 'p3', 'p4']) {
          await pruned.write(l);
          markers.push(await pruned.mark());
        }
        // Four restores, each preserving the state before it.
        for (const m of [markers[0]!, markers[1]!, markers[2]!, markers[3]!]) await restore(pruned, m);
        const state = () => loadNeonState(engineStateFile(pruned.ctx.lockstepDir, 'neon'), pruned.double.projectId);
        const preserved = state().restores.map((r) => r.preservedBranchId!);
        assert.equal(new Set(preserved).size, 4);
        // markers[3] was taken before the first restore: its history is the first preserved branch.
        const report = await pruned.engine.prune([markers[3]!]);
        assert.equal(report.removed.length, 2, report.removed.join('\n'));
        const live = new Set(pruned.double.liveBranches().map((b) => b.id));
        assert.ok(live.has(preserved[0]!), 'needed by a kept checkpoint');
        assert.ok(!live.has(preserved[1]!) && !live.has(preserved[2]!), 'beyond the kept count');
        assert.ok(live.has(preserved[3]!), 'the newest is kept');
        assert.ok(state().restores[1]!.deletedAt);
        // A checkpoint whose history was pruned says so.
        const verdict = await pruned.engine.restorability({ ...markers[0]!, createdAt: state().restores[1]!.startedAt });
        assert.equal(!verdict.restorable && verdict.reason, 'unknown-timeline');
        assert.match(!verdict.restorable ? verdict.message : '', /pruned/);
        assert.deepEqual(pruned.violations!(), []);
      } finally {
        await pruned.close();
      }
    });

    it('no secret reaches a file, a log line or an error message', async () => {
      const password = decodeURIComponent(new URL(pg.url).password);
      assert.ok(password.length >= 4);
      await s.write('secret-a');
      const m = await s.mark();
      await s.write('secret-b');
      await restore(s, m);
      await s.engine.status();
      await s.engine.describe(m);
      await s.engine.prune([m]);
      // An error body that echoes the key is scrubbed before it becomes a message.
      s.double.inject({ kind: 'status', status: 400, body: neonError(400, `bad request for key ${API_KEY} and ${pg.url}`), match: restoreCall, times: 1 });
      const echoed = await rejectsWith(restore(s, await s.mark()), 'REMOTE');
      for (const secret of [API_KEY, password]) assert.ok(!`${echoed.message} ${echoed.hint}`.includes(secret), 'the message repeats a secret');
      assert.match(echoed.message, /\*\*\*\*/);
      // A refused key is not repeated back either.
      const wrongKey = 'neon_wrong_key_0123456789abcdef';
      const stranger = new NeonEngine(
        { projectId: s.double.projectId, branchId: s.double.mainBranchId, databaseName: s.double.databaseName, roleName: s.double.roleName, apiUrl: s.double.apiUrl },
        { ...s.ctx, secrets: { get: async () => wrongKey } },
        FAST,
      );
      const refused = await rejectsWith(stranger.retention(), 'AUTH');
      await stranger.close();
      assert.match(refused.hint ?? '', /NEON_API_KEY/);
      assert.ok(!`${refused.message} ${refused.hint}`.includes(wrongKey), 'the message repeats the refused key');

      const files = filesUnder(s.dir);
      assert.ok(files.some((f) => f.endsWith('neon-state.json')), 'the engine wrote its state');
      for (const file of files) {
        const text = fs.readFileSync(file, 'utf8');
        for (const secret of [API_KEY, wrongKey, password]) assert.ok(!text.includes(secret), `${file} contains a secret`);
        assert.equal(fs.statSync(file).mode & 0o077, 0, `${file} is private to its owner`);
      }
      assert.ok(s.log.lines.length > 10, 'the engine logged its calls');
      for (const line of s.log.lines) {
        for (const secret of [API_KEY, wrongKey, password]) assert.ok(!line.includes(secret), `log line carries a secret: ${line}`);
      }
    });
  });

  describe('neon: pins are Neon snapshots', function () {
    let s: NeonSetup;
    beforeEach(async () => {
      s = await makeNeonSetup(pg);
      s.double.subscriptionType = 'scale_v3';
    });
    afterEach(async function () {
      const violations = s.violations!();
      await s.close();
      if (this.currentTest?.state === 'passed') assert.deepEqual(violations, []);
    });

    const request = (id: string) => ({ checkpointId: id, name: `lockstep ${id}: test` });
    /** The same point, taken long enough ago that Neon's window no longer holds it (pins are found by branch and LSN). */
    const old = (at: PointInHistory): PointInHistory => ({ ...at, createdAt: new Date(Date.now() - (s.double.historyRetentionSeconds + 3600) * 1000).toISOString() });
    const posts = (from: number) => s.double.log.slice(from).filter((c) => c.method !== 'GET').map((c) => `${c.method} ${c.path}`);
    /** A second engine on the same state, as the next CLI process would be (the project facts are read afresh). */
    const freshEngine = () =>
      new NeonEngine(
        { projectId: s.double.projectId, branchId: s.double.mainBranchId, databaseName: s.double.databaseName, roleName: s.double.roleName, apiUrl: s.double.apiUrl },
        s.ctx,
        FAST,
      );

    it('within the window a pinned checkpoint still restores in place (cheaper); past it, from its snapshot; a second pin takes no second snapshot', async () => {
      await s.write('pin-a');
      const at = await s.mark();
      await s.write('pin-b');
      const hold = await s.engine.pin!(at, request('c1'));
      assert.deepEqual(await s.engine.pin!(at, request('c1')), hold);
      assert.equal(s.double.liveSnapshots().length, 1);
      const p = `/projects/${s.double.projectId}`;

      let from = s.double.log.length;
      await restore(s, at);
      assert.deepEqual(posts(from), [`POST ${p}/branches/${s.double.mainBranchId}/restore`], 'in place while Neon keeps the history');
      assert.deepEqual(s.double.content(), ['pin-a']);
      await s.write('pin-c');

      const past = old(at);
      from = s.double.log.length;
      assert.deepEqual(await s.engine.restorableMany([past, old({ ...at, lsn: (await s.engine.head()).lsn })]), [
        { restorable: true },
        { restorable: false, reason: 'expired', message: `older than the 1 day of history Neon keeps for this project` },
      ]);
      assert.ok(!s.double.log.slice(from).some((c) => c.path.endsWith('/snapshots')), 'the listing trusts neon-state.json (no snapshot listing)');
      assert.deepEqual(await s.engine.restorability(past), { restorable: true });
      const handle = await s.engine.fork(past);
      assert.equal(handle.ref.snapshotId, hold.ref.snapshotId);
      from = s.double.log.length;
      await s.engine.repoint(handle);
      assert.deepEqual(posts(from), [`POST ${p}/snapshots/${String(hold.ref.snapshotId)}/restore`]);
      assert.deepEqual(s.double.content(), ['pin-a'], 'the data as at the checkpoint');
      assert.notEqual(s.double.computeBranchId, s.double.mainBranchId);
      assert.equal((await s.engine.head()).timelineId, s.double.computeBranchId, 'the engine follows the computes to the new branch');
      assert.equal((await freshEngine().head()).timelineId, s.double.computeBranchId, 'and so does the next process, from neon-state.json');
      // The preview cannot read a snapshot's schema: said so (the restore preview turns it into a warning).
      await rejectsWith(s.engine.describe(past), 'EXPIRED');
    });

    it('a moment is pinned by its time (timestamp), never a guessed LSN, and restores from the snapshot once the window has passed', async () => {
      await s.write('moment-a');
      await new Promise((r) => setTimeout(r, 20));
      const moment: MomentInHistory = { timelineId: s.double.mainBranchId, lsn: null, createdAt: new Date().toISOString() };
      await new Promise((r) => setTimeout(r, 20));
      await s.write('moment-b');
      const from = s.double.log.length;
      const hold = await s.engine.pin!(moment, request('m1'));
      const post = s.double.log.slice(from).find((c) => c.method === 'POST')!;
      assert.deepEqual(Object.keys(post.query).sort(), ['name', 'timestamp']);
      assert.equal(post.query.timestamp, moment.createdAt);
      assert.equal(s.double.timestampsResolved.at(-1)?.kind, 'present');
      assert.equal(hold.ref.lsn, null);

      s.double.historyRetentionSeconds = 1;
      const since = Date.now();
      while (Date.now() - since <= 1_200) await new Promise((r) => setTimeout(r, 50));
      const engine = freshEngine();
      try {
        assert.deepEqual(await engine.restorability(moment), { restorable: true });
        await engine.repoint(await engine.fork(moment));
        assert.deepEqual(s.double.content(), ['moment-a']);
      } finally {
        await engine.close();
      }
    });

    it('pinning a checkpoint past the window is refused (EXPIRED) and nothing is sent', async () => {
      await s.write('late');
      const at = old(await s.mark());
      const from = s.double.log.length;
      await rejectsWith(s.engine.pin!(at, request('x')), 'EXPIRED');
      assert.deepEqual(posts(from), []);
    });

    it('on a free plan with a snapshot taken elsewhere: QUOTA naming the limit and the count, nothing created', async () => {
      s.double.subscriptionType = 'free_v2';
      await s.double.addSnapshot('taken in the console');
      await s.write('q');
      const at = await s.mark();
      const from = s.double.log.length;
      const error = await rejectsWith(s.engine.pin!(at, request('q1')), 'QUOTA');
      assert.match(error.message, /free plan \(free_v2\) keeps 1 snapshot per project and project \S+ has 1 \("taken in the console"\)/);
      assert.match(error.hint ?? '', /Neon console/);
      assert.deepEqual(posts(from), []);
      assert.equal(s.double.liveSnapshots().length, 1);
    });

    it('a snapshot whose operation fails is deleted again, and nothing is pinned', async () => {
      await s.write('f');
      const at = await s.mark();
      s.double.scriptNextSnapshot(FAILS_FOREVER);
      await rejectsWith(s.engine.pin!(at, request('f1')), 'REMOTE');
      assert.deepEqual(s.double.liveSnapshots(), []);
      assert.deepEqual(loadNeonState(engineStateFile(s.ctx.lockstepDir, 'neon'), s.double.projectId).pins, []);
    });

    it('a snapshot restore cancelled while Neon works: the next process finds that it did finish and follows the computes', async () => {
      await s.write('u-a');
      const at = await s.mark();
      await s.write('u-b');
      await s.engine.pin!(at, request('u1'));
      const slow: OperationScript = ['scheduling', 'running', 'running', 'running', 'finished'];
      s.double.scriptNextRestore(slow, slow);
      const controller = new AbortController();
      const from = s.double.log.length;
      const handle = await s.engine.fork(old(at));
      // Cancel once Neon reports progress: the request was accepted, the operations are running.
      await rejectsWith(s.engine.repoint(handle, { signal: controller.signal, onProgress: (step) => step.startsWith('Neon:') && controller.abort() }), 'CANCELLED');
      const post = s.double.log.slice(from).find((c) => c.method === 'POST')!;
      assert.equal(s.double.computeBranchId, s.double.mainBranchId, 'not moved yet');
      for (const op of (post.response as { operations: { id: string }[] }).operations) {
        for (let i = 0; i < 6; i++) await fetch(`${s.double.apiUrl}/projects/${s.double.projectId}/operations/${op.id}`, { headers: { authorization: `Bearer ${API_KEY}` } });
      }
      const moved = (post.response as { branch: { id: string } }).branch.id;
      assert.equal(s.double.computeBranchId, moved, 'Neon finished it after all');
      const engine = freshEngine();
      try {
        assert.equal((await engine.head()).timelineId, moved);
        const state = loadNeonState(engineStateFile(s.ctx.lockstepDir, 'neon'), s.double.projectId);
        assert.equal(state.serving?.branchId, moved);
        assert.deepEqual(state.snapshotRestores?.map((r) => r.status), ['finished']);
      } finally {
        await engine.close();
      }
    });

    it('a snapshot restore whose answer was lost: found by the replaced branch\'s name when Neon acted, left alone when it did not', async () => {
      const file = engineStateFile(s.ctx.lockstepDir, 'neon');
      await s.write('lost-a');
      const at = await s.mark();
      await s.write('lost-b');
      await s.engine.pin!(at, request('l1'));
      // Neon did not act (the request never arrived): a record without a branch, the branch not renamed.
      const untouched = loadNeonState(file, s.double.projectId);
      untouched.snapshotRestores = [{ snapshotId: 'snap-never', replacedBranchId: s.double.mainBranchId, replacedBranchName: 'main', newBranchId: null, startedAt: new Date().toISOString(), finishedAt: null, status: 'unconfirmed' }];
      fs.writeFileSync(file, JSON.stringify(untouched));
      let engine = freshEngine();
      try {
        assert.equal((await engine.head()).timelineId, s.double.mainBranchId);
        assert.equal(loadNeonState(file, s.double.projectId).snapshotRestores?.length, 1, 'kept until Neon would have finished it');
      } finally {
        await engine.close();
      }
      fs.writeFileSync(file, JSON.stringify({ ...untouched, snapshotRestores: [] }));
      // Neon acted, but the answer (with the new branch id) was lost.
      await s.engine.repoint(await s.engine.fork(old(at)));
      const moved = s.double.computeBranchId;
      const lost = loadNeonState(file, s.double.projectId);
      const record = lost.snapshotRestores![0]!;
      Object.assign(record, { newBranchId: null, status: 'unconfirmed', finishedAt: null });
      delete lost.serving;
      fs.writeFileSync(file, JSON.stringify(lost));
      engine = freshEngine();
      try {
        assert.equal((await engine.head()).timelineId, moved);
        const state = loadNeonState(file, s.double.projectId);
        assert.equal(state.serving?.branchId, moved);
        assert.deepEqual(state.snapshotRestores?.map((r) => [r.status, r.newBranchId]), [['finished', moved]]);
      } finally {
        await engine.close();
      }
    });

    it('prune deletes the branch a snapshot restore replaced beyond the kept count, not while a kept checkpoint lives on it', async () => {
      const pruned = await makeNeonSetup(pg, FAST, { keepPreservedBranches: 0 });
      pruned.double.subscriptionType = 'scale_v3';
      try {
        await pruned.write('r-a');
        const at = await pruned.mark();
        await pruned.write('r-b');
        const later = await pruned.mark();
        await pruned.engine.pin!(at, request('r1'));
        await pruned.engine.repoint(await pruned.engine.fork(old(at)));
        const replaced = pruned.double.mainBranchId;
        assert.notEqual(pruned.double.computeBranchId, replaced);
        assert.deepEqual((await pruned.engine.prune([later])).removed, [], 'a kept checkpoint lives on the replaced branch');
        const report = await pruned.engine.prune([]);
        assert.equal(report.removed.length, 1, report.removed.join('\n'));
        assert.match(report.removed[0]!, new RegExp(replaced));
        assert.ok(!pruned.double.liveBranches().some((b) => b.id === replaced));
        const [verdict] = await pruned.engine.restorableMany([later]);
        assert.equal(verdict!.restorable, false);
        assert.match(!verdict!.restorable ? verdict!.message : '', /was pruned/);
        // The pinned one still restores: its snapshot does not need the branch.
        assert.deepEqual(await pruned.engine.restorability(old(at)), { restorable: true });
        assert.deepEqual(pruned.violations!(), []);
      } finally {
        await pruned.close();
      }
    });

    it('the API client\'s snapshot calls, each within the contract: create, list, rename, delete (404 = gone), restore without finalize, finalize_restore', async () => {
      const api = new NeonApi(s.double.apiUrl, s.double.projectId, async () => API_KEY, s.log, { retry: FAST.retry! });
      try {
        await s.write('api-a');
        const at = await s.mark();
        await s.write('api-b');
        const created = await api.createSnapshot(s.double.mainBranchId, { lsn: at.lsn!, name: 'api one', expires_at: new Date(Date.now() + 86_400_000).toISOString() });
        assert.equal(created.snapshot.lsn, at.lsn);
        assert.equal(created.snapshot.expires_at !== undefined, true);
        assert.equal((await api.renameSnapshot(created.snapshot.id, 'api renamed')).name, 'api renamed');
        assert.deepEqual((await api.listSnapshots()).map((x) => x.name), ['api renamed']);
        const restored = await api.restoreSnapshot(created.snapshot.id, { name: 'api-restored', target_branch_id: s.double.mainBranchId });
        await waitForOperations(api, restored.operations, { ...DEFAULT_POLL, ...FAST.poll }, s.log, { what: 'test restore' });
        assert.equal(s.double.computeBranchId, s.double.mainBranchId, 'without finalize the computes stay');
        assert.deepEqual(s.double.content(restored.branch.id), ['api-a']);
        const finalized = await api.finalizeRestore(restored.branch.id);
        await waitForOperations(api, finalized, { ...DEFAULT_POLL, ...FAST.poll }, s.log, { what: 'test finalize' });
        assert.equal(s.double.computeBranchId, restored.branch.id);
        assert.ok(Array.isArray(await api.deleteSnapshot(created.snapshot.id)));
        assert.equal(await api.deleteSnapshot(created.snapshot.id), undefined);
      } finally {
        await api.close();
      }
    });

    it('a pin whose snapshot was deleted elsewhere: past the window the checkpoint is expired and says why; unpin still succeeds', async () => {
      await s.write('gone');
      const at = await s.mark();
      const hold = await s.engine.pin!(at, request('g1'));
      const deleted = await fetch(`${s.double.apiUrl}/projects/${s.double.projectId}/snapshots/${String(hold.ref.snapshotId)}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${API_KEY}` },
      });
      assert.equal(deleted.status, 202);
      const verdict = await s.engine.restorability(old(at));
      assert.equal(verdict.restorable, false);
      assert.match(!verdict.restorable ? verdict.message : '', /Neon snapshot its pin held .* is gone/);
      await s.engine.unpin!(hold);
      assert.deepEqual(loadNeonState(engineStateFile(s.ctx.lockstepDir, 'neon'), s.double.projectId).pins, []);
    });
  });

  describe('neon: connecting a project', function () {
    let double: NeonDouble;
    const log = new CapturingLog();
    const ctx = (key: string | undefined): EngineContext => ({ lockstepDir: os.tmpdir(), log, secrets: { get: async () => key } });
    before(async () => {
      double = await NeonDouble.start({ apiKey: API_KEY, connectionUri: 'postgresql://neondb_owner:pw-secret@127.0.0.1:1/neondb', readComputeLsn: async () => '0/1000000' });
    });
    after(async () => {
      await double.stop();
      assert.deepEqual(double.violations, []);
    });

    it('fills the configuration, resolving the default branch', async () => {
      const config = await connectNeonProject({ projectId: double.projectId, apiUrl: double.apiUrl }, ctx(API_KEY));
      assert.deepEqual(config, { projectId: double.projectId, branchId: double.mainBranchId, databaseName: 'neondb', roleName: 'neondb_owner', apiUrl: double.apiUrl });
    });

    it('LOCKSTEP_NEON_API_URL wins over the configured URL', async () => {
      const config = await connectNeonProject({ projectId: double.projectId, branchId: double.mainBranchId, apiUrl: 'http://127.0.0.1:9/nowhere' }, ctx(API_KEY), {
        env: { LOCKSTEP_NEON_API_URL: double.apiUrl },
      });
      assert.equal(config.branchId, double.mainBranchId);
    });

    it('says which part is wrong: key, project, branch, database', async () => {
      const fast = { retry: { attempts: 1 } };
      assert.match((await rejectsWith(connectNeonProject({ projectId: double.projectId, apiUrl: double.apiUrl }, ctx('nope-nope'), fast), 'AUTH')).hint ?? '', /NEON_API_KEY/);
      assert.match((await rejectsWith(connectNeonProject({ projectId: double.projectId, apiUrl: double.apiUrl }, ctx(undefined), fast), 'AUTH')).message, /No Neon API key/);
      assert.match((await rejectsWith(connectNeonProject({ projectId: 'no-such-project', apiUrl: double.apiUrl }, ctx(API_KEY), fast), 'NOT_FOUND')).message, /no project no-such-project/);
      assert.match(
        (await rejectsWith(connectNeonProject({ projectId: double.projectId, branchId: 'br-nope-1', apiUrl: double.apiUrl }, ctx(API_KEY), fast), 'NOT_FOUND')).message,
        /no branch br-nope-1/,
      );
      assert.match(
        (await rejectsWith(connectNeonProject({ projectId: double.projectId, databaseName: 'other', apiUrl: double.apiUrl }, ctx(API_KEY), fast), 'NOT_FOUND')).message,
        /no database other/,
      );
      await rejectsWith(connectNeonProject({ projectId: 'Not A Project!', apiUrl: double.apiUrl }, ctx(API_KEY), fast), 'BAD_INPUT');
      await rejectsWith(connectNeonProject({ projectId: double.projectId, apiUrl: 'http://127.0.0.1:9/api' }, ctx(API_KEY), fast), 'NETWORK');
    });
  });
});
