// Entry point of the VS Code extension: activation builds the extension's parts and registers them for disposal.
import * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Lockstep', { log: true });
  context.subscriptions.push(
    log,
    vscode.commands.registerCommand('lockstep.showLog', () => log.show()),
  );
  log.info('activated');
}

export function deactivate(): void {}
