// The pageserver engine's memory: which forks descend from which, and which prune may delete.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import { newTimelineId } from '../../src/engines/pageserver/engine';
import { leaseFinder, leaseIsValid, leaseOf, leaseWarnings, renewalDue, renewalTime } from '../../src/engines/pageserver/leases';
import { forkAncestors, forksToDelete, loadPageserverState, savePageserverState, type LeaseRecord, type PageserverState } from '../../src/engines/pageserver/state';

const fork = (timelineId: string, ancestorTimelineId: string) => ({ timelineId, ancestorTimelineId, ancestorLsn: '0/100', createdAt: '2026-11-22T10:00:00Z' });

// root ← a ← c, root ← b, c ← d
const state = (serving: string): PageserverState => ({
  version: 1,
  tenantId: 't',
  serving,
  forks: [fork('a', 'root'), fork('b', 'root'), fork('c', 'a'), fork('d', 'c')],
  leases: [],
});

describe('pageserver state: ancestry and prune', function () {
  it('follows the forks Lockstep made back to the configured timeline', () => {
    assert.deepEqual(forkAncestors(state('d'), 'd'), ['c', 'a', 'root']);
    assert.deepEqual(forkAncestors(state('d'), 'root'), []);
  });

  it('keeps the serving timeline, the kept checkpoints\' timelines, and all their ancestors', () => {
    assert.deepEqual(forksToDelete(state('d'), []).map((f) => f.timelineId), ['b']);
    assert.deepEqual(forksToDelete(state('b'), []).map((f) => f.timelineId), ['a', 'c', 'd']);
    assert.deepEqual(forksToDelete(state('b'), ['c']).map((f) => f.timelineId), ['d']);
    assert.deepEqual(forksToDelete(state('root'), ['d', 'b']), []);
  });

  it('a cycle in a hand-edited file cannot hang it', () => {
    const looped: PageserverState = { ...state('x'), forks: [fork('x', 'y'), fork('y', 'x')] };
    assert.deepEqual(forkAncestors(looped, 'x'), ['y', 'x']);
  });

  it('timeline ids are fresh 32-hex ids', () => {
    const ids = new Set(Array.from({ length: 100 }, () => newTimelineId()));
    assert.equal(ids.size, 100);
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
  });
});

describe('pageserver state: the file', function () {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-ps-state-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('starts serving the configured timeline and round-trips privately', () => {
    const file = path.join(dir, 'pageserver-state.json');
    assert.deepEqual(loadPageserverState(file, 't', 'root'), { version: 1, tenantId: 't', serving: 'root', forks: [], leases: [] });
    savePageserverState(file, state('c'));
    assert.deepEqual(loadPageserverState(file, 't', 'root'), state('c'));
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  it('refuses another tenant\'s file and a broken one', () => {
    const file = path.join(dir, 'pageserver-state.json');
    savePageserverState(file, state('c'));
    assert.throws(() => loadPageserverState(file, 'other', 'root'), (e: unknown) => isLockstepError(e, 'CONFIG'));
    fs.writeFileSync(file, '[]');
    assert.throws(() => loadPageserverState(file, 't', 'root'), (e: unknown) => isLockstepError(e, 'CONFIG'));
  });
});

describe('pageserver state: leases', function () {
  const T0 = Date.parse('2026-12-02T10:00:00.000Z');
  const MIN = 60_000;
  const lease = (lsn: string, grantedMin: number, lengthMin: number, extra: Partial<LeaseRecord> = {}): LeaseRecord => ({
    timelineId: 'tl',
    lsn,
    grantedAt: new Date(T0 + grantedMin * MIN).toISOString(),
    validUntil: new Date(T0 + (grantedMin + lengthMin) * MIN).toISOString(),
    ...extra,
  });
  const withLeases = (leases: LeaseRecord[], extra: Partial<PageserverState> = {}): PageserverState => ({ version: 1, tenantId: 't', serving: 'tl', forks: [], leases, ...extra });

  it('finds the lease of a point by (timeline, LSN), and of a moment by its time', () => {
    const s = withLeases([lease('0/100', 0, 10), lease('0/200', 0, 10, { moment: '2026-12-02T09:00:00.000Z' })]);
    assert.equal(leaseOf(s, { timelineId: 'tl', lsn: '0/100' })?.lsn, '0/100');
    assert.equal(leaseOf(s, { timelineId: 'other', lsn: '0/100' }), undefined);
    assert.equal(leaseOf(s, { timelineId: 'tl', lsn: null, createdAt: '2026-12-02T09:00:00.000Z' })?.lsn, '0/200');
    assert.equal(leaseOf(s, { timelineId: 'tl', lsn: null, createdAt: '2026-12-02T09:00:00.001Z' }), undefined);
    // The listing's index answers the same.
    const find = leaseFinder(s);
    for (const at of [
      { timelineId: 'tl', lsn: '0/100' },
      { timelineId: 'other', lsn: '0/100' },
      { timelineId: 'tl', lsn: null, createdAt: '2026-12-02T09:00:00.000Z' },
      { timelineId: 'tl', lsn: null, createdAt: '2026-12-02T09:00:00.001Z' },
    ] as const) {
      assert.equal(find(at), leaseOf(s, at));
    }
  });

  it('a lease is valid until its valid_until, due for renewal from half its length', () => {
    const l = lease('0/100', 0, 10);
    assert.equal(leaseIsValid(l, T0 + 10 * MIN - 1), true);
    assert.equal(leaseIsValid(l, T0 + 10 * MIN), false);
    assert.equal(renewalTime(l), T0 + 5 * MIN);
    assert.equal(renewalDue(withLeases([l]), T0 + 5 * MIN - 1), false);
    assert.equal(renewalDue(withLeases([l]), T0 + 5 * MIN), true);
    assert.equal(renewalDue(withLeases([l]), T0 + 10 * MIN), true, 'lapsed: the upkeep asks again (granted while GC has not passed it)');
    assert.equal(renewalDue(withLeases([{ ...l, lost: true }]), T0 + 10 * MIN), false, 'lost (GC passed it): nothing asks again');
    assert.equal(renewalDue(withLeases([l], { leasesUnsupported: true }), T0 + 6 * MIN), false);
    // Written before grant times were recorded: renewed at the next upkeep.
    const { grantedAt: _g, ...old } = l;
    assert.equal(renewalDue(withLeases([old]), T0), true);
  });

  it('warns of a pinned checkpoint whose lease lapsed or is missing, of lapsed kept leases, of leases ending soon', () => {
    const pins = [
      { checkpointId: 'aaaaaaaaaaaa1111', timelineId: 'tl', lsn: '0/100', pinnedAt: '2026-12-02T09:00:00.000Z' },
      { checkpointId: 'bbbbbbbbbbbb2222', timelineId: 'tl', lsn: '0/900', pinnedAt: '2026-12-02T09:00:00.000Z' },
    ];
    const s = withLeases([lease('0/100', 0, 10), lease('0/200', 0, 10), lease('0/300', 0, 60)], { pins });
    const at = T0 + 31 * MIN;
    const warnings = leaseWarnings(s, at);
    assert.equal(warnings.length, 4, warnings.join('\n'));
    assert.match(warnings[0]!, /pinned checkpoint aaaaaaaaaaaa \(timeline tl at 0\/100\) lapsed at 2026-12-02T10:10:00.000Z.*lsn_lease_length/);
    assert.match(warnings[1]!, /pinned checkpoint bbbbbbbbbbbb .* is not held/);
    assert.match(warnings[2]!, /^1 kept checkpoint lease\(s\) lapsed \(the first at 2026-12-02T10:10:00.000Z\)/);
    assert.match(warnings[3]!, /^1 LSN lease\(s\) end soon \(the first in 29 min, at 2026-12-02T11:00:00.000Z\)/);
    assert.deepEqual(leaseWarnings(withLeases([lease('0/300', 0, 60)]), T0 + MIN), []);
    const lost = leaseWarnings(withLeases([lease('0/100', 0, 10, { lost: true })], { pins: [pins[0]!] }), at);
    assert.equal(lost.length, 1);
    assert.match(lost[0]!, /GC has passed it: it can no longer be restored \(`lockstep unpin` it\)/);
  });

  it('reads files written before pins, and refuses a broken pins list', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-ps-leases-'));
    try {
      const file = path.join(dir, 'pageserver-state.json');
      savePageserverState(file, withLeases([lease('0/100', 0, 10)]));
      assert.equal(loadPageserverState(file, 't', 'tl').pins, undefined);
      fs.writeFileSync(file, JSON.stringify({ ...withLeases([]), pins: 'x' }));
      assert.throws(() => loadPageserverState(file, 't', 'tl'), (e: unknown) => isLockstepError(e, 'CONFIG'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
