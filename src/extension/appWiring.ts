// Wiring the app to Lockstep's database: the connection string written into the workspace's .env, only ever after asking.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LockstepError } from '../base/errors';
import { writeFileAtomic } from '../base/files';
import { runGit } from '../git/gitProcess';
import { optionsOf, repositoryOf, requireInitialised, type InternalOptions } from './commands/targets';
import { SECTION } from './config';
import type { Lockstep } from './container';
import type { WorkspaceRepository } from './repository';

/** Setting names under `lockstep.`. */
export const EnvSetting = {
  variable: 'env.variable',
  file: 'env.file',
} as const;

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The variable the app reads its connection string from (`lockstep.env.variable`, default DATABASE_URL). */
export function envVariable(folder?: vscode.Uri): string {
  const value = vscode.workspace.getConfiguration(SECTION, folder).get<string>(EnvSetting.variable, 'DATABASE_URL');
  return typeof value === 'string' && VARIABLE_NAME.test(value.trim()) ? value.trim() : 'DATABASE_URL';
}

/** The env file, relative to the repository's workspace folder (`lockstep.env.file`, default .env). */
export function envFileSetting(folder?: vscode.Uri): string {
  const value = vscode.workspace.getConfiguration(SECTION, folder).get<string>(EnvSetting.file, '.env');
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : '.env';
}

/** A connection string with its password replaced by `•••`, for messages. */
export function hidePassword(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (url.password) url.password = '•••';
    return decodeURI(url.toString());
  } catch {
    return '(a connection string)';
  }
}

export interface WriteEnvOptions extends InternalOptions {
  /** Internal (tests): the answer to "replace the existing line?" (`Replace`, or anything else to keep it). */
  replaceAnswer?: string;
  /** Internal (tests): the answer to "the file is tracked by git: write anyway?" (`Write Anyway`). */
  trackedAnswer?: string;
  /** Internal (tests): the answer to "add it to .gitignore?" (`Add to .gitignore`, or anything else). */
  gitignoreAnswer?: string;
}

export interface WriteEnvResult {
  file: string;
  variable: string;
  action: 'created' | 'added' | 'replaced' | 'unchanged' | 'declined';
  /** The file was added to .gitignore. */
  ignored?: boolean;
}

const REPLACE = 'Replace';
const WRITE_ANYWAY = 'Write Anyway';
const ADD_TO_GITIGNORE = 'Add to .gitignore';

/** A line that sets `variable`: `NAME=…`, `export NAME=…`, spaces allowed around `=`. */
function assignment(variable: string): RegExp {
  return new RegExp(`^(\\s*(?:export\\s+)?)${variable}\\s*=(.*)$`);
}

/** The value of an env-file line, without the quotes dotenv would drop. */
function valueOf(raw: string): string {
  const value = raw.trim();
  const quoted = /^(['"`])(.*)\1$/.exec(value);
  return quoted ? quoted[2]! : value.replace(/\s+#.*$/, '');
}

/** `lockstep.writeEnvFile`: writes the connection string into the workspace's env file, asking before anything is overwritten. */
export function writeEnvFile(ctx: Lockstep) {
  return async (arg?: unknown): Promise<WriteEnvResult> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    return writeEnvFileIn(repository, optionsOf<WriteEnvOptions>(arg));
  };
}

async function writeEnvFileIn(repository: WorkspaceRepository, options: Partial<WriteEnvOptions>): Promise<WriteEnvResult> {
  const engine = await repository.project.engine();
  if (!engine.connectionUrl) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine has no connection string to write`);
  const url = await engine.connectionUrl();
  const variable = envVariable(repository.folder.uri);
  const relative = envFileSetting(repository.folder.uri);
  const file = path.resolve(repository.folder.uri.fsPath, relative);
  const top = repository.repo.topLevel;
  if (file !== top && !file.startsWith(top + path.sep)) {
    throw new LockstepError('BAD_INPUT', `lockstep.${EnvSetting.file} (${relative}) is outside the repository ${repository.name}`, { hint: 'Name a file inside the repository, e.g. .env or apps/web/.env.' });
  }
  const shown = path.relative(top, file) || path.basename(file);

  // A tracked file would carry the password into the next commit: only on an explicit yes.
  if ((await runGit(top, ['ls-files', '--error-unmatch', '--', file])).exitCode === 0) {
    const choice =
      options.trackedAnswer ??
      (await vscode.window.showWarningMessage(
        `${shown} is tracked by git. Write ${variable} into it anyway?`,
        { modal: true, detail: `The connection string holds the local database's password; written into a tracked file, it goes into your next commit of ${shown}.` },
        WRITE_ANYWAY,
      ));
    if (choice !== WRITE_ANYWAY) return { file, variable, action: 'declined' };
  }

  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new LockstepError('BAD_INPUT', `cannot read ${shown}: ${(error as Error).message}`);
  }
  const eol = text?.includes('\r\n') ? '\r\n' : '\n';
  const lines = text === undefined || text === '' ? [] : text.split(/\r?\n/);
  // A file ending in a newline splits into a last empty element: kept, so the file still ends in one.
  const endsWithNewline = lines.length > 0 && lines[lines.length - 1] === '';
  if (endsWithNewline) lines.pop();
  const matcher = assignment(variable);
  const found = lines.map((line, index) => ({ index, match: matcher.exec(line) })).filter((l) => l.match);
  let action: WriteEnvResult['action'];
  if (found.some((l) => valueOf(l.match![2]!) === url)) {
    action = 'unchanged';
  } else if (found.length > 0) {
    const old = valueOf(found[0]!.match![2]!);
    const choice =
      options.replaceAnswer ??
      (await vscode.window.showWarningMessage(
        `${shown} already sets ${variable}. Replace it with Lockstep's database?`,
        { modal: true, detail: `Now: ${hidePassword(old)}\nLockstep's: ${hidePassword(url)}\n\nThe other lines of ${shown} are kept as they are.` },
        REPLACE,
      ));
    if (choice !== REPLACE) return { file, variable, action: 'declined' };
    // Every line that sets it: the last one would win otherwise.
    for (const { index, match } of found) lines[index] = `${match![1]}${variable}=${url}`;
    action = 'replaced';
  } else {
    lines.push(`${variable}=${url}`);
    action = text === undefined ? 'created' : 'added';
  }
  if (action !== 'unchanged') {
    const mode = text === undefined ? 0o600 : fs.statSync(file).mode & 0o777;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, lines.join(eol) + (endsWithNewline || text === undefined || action === 'added' ? eol : ''), mode);
  }
  repository.log.info(`${shown}: ${variable} ${action}`);

  const result: WriteEnvResult = { file, variable, action };
  const ignored = (await runGit(top, ['check-ignore', '--quiet', '--no-index', '--', file])).exitCode === 0;
  const tracked = (await runGit(top, ['ls-files', '--error-unmatch', '--', file])).exitCode === 0;
  const what = action === 'unchanged' ? `${shown} already sets ${variable} to` : `wrote ${variable} to ${shown}:`;
  const message = `Lockstep: ${what} ${hidePassword(url)}.`;
  if (ignored || tracked) {
    void vscode.window.showInformationMessage(message);
    return result;
  }
  const choice =
    options.gitignoreAnswer ?? (await vscode.window.showInformationMessage(`${message} ${shown} is not ignored by git, so it could be committed with the password.`, ADD_TO_GITIGNORE));
  if (choice === ADD_TO_GITIGNORE) {
    addToGitignore(top, path.relative(top, file));
    result.ignored = true;
    void vscode.window.showInformationMessage(`Lockstep: added ${shown} to .gitignore.`);
  }
  return result;
}

/** Appends `/relative` to the repository's top-level .gitignore, keeping what is there. */
function addToGitignore(top: string, relative: string): void {
  const file = path.join(top, '.gitignore');
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    // A new .gitignore.
  }
  const entry = `/${relative.split(path.sep).join('/')}`;
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  writeFileAtomic(file, `${text}${text === '' || text.endsWith('\n') ? '' : eol}${entry}${eol}`, text === '' ? 0o644 : fs.statSync(file).mode & 0o777);
}

/**
 * After Initialize: the result message, with the offer to write the
 * connection string into the env file (unless it is there already) and to copy it.
 */
export async function offerAppWiring(repository: WorkspaceRepository, message: string): Promise<void> {
  const variable = envVariable(repository.folder.uri);
  const relative = envFileSetting(repository.folder.uri);
  const write = `Write ${variable} to ${relative}`;
  const copy = 'Copy Connection String';
  let already = false;
  try {
    const url = await (await repository.project.engine()).connectionUrl?.();
    const text = fs.readFileSync(path.resolve(repository.folder.uri.fsPath, relative), 'utf8');
    const matcher = assignment(variable);
    already = url !== undefined && text.split(/\r?\n/).some((line) => {
      const match = matcher.exec(line);
      return match !== null && valueOf(match[2]!) === url;
    });
  } catch {
    // No env file yet, or no connection string: offered.
  }
  const choice = await vscode.window.showInformationMessage(message, ...(already ? [] : [write]), copy);
  if (choice === write) await vscode.commands.executeCommand('lockstep.writeEnvFile', repository);
  else if (choice === copy) await vscode.commands.executeCommand('lockstep.copyConnectionString', repository);
}
