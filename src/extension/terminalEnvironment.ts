// What VS Code terminals (an agent's included) get from Lockstep: the active repository's DATABASE_URL, and a `lockstep` on PATH.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError } from '../base/errors';
import { writeFileAtomic } from '../base/files';
import { scopedLog, type Log } from '../base/log';
import { shellQuote } from '../git/hook';
import { envVariable } from './appWiring';
import { cliPathIn } from './commitHook';
import { Config, SECTION } from './config';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';

/** Setting (under `lockstep.`) that turns the terminal environment off. */
export const TERMINAL_ENVIRONMENT_SETTING = 'terminal.environment';

/**
 * The `lockstep` command of VS Code terminals: a shim in the extension's
 * global storage that runs this extension's bundled CLI with the program that
 * runs the extension host, the way the commit hook does (Node in code-server
 * and remote hosts; VS Code's Electron binary as Node on the desktop).
 * Rewritten at each start, so it follows the extension across updates.
 */
export function writeCliShim(binDir: string, extensionPath: string): string {
  fs.mkdirSync(binDir, { recursive: true });
  const runtime = process.execPath;
  const cli = cliPathIn(extensionPath);
  const electron = Boolean(process.versions.electron);
  if (process.platform === 'win32') {
    const file = path.join(binDir, 'lockstep.cmd');
    writeIfChanged(file, `@echo off\r\nrem The lockstep command of VS Code terminals: the CLI of the Lockstep extension (rewritten at each start).\r\n${electron ? 'set ELECTRON_RUN_AS_NODE=1\r\n' : ''}"${runtime}" "${cli}" %*\r\n`, 0o755);
    return file;
  }
  const file = path.join(binDir, 'lockstep');
  writeIfChanged(
    file,
    `#!/bin/sh
# The lockstep command of VS Code terminals: the CLI bundled in the Lockstep extension,
# run by VS Code's own runtime. Written by the extension at each start; safe to delete.
${electron ? 'ELECTRON_RUN_AS_NODE=1 ' : ''}exec ${shellQuote(runtime)} ${shellQuote(cli)} "$@"
`,
    0o755,
  );
  return file;
}

function writeIfChanged(file: string, text: string, mode: number): void {
  try {
    if (fs.readFileSync(file, 'utf8') === text) return;
  } catch {
    // Not there yet.
  }
  writeFileAtomic(file, text, mode);
}

export class TerminalEnvironment extends Disposable {
  private readonly log: Log;
  private readonly binDir: string;
  /** What the collection holds now (name and value), so an unchanged state does not mark every terminal stale. */
  private shown: string | undefined;
  private updating: Promise<void> = Promise.resolve();
  /** The `lockstep` shim, once written; null when it could not be. */
  private shimFile: string | null | undefined;

  constructor(
    private readonly collection: vscode.GlobalEnvironmentVariableCollection,
    globalStorage: vscode.Uri,
    private readonly extensionPath: string,
    private readonly repositories: Repositories,
    log: Log,
  ) {
    super();
    this.log = scopedLog(log, 'terminal env');
    this.binDir = path.join(globalStorage.fsPath, 'bin');
    // The connection string carries the password: kept out of VS Code's saved state; terminals get it once Lockstep has started.
    collection.persistent = false;
    const update = (): void => this.update();
    this._register(repositories.onDidChangeActive(update));
    this._register(repositories.onDidChangeState(update));
    this._register(repositories.onDidChangeRepositories(update));
    this._register(
      vscode.workspace.onDidChangeConfiguration((event) => {
        if (Config.affects(event, TERMINAL_ENVIRONMENT_SETTING) || Config.affects(event, 'env.variable')) update();
      }),
    );
    this._register({ dispose: () => collection.clear() });
    update();
  }

  /** Resolves once the collection says what the repositories say now (tests wait for it). */
  whenUpdated(): Promise<void> {
    return this.updating;
  }

  private update(): void {
    this.updating = this.updating.then(() => this.apply()).catch((error: unknown) => this.log.warn(describeError(error)));
  }

  private async apply(): Promise<void> {
    if (this.isDisposed) return;
    const repository = this.repositories.active;
    const settings = vscode.workspace.getConfiguration(SECTION, repository?.folder.uri);
    if (settings.get<boolean>(TERMINAL_ENVIRONMENT_SETTING, true) === false) {
      if (this.shown !== '') this.collection.clear();
      this.shown = '';
      return;
    }
    const variable = envVariable(repository?.folder.uri);
    let url: string | undefined;
    if (repository?.initialised) {
      try {
        const engine = await repository.project.engine();
        url = await engine.connectionUrl?.();
      } catch (error) {
        this.log.debug(`${repository.name}: no connection string: ${describeError(error)}`);
      }
    }
    const shim = this.shim();
    const next = JSON.stringify([variable, url, shim, repository?.repo.topLevel]);
    if (next === this.shown) return;
    this.shown = next;
    this.collection.clear();
    if (shim) this.collection.prepend('PATH', `${path.dirname(shim)}${path.delimiter}`);
    if (url) this.collection.replace(variable, url);
    const parts = [...(url && repository ? [`\`${variable}\`: the database of ${repository.name}`] : []), ...(shim ? ['`lockstep` on PATH (the CLI of this extension)'] : [])];
    this.collection.description = new vscode.MarkdownString(`Lockstep: ${parts.join('; ') || 'nothing (not set up)'}`);
    this.log.info(`terminals get ${[url ? variable : undefined, shim ? 'lockstep on PATH' : undefined].filter(Boolean).join(' and ') || 'nothing'}${repository ? ` (${repository.name})` : ''}`);
  }

  private shim(): string | undefined {
    if (this.shimFile === undefined) {
      try {
        this.shimFile = writeCliShim(this.binDir, this.extensionPath);
      } catch (error) {
        this.log.warn(`could not write the lockstep command for terminals in ${this.binDir}: ${describeError(error)}`);
        this.shimFile = null;
      }
    }
    return this.shimFile ?? undefined;
  }
}
