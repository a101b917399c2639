// The CLI's streams: results on stdout, progress and warnings on stderr, and a Log that writes there.

import type { Log } from '../base/log';

export interface CliIo {
  cwd: string;
  env: NodeJS.ProcessEnv;
  out(text: string): void;
  err(text: string): void;
  /** Whether a person is at the terminal (confirmations need one). */
  readonly interactive: boolean;
  /** Reads one line from stdin (confirmations). */
  ask(question: string): Promise<string>;
}

export function processIo(): CliIo {
  return {
    cwd: process.cwd(),
    env: process.env,
    out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
    // A getter: touching process.stdin makes Node set it up (~8 ms), and only a restore's confirmation asks.
    get interactive() {
      return Boolean(process.stdin.isTTY && process.stderr.isTTY);
    },
    ask: async (question) => {
      const readline = await import('node:readline/promises');
      const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
      try {
        return await rl.question(question);
      } finally {
        rl.close();
      }
    },
  };
}

/** Warnings and errors always reach stderr; info only with --verbose (LOCKSTEP_VERBOSE=1). */
export function cliLog(io: CliIo): Log {
  const verbose = io.env.LOCKSTEP_VERBOSE === '1';
  return {
    trace: () => undefined,
    debug: (m) => verbose && io.err(`lockstep: ${m}`),
    info: (m) => verbose && io.err(`lockstep: ${m}`),
    warn: (m) => io.err(`lockstep: warning: ${m}`),
    error: (m) => io.err(`lockstep: ${m}`),
  };
}

/** Progress lines for long operations: "… Copying base backup". */
export function progress(io: CliIo): (step: string) => void {
  const started = Date.now();
  return (step) => io.err(`  … ${step} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}
