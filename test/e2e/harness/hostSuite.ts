// The extension-host phase: loads a workbench whose page payload names the host suite, and collects its log and exit code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { format } from 'node:util';
import { parseSummary, startLine } from '../../vscode/suite/reporting';
import { firstPage, launchChromium } from './browser';
import type { CodeServer } from './codeServer';
import type { PhaseResult } from './phase';

export interface HostSuiteOptions {
  server: CodeServer;
  folder: string;
  extensionDevelopmentPath: string;
  suiteIndex: string;
  /** Scratch folder for the browser profile. */
  dir: string;
  /** Where the workbench log and the logs VS Code hands back on exit are kept. */
  resultsDir: string;
  timeoutMs: number;
}

interface AutomationExit {
  code: number;
  logs: { relativePath: string; contents: string }[];
}

export async function runHostSuite(options: HostSuiteOptions): Promise<PhaseResult> {
  const started = Date.now();
  const result: PhaseResult = { name: 'extension host suite', passed: 0, failed: 0, durationMs: 0, problems: [] };
  fs.mkdirSync(options.resultsDir, { recursive: true });
  const logFile = path.join(options.resultsDir, 'workbench.log');
  const lines: string[] = [];
  let inSuite = false;

  const context = await launchChromium(options.dir);
  try {
    let settle: (exit: AutomationExit) => void = () => {};
    const exited = new Promise<AutomationExit>((resolve) => (settle = resolve));
    // Both must exist before the workbench loads: it looks them up to decide where test output and the exit code go.
    await context.exposeFunction('codeAutomationLog', (type: string, args: unknown[]) => {
      const line = formatLogLine(args);
      lines.push(line);
      fs.appendFileSync(logFile, `[${type}] ${line}\n`);
      // The extension host's console (mocha's report) arrives among the workbench's own messages; show only the suite's part.
      if (line === startLine()) inSuite = true;
      else if (inSuite) console.log(`  ${line}`.trimEnd());
      if (parseSummary(line)) inSuite = false;
    });
    await context.exposeFunction('codeAutomationExit', (code: number, logs: AutomationExit['logs']) => settle({ code, logs: logs ?? [] }));

    const page = await firstPage(context);
    const crashed = new Promise<never>((_, reject) => {
      page.once('crash', () => reject(new Error('the workbench page crashed')));
      page.once('close', () => reject(new Error('the workbench page closed before the extension host exited')));
    });
    crashed.catch(() => undefined);
    await page.goto(options.server.workbenchUrl(options.folder, {
      extensionDevelopmentPath: options.extensionDevelopmentPath,
      extensionTestsPath: options.suiteIndex,
    }));
    const timedOut = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no exit from the extension host within ${options.timeoutMs} ms`)), options.timeoutMs).unref(),
    );
    const exit = await Promise.race([exited, crashed, timedOut]);

    for (const log of exit.logs) {
      const file = path.join(options.resultsDir, 'logs', log.relativePath);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, log.contents);
    }
    const summary = lines.map(parseSummary).find((counts) => counts !== undefined);
    if (summary) {
      result.passed = summary.passed;
      result.failed = summary.failed;
      if (exit.code !== 0 && summary.failed === 0) result.problems.push(`the extension host exited with code ${exit.code} although no test failed`);
    } else {
      // The suite never got to report: activation or loading failed, and the workbench log says why.
      result.problems.push(`the extension host exited with code ${exit.code} without a test summary`);
      result.problems.push(`workbench log tail (all of it in ${path.relative(process.cwd(), logFile)}):\n${lines.slice(-20).join('\n')}`);
    }
  } catch (error) {
    result.problems.push(error instanceof Error ? error.message : String(error));
    if (lines.length > 0) result.problems.push(`workbench log tail:\n${lines.slice(-20).join('\n')}`);
  } finally {
    await context.close().catch(() => undefined);
    result.durationMs = Date.now() - started;
  }
  if (result.problems.length > 0 && result.failed === 0) result.failed = 1;
  return result;
}

/** VS Code hands over console arguments unformatted (`['  %d passing (%s)', 4, '172ms']`). */
function formatLogLine(args: unknown): string {
  if (!Array.isArray(args)) return String(args);
  const [first, ...rest] = args as unknown[];
  return typeof first === 'string' ? format(first, ...rest) : format(...(args as unknown[]));
}
