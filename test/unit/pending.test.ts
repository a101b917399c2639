// The hook's spool files (core/pending.ts): what a complete entry is, what it becomes, and what is left alone.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isCheckpoint } from '../../src/core/checkpoint';
import { parsePending, pendingCheckpoint, pendingId, readPending, spooledCheckpoints, stillMeasuring } from '../../src/core/pending';

const SHA = 'a'.repeat(40);

function entryText(extra = ''): string {
  return `lockstep-pending 1\nsha ${SHA}\ntime 2026-12-01T10:00:00.123Z\nref refs/heads/main\n${extra}end\n`;
}

describe('the hook spool', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-pending-'));
    fs.mkdirSync(path.join(dir, 'pending'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('reads a measured entry as a checkpoint at its position, with an id both a listing and the fold agree on', () => {
    const file = path.join(dir, 'pending', `${SHA}.123`);
    fs.writeFileSync(file, entryText('timeline 3\nlsn 0/3000060\n'));
    const [entry] = readPending(dir);
    assert.equal(entry?.id, pendingId(file));
    const c = pendingCheckpoint(entry!, 'local', '7');
    assert.ok(c && isCheckpoint(c));
    assert.deepEqual([c.timelineId, c.lsn, c.createdAt, c.branch, c.commitSha, c.kind], ['3', '0/3000060', '2026-12-01T10:00:00.123Z', 'main', SHA, 'commit']);
    assert.equal(c.unmeasured, undefined);
  });

  it('reads an unmeasured entry as a time-based checkpoint on the serving timeline, with the last reason given', () => {
    fs.writeFileSync(path.join(dir, 'pending', `${SHA}.9`), entryText() + 'why first reason\nwhy the database did not answer within 1.5 s\n');
    const [entry] = readPending(dir);
    const c = pendingCheckpoint(entry!, 'local', '2');
    assert.ok(c && isCheckpoint(c));
    assert.deepEqual([c.timelineId, c.lsn, c.unmeasured, c.branch], ['2', null, 'the database did not answer within 1.5 s', 'main']);
    assert.equal(pendingCheckpoint(entry!, 'local', undefined), undefined, 'no timeline, no checkpoint');
  });

  it('skips a file still being written, another name, a sha that does not match its name, and a bad time', () => {
    fs.writeFileSync(path.join(dir, 'pending', `${SHA}.1`), 'lockstep-pending 1\nsha ' + SHA + '\n');
    fs.writeFileSync(path.join(dir, 'pending', `${SHA}.2.tmp`), entryText());
    fs.writeFileSync(path.join(dir, 'pending', `${'b'.repeat(40)}.3`), entryText());
    fs.writeFileSync(path.join(dir, 'pending', `${SHA}.4`), entryText().replace('10:00:00.123Z', 'yesterday'));
    assert.deepEqual(readPending(dir), []);
  });

  it('counts an unmeasured entry as still being measured only while its hook lives and it is young', () => {
    const alive = parsePending(`${SHA}.${process.pid}`, entryText().replace('2026-12-01T10:00:00.123Z', new Date().toISOString()), process.pid)!;
    assert.equal(stillMeasuring(alive), true);
    assert.equal(stillMeasuring({ ...alive, hookPid: 2 ** 22 + 1 }), false, 'its hook is gone');
    assert.equal(stillMeasuring(alive, Date.now() + 60_000), false, 'older than the hook bound');
    assert.equal(stillMeasuring({ ...alive, lsn: '0/1', timelineId: '1' }), false, 'measured');
  });

  it('lists spooled commits on the newest checkpoint timeline until they are folded in', () => {
    fs.writeFileSync(path.join(dir, 'pending', `${SHA}.5`), entryText());
    const journal = [{ timelineId: '4', createdAt: '2026-12-01T09:00:00.000Z' }, { timelineId: '3', createdAt: '2026-12-01T08:00:00.000Z' }] as never[];
    const [c] = spooledCheckpoints(dir, () => 'local', journal);
    assert.equal(c?.timelineId, '4');
    assert.deepEqual(spooledCheckpoints(dir, () => undefined, journal), [], 'not set up: nothing');
  });
});
