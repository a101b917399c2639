// Which hint a failed connection to the local database gets: a refused login is not "start the database".
import * as assert from 'node:assert/strict';
import { engineDown } from '../../src/engines/local/server';

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

describe('local engine: a connection that fails', () => {
  for (const code of ['28P01', '28000']) {
    it(`SQLSTATE ${code} (login refused) is AUTH, with a hint about the password, not about starting it`, () => {
      const error = engineDown(55432, pgError(code, 'password authentication failed for user "lockstep"'));
      assert.equal(error.code, 'AUTH');
      assert.match(error.message, /refused Lockstep's login \(password authentication failed/);
      assert.match(error.hint ?? '', /password/);
      assert.doesNotMatch(error.hint ?? '', /db start|Start Local Database/);
    });
  }

  it('ECONNREFUSED (nothing listens) is ENGINE_DOWN: start it', () => {
    const error = engineDown(55432, pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:55432'));
    assert.equal(error.code, 'ENGINE_DOWN');
    assert.match(error.hint ?? '', /lockstep db start/);
  });
});
