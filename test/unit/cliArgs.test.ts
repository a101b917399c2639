// The CLI's numeric options: decimal digits in range, or bad input (exit 2) with a message that names the option and the value.
import * as assert from 'node:assert/strict';
import { integer, port } from '../../src/cli/args';
import { exitCodeFor, isLockstepError } from '../../src/base/errors';

/** What Number() accepts and a person did not mean as a count. */
const NOT_DECIMAL = ['0x10', '1e1', '+5', ' 5', '5 ', '5.0', '', '-1', '0b1', '0o7', 'Infinity', 'NaN', '1_000', '５', '99999999999999999999'];

const refused = (name: string, got: string) => (error: unknown) =>
  isLockstepError(error, 'BAD_INPUT') && exitCodeFor(error) === 2 && error.message.startsWith(name) && error.message.includes(`(got "${got}")`);

describe('cli args: integer', () => {
  it('takes decimal digits in range', () => {
    assert.equal(integer('5', '--limit', 1), 5);
    assert.equal(integer('010', '--limit', 1), 10);
    assert.equal(integer(undefined, '--limit', 1), undefined);
  });

  for (const value of NOT_DECIMAL) {
    it(`refuses ${JSON.stringify(value)} with exit 2, naming the option`, () => {
      assert.throws(() => integer(value, '--limit', 0), refused('--limit', value));
    });
  }

  it('refuses a number below the minimum or above the maximum', () => {
    assert.throws(() => integer('0', '--keep', 1), refused('--keep', '0'));
    assert.throws(() => integer('11', '--keep', 1, 10), /--keep must be a whole number from 1 to 10/);
  });
});

describe('cli args: port', () => {
  it('takes 1024–65535', () => {
    assert.equal(port('1024', '--port'), 1024);
    assert.equal(port('65535', '--port'), 65535);
    assert.equal(port(undefined, '--port'), undefined);
  });

  for (const value of ['0', '65536', '99999', ...NOT_DECIMAL]) {
    it(`refuses ${JSON.stringify(value)} as a port number from 1 to 65535`, () => {
      assert.throws(() => port(value, '--port'), refused('--port', value));
      assert.throws(() => port(value, '--port'), /from 1 to 65535/);
    });
  }

  it('refuses a privileged port, saying why', () => {
    assert.throws(() => port('80', '--port'), (error: unknown) => isLockstepError(error, 'BAD_INPUT') && /privileged port/.test(error.message) && /1024 to 65535/.test(error.hint ?? ''));
  });
});
