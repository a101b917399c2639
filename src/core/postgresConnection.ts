// Every Postgres connection Lockstep opens: SCRAM-SHA-256 or nothing, so a password never reaches a server that cannot prove it holds the verifier.

import type { Client, ClientConfig } from 'pg';
import { LockstepError } from '../base/errors';

/**
 * Why this exists: node-postgres answers whatever the server asks. A program
 * that takes the port while the database is down can ask for a cleartext
 * password (or an MD5 hash, as good as the password to anyone who captures it)
 * and get it. SCRAM-SHA-256 sends neither: the client proves it knows the
 * password, and the server must prove it holds the verifier (pg checks the
 * server signature in its SASLFinal handler and fails the connection when it
 * does not match). So Lockstep answers SCRAM and nothing else, as libpq does
 * with `require_auth=scram-sha-256`.
 *
 * How: pg reads the password through `client.password` only when a handler
 * needs it; when that is a function it calls it first. Ours hands the password
 * out only after the server asked for SASL, and throws otherwise. Listeners put
 * in front of pg's own on the connection also record what the server asked and
 * cut the socket at once on a cleartext or MD5 request, so nothing is written
 * even if a later pg took the password another way. An AuthenticationOk that
 * comes without a completed SCRAM exchange, when we have a password, is refused
 * too: such a server proved nothing. Fails closed: a request pg knows under a
 * name we do not listen for is never handed the password.
 */

export interface ScramOnlyOptions {
  /** For messages: "the local database", "the Neon branch br-main". */
  what: string;
  /** Abandons the attempt (the caller sees the connection fail and checks the signal). */
  signal?: AbortSignal;
}

type Asked = 'nothing' | 'scram' | 'cleartext' | 'md5';

/** pg's parts we reach: the connection's events and the password it reads. */
interface PgInternals {
  connection: NodeJS.EventEmitter & { stream?: { destroy(error?: Error): void } };
  password: unknown;
}

/** Connect `config` (a connection string, or host/port/user/password) with SCRAM-SHA-256 only. The client ignores its 'error' events; queries report a dropped connection. */
export async function connectScramOnly(config: ClientConfig, options: ScramOnlyOptions): Promise<Client> {
  // Loaded on first connection: commands that read only files never pay for pg.
  const { Client } = await import('pg');
  const client = new Client(config);
  const guard = guardClient(client, options);
  // A server stopped under an idle client emits 'error'; the next query reports it.
  client.on('error', () => undefined);
  const onAbort = () => void client.end().catch(() => undefined);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    const refused = guard.refusal();
    if (refused) throw refused;
    if (error instanceof Error && error.message.startsWith('SASL:')) {
      throw new LockstepError('AUTH', `${options.what}: the server did not complete SCRAM-SHA-256 as the real database would (${error.message}); Lockstep refused the connection`, {
        hint: 'The program answering on that address may not be your database. Check what listens there.',
        cause: error,
      });
    }
    throw error;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  const refused = guard.refusal();
  if (refused) {
    await client.end().catch(() => undefined);
    throw refused;
  }
  return client;
}

/** Install the guard on a client that has not connected yet. */
function guardClient(client: Client, options: ScramOnlyOptions): { refusal(): LockstepError | undefined } {
  const internals = client as unknown as PgInternals;
  // What pg parsed (config, connection string or PGPASSWORD), taken out of its reach.
  const password = typeof internals.password === 'string' ? internals.password : undefined;
  let asked: Asked = 'nothing';
  let serverProved = false;
  let refusal: LockstepError | undefined;

  const refuse = (error: LockstepError) => {
    refusal ??= error;
    internals.connection.stream?.destroy();
  };
  const refuseRequest = (kind: 'cleartext' | 'md5') => {
    asked = kind;
    refuse(
      new LockstepError(
        'AUTH',
        `${options.what}: the server asked for ${kind === 'cleartext' ? 'a cleartext password' : 'an MD5-hashed password'}, and Lockstep refused to send it: it authenticates with SCRAM-SHA-256 only, which never reveals the password`,
        {
          hint: 'The program answering on that address may not be your database (something else may have taken the port while it was stopped). Check what listens there before you start the database again; if it is yours, set its authentication to scram-sha-256.',
        },
      ),
    );
  };

  internals.password = () => {
    if (asked !== 'scram') throw refusal ?? new LockstepError('AUTH', `${options.what}: the server asked for a password without SCRAM-SHA-256; Lockstep refused to send it`);
    return password;
  };

  const connection = internals.connection;
  connection.prependListener('authenticationCleartextPassword', () => refuseRequest('cleartext'));
  connection.prependListener('authenticationMD5Password', () => refuseRequest('md5'));
  connection.prependListener('authenticationSASL', () => {
    asked = 'scram';
  });
  // pg's own handler, after this one, checks the server's signature and fails the connection when it does not match.
  connection.prependListener('authenticationSASLFinal', () => {
    if (asked === 'scram') serverProved = true;
  });
  connection.prependListener('authenticationOk', () => {
    if (password === undefined || serverProved) return;
    refuse(
      new LockstepError('AUTH', `${options.what}: the server let Lockstep in without SCRAM-SHA-256, so it did not prove it holds the password's verifier; Lockstep refused the connection`, {
        hint: 'The program answering on that address may not be your database. Check what listens there.',
      }),
    );
  });
  return { refusal: () => refusal };
}
