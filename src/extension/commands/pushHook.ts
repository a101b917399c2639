// Lockstep: Install Push Hook / Uninstall Push Hook: the optional pre-push hook (a "push" checkpoint per pushed ref), run by the CLI shipped inside the extension.
import * as vscode from 'vscode';
import { installHook, uninstallHook } from '../../git/hook';
import { cliPathIn } from '../commitHook';
import type { Lockstep } from '../container';
import { repositoryOf } from './targets';

export function installPushHook(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    // As the commit hook: VS Code's own binary runs the CLI when it is the only Node on the machine.
    const result = await installHook(repository.repo, {
      nodePath: process.execPath,
      cliPath: cliPathIn(ctx.extensionPath),
      electronRunAsNode: Boolean(process.versions.electron),
      hook: 'pre-push',
    });
    const notes = result.status.notes.length > 0 ? ` Note: ${result.status.notes.join(' ')}` : '';
    void vscode.window.showInformationMessage(
      `Lockstep: push hook ${result.action} in ${repository.name}${result.chainedHook ? ' (your existing pre-push hook is kept and runs first)' : ''}. Each push records a "push" checkpoint of the data it ships with.${notes}`,
    );
    return result;
  };
}

export function uninstallPushHook(ctx: Lockstep) {
  return async (arg?: unknown) => {
    const repository = await repositoryOf(ctx, arg);
    const result = await uninstallHook(repository.repo, 'pre-push');
    void vscode.window.showInformationMessage(
      result.removed
        ? `Lockstep: push hook removed from ${repository.name}${result.restored ? '; your earlier pre-push hook is back' : ''}.`
        : `Lockstep: ${result.notes.join(' ') || 'no Lockstep push hook was installed'}`,
    );
    return result;
  };
}
