// Waiting for Neon operations: poll each one to a terminal status, with a bounded backoff, a deadline and cancellation.

import { LockstepError } from '../../base/errors';
import { sleep } from '../../core/http';
import type { Log } from '../../base/log';
import type { NeonApi, NeonOperation, NeonOperationStatus } from './api';

export interface PollPolicy {
  /** First wait before polling again; grows by half each round up to `maxDelayMs`. */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Give up waiting (the operation may still finish on Neon's side). */
  timeoutMs: number;
  /**
   * Neon retries failed operations itself (`failed`/`error` then `running`
   * again), so a failure is reported only when it has lasted this long.
   */
  failedGraceMs: number;
}

export const DEFAULT_POLL: PollPolicy = { initialDelayMs: 500, maxDelayMs: 5_000, timeoutMs: 10 * 60_000, failedGraceMs: 60_000 };

const SUCCEEDED: ReadonlySet<NeonOperationStatus> = new Set(['finished', 'skipped']);

export interface PollOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((step: string) => void) | undefined;
  /** For messages: "the restore of br-main". */
  what: string;
}

/** Resolves when every operation finished or was skipped; throws REMOTE, TIMEOUT or CANCELLED otherwise. */
export async function waitForOperations(
  api: NeonApi,
  operations: readonly NeonOperation[],
  policy: PollPolicy,
  log: Log,
  options: PollOptions,
): Promise<NeonOperation[]> {
  const latest = new Map<string, NeonOperation>(operations.map((op) => [op.id, op]));
  const failingSince = new Map<string, number>();
  const started = Date.now();
  let delay = policy.initialDelayMs;
  const pending = () => [...latest.values()].filter((op) => !SUCCEEDED.has(op.status));

  for (;;) {
    for (const op of pending()) {
      if (op.status === 'cancelled') {
        throw new LockstepError('REMOTE', `${options.what}: Neon cancelled operation ${op.action} (${op.id})`, {
          hint: 'Another change may have superseded it; look at the branch in the Neon console, then try again.',
        });
      }
      if (op.status === 'failed' || op.status === 'error') {
        const since = failingSince.get(op.id) ?? Date.now();
        failingSince.set(op.id, since);
        if (Date.now() - since >= policy.failedGraceMs) {
          const reason = op.error ? `: ${api.http.scrub(op.error)}` : '';
          throw new LockstepError(
            'REMOTE',
            `${options.what}: Neon operation ${op.action} (${op.id}) is ${op.status} after ${op.failures_count} failure(s)${reason}`,
            { hint: 'Neon may still retry it. Look at the branch in the Neon console before trying again.' },
          );
        }
      } else {
        failingSince.delete(op.id);
      }
    }
    if (pending().length === 0) return [...latest.values()];
    if (Date.now() - started >= policy.timeoutMs) {
      const open = pending()
        .map((op) => `${op.action} ${op.status}`)
        .join(', ');
      throw new LockstepError('TIMEOUT', `${options.what}: Neon has not finished after ${Math.round(policy.timeoutMs / 1000)} s (${open})`, {
        hint: 'The operation may still finish; look at the branch in the Neon console.',
      });
    }
    await sleep(delay, options.signal, options.what);
    delay = Math.min(policy.maxDelayMs, Math.ceil(delay * 1.5));
    for (const op of pending()) {
      const next = await api.getOperation(op.id, { signal: options.signal });
      if (next.status !== op.status) {
        log.debug(`operation ${next.action} ${next.id}: ${op.status} → ${next.status}`);
        options.onProgress?.(`Neon: ${next.action.replace(/_/g, ' ')} ${next.status}`);
      }
      latest.set(next.id, next);
    }
  }
}
