// dist/guard.js: what the agents' installed hooks run, `lockstep guard` without the rest of the CLI to load.

import { processIo } from '../io';
import { runGuard } from './run';

runGuard(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // runGuard answers on every path; this is a bug's last word, and still never a block.
    process.stderr.write(`lockstep: ${error instanceof Error ? error.message : String(error)}; no safety point was taken\n`);
    process.exitCode = 0;
  },
);
