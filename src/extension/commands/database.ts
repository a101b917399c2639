// The database behind the engine: Start/Stop Local Database and Copy Connection String.
import * as vscode from 'vscode';
import { LockstepError } from '../../base/errors';
import { hidePassword } from '../appWiring';
import type { Lockstep } from '../container';
import { repositoryOf, requireInitialised } from './targets';

export function startDatabase(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const engine = await repository.project.engine();
    if (!engine.start) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine's database is not started by Lockstep`);
    const head = await repository.run({ title: 'Starting the local database', short: 'Starting…' }, () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Lockstep: starting the database' }, (progress) =>
        engine.start!({ onProgress: (step) => progress.report({ message: step }) }),
      ),
    );
    await repository.refresh();
    vscode.window.setStatusBarMessage(`$(database) Lockstep: database running, timeline ${head.timelineId} @ ${head.lsn}`, 5_000);
    return head;
  };
}

export function stopDatabase(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const engine = await repository.project.engine();
    if (!engine.stop) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine's database is not stopped by Lockstep`);
    await repository.run({ title: 'Stopping the local database', short: 'Stopping…' }, () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Lockstep: stopping the database' }, (progress) =>
        engine.stop!({ onProgress: (step) => progress.report({ message: step }) }),
      ),
    );
    await repository.refresh();
    vscode.window.setStatusBarMessage('$(database) Lockstep: database stopped; every checkpoint stays restorable', 5_000);
  };
}

export function copyConnectionString(ctx: Lockstep) {
  return async (arg?: unknown): Promise<void> => {
    const repository = await repositoryOf(ctx, arg);
    requireInitialised(repository);
    const engine = await repository.project.engine();
    if (!engine.connectionUrl) throw new LockstepError('BAD_INPUT', `the ${engine.kind} engine has no connection string to copy`);
    const url = await engine.connectionUrl();
    await vscode.env.clipboard.writeText(url);
    // The string carries the password: whole on the clipboard only; the message and the log show it hidden.
    void vscode.window.showInformationMessage(`Lockstep: copied the connection string of ${repository.name} (with its password): ${hidePassword(url)}`);
  };
}
