// expiryOf against a fixed clock: which checkpoints are about to go by the keep count and by a history window, and the words the faces show.
import * as assert from 'node:assert/strict';
import { durationText, expiringSoon, expiryOf, type ExpiryCandidate } from '../../src/core/expiry';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const HOUR = 3600;

/** n checkpoints, newest first, one a minute apart ending now. */
function journal(n: number, extra: (i: number) => Partial<ExpiryCandidate> = () => ({})): ExpiryCandidate[] {
  return Array.from({ length: n }, (_, i) => ({ id: `c${i}`, createdAt: new Date(NOW - i * 60_000).toISOString(), restorable: true, ...extra(i) }));
}

describe('expiryOf', () => {
  describe('count-based (the local engine: the newest `keep` stay)', () => {
    it('warns for the oldest 10 % of the window, with how many more checkpoints push each out', () => {
      const result = expiryOf(journal(50), undefined, 50, NOW);
      const soon = result.map((e, i) => (e ? i : -1)).filter((i) => i >= 0);
      assert.deepEqual(soon, [45, 46, 47, 48, 49]);
      assert.deepEqual(result[49], { afterCheckpoints: 1, soon: true, text: 'expires after 1 more checkpoint' });
      assert.deepEqual(result[45], { afterCheckpoints: 5, soon: true, text: 'expires after 5 more checkpoints' });
      assert.equal(result[44], undefined, 'not yet near: no expiry to show');
    });

    it('warns for at least the oldest two, even in a small window', () => {
      const result = expiryOf(journal(5), undefined, 5, NOW);
      assert.deepEqual(
        result.map((e) => e?.afterCheckpoints),
        [undefined, undefined, undefined, 2, 1],
      );
    });

    it('counts indexes from the newest, so a journal shorter than `keep` has nothing near', () => {
      assert.deepEqual(expiryOf(journal(10), undefined, 50, NOW), Array(10).fill(undefined));
    });

    it('pinned ones never expire, but still take their place in the count', () => {
      const result = expiryOf(journal(10, (i) => ({ pinned: i === 9 })), undefined, 10, NOW);
      assert.equal(result[9], undefined);
      assert.equal(result[8]?.afterCheckpoints, 2, 'the pinned one counts among the newest 10');
    });

    it('the last restore’s target and undo point are never pruned by count, so they get no count warning', () => {
      const result = expiryOf(journal(10), undefined, 10, NOW, { neverByCount: new Set(['c9']) });
      assert.equal(result[9], undefined);
      assert.equal(result[8]?.afterCheckpoints, 2);
    });

    it('one beyond `keep` (kept only until the next prune) goes with the next checkpoint', () => {
      const result = expiryOf(journal(12), undefined, 10, NOW);
      assert.equal(result[11]?.afterCheckpoints, 1);
      assert.equal(result[10]?.afterCheckpoints, 1);
    });

    it('an unrestorable one has nothing left to expire', () => {
      const result = expiryOf(journal(5, (i) => ({ restorable: i !== 4 })), undefined, 5, NOW);
      assert.equal(result[4], undefined);
    });
  });

  describe('time-based (Neon: a history window)', () => {
    const window = { windowSeconds: 6 * HOUR };

    it('every checkpoint expires at createdAt + window; soon when less than an hour is left (a 6 h window)', () => {
      const checkpoints: ExpiryCandidate[] = [
        { id: 'fresh', createdAt: new Date(NOW - 60_000).toISOString() },
        { id: 'old', createdAt: new Date(NOW - (6 * HOUR - 40 * 60) * 1000).toISOString() },
        { id: 'edge', createdAt: new Date(NOW - 5 * HOUR * 1000).toISOString() },
      ];
      const [fresh, old, edge] = expiryOf(checkpoints, window, 1000, NOW);
      assert.equal(fresh?.at, new Date(NOW - 60_000 + 6 * HOUR * 1000).toISOString());
      assert.equal(fresh?.soon, false);
      assert.equal(fresh?.text, 'expires in 5 hours');
      assert.deepEqual(old, { at: new Date(NOW + 40 * 60_000).toISOString(), soon: true, text: 'expires in 40 minutes' });
      assert.equal(edge?.soon, false, 'exactly an hour left is not yet "soon"');
    });

    it('the horizon is a tenth of a long window (30 days → 3 days)', () => {
      const days = (n: number) => n * 24 * HOUR * 1000;
      const checkpoints: ExpiryCandidate[] = [
        { id: 'a', createdAt: new Date(NOW - days(26.5)).toISOString() },
        { id: 'b', createdAt: new Date(NOW - days(27.5)).toISOString() },
      ];
      const [a, b] = expiryOf(checkpoints, { windowSeconds: 30 * 24 * HOUR }, 1000, NOW);
      assert.equal(a?.soon, false);
      assert.equal(a?.text, 'expires in 3 days');
      assert.equal(b?.soon, true);
      assert.equal(b?.text, 'expires in 2 days', '2.5 days, rounded down');
    });

    it('pinned ones have no expiry; a moment already past says so', () => {
      const checkpoints: ExpiryCandidate[] = [
        { id: 'p', createdAt: new Date(NOW - 7 * HOUR * 1000).toISOString(), pinned: true },
        { id: 'x', createdAt: new Date(NOW - 6 * HOUR * 1000 - 1000).toISOString() },
      ];
      const [p, x] = expiryOf(checkpoints, window, 1000, NOW);
      assert.equal(p, undefined);
      assert.deepEqual(x && { soon: x.soon, text: x.text }, { soon: true, text: 'expires any moment now' });
    });

    it('both rules at once: the count is named while the time is far, the time once it is near', () => {
      const checkpoints = journal(3);
      checkpoints[2]!.createdAt = new Date(NOW - (6 * HOUR - 600) * 1000).toISOString();
      const [, middle, oldest] = expiryOf(checkpoints, window, 3, NOW);
      assert.equal(middle?.text, 'expires after 2 more checkpoints');
      assert.equal(middle?.soon, true);
      assert.ok(middle?.at, 'the time is still given');
      assert.equal(oldest?.text, 'expires in 10 minutes');
      assert.equal(oldest?.afterCheckpoints, 1);
    });

    it('no window (0, or a pageserver: no windowSeconds) means count-based only', () => {
      assert.deepEqual(expiryOf(journal(3), { windowSeconds: 0 }, 1000, NOW), [undefined, undefined, undefined]);
      assert.deepEqual(expiryOf(journal(3), {}, 1000, NOW), [undefined, undefined, undefined]);
    });
  });

  it('expiringSoon keeps only the soon ones, oldest last', () => {
    const listed = expiryOf(journal(5), { windowSeconds: 100 * HOUR }, 5, NOW).map((expiry, i) => ({ id: `c${i}`, ...(expiry ? { expiry } : {}) }));
    assert.deepEqual(
      expiringSoon(listed).map((c) => c.id),
      ['c3', 'c4'],
    );
  });

  it('durationText rounds down', () => {
    assert.equal(durationText(59_000), 'less than a minute');
    assert.equal(durationText(60_000), '1 minute');
    assert.equal(durationText(40.9 * 60_000), '40 minutes');
    assert.equal(durationText(119 * 60_000), '119 minutes');
    assert.equal(durationText(2 * 3600_000), '2 hours');
    assert.equal(durationText(47.9 * 3600_000), '47 hours');
    assert.equal(durationText(72 * 3600_000), '3 days');
  });
});
