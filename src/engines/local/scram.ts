// A SCRAM-SHA-256 verifier for the password Lockstep generates, stored with fewer PBKDF2 iterations than Postgres' default.

import * as crypto from 'node:crypto';

/**
 * Every new connection makes the client run PBKDF2 with the verifier's
 * iteration count: with Postgres' default 4096 that was 0.9 ms of a ~5 ms
 * marker, paid by the hook on every commit (and by every client of the
 * database). The count only slows brute-forcing a guessable password from a
 * leaked verifier; ours is 18 random bytes (144 bits) that no iteration count
 * makes easier to guess. Postgres accepts a verifier given as the password
 * (`ALTER ROLE … PASSWORD 'SCRAM-SHA-256$…'`), so the password itself never
 * travels in SQL or reaches the server's logs.
 */
export const GENERATED_PASSWORD_ITERATIONS = 256;

export function scramVerifier(password: string, iterations = GENERATED_PASSWORD_ITERATIONS): string {
  // The generated password is ASCII (base64url): SASLprep leaves it as it is.
  const salt = crypto.randomBytes(16);
  const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = crypto.createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = crypto.createHash('sha256').update(clientKey).digest();
  const serverKey = crypto.createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
