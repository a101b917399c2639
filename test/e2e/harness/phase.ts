// The outcome of one phase of an e2e run, as the summary prints it.
export interface PhaseResult {
  name: string;
  passed: number;
  failed: number;
  durationMs: number;
  /** Failures outside the tests themselves (the page never loaded, the host never exited, …). */
  problems: string[];
}
