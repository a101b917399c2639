// Mocha root hooks (test/.mocharc.json "require"): the OS accounts Lockstep creates for each cluster when the tests run
// as root (`lockstep-pg-<hash>`, src/engines/local/osUser.ts) are removed after the run, so that runs do not use up the
// system's account ids. Only accounts that did not exist before the run are touched.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const PREFIX = 'lockstep-pg-';

export function clusterAccounts(): Set<string> {
  try {
    return new Set(
      fs
        .readFileSync('/etc/passwd', 'utf8')
        .split('\n')
        .map((line) => line.split(':')[0] ?? '')
        .filter((name) => name.startsWith(PREFIX)),
    );
  } catch {
    return new Set();
  }
}

/** Removes the accounts not in `before` (with their groups); one still running a process stays, and is named. */
export function removeAccountsSince(before: ReadonlySet<string>): void {
  if (typeof process.geteuid !== 'function' || process.geteuid() !== 0) return;
  const kept: string[] = [];
  for (const name of clusterAccounts()) {
    if (before.has(name)) continue;
    try {
      execFileSync('userdel', [name], { stdio: 'ignore' });
    } catch {
      kept.push(name);
    }
  }
  if (kept.length > 0) console.error(`test accounts still in use, not removed: ${kept.join(', ')}`);
}

let before: Set<string> | undefined;

export const mochaHooks = {
  beforeAll(): void {
    before = clusterAccounts();
  },
  afterAll(): void {
    if (before) removeAccountsSince(before);
  },
};
