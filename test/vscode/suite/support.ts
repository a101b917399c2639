// What the extension-host tests share: the extension's internals, git "from a terminal" in the workspace, free ports, waiting.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LockstepInternals } from '../../../src/extension/container';
import { freePort } from '../../../src/engines/local/ports';
import { eventually as poll } from '../../support/eventually';
export { freePort };

export const EXTENSION_ID = 'lockstep.lockstep';

export function lockstep(): vscode.Extension<LockstepInternals> {
  const extension = vscode.extensions.getExtension<LockstepInternals>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed in this VS Code`);
  return extension;
}

/** The extension's internals (what activate() returns), once it has looked at the workspace folders. */
export async function internals(): Promise<LockstepInternals> {
  const api = await lockstep().activate();
  await api.whenScanned();
  return api;
}

/** The one workspace folder the runners open: a git repository in the run's folder. */
export function workspaceDir(): string {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'no workspace folder is open');
  return fs.realpathSync(folder.uri.fsPath);
}

/** git as a person runs it in a terminal: a child process, outside VS Code's git extension, with the hooks running. */
export function git(cwd: string, ...args: string[]): string {
  try {
    return execFileSync('git', args, {
      cwd,
      encoding: 'utf8',
      env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null', GIT_TERMINAL_PROMPT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch (error) {
    throw new Error(`git ${args.join(' ')} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
  }
}

/** Writes the files, commits everything "from a terminal" (the post-commit hook records a checkpoint) and returns the sha. */
export function commit(cwd: string, message: string, files: Record<string, string> = {}): string {
  for (const [relative, contents] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(cwd, relative)), { recursive: true });
    fs.writeFileSync(path.join(cwd, relative), contents);
  }
  git(cwd, 'add', '--all');
  git(cwd, 'commit', '--quiet', '--allow-empty', '--message', message);
  return git(cwd, 'rev-parse', 'HEAD');
}

/** Polls `probe` until it returns something other than undefined; fails naming `what` after the timeout. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  return poll(what, probe, { timeoutMs, intervalMs: 100 });
}

export function labelOf(item: vscode.TreeItem): string {
  return typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
}
