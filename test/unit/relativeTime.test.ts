// relativeTime against a fixed clock: the words the tree, the status bar and the preview all show.
import * as assert from 'node:assert/strict';
import { relativeTime } from '../../src/core/relativeTime';

const NOW = Date.parse('2026-06-01T12:00:00.000Z');
const ago = (seconds: number): string => relativeTime(new Date(NOW - seconds * 1000).toISOString(), NOW);

describe('relativeTime', () => {
  it('says "just now" under 45 seconds, then minutes', () => {
    assert.equal(ago(0), 'just now');
    assert.equal(ago(44), 'just now');
    assert.equal(ago(45), '1 minute ago');
    assert.equal(ago(120), '2 minutes ago');
    assert.equal(ago(149), '2 minutes ago');
    assert.equal(ago(151), '3 minutes ago');
  });

  it('moves to hours, days, months and years at their thresholds', () => {
    assert.equal(ago(3600), '1 hour ago');
    assert.equal(ago(86400 * 2), '2 days ago');
    assert.equal(ago(86400 * 60), '2 months ago');
    assert.equal(ago(86400 * 365 * 3), '3 years ago');
  });
});
