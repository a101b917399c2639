// Argument parsing with node:util parseArgs: unknown flags and missing values are bad input (exit code 2), and every command has --help.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LockstepError } from '../base/errors';

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface Parsed<V> {
  values: V;
  positionals: string[];
  help: boolean;
}

export function parse<V extends Record<string, unknown>>(args: readonly string[], options: Options, usage: string): Parsed<V> {
  try {
    const { values, positionals } = parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    const { help, ...rest } = values as Record<string, unknown>;
    return { values: rest as V, positionals, help: help === true };
  } catch (error) {
    throw new LockstepError('BAD_INPUT', (error as Error).message.replace(/\. To specify a positional.*$/s, ''), {
      hint: usage.split('\n')[0],
    });
  }
}

/** Digits only: Number() would also take "0x10", "1e1", "+5", " 5", "5.0" and "" (as 0). */
const DECIMAL = /^[0-9]+$/;

export function integer(value: unknown, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new LockstepError('BAD_INPUT', `${name} must be a whole number ${range}, in decimal digits (got "${text}")`);
  }
  return n;
}

/** A TCP port for the local Postgres: 1–65535, and not below 1024, which needs root (and Postgres refuses to run as root). */
export function port(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value);
  const n = DECIMAL.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 65535) {
    throw new LockstepError('BAD_INPUT', `${name} must be a port number from 1 to 65535, in decimal digits (got "${text}")`);
  }
  if (n < 1024) {
    throw new LockstepError('BAD_INPUT', `${name} ${n} is a privileged port, which Postgres (an ordinary account) cannot listen on`, { hint: 'Choose a port from 1024 to 65535.' });
  }
  return n;
}

export function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new LockstepError('BAD_INPUT', `${name} must be one of ${allowed.join(', ')} (got "${String(value)}")`);
  return value as T;
}

export function noPositionals(positionals: readonly string[], usage: string): void {
  if (positionals.length > 0) throw new LockstepError('BAD_INPUT', `unexpected argument "${positionals[0]}"`, { hint: usage.split('\n')[0] });
}
