// LSN parsing, formatting, ordering and WAL file naming, checked against values Postgres prints.

import * as assert from 'node:assert/strict';
import { isLockstepError } from '../../src/base/errors';
import { compareLsn, formatLsn, lsnDistance, parseLsn, timelineOfWalFile, walFileName } from '../../src/base/lsn';

describe('lsn', () => {
  it('round-trips what Postgres prints', () => {
    for (const text of ['0/0', '0/16B3748', '1/0', 'FFFFFFFF/FFFFFFFF', '2A/1']) assert.equal(formatLsn(parseLsn(text)), text);
    assert.equal(formatLsn(parseLsn('0/016b3748')), '0/16B3748');
  });

  it('orders by the high half first', () => {
    assert.ok(compareLsn('1/0', '0/FFFFFFFF') > 0);
    assert.equal(compareLsn('0/10', '0/10'), 0);
    assert.equal(lsnDistance('0/10', '0/30'), 0x20n);
    assert.equal(lsnDistance('0/30', '0/10'), 0n);
  });

  it('rejects what is not an LSN with a bad-input error', () => {
    for (const bad of ['', 'x', '0/', '/1', '0/123456789', '1-2']) {
      assert.throws(() => parseLsn(bad), (e: unknown) => isLockstepError(e, 'BAD_LSN') && e.isBadInput);
    }
  });

  it('names WAL files as pg_walfile_name does', () => {
    // SELECT pg_walfile_name('0/174B308') on timeline 1 → 000000010000000000000001
    assert.equal(walFileName(1, parseLsn('0/174B308')), '000000010000000000000001');
    assert.equal(walFileName(2, parseLsn('1/FF000000')), '0000000200000001000000FF');
    assert.equal(walFileName(1, parseLsn('0/3000000'), 1024 * 1024), '000000010000000000000030');
    assert.equal(timelineOfWalFile('0000000A0000000000000001'), 10);
  });
});
