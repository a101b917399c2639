// The e2e run: build the host suite, start one code-server, run the extension-host phase then the UI phase, stop everything, summarise.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { CHROMIUM, closeAllBrowsers } from './browser';
import { CodeServer, codeServerInstall, quietUserSettings } from './codeServer';
import { GitWorkspace } from './gitWorkspace';
import { runHostSuite } from './hostSuite';
import type { PhaseResult } from './phase';
import { runUiTests } from './uiTests';
import { runVsixCheck } from './vsixCheck';
import { clusterAccounts, removeAccountsSince } from '../../support/osAccounts';
import { stopDatabasesUnder } from './databases';

const repo = path.resolve(__dirname, '../../..');
const resultsDir = path.join(repo, 'test-results/e2e');
const codeServer = codeServerInstall(repo);

const usage = `usage: node test/e2e/run.mjs [--phase host|ui|vsix]… [--grep PATTERN] [--keep]
  --phase  run only this phase (repeatable; default: host, ui, then vsix: the packaged extension installed)
  --grep   run only the tests whose full title matches, in both phases
  --keep   keep the run's temp folder (workspaces, server data) and print where it is`;

export async function main(argv: string[]): Promise<number> {
  const accountsBefore = clusterAccounts();
  const { values } = parseArgs({
    args: argv,
    options: {
      phase: { type: 'string', multiple: true },
      grep: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  // A --grep picks tests; the packaging check has none to pick, so it runs only when asked for then.
  const phases = new Set(values.phase ?? (values.grep ? ['host', 'ui'] : ['host', 'ui', 'vsix']));
  for (const phase of phases) {
    if (phase !== 'host' && phase !== 'ui' && phase !== 'vsix') {
      console.error(`unknown phase ${phase}\n${usage}`);
      return 2;
    }
  }

  const missing = [
    [codeServer.node, 'Node 22 for code-server'],
    [codeServer.entry, 'code-server'],
    [CHROMIUM, 'Chromium'],
    [path.join(repo, 'dist/extension.js'), 'the built extension (npm run build)'],
  ].filter(([file]) => !fs.existsSync(file!));
  if (missing.length > 0) {
    for (const [file, what] of missing) console.error(`e2e: ${what} is missing (${file})`);
    console.error('e2e: run `npm run setup:e2e` (as root) and `npm run build` first');
    return 1;
  }

  const started = Date.now();
  fs.rmSync(resultsDir, { recursive: true, force: true });
  fs.mkdirSync(resultsDir, { recursive: true });
  const runDir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-e2e-')));
  // Run as root, Lockstep runs Postgres as an unprivileged account, which must reach the workspaces' .git/lockstep/local.
  fs.chmodSync(runDir, 0o755);
  const results: PhaseResult[] = [];
  let server: CodeServer | undefined;

  // Ctrl-C or a CI timeout must not leave a server, extension hosts or browsers behind. Closing the browsers and the
  // server makes the running phase fail fast; the one cleanup path below then removes the run's folder.
  let interruptedBy: NodeJS.Signals | undefined;
  const interrupted = (signal: NodeJS.Signals): void => {
    if (interruptedBy) return;
    interruptedBy = signal;
    console.error(`\ne2e: ${signal}, stopping`);
    void closeAllBrowsers().then(() => server?.stop());
    // Should the phase still hang, leave anyway; the server's exit hook kills its process group.
    setTimeout(() => process.exit(130), 30_000).unref();
  };
  process.on('SIGINT', interrupted);
  process.on('SIGTERM', interrupted);

  try {
    console.log(`e2e: building the extension-host suite`);
    const { buildSuite } = await import('../../vscode/build.mjs');
    const suiteIndex = await buildSuite();

    const hostWorkspace = GitWorkspace.create(path.join(runDir, 'host-workspace'));
    const uiWorkspace = GitWorkspace.create(path.join(runDir, 'ui-workspace'));
    console.log(`e2e: starting code-server`);
    server = await CodeServer.start({
      install: codeServer,
      dir: path.join(runDir, 'server'),
      logFile: path.join(resultsDir, 'code-server.log'),
      defaultFolder: uiWorkspace.dir,
      userSettings: quietUserSettings,
      // A second extension that calls Lockstep's language-model tools from outside a chat, from the palette.
      copyExtensions: [path.join(repo, 'test/e2e/harness/lmToolCaller')],
      // The only way to reach the extension host: it inherits the server's environment, not this process's.
      env: {
        LOCKSTEP_TEST_RUN_DIR: runDir,
        ...(values.grep ? { LOCKSTEP_TEST_GREP: values.grep } : {}),
      },
    });
    console.log(`e2e: code-server ${server.origin} up after ${seconds(Date.now() - started)}`);

    if (phases.has('host') && !interruptedBy) {
      console.log('\ne2e: extension-host suite (workbench page with extensionTestsPath)');
      results.push(
        await runHostSuite({
          server,
          folder: hostWorkspace.dir,
          extensionDevelopmentPath: repo,
          suiteIndex,
          dir: path.join(runDir, 'browser-host'),
          resultsDir: path.join(resultsDir, 'host'),
          timeoutMs: 5 * 60_000,
        }),
      );
    }
    if (phases.has('ui') && !interruptedBy) {
      console.log('\ne2e: UI tests (Chromium)');
      results.push(
        await runUiTests({
          server,
          workspace: uiWorkspace,
          extensionDevelopmentPath: repo,
          testsDir: path.join(repo, 'test/e2e/ui'),
          runDir,
          resultsDir: path.join(resultsDir, 'ui'),
          grep: values.grep,
        }),
      );
    }
    if (phases.has('vsix') && !interruptedBy) {
      // Its own fresh server: two at once would need twice the memory.
      await server.stop();
      console.log('\ne2e: the packaged .vsix, installed into a fresh code-server');
      results.push(
        await runVsixCheck({
          repo,
          codeServer,
          dir: path.join(runDir, 'vsix'),
          resultsDir: path.join(resultsDir, 'vsix'),
        }),
      );
    }
  } catch (error) {
    results.push({ name: 'harness', passed: 0, failed: 1, durationMs: 0, problems: [error instanceof Error ? error.message : String(error)] });
  } finally {
    await server?.stop();
    // Every database a test started, whatever happened to the test.
    for (const line of stopDatabasesUnder(runDir)) console.log(`e2e: ${line}`);
    // The OS accounts (running as root) of the clusters this run set up.
    removeAccountsSince(accountsBefore);
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await closeAllBrowsers();
    // The extension's own log of every window (its LogOutputChannel's file): the artefact a failure on CI is read from.
    keepLockstepLogs(runDir, path.join(resultsDir, 'lockstep-logs'), results.some((result) => result.failed > 0));
    if (values.keep) console.log(`e2e: kept ${runDir}`);
    else await removeRunDir(runDir);
  }
  const verdict = summarise(results, Date.now() - started);
  return interruptedBy ? 130 : verdict;
}

function summarise(results: PhaseResult[], totalMs: number): number {
  console.log('\ne2e summary');
  for (const result of results) {
    console.log(`  ${result.name.padEnd(22)} ${result.passed} passed, ${result.failed} failed   ${seconds(result.durationMs)}`);
    for (const problem of result.problems) console.log(`    ! ${problem.replace(/\n/g, '\n      ')}`);
  }
  console.log(`  artefacts: ${path.relative(process.cwd(), resultsDir) || resultsDir} (screenshots, workbench and server logs)`);
  console.log(`  total ${seconds(totalMs)}`);
  const passed = results.reduce((sum, result) => sum + result.passed, 0);
  const failed = results.reduce((sum, result) => sum + result.failed, 0);
  // A run that ran nothing has proved nothing.
  const ok = failed === 0 && passed > 0;
  console.log(`e2e: ${passed} passed, ${failed} failed`);
  return ok ? 0 : 1;
}

/** Copies each "Lockstep" output log under `runDir` to `into`; after a failure, prints their warnings and errors too. */
function keepLockstepLogs(runDir: string, into: string, failed: boolean): void {
  const logs: string[] = [];
  const walk = (dir: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory() && !entry.isSymbolicLink()) walk(file);
      else if (entry.isFile() && /Lockstep\.log$/.test(entry.name)) logs.push(file);
    }
  };
  walk(runDir);
  if (logs.length === 0) return;
  fs.mkdirSync(into, { recursive: true });
  logs.forEach((file, index) => fs.copyFileSync(file, path.join(into, `${index + 1}-${path.basename(file)}`)));
  if (!failed) return;
  const lines = logs.flatMap((file) => fs.readFileSync(file, 'utf8').split('\n').filter((line) => /\[(warning|error)\]/.test(line)));
  if (lines.length === 0) return;
  console.log(`\ne2e: warnings and errors in the Lockstep logs (all of them in ${path.relative(process.cwd(), into)})`);
  for (const line of lines.slice(-60)) console.log(`  ${line}`);
}

async function removeRunDir(dir: string): Promise<void> {
  // Retries: a browser or extension host that is still exiting can add a file while the tree is being removed.
  for (let attempt = 1; ; attempt += 1) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      return;
    } catch (error) {
      if (attempt === 5) {
        console.error(`e2e: could not remove ${dir}: ${error instanceof Error ? error.message : String(error)}`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
