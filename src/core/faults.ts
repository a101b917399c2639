// A test hook: LOCKSTEP_FAULT=<step>:kill|fail[,…] makes a restore die (SIGKILL) or fail at one named step, so tests can prove each is recoverable.

import { LockstepError } from '../base/errors';

/** The named steps of a restore where a fault can be injected, in the order a restore reaches them. */
export const FAULT_STEPS = [
  'after-undo-point',
  'stashing',
  'after-stash',
  'copying',
  'replay',
  'after-promote',
  'after-old-stop',
  'after-new-start',
  'checkout',
  'stash-reapply',
] as const;

export type FaultStep = (typeof FAULT_STEPS)[number];

/**
 * Does nothing unless the environment names this step. Documented in the
 * README as a test hook; never set in normal use.
 */
export function faultPoint(step: FaultStep): void {
  const spec = process.env.LOCKSTEP_FAULT;
  if (!spec) return;
  for (const fault of spec.split(',')) {
    const [name, kind] = fault.split(':');
    if (name !== step) continue;
    if (kind === 'kill') process.kill(process.pid, 'SIGKILL');
    throw new LockstepError('INTERNAL', `injected fault at ${step} (LOCKSTEP_FAULT)`);
  }
}
