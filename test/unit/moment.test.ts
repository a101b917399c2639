// parseMoment against a fixed clock (what `restore --at`, `diff --at` and the "Restore to a Moment…" box accept), and which timeline served at a time.
import * as assert from 'node:assert/strict';
import type { Checkpoint } from '../../src/core/checkpoint';
import { LockstepError } from '../../src/base/errors';
import { parseMoment, timelineServingAt } from '../../src/core/target';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const time = (text: string): string => {
  const m = parseMoment(text, NOW);
  assert.equal(m.kind, 'time', text);
  return (m as { iso: string }).iso;
};
const badInput = (text: string, message?: RegExp): void => {
  assert.throws(
    () => parseMoment(text, NOW),
    (e: unknown) => e instanceof LockstepError && e.code === 'BAD_INPUT' && e.isBadInput && (message === undefined || message.test(`${e.message} ${e.hint ?? ''}`)),
    text,
  );
};

/** The ISO text of a local wall-clock time (the machine's zone), as parseMoment must read a zoneless time. */
const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): string => new Date(y, mo - 1, d, h, mi, s, ms).toISOString();

describe('parseMoment', () => {
  it('reads ISO times with a zone exactly, to the millisecond and beyond', () => {
    assert.equal(time('2026-06-01T10:15:00Z'), '2026-06-01T10:15:00.000Z');
    assert.equal(time('2026-06-01T10:15:00.123Z'), '2026-06-01T10:15:00.123Z');
    assert.equal(time('2026-06-01T12:15:00.5+02:00'), '2026-06-01T10:15:00.500Z');
    assert.equal(time('2026-06-01T05:15:00-0500'), '2026-06-01T10:15:00.000Z');
    assert.equal(time('2026-06-01 10:15:00+00'), '2026-06-01T10:15:00.000Z', 'as Postgres prints a timestamptz');
    assert.equal(time('2026-06-01 10:15:00.123456+00'), '2026-06-01T10:15:00.123456Z', 'microseconds kept');
    assert.equal(time('2026-06-01T10:15z'), '2026-06-01T10:15:00.000Z');
    assert.equal(time('  2026-06-01T10:15:00Z  '), '2026-06-01T10:15:00.000Z');
  });

  it('reads a time without a zone as local time, and a date alone as local midnight', () => {
    assert.equal(time('2026-05-31 10:15'), local(2026, 5, 31, 10, 15));
    assert.equal(time('2026-05-31T10:15:30.250'), local(2026, 5, 31, 10, 15, 30, 250));
    assert.equal(time('2026-05-30'), local(2026, 5, 30));
  });

  it('reads relative times back from now', () => {
    assert.equal(time('10 minutes ago'), '2026-06-01T11:50:00.000Z');
    assert.equal(time('2h ago'), '2026-06-01T10:00:00.000Z');
    assert.equal(time('90s ago'), '2026-06-01T11:58:30.000Z');
    assert.equal(time('1 day ago'), '2026-05-31T12:00:00.000Z');
    assert.equal(time('an hour ago'), '2026-06-01T11:00:00.000Z');
    assert.equal(time('1h 30m ago'), '2026-06-01T10:30:00.000Z');
    assert.equal(time('1.5 hours ago'), '2026-06-01T10:30:00.000Z');
    assert.equal(time('2 Weeks Ago'), '2026-05-18T12:00:00.000Z');
    assert.equal(time('1 minute, 5 seconds ago'), '2026-06-01T11:58:55.000Z');
  });

  it('reads LSNs, normalised as Postgres prints them', () => {
    assert.deepEqual(parseMoment('0/3000028', NOW), { kind: 'lsn', lsn: '0/3000028' });
    assert.deepEqual(parseMoment('1/0000abcd', NOW), { kind: 'lsn', lsn: '1/ABCD' });
    assert.deepEqual(parseMoment('2@0/3000028', NOW), { kind: 'lsn', lsn: '0/3000028', timelineId: '2' }, 'as `lockstep list` prints a position');
    assert.deepEqual(parseMoment('br-cool-dawn-123@0/1A', NOW), { kind: 'lsn', lsn: '0/1A', timelineId: 'br-cool-dawn-123' });
  });

  it('refuses a moment in the future, saying what time it is', () => {
    badInput('2026-06-01T12:00:00.001Z', /future.*2026-06-01T12:00:00\.000Z now/);
    badInput('2027-01-01T00:00:00Z', /future/);
    badInput('0 minutes ago', /not in the past/);
    assert.equal(time('2026-06-01T12:00:00Z'), '2026-06-01T12:00:00.000Z', 'now itself is not the future');
  });

  it('refuses garbage with examples', () => {
    for (const text of ['', 'yesterday-ish', 'ten minutes ago', '5 parsecs ago', '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-06-01T25:00:00Z', '2026-06-01T10:00:00.1234567Z', '0/xyz', 'HEAD~1', '2@yesterday', '@0/1', '2026-06-01T10:00:00 PST']) {
      badInput(text, /ISO time|unit of time|valid|microsecond|moment/);
    }
    badInput('nonsense', /10 minutes ago.*0\/3000028/);
  });
});

describe('timelineServingAt', () => {
  const preRestore = (timelineId: string, createdAt: string): Checkpoint =>
    ({ id: 'aaaaaaaaaaaa', kind: 'pre-restore', timelineId, lsn: '0/1', createdAt, commitSha: null, branch: null, subject: null, author: null, filesChanged: null, label: null, engine: 'local' }) as Checkpoint;
  const commit = (timelineId: string, createdAt: string): Checkpoint => ({ ...preRestore(timelineId, createdAt), kind: 'commit' });
  // Timeline 1 served until 10:00 (restore → 2), 2 until 11:00 (restore → 3), 3 serves now.
  const journal = [commit('3', '2026-06-01T11:30:00.000Z'), preRestore('2', '2026-06-01T11:00:00.000Z'), commit('2', '2026-06-01T10:30:00.000Z'), preRestore('1', '2026-06-01T10:00:00.000Z'), commit('1', '2026-06-01T09:00:00.000Z')];
  const at = (iso: string) => timelineServingAt(journal, Date.parse(iso), '3');

  it('is the timeline a later restore left, or the one serving now', () => {
    assert.equal(at('2026-06-01T09:30:00.000Z'), '1');
    assert.equal(at('2026-06-01T10:00:00.000Z'), '2', 'at the cut-over itself the new timeline serves');
    assert.equal(at('2026-06-01T10:45:00.000Z'), '2');
    assert.equal(at('2026-06-01T11:15:00.000Z'), '3');
    assert.equal(timelineServingAt([], Date.parse('2026-06-01T09:30:00.000Z'), '1'), '1');
  });
});
