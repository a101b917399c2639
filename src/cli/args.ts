// Argument parsing with node:util parseArgs: unknown flags and missing values are bad input (exit code 2), and every command has --help.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LockstepError } from '../core/errors';

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

export function integer(value: unknown, name: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new LockstepError('BAD_INPUT', `${name} must be an integer ≥ ${min} (got "${String(value)}")`);
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
