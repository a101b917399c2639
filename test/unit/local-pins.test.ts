// The local engine's pin cost: which archived WAL segments a replay from a base backup to a pinned point reads, across timelines.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseLsn } from '../../src/base/lsn';
import { historyReader } from '../../src/engines/local/archive';
import { walBetween } from '../../src/engines/local/pins';

const SEGMENT = 16 * 1024 * 1024;

describe('local pins: walBetween', () => {
  let dir: string;
  /** Each file's size is its own tag (segment number × 10 + timeline), so a sum names the files counted. */
  const segment = (timeline: number, n: number, suffix = '') => {
    const name = `${timeline.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}${suffix}`;
    fs.writeFileSync(path.join(dir, name), Buffer.alloc(n * 10 + timeline));
  };

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-pins-'));
    for (let n = 1; n <= 6; n++) segment(1, n);
    // Timeline 2 branched off timeline 1 at 0/3800000 (inside segment 3): its segment 3 holds timeline 1's WAL up to there.
    fs.writeFileSync(path.join(dir, '00000002.history'), '1\t0/3800000\tno recovery target specified\n');
    segment(1, 3, '.partial');
    for (let n = 3; n <= 7; n++) segment(2, n);
    fs.writeFileSync(path.join(dir, '000000010000000000000002.00000028.backup'), 'label');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const count = (timeline: number, start: string, end: string | undefined) => walBetween(dir, historyReader(dir), timeline, parseLsn(start), end === undefined ? undefined : parseLsn(end), SEGMENT);

  it('on one timeline: from the backup’s start segment to the point’s, both included', () => {
    assert.deepEqual(count(1, '0/2000028', '0/4100000'), { segments: 3, bytes: 21 + 31 + 41 });
  });

  it('across a switch: the ancestor up to the segment before the switch, then the descendant (not timeline 1’s abandoned future)', () => {
    assert.deepEqual(count(2, '0/1000028', '0/5800000'), { segments: 5, bytes: 11 + 21 + 32 + 42 + 52 });
  });

  it('a time-based point (no LSN): every segment of the ancestry since the backup, an upper bound', () => {
    assert.deepEqual(count(2, '0/2000028', undefined), { segments: 6, bytes: 21 + 32 + 42 + 52 + 62 + 72 });
  });

  it('a .partial segment counts only when its whole segment is not archived', () => {
    segment(4, 2, '.partial');
    assert.deepEqual(count(4, '0/2000028', '0/2100000'), { segments: 1, bytes: 24 });
    segment(4, 2);
    assert.deepEqual(count(4, '0/2000028', '0/2100000'), { segments: 1, bytes: 24 });
  });

  it('a timeline whose history file is gone counts its own segments only', () => {
    segment(3, 7);
    assert.deepEqual(count(3, '0/1000028', '0/7000100'), { segments: 1, bytes: 73 });
  });
});
