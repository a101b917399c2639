// The extension-host test runner: the run() that @vscode/test-electron and code-server's extensionTestsPath call.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';
import { startLine, summaryLine } from './reporting';

export async function run(): Promise<void> {
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    // The output ends up in a browser console and a log file, where colour codes are noise.
    color: false,
    timeout: 60_000,
    slow: 5_000,
    forbidPending: true,
    forbidOnly: Boolean(process.env.CI),
  });
  // Runners pass a filter through the extension host's environment: their own command line never reaches it.
  const grep = process.env.LOCKSTEP_TEST_GREP;
  if (grep) mocha.grep(grep);
  // build.mjs bundles each *.test.ts next to this file; mocha stays external so all of them share this instance.
  const files = fs.readdirSync(__dirname).filter((name) => name.endsWith('.test.js')).sort();
  if (files.length === 0) throw new Error(`no *.test.js files next to ${__filename}`);
  for (const name of files) mocha.addFile(path.join(__dirname, name));

  console.log(startLine());
  const stats = await new Promise<Mocha.Stats>((resolve, reject) => {
    const runner = mocha.run(() => (runner.stats ? resolve(runner.stats) : reject(new Error('mocha kept no stats'))));
  });
  console.log(summaryLine(stats.passes, stats.failures));
  if (stats.failures > 0) throw new Error(`${stats.failures} extension-host test(s) failed`);
  if (stats.passes === 0) throw new Error('no extension-host test ran');
}
