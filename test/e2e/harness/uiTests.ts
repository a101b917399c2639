// The UI phase: one workbench page without a host suite, and the mocha tests in test/e2e/ui/*.test.ts driving it.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';
import { Workbench } from '../ui/page';
import { beginUiSession, endUiSession, type MultiRootFolders, type NewWorkspaceOptions, type UiSession } from '../ui/session';
import { firstPage, launchChromium } from './browser';
import type { CodeServer } from './codeServer';
import { GitWorkspace } from './gitWorkspace';
import type { PhaseResult } from './phase';

export interface UiTestsOptions {
  server: CodeServer;
  workspace: GitWorkspace;
  extensionDevelopmentPath: string;
  testsDir: string;
  /** The run's temp folder; new workspaces and the browser profile go here. */
  runDir: string;
  /** Screenshots and the workbench log. */
  resultsDir: string;
  grep: string | undefined;
}

export async function runUiTests(options: UiTestsOptions): Promise<PhaseResult> {
  const started = Date.now();
  const result: PhaseResult = { name: 'UI tests', passed: 0, failed: 0, durationMs: 0, problems: [] };
  const files = fs.readdirSync(options.testsDir).filter((name) => name.endsWith('.test.ts')).sort();
  if (files.length === 0) {
    result.problems.push(`no *.test.ts in ${options.testsDir}`);
    result.failed = 1;
    return result;
  }

  fs.mkdirSync(options.resultsDir, { recursive: true });
  const logFile = path.join(options.resultsDir, 'workbench.log');
  const context = await launchChromium(path.join(options.runDir, 'browser-ui'));
  try {
    // Keeps the workbench's own log (extension activation errors land there) as an artefact.
    await context.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      fs.appendFileSync(logFile, `[${type}] ${Array.isArray(args) ? args.map(String).join(' ') : String(args)}\n`);
    });
    const page = await firstPage(context);
    // The workbench's own errors and warnings (a workspace file it could not read, say) are kept beside the screenshots.
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') {
        fs.appendFileSync(logFile, `[console.${message.type()}] ${message.text()}\n`);
      }
    });
    const workbench = new Workbench(page, path.join(options.resultsDir, 'screenshots'));
    const urlFor = (folder: string): string =>
      options.server.workbenchUrl(folder, { extensionDevelopmentPath: options.extensionDevelopmentPath });
    try {
      await workbench.load(urlFor(options.workspace.dir));
    } catch (error) {
      await workbench.screenshot('workbench-did-not-load').catch(() => undefined);
      throw new Error(`the workbench did not load: ${error instanceof Error ? error.message : String(error)}`);
    }

    const session: UiSession = {
      workbench,
      workspace: options.workspace,
      runDir: options.runDir,
      async openNewWorkspace(name: string, extra: NewWorkspaceOptions = {}): Promise<GitWorkspace> {
        const workspace = GitWorkspace.create(path.join(options.runDir, name));
        if (extra.settings) {
          fs.mkdirSync(path.join(workspace.dir, '.vscode'), { recursive: true });
          fs.writeFileSync(path.join(workspace.dir, '.vscode', 'settings.json'), JSON.stringify(extra.settings, null, 2));
          fs.mkdirSync(path.join(workspace.dir, '.git', 'info'), { recursive: true });
          fs.appendFileSync(path.join(workspace.dir, '.git', 'info', 'exclude'), '\n.vscode/\n');
        }
        await workbench.load(urlFor(workspace.dir));
        session.workspace = workspace;
        return workspace;
      },
      async openMultiRootWorkspace(name: string, folders: MultiRootFolders): Promise<GitWorkspace[]> {
        const root = path.join(options.runDir, name);
        const repositories = folders.repositories.map((folder) => GitWorkspace.create(path.join(root, folder)));
        for (const folder of folders.plain ?? []) fs.mkdirSync(path.join(root, folder), { recursive: true });
        const file = path.join(root, `${name}.code-workspace`);
        const names = [...folders.repositories, ...(folders.plain ?? [])];
        fs.writeFileSync(file, JSON.stringify({ folders: names.map((folder) => ({ path: folder })) }, null, 2));
        await workbench.loadWorkspaceFile(options.server.workspaceFileUrl(file, { extensionDevelopmentPath: options.extensionDevelopmentPath }), names);
        return repositories;
      },
    };
    beginUiSession(session);

    const mocha = new Mocha({
      ui: 'bdd',
      reporter: 'spec',
      timeout: 60_000,
      slow: 10_000,
      forbidPending: true,
      forbidOnly: Boolean(process.env.CI),
      rootHooks: {
        // A failed step's screenshot is the first thing anyone wants to see.
        async afterEach(this: Mocha.Context) {
          if (this.currentTest?.state === 'failed') {
            await workbench.screenshot(`FAILED ${this.currentTest.fullTitle()}`).catch(() => undefined);
          }
        },
      },
    });
    if (options.grep) mocha.grep(options.grep);
    for (const name of files) mocha.addFile(path.join(options.testsDir, name));
    await mocha.loadFilesAsync();
    const stats = await new Promise<Mocha.Stats>((resolve, reject) => {
      const runner = mocha.run(() => (runner.stats ? resolve(runner.stats) : reject(new Error('mocha kept no stats'))));
    });
    result.passed = stats.passes;
    result.failed = stats.failures;
  } catch (error) {
    result.problems.push(error instanceof Error ? error.message : String(error));
  } finally {
    endUiSession();
    await context.close().catch(() => undefined);
    result.durationMs = Date.now() - started;
  }
  if (result.problems.length > 0 && result.failed === 0) result.failed = 1;
  return result;
}
