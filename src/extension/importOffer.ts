// After a first Initialize: when the workspace's env file points at a database, the offer to copy it into the local engine as the first checkpoint.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { hidePassword, envFileSetting, envVariable } from './appWiring';
import type { Lockstep } from './container';
import type { WorkspaceRepository } from './repository';

const COPY = 'Copy Schema and Data';

/** The database the env file's variable names, unless it is Lockstep's own (same port on this machine) or not a Postgres URL. */
function workspaceDatabase(repository: WorkspaceRepository): { url: string; file: string } | undefined {
  const variable = envVariable(repository.folder.uri);
  const file = envFileSetting(repository.folder.uri);
  let text: string;
  try {
    text = fs.readFileSync(path.resolve(repository.folder.uri.fsPath, file), 'utf8');
  } catch {
    return undefined;
  }
  const line = new RegExp(`^\\s*(?:export\\s+)?${variable}\\s*=(.*)$`);
  // The last assignment wins, as in dotenv.
  const raw = text
    .split(/\r?\n/)
    .map((l) => line.exec(l)?.[1])
    .filter((v): v is string => v !== undefined)
    .pop();
  if (raw === undefined) return undefined;
  const quoted = /^(['"`])(.*)\1$/.exec(raw.trim());
  const url = quoted ? quoted[2]! : raw.trim().replace(/\s+#.*$/, '');
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') return undefined;
    const ownPort = repository.project.tryConfig()?.local?.port;
    const here = ['localhost', '127.0.0.1', '[::1]', ''].includes(parsed.hostname);
    if (here && Number(parsed.port || 5432) === ownPort) return undefined;
  } catch {
    return undefined;
  }
  return { url, file };
}

/** Offers the copy (the original is only read) and runs it with a progress notification. Resolves once the person has answered. */
export async function offerImport(ctx: Lockstep, repository: WorkspaceRepository): Promise<void> {
  const found = workspaceDatabase(repository);
  if (!found || repository.project.tryConfig()?.engine !== 'local') return;
  const choice = await vscode.window.showInformationMessage(
    `Lockstep: ${found.file} points at a database (${hidePassword(found.url)}). Copy its schema and data into Lockstep's local database (the original is not changed)?`,
    COPY,
  );
  if (choice !== COPY) return;
  try {
    const result = await repository.run({ title: 'Importing the database', short: 'Importing…' }, () =>
      vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Lockstep: Copying ${hidePassword(found.url)} into ${repository.name}`, cancellable: true },
        async (progress, token) => {
          const { importDatabase, parseImportUrl } = await import('../core/importDatabase');
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          return importDatabase(repository.project, {
            source: parseImportUrl(found.url),
            signal: controller.signal,
            onProgress: (step) => {
              repository.log.info(`import: ${step}`);
              progress.report({ message: step });
            },
          });
        },
      ),
    );
    await repository.refresh();
    void vscode.window.showInformationMessage(
      `Lockstep: copied ${result.database} (${result.tables} tables, ${result.sourceVersion}) into ${repository.name} as the first checkpoint. The original was only read.`,
    );
  } catch (error) {
    await ctx.errors.report(error, 'Import');
  }
}
