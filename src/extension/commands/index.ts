// The command table: every `lockstep.*` command as a factory over the extension's context, registered through one error wrapper.
import * as vscode from 'vscode';
import type { Lockstep } from '../container';
import type { ShowMoreNode } from '../views/treeNodes';
import { copyLsn, deleteCheckpoint } from './checkpoint';
import { copyConnectionString, startDatabase, stopDatabase } from './database';
import { writeEnvFile } from '../appWiring';
import { restoreTablesCommand, showChanges, showTableChanges } from './changes';
import { compareWithCurrent, restoreCheckpoint, restoreToMoment, undoCommand } from './restore';
import { settleInterruptedCommand, showInterruptedRestore } from './settle';
import { applySettings, connectNeon, initialize, installCommitHook, uninstallCommitHook } from './setup';
import { installPushHook, uninstallPushHook } from './pushHook';
import { pinCheckpointCommand, unpinCheckpointCommand } from './pin';
import { takeSnapshot } from './snapshot';
import { isInternalOptions, repositoryOf, requireInitialised } from './targets';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- commands take whatever VS Code or a caller passes
type CommandHandler = (...args: any[]) => unknown;
export type CommandFactory = (ctx: Lockstep) => CommandHandler;

/** Every command package.json contributes, and nothing else (the host suite checks both ways). */
export function createCommands(): Record<string, CommandFactory> {
  return {
    'lockstep.takeSnapshot': takeSnapshot,
    'lockstep.restoreCheckpoint': (ctx) => restoreCheckpoint(ctx),
    'lockstep.restore': (ctx) => restoreCheckpoint(ctx, 'both'),
    'lockstep.restoreDataOnly': (ctx) => restoreCheckpoint(ctx, 'data-only'),
    'lockstep.restoreCodeOnly': (ctx) => restoreCheckpoint(ctx, 'code-only'),
    'lockstep.continueInterruptedRestore': settleInterruptedCommand('continue'),
    'lockstep.abortInterruptedRestore': settleInterruptedCommand('abort'),
    'lockstep.showInterruptedRestore': showInterruptedRestore,
    'lockstep.undoCommand': undoCommand,
    'lockstep.compareWithCurrent': compareWithCurrent,
    'lockstep.restoreToMoment': restoreToMoment,
    'lockstep.showChanges': showChanges,
    'lockstep.showTableChanges': showTableChanges,
    'lockstep.restoreTables': restoreTablesCommand,
    'lockstep.copyLsn': copyLsn,
    'lockstep.deleteCheckpoint': deleteCheckpoint,
    'lockstep.pinCheckpoint': pinCheckpointCommand,
    'lockstep.unpinCheckpoint': unpinCheckpointCommand,
    'lockstep.showHistoryGraph': (ctx) => async (arg?: unknown) => {
      const repository = await repositoryOf(ctx, arg);
      requireInitialised(repository);
      return ctx.historyGraph.show(repository);
    },
    'lockstep.refresh': (ctx) => async () => {
      await Promise.all(ctx.repositories.all.map((repository) => repository.refresh()));
      ctx.checkpoints.refresh({ reload: true });
    },
    'lockstep.showMore': (ctx) => (node: ShowMoreNode) => ctx.checkpoints.showMore(node),
    'lockstep.initialize': initialize,
    'lockstep.connectNeon': connectNeon,
    'lockstep.startDatabase': startDatabase,
    'lockstep.stopDatabase': stopDatabase,
    'lockstep.copyConnectionString': copyConnectionString,
    'lockstep.writeEnvFile': writeEnvFile,
    'lockstep.installHook': installCommitHook,
    'lockstep.uninstallHook': uninstallCommitHook,
    'lockstep.installPushHook': installPushHook,
    'lockstep.uninstallPushHook': uninstallPushHook,
    'lockstep.applySettings': applySettings,
    'lockstep.showLog': (ctx) => () => ctx.log.show(),
  };
}

/**
 * The one error path for commands: a failure becomes a message with "Show
 * Log" (not awaited: the command returns while the message is up). Callers
 * that pass internal options with `rethrow: true` (tests) get the error too.
 */
export function registerCommands(ctx: Lockstep, titles: ReadonlyMap<string, string>): vscode.Disposable[] {
  return Object.entries(createCommands()).map(([id, factory]) => {
    const handler = factory(ctx);
    return vscode.commands.registerCommand(id, async (...args: unknown[]) => {
      try {
        return await handler(...args);
      } catch (error) {
        void ctx.errors.report(error, titles.get(id) ?? id);
        const options = args[0];
        if (isInternalOptions(options) && options.rethrow === true) throw error;
        return undefined;
      }
    });
  });
}
