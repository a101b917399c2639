// Entry point of `npm run test:e2e`: loads the TypeScript harness (test/e2e/harness/main.ts) through tsx and exits with its verdict.
import { createRequire } from 'node:module';
import { register } from 'tsx/cjs/api';

// CommonJS hooks only: the harness, the UI tests and mocha must share one module registry (one UI session).
register();
const { main } = createRequire(import.meta.url)('./harness/main.ts');
process.exitCode = await main(process.argv.slice(2));
