// The pageserver engine's memory: which forks descend from which, and which prune may delete.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import { newTimelineId } from '../../src/engines/pageserver/engine';
import { forkAncestors, forksToDelete, loadPageserverState, savePageserverState, type PageserverState } from '../../src/engines/pageserver/state';

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
