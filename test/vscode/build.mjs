// Bundles the extension-host test suite (test/vscode/suite/*.ts) to out/test/vscode/suite/ for both test runners.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sourceDir = path.join(repo, 'test/vscode/suite');
export const suiteOutDir = path.join(repo, 'out/test/vscode/suite');
export const suiteIndex = path.join(suiteOutDir, 'index.js');

/** Builds index.js and one bundle per *.test.ts; returns the path of index.js. */
export async function buildSuite() {
  const tests = fs.readdirSync(sourceDir).filter((name) => name.endsWith('.test.ts'));
  // A stale bundle of a deleted test would still run: start from an empty folder.
  fs.rmSync(suiteOutDir, { recursive: true, force: true });
  await esbuild.build({
    entryPoints: ['index.ts', ...tests].map((name) => path.join(sourceDir, name)),
    outdir: suiteOutDir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'inline',
    logLevel: 'warning',
    // vscode is provided by the extension host; mocha must be one shared instance across the bundles; pg-native is
    // an optional binding pg loads only on request (the tests use pg to look at the data).
    external: ['vscode', 'mocha', 'pg-native'],
  });
  return suiteIndex;
}

// No top-level await: the TypeScript harness loads this module through require().
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  buildSuite().then(
    () => console.log(`built ${path.relative(repo, suiteIndex)}`),
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}
