// One line of the benchmark report: what was measured, the figure, the target, and whether it was met.

export interface BenchRow {
  /** What was measured, e.g. "marker, new connection, 1 GB database (median)". */
  name: string;
  /** The figure as printed, e.g. "3.1 ms". */
  value: string;
  /** The target, e.g. "≤ 5 ms", or "" for context rows. */
  target: string;
  /** null for context rows without a target. */
  met: boolean | null;
  note?: string;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const ms = (n: number) => `${n < 10 ? n.toFixed(2) : n.toFixed(1)} ms`;
export const s = (n: number) => `${(n / 1000).toFixed(2)} s`;
export const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 2 : 0)} MB`;
