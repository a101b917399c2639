// Polling for tests that wait on something they do not drive step by step: a workbench, an extension host.

export interface PollOptions {
  timeoutMs: number;
  intervalMs: number;
}

/** Polls `probe` until it returns something other than undefined; fails naming `what` (and the last error) after the timeout. */
export async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}
