// The lines the host suite prints so the code-server harness can find its output and counts in the workbench's log.
export const HOST_SUITE_MARKER = 'lockstep-host-suite:';

export function startLine(): string {
  return `${HOST_SUITE_MARKER} start`;
}

export function summaryLine(passed: number, failed: number): string {
  return `${HOST_SUITE_MARKER} ${passed} passed, ${failed} failed`;
}

/** The counts in a summary line, or undefined for any other line. */
export function parseSummary(line: string): { passed: number; failed: number } | undefined {
  const match = new RegExp(`^${HOST_SUITE_MARKER} (\\d+) passed, (\\d+) failed$`).exec(line.trim());
  return match ? { passed: Number(match[1]), failed: Number(match[2]) } : undefined;
}
