// Postgres Log Sequence Numbers: parsing, comparing and naming the WAL segment that holds one.

import { LockstepError } from './errors';

/** An LSN as Postgres prints it: two hex halves, e.g. `0/16B3748`. */
export type Lsn = string;

const LSN_PATTERN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

export function isLsn(text: string): boolean {
  return LSN_PATTERN.test(text);
}

export function parseLsn(text: string): bigint {
  const match = LSN_PATTERN.exec(text.trim());
  if (!match) {
    throw new LockstepError('BAD_LSN', `"${text}" is not an LSN`, { hint: 'An LSN looks like 0/16B3748.' });
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(value: bigint): Lsn {
  if (value < 0n || value > 0xffffffffffffffffn) throw new RangeError(`LSN out of range: ${value}`);
  const high = (value >> 32n).toString(16).toUpperCase();
  const low = (value & 0xffffffffn).toString(16).toUpperCase();
  return `${high}/${low}`;
}

/** Negative when a < b, zero when equal, positive when a > b. */
export function compareLsn(a: Lsn, b: Lsn): number {
  const x = parseLsn(a);
  const y = parseLsn(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Bytes of WAL from `from` to `to` (zero when `to` is not after `from`). */
export function lsnDistance(from: Lsn, to: Lsn): bigint {
  const d = parseLsn(to) - parseLsn(from);
  return d > 0n ? d : 0n;
}

export const DEFAULT_WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

/**
 * The WAL file that holds the byte at `lsn` on `timeline`, as Postgres names it
 * (`pg_walfile_name` names the file holding the byte *before* a position, so
 * callers that mean "the segment ending at" pass `lsn - 1`).
 */
export function walFileName(timeline: number, lsn: bigint, segmentBytes = DEFAULT_WAL_SEGMENT_BYTES): string {
  const segmentsPerId = 0x100000000n / BigInt(segmentBytes);
  const segment = lsn / BigInt(segmentBytes);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segment / segmentsPerId)}${hex(segment % segmentsPerId)}`;
}

/** The timeline id in a WAL file or history file name (`00000002…` → 2). */
export function timelineOfWalFile(name: string): number {
  return Number.parseInt(name.slice(0, 8), 16);
}
