// Entry point of `npm run test:vscode`: the extension-host suite in desktop VS Code via @vscode/test-electron, on the lowest VS Code engines.vscode accepts and on the current stable.
import { download, runTests } from '@vscode/test-electron';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { register } from 'tsx/cjs/api';
import { buildSuite } from './build.mjs';

register();
const require = createRequire(import.meta.url);
/** @type {typeof import('../e2e/harness/gitWorkspace')} */
const { GitWorkspace } = require('../e2e/harness/gitWorkspace.ts');
/** @type {typeof import('../e2e/harness/codeServer')} */
const { quietUserSettings } = require('../e2e/harness/codeServer.ts');
/** @type {typeof import('../e2e/harness/databases')} */
const { stopDatabasesUnder } = require('../e2e/harness/databases.ts');

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Inside .tools/ so the downloads are gitignored and survive between runs.
const cachePath = path.join(repo, '.tools/vscode-test');

const { values } = parseArgs({
  options: {
    version: { type: 'string', multiple: true },
    grep: { type: 'string' },
  },
});
const lowest = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')).engines.vscode.replace(/^[\^~>=\s]+/, '');
const versions = values.version ?? [lowest, 'stable'];

// Every download first: without the internet this tier cannot run at all, and says so before doing anything else.
const executables = new Map();
for (const version of versions) {
  try {
    executables.set(version, await download({ version, cachePath, timeout: 20_000 }));
  } catch (error) {
    console.error(`test:vscode: could not download VS Code ${version}: ${error instanceof Error ? error.message : String(error)}`);
    console.error('test:vscode: this tier needs the internet (or a copy in .tools/vscode-test/); offline, `npm run test:e2e` runs the same suite in code-server.');
    process.exit(1);
  }
}
if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
  console.error('test:vscode: desktop VS Code needs a display; on a headless machine run `xvfb-run -a npm run test:vscode`.');
  process.exit(1);
}

const suiteIndex = await buildSuite();
let failed = 0;
for (const [version, vscodeExecutablePath] of executables) {
  const runDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-vscode-')));
  // Run as root, Lockstep runs Postgres as an unprivileged account, which must reach the workspace's .git/lockstep/local.
  fs.chmodSync(runDir, 0o755);
  try {
    const workspace = GitWorkspace.create(path.join(runDir, 'host-workspace'));
    const userDataDir = path.join(runDir, 'user-data');
    fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
    fs.writeFileSync(path.join(userDataDir, 'User', 'settings.json'), JSON.stringify(quietUserSettings, null, 2));
    console.log(`test:vscode: VS Code ${version}`);
    await runTests({
      vscodeExecutablePath,
      extensionDevelopmentPath: repo,
      extensionTestsPath: suiteIndex,
      // The same contract the code-server harness keeps: the extension host learns about the run through its environment.
      extensionTestsEnv: {
        LOCKSTEP_TEST_RUN_DIR: runDir,
        ...(values.grep ? { LOCKSTEP_TEST_GREP: values.grep } : {}),
      },
      launchArgs: [
        workspace.dir,
        '--disable-extensions',
        '--disable-workspace-trust',
        '--skip-welcome',
        '--skip-release-notes',
        '--user-data-dir', userDataDir,
        '--extensions-dir', path.join(runDir, 'extensions'),
      ],
    });
  } catch (error) {
    failed += 1;
    console.error(`test:vscode: VS Code ${version} failed: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    // Every database the suite started, whatever happened to it.
    for (const line of stopDatabasesUnder(runDir)) console.log(`test:vscode: ${line}`);
    fs.rmSync(runDir, { recursive: true, force: true });
  }
}
process.exitCode = failed > 0 ? 1 : 0;
