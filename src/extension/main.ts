// Entry point of the VS Code extension: a thin activate() that builds the one context object and shows a failure instead of swallowing it.
import * as vscode from 'vscode';
import { describeError } from '../base/errors';
import { Lockstep, type LockstepInternals } from './container';

export function activate(context: vscode.ExtensionContext): LockstepInternals {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('Lockstep', { log: true });
  context.subscriptions.push(log);
  try {
    const lockstep = new Lockstep(context, log);
    context.subscriptions.push(lockstep);
    const activationMs = performance.now() - started;
    // The benchmark reads this line; it is the cost Lockstep adds to every window's start-up.
    log.info(`[activation] activate() took ${activationMs.toFixed(1)} ms`);
    return lockstep.internals(activationMs);
  } catch (error) {
    log.error(`[activation] failed: ${describeError(error)}${error instanceof Error && error.stack ? `\n${error.stack}` : ''}`);
    const showLog = 'Show Log';
    void vscode.window.showErrorMessage(`Lockstep could not start: ${describeError(error)}`, showLog).then((choice) => (choice === showLog ? log.show() : undefined));
    throw error;
  }
}

export function deactivate(): void {
  // Everything is disposed through context.subscriptions.
}
