// The one error type Lockstep throws on purpose: a code the faces can act on, a message a person can act on.

export type ErrorCode =
  // Bad input: the request itself is wrong (CLI exit code 2).
  | 'BAD_INPUT'
  | 'UNKNOWN_REF'
  | 'AMBIGUOUS_REF'
  | 'BAD_LSN'
  | 'LSN_BEYOND_HEAD'
  | 'TIMELINE_UNKNOWN'
  | 'EXPIRED'
  // Uncommitted work a restore would overwrite: refused before anything changes, like bad input (`--stash` is the other request).
  | 'DIRTY_TREE'
  // The state of the world stops the request (exit code 1).
  | 'NOT_A_REPOSITORY'
  | 'NOT_INITIALISED'
  | 'ALREADY_INITIALISED'
  | 'CONFIG'
  | 'BINARIES_NOT_FOUND'
  | 'PORT_TAKEN'
  | 'ENGINE_DOWN'
  | 'ARCHIVE_STUCK'
  | 'RECOVERY_FAILED'
  | 'BACKUP_FAILED'
  | 'OS_USER'
  | 'BUSY'
  | 'GIT_FAILED'
  | 'AUTH'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'RATE_LIMITED'
  // An engine's quota (Neon snapshots per project) is used up: nothing was changed.
  | 'QUOTA'
  | 'REMOTE'
  | 'NETWORK'
  | 'TIMEOUT'
  | 'CANCELLED'
  | 'INTERNAL';

const BAD_INPUT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BAD_INPUT',
  'UNKNOWN_REF',
  'AMBIGUOUS_REF',
  'BAD_LSN',
  'LSN_BEYOND_HEAD',
  'TIMELINE_UNKNOWN',
  'EXPIRED',
  'DIRTY_TREE',
]);

export interface LockstepErrorOptions {
  /** What the person can do about it, shown under the message. */
  hint?: string;
  cause?: unknown;
}

export class LockstepError extends Error {
  readonly hint: string | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: LockstepErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LockstepError';
    this.hint = options.hint;
  }

  /** True when the request was wrong, rather than the world being in the way. */
  get isBadInput(): boolean {
    return BAD_INPUT_CODES.has(this.code);
  }
}

export function isLockstepError(error: unknown, code?: ErrorCode): error is LockstepError {
  return error instanceof LockstepError && (code === undefined || error.code === code);
}

/** CLI exit code for an error: 2 for bad input, 1 for everything else. */
export function exitCodeFor(error: unknown): 1 | 2 {
  return error instanceof LockstepError && error.isBadInput ? 2 : 1;
}

/** A one-paragraph description of any thrown value, with the hint when there is one. */
export function describeError(error: unknown): string {
  if (error instanceof LockstepError) {
    return error.hint ? `${error.message}\n  hint: ${error.hint}` : error.message;
  }
  if (error instanceof Error) return error.message;
  return String(error);
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new LockstepError('CANCELLED', `${what} was cancelled`);
}
