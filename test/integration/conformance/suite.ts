// The engine conformance suite: the same mocha tests for every engine (local on real Postgres, the cloud engines against their doubles).

import * as assert from 'node:assert/strict';
import type { Engine, MomentInHistory, PointInHistory, Position } from '../../../src/core/engine';
import { LockstepError, type ErrorCode } from '../../../src/base/errors';
import { compareLsn, formatLsn, isLsn, parseLsn } from '../../../src/base/lsn';

/** Failures a remote engine must turn into a clear error (and, where it makes sense, retry). */
export type FaultKind = 'auth' | 'not-found' | 'busy' | 'rate-limited' | 'server-error' | 'network';

export const FAULT_CODES: Record<FaultKind, ErrorCode> = {
  auth: 'AUTH',
  'not-found': 'NOT_FOUND',
  busy: 'CONFLICT',
  'rate-limited': 'RATE_LIMITED',
  'server-error': 'REMOTE',
  network: 'NETWORK',
};

/** A passing fault of these kinds must be retried (within a bound) so the restore still lands. */
const RETRIED: ReadonlySet<FaultKind> = new Set<FaultKind>(['busy', 'rate-limited', 'server-error', 'network']);

/** What differs between engines; the tests are the same. */
export interface ConformanceHarness {
  engine: Engine;
  /** One labelled change to the serving database (e.g. an INSERT), so that the head moves. */
  write(label: string): Promise<void>;
  /**
   * The labels the serving database holds, in the order they were written
   * (e.g. `SELECT label … ORDER BY id`). Absent when the engine's data cannot be
   * read; the tests then check positions only.
   */
  readLabels?(): Promise<string[]>;
  /** The address clients connect to (without the password). */
  address(): Promise<string>;
  /** A position this engine must call expired (past its retention). */
  expiredPoint(): Promise<PointInHistory>;
  /** A timeline id this engine has never had. */
  unknownTimelineId: string;
  /**
   * Make the engine's next `times` remote calls of the kind fail (the harness
   * picks which calls: for a restore that cannot be sent twice, a dropped
   * connection goes on a call that can be repeated). Only for the kinds given
   * in `ConformanceOptions.faults`.
   */
  injectFault?(kind: FaultKind, times: number | 'always'): void;
  clearFaults?(): void;
  /** Requests and answers a double found outside its contract; every test asserts there are none. */
  violations?(): string[];
  close(): Promise<void>;
}

export interface ConformanceOptions {
  /** The fault kinds this engine has (none for an engine without a remote service). */
  faults?: readonly FaultKind[];
}

interface Marker {
  at: PointInHistory;
  /** What the serving database held when the marker was taken (when the harness can read it). */
  labels: string[] | undefined;
}

/**
 * Registers one `describe` with the conformance tests. The harness is made
 * once (an engine on real Postgres is slow to set up) and the tests share it:
 * each takes its own markers with its own labels, so none depends on another's
 * outcome.
 */
export function defineEngineConformance(name: string, makeHarness: () => Promise<ConformanceHarness>, options: ConformanceOptions = {}): void {
  describe(`engine conformance: ${name}`, function () {
    let h: ConformanceHarness;
    let counter = 0;

    before(async function () {
      h = await makeHarness();
    });

    after(async function () {
      await h?.close();
    });

    afterEach(function () {
      h?.clearFaults?.();
    });

    /** Every test ends by asserting that no request or answer broke the contract. */
    function test(title: string, body: () => Promise<void>): void {
      it(title, async function () {
        await body();
        assert.deepEqual(h.violations?.() ?? [], [], 'requests or answers outside the contract');
      });
    }

    const label = (what: string) => `${what}-${++counter}`;

    async function mark(): Promise<Marker> {
      const position = await h.engine.head();
      const at: PointInHistory = { ...position, createdAt: new Date().toISOString() };
      return { at, labels: h.readLabels ? await h.readLabels() : undefined };
    }

    /**
     * A time-based checkpoint, as the commit hook records one when it cannot
     * read the position in time: the serving timeline and the time, no LSN.
     * A pause on either side keeps the writes before and after it apart by the clock.
     */
    async function markMoment(): Promise<Marker & { at: MomentInHistory }> {
      const { timelineId } = await h.engine.head();
      await pause();
      const at: MomentInHistory = { timelineId, lsn: null, createdAt: new Date().toISOString() };
      const labels = h.readLabels ? await h.readLabels() : undefined;
      await pause();
      return { at, labels };
    }

    async function restoreTo(at: PointInHistory): Promise<Position> {
      const handle = await h.engine.fork(at);
      try {
        return await h.engine.repoint(handle);
      } catch (error) {
        await h.engine.discard(handle).catch(() => undefined);
        throw error;
      }
    }

    async function assertServes(marker: Marker, message: string): Promise<void> {
      if (h.readLabels) assert.deepEqual(await h.readLabels(), marker.labels, message);
    }

    async function assertRejects(work: () => Promise<unknown>, code: ErrorCode): Promise<LockstepError> {
      try {
        await work();
      } catch (error) {
        assert.ok(error instanceof LockstepError, `expected a LockstepError ${code}, got ${String(error)}`);
        assert.equal(error.code, code, `expected ${code}, got ${error.code}: ${error.message}`);
        assert.ok(error.message.length > 10, 'the message says what went wrong');
        return error;
      }
      assert.fail(`expected ${code}, but it succeeded`);
    }

    test('head: a timeline id and an LSN, read cheaply and without changing the data', async () => {
      const before = h.readLabels ? await h.readLabels() : undefined;
      const started = Date.now();
      const heads: Position[] = [];
      for (let i = 0; i < 5; i++) heads.push(await h.engine.head());
      const perCall = (Date.now() - started) / heads.length;
      for (const p of heads) {
        assert.equal(typeof p.timelineId, 'string');
        assert.ok(p.timelineId.length > 0, 'a timeline id');
        assert.ok(isLsn(p.lsn), `${p.lsn} is an LSN`);
        assert.equal(p.timelineId, heads[0]!.timelineId, 'head does not move the timeline');
      }
      assert.ok(perCall < 1500, `head took ${perCall} ms a call; it must be a cheap read`);
      if (before) assert.deepEqual(await h.readLabels!(), before, 'head changed the data');
    });

    test('head: moves forward with every write, never back', async () => {
      const first = await h.engine.head();
      await h.write(label('head'));
      const second = await h.engine.head();
      const third = await h.engine.head();
      assert.equal(second.timelineId, first.timelineId);
      assert.ok(compareLsn(second.lsn, first.lsn) > 0, `${second.lsn} is after ${first.lsn}`);
      assert.ok(compareLsn(third.lsn, second.lsn) >= 0, `${third.lsn} is not before ${second.lsn}`);
    });

    test('fork at a marker leaves the serving data alone; repoint then serves the marker', async () => {
      await h.write(label('fork-a'));
      const m = await mark();
      await h.write(label('fork-b'));
      const now = await mark();
      const handle = await h.engine.fork(m.at);
      assert.ok(handle.timelineId.length > 0);
      await assertServes(now, 'fork alone changed what serves');
      assert.equal((await h.engine.head()).timelineId, now.at.timelineId, 'fork alone changed the serving timeline');
      const served = await h.engine.repoint(handle);
      assert.ok(isLsn(served.lsn));
      const head = await h.engine.head();
      assert.equal(head.timelineId, served.timelineId, 'repoint returns the new head');
      assert.ok(compareLsn(head.lsn, served.lsn) >= 0);
      await assertServes(m, 'after the restore the data is the marker\'s');
      const after = label('fork-c');
      await h.write(after);
      if (h.readLabels) assert.deepEqual(await h.readLabels(), [...m.labels!, after], 'writes after a restore land on the restored data');
      assert.ok(compareLsn((await h.engine.head()).lsn, head.lsn) > 0, 'the head moves on after a restore');
    });

    test('fork on an abandoned timeline: each marker restores its own history, not the serving one\'s', async () => {
      await h.write(label('abandon-a'));
      const m1 = await mark();
      await h.write(label('abandon-b'));
      const m2 = await mark();
      await h.write(label('abandon-c'));
      const m3 = await mark();
      await restoreTo(m1.at);
      await assertServes(m1, 'restore to m1');
      await h.write(label('abandon-d'));
      const m4 = await mark();
      // m2 was taken on the timeline the first restore abandoned, after m1's LSN.
      await restoreTo(m2.at);
      await assertServes(m2, 'restore to m2 (on the abandoned original timeline)');
      // m4 was taken on the second timeline, abandoned in turn.
      await restoreTo(m4.at);
      await assertServes(m4, 'restore to m4 (on the abandoned second timeline)');
      await restoreTo(m3.at);
      await assertServes(m3, 'restore to m3 (the original timeline\'s end)');
      await restoreTo(m1.at);
      await assertServes(m1, 'restore to m1 again (taken before every restore)');
    });

    test('repoint keeps the address clients use', async () => {
      await h.write(label('address-a'));
      const m = await mark();
      await h.write(label('address-b'));
      const before = await h.address();
      assert.ok(before.length > 0);
      assert.doesNotMatch(before, /:[^:@/]+@/, 'the address carries no password');
      await restoreTo(m.at);
      assert.equal(await h.address(), before);
    });

    test('the serving handle brings back what served before a restore (undo)', async () => {
      await h.write(label('undo-a'));
      const m = await mark();
      await h.write(label('undo-b'));
      const current = await mark();
      const serving = await h.engine.serving();
      assert.equal(serving.role, 'serving');
      assert.deepEqual(JSON.parse(JSON.stringify(serving)), serving, 'handles are JSON for the audit trail');
      await restoreTo(m.at);
      await assertServes(m, 'restored');
      await h.engine.repoint(serving);
      await assertServes(current, 'back to what served before the restore');
    });

    test('by time: a checkpoint without an LSN restores what was committed at its moment', async () => {
      await h.write(label('moment-a'));
      const m = await markMoment();
      await h.write(label('moment-b'));
      assert.deepEqual(await h.engine.restorability(m.at), { restorable: true });
      if (h.engine.restorableMany) assert.deepEqual(await h.engine.restorableMany([m.at]), [{ restorable: true }], 'listings agree');
      const handle = await h.engine.fork(m.at);
      // Where the moment was found, when the engine can tell before the cut-over (Neon finds it on its side).
      if (handle.at) {
        assert.equal(typeof handle.at.timelineId, 'string');
        assert.ok(isLsn(handle.at.lsn), `the fork reports the position it found: ${handle.at.lsn}`);
      }
      await h.engine.repoint(handle);
      await assertServes(m, 'the data as at the moment: the write before it, not the one after');
      const after = label('moment-c');
      await h.write(after);
      if (h.readLabels) assert.deepEqual(await h.readLabels(), [...m.labels!, after], 'writes after a restore by time land on the restored data');
    });

    test('by time: a moment with no write after it (an idle database) restores to that moment', async () => {
      await h.write(label('idle-a'));
      const m = await markMoment();
      await restoreTo(m.at);
      await assertServes(m, 'restored to a moment nothing was committed after');
      const after = label('idle-b');
      await h.write(after);
      if (h.readLabels) assert.deepEqual(await h.readLabels(), [...m.labels!, after]);
    });

    test('by time: moments on abandoned timelines restore their own history, to the end of an idle one', async () => {
      await h.write(label('moments-a'));
      const m1 = await markMoment();
      await h.write(label('moments-b'));
      const m2 = await markMoment();
      await restoreTo(m1.at);
      await assertServes(m1, 'restore to m1');
      await h.write(label('moments-c'));
      // Nothing is written on this timeline after m3: it is abandoned idle by the next restore.
      const m3 = await markMoment();
      await restoreTo(m2.at);
      await assertServes(m2, 'restore to m2, on the timeline the first restore abandoned');
      await restoreTo(m3.at);
      await assertServes(m3, 'restore to m3, on the second timeline, abandoned with nothing committed after m3');
    });

    test('by time: a kept time-based checkpoint stays restorable through prune', async () => {
      await h.write(label('prune-moment-a'));
      const m = await markMoment();
      await h.write(label('prune-moment-b'));
      // The local engine takes a newer base backup here, which would let prune drop the one the moment needs.
      await h.engine.maintain?.({ force: true });
      await h.engine.prune([m.at]);
      assert.deepEqual(await h.engine.restorability(m.at), { restorable: true });
      await restoreTo(m.at);
      await assertServes(m, 'restored after prune kept what the moment needs');
    });

    test('by time: a moment in the future is beyond the head, and fork refuses it', async () => {
      const { timelineId } = await h.engine.head();
      const future: MomentInHistory = { timelineId, lsn: null, createdAt: new Date(Date.now() + 3_600_000).toISOString() };
      const verdict = await h.engine.restorability(future);
      assert.equal(!verdict.restorable && verdict.reason, 'beyond-head');
      if (h.engine.restorableMany) assert.equal((await h.engine.restorableMany([future]))[0]?.restorable, false, 'listings agree');
      const error = await assertRejects(() => h.engine.fork(future), 'LSN_BEYOND_HEAD');
      assert.match(error.message, /by time/, 'the message says the point is a moment');
    });

    test('by time: a moment past retention is expired, and fork refuses it', async () => {
      const expired = await h.expiredPoint();
      assert.ok(expired.createdAt, 'the expired point has a time');
      const moment: MomentInHistory = { timelineId: expired.timelineId, lsn: null, createdAt: expired.createdAt };
      const verdict = await h.engine.restorability(moment);
      assert.equal(!verdict.restorable && verdict.reason, 'expired', !verdict.restorable ? verdict.message : 'restorable');
      assert.ok(!verdict.restorable && verdict.message.length > 0);
      await assertRejects(() => h.engine.fork(moment), 'EXPIRED');
    });

    test('retention: says how far back a fork reaches; a fresh marker is within it', async () => {
      const retention = await h.engine.retention();
      assert.ok(retention.summary.length > 0, 'a summary for people');
      assert.ok(retention.oldest !== undefined || retention.windowSeconds !== undefined, 'an oldest position or a time window');
      if (retention.oldest) assert.ok(isLsn(retention.oldest.lsn), 'the oldest position is an LSN');
      if (retention.windowSeconds !== undefined) assert.ok(retention.windowSeconds > 0);
      await h.write(label('retention'));
      const m = await mark();
      assert.deepEqual(await h.engine.restorability(m.at), { restorable: true });
    });

    test('restorability: a position past retention is expired, and fork refuses it', async () => {
      const expired = await h.expiredPoint();
      const verdict = await h.engine.restorability(expired);
      assert.equal(verdict.restorable, false);
      assert.equal(!verdict.restorable && verdict.reason, 'expired');
      assert.ok(!verdict.restorable && verdict.message.length > 0);
      await assertRejects(() => h.engine.fork(expired), 'EXPIRED');
    });

    test('restorability: an LSN beyond the head is refused', async () => {
      const head = await h.engine.head();
      const beyond: PointInHistory = { timelineId: head.timelineId, lsn: formatLsn(parseLsn(head.lsn) + 0x40000000n), createdAt: new Date().toISOString() };
      const verdict = await h.engine.restorability(beyond);
      assert.equal(!verdict.restorable && verdict.reason, 'beyond-head');
      await assertRejects(() => h.engine.fork(beyond), 'LSN_BEYOND_HEAD');
    });

    test('restorability: a timeline the engine never had is unknown', async () => {
      const head = await h.engine.head();
      const unknown: PointInHistory = { timelineId: h.unknownTimelineId, lsn: head.lsn, createdAt: new Date().toISOString() };
      const verdict = await h.engine.restorability(unknown);
      assert.equal(!verdict.restorable && verdict.reason, 'unknown-timeline');
      await assertRejects(() => h.engine.fork(unknown), 'TIMELINE_UNKNOWN');
    });

    test('a cancelled restore stops with CANCELLED and changes nothing', async () => {
      await h.write(label('cancel-a'));
      const m = await mark();
      await h.write(label('cancel-b'));
      const now = await mark();
      const controller = new AbortController();
      controller.abort();
      await assertRejects(() => h.engine.fork(m.at, { signal: controller.signal }), 'CANCELLED');
      const handle = await h.engine.fork(m.at);
      await assertRejects(() => h.engine.repoint(handle, { signal: controller.signal }), 'CANCELLED');
      await h.engine.discard(handle);
      await assertServes(now, 'a cancelled restore changed the data');
      assert.equal((await h.engine.head()).timelineId, now.at.timelineId);
    });

    for (const kind of options.faults ?? []) {
      const code = FAULT_CODES[kind];
      test(`${kind}: a lasting fault fails the restore with ${code} and leaves the data as it was`, async () => {
        await h.write(label(`${kind}-a`));
        const m = await mark();
        await h.write(label(`${kind}-b`));
        const now = await mark();
        h.injectFault!(kind, 'always');
        await assertRejects(() => restoreTo(m.at), code);
        h.clearFaults!();
        await assertServes(now, `a failed restore (${kind}) changed the data`);
        assert.equal((await h.engine.head()).timelineId, now.at.timelineId);
      });
      if (RETRIED.has(kind)) {
        test(`${kind}: a passing fault is retried and the restore lands`, async () => {
          await h.write(label(`${kind}-retry-a`));
          const m = await mark();
          await h.write(label(`${kind}-retry-b`));
          h.injectFault!(kind, 2);
          await restoreTo(m.at);
          await assertServes(m, `the restore after a passing ${kind} fault`);
        });
      }
    }
  });
}

/** Long enough that commits before and after a moment are apart by the clock (commit times have microseconds, moments milliseconds). */
function pause(): Promise<void> {
  return new Promise((r) => setTimeout(r, 30));
}
