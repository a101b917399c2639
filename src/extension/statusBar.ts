// The `$(database) Snapshot` status bar item: one click takes a snapshot; its state → (text, tooltip, colour) is decided in one place.
import * as vscode from 'vscode';
import { displayTitle } from '../core/journalText';
import { relativeTime } from '../core/relativeTime';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';
import type { RunningOperation, RepositoryState } from './repository';
import { interruptedSentence } from './interruptedRestore';
import { escapeMarkdown } from './markdown';

/**
 * A running operation as the status bar shows it. `quiet`: it waits for the
 * person (a restore's preview and modal), so the bar does not say it runs.
 */
export interface StatusOperation extends RunningOperation {
  quiet?: boolean;
}

export interface StatusBarInput {
  repositoryName: string | undefined;
  state: RepositoryState | undefined;
  operation: StatusOperation | undefined;
  now?: number;
}

export interface StatusBarPresentation {
  visible: boolean;
  text: string;
  tooltip: vscode.MarkdownString | undefined;
  backgroundColor: vscode.ThemeColor | undefined;
  color: vscode.ThemeColor | undefined;
  command: string | undefined;
  accessibilityLabel: string;
}

const HIDDEN: StatusBarPresentation = { visible: false, text: '', tooltip: undefined, backgroundColor: undefined, color: undefined, command: undefined, accessibilityLabel: '' };

/**
 * The whole mapping from state to looks. Hidden where Lockstep is not set up:
 * the extension activates in every git workspace and must not clutter the ones
 * that do not use it (the Lockstep view offers the set-up).
 */
export function presentStatus(input: StatusBarInput): StatusBarPresentation {
  const { state, operation } = input;
  if (!state?.loaded || (!state.config && !state.configProblem)) return HIDDEN;
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.isTrusted = {
    enabledCommands: ['lockstep.takeSnapshot', 'lockstep.restoreCheckpoint', 'lockstep.startDatabase', 'lockstep.showLog', 'lockstep.continueInterruptedRestore', 'lockstep.abortInterruptedRestore'],
  };
  tooltip.appendMarkdown(`**Lockstep**${input.repositoryName ? ` · ${escapeMarkdown(input.repositoryName)}` : ''}\n\n`);
  const warning = { backgroundColor: new vscode.ThemeColor('statusBarItem.warningBackground'), color: new vscode.ThemeColor('statusBarItem.warningForeground') };

  if (state.configProblem) {
    tooltip.appendMarkdown(`$(warning) The configuration cannot be read: ${escapeMarkdown(state.configProblem)}\n\n[Show Log](command:lockstep.showLog)`);
    return { visible: true, text: '$(warning) Lockstep', tooltip, ...warning, command: 'lockstep.showLog', accessibilityLabel: 'Lockstep: the configuration cannot be read' };
  }

  const engine = state.engine;
  if (engine) tooltip.appendMarkdown(`$(database) ${escapeMarkdown(engine.engine)}: ${escapeMarkdown(engine.summary)}\n\n`);
  if (engine?.head) tooltip.appendMarkdown(`Timeline \`${engine.head.timelineId}\` · LSN \`${engine.head.lsn}\`\n\n`);
  const newest = state.newest;
  tooltip.appendMarkdown(
    newest
      ? `Last checkpoint: ${escapeMarkdown(displayTitle(newest))} (${newest.commitSha ? `${newest.commitSha.slice(0, 7)}, ` : ''}${relativeTime(newest.createdAt, input.now)})\n\n`
      : 'No checkpoint yet\n\n',
  );
  if (operation && !operation.quiet) {
    tooltip.appendMarkdown(`$(loading~spin) ${escapeMarkdown(operation.title)}…`);
    return { visible: true, text: `$(loading~spin) ${operation.short}`, tooltip, backgroundColor: undefined, color: undefined, command: 'lockstep.showLog', accessibilityLabel: `Lockstep: ${operation.title}` };
  }

  // A restore record: running in another process, or interrupted until Continue or Abort settles it.
  const restoring = state.restoring;
  if (restoring?.ownerAlive) {
    tooltip.appendMarkdown(`$(loading~spin) ${escapeMarkdown(interruptedSentence(restoring))}`);
    return { visible: true, text: '$(loading~spin) Restoring…', tooltip, backgroundColor: undefined, color: undefined, command: 'lockstep.showLog', accessibilityLabel: `Lockstep: ${interruptedSentence(restoring)}` };
  }
  if (restoring) {
    tooltip.appendMarkdown(`$(warning) ${escapeMarkdown(interruptedSentence(restoring))}\n\n---\n\n`);
    tooltip.appendMarkdown(`${restoring.canContinue ? '[Continue Restore](command:lockstep.continueInterruptedRestore) · ' : ''}[Abort Restore](command:lockstep.abortInterruptedRestore)`);
    return { visible: true, text: '$(warning) Restore Interrupted', tooltip, ...warning, command: 'lockstep.showInterruptedRestore', accessibilityLabel: `Lockstep: ${interruptedSentence(restoring)}` };
  }

  const down = engine?.state === 'stopped' || engine?.state === 'unreachable' || engine?.state === 'not-initialised';
  if (down) {
    tooltip.appendMarkdown(
      engine?.state === 'stopped'
        ? `$(warning) The database is stopped: snapshots and data restores need it. [Start Local Database](command:lockstep.startDatabase)\n\n`
        : `$(warning) The database does not answer: snapshots and data restores need it. [Show Log](command:lockstep.showLog)\n\n`,
    );
  }
  const problems = down ? [] : (engine?.warnings ?? []);
  for (const problem of problems) tooltip.appendMarkdown(`$(warning) ${escapeMarkdown(problem)}\n\n`);
  for (const kept of down ? [] : (engine?.kept ?? [])) tooltip.appendMarkdown(`$(history) Kept for the next restore: ${escapeMarkdown(kept)}\n\n`);
  tooltip.appendMarkdown('---\n\n[Take Snapshot](command:lockstep.takeSnapshot) · [Restore Checkpoint…](command:lockstep.restoreCheckpoint)');
  return {
    visible: true,
    text: problems.length > 0 ? '$(warning) Snapshot' : '$(database) Snapshot',
    tooltip,
    ...(down || problems.length > 0 ? warning : { backgroundColor: undefined, color: undefined }),
    command: 'lockstep.takeSnapshot',
    accessibilityLabel: down ? `Lockstep: database ${engine?.state}; take a snapshot` : problems.length > 0 ? `Lockstep: ${problems[0]}; take a snapshot` : 'Lockstep: take a snapshot',
  };
}


/** Follows the active repository. */
export class SnapshotStatusBar extends Disposable {
  private readonly item = this._register(vscode.window.createStatusBarItem('lockstep.snapshot', vscode.StatusBarAlignment.Left, 10));

  constructor(private readonly repositories: Repositories) {
    super();
    this.item.name = 'Lockstep Snapshot';
    const update = (): void => this.update();
    this._register(repositories.onDidChangeRepositories(update));
    this._register(repositories.onDidChangeActive(update));
    this._register(repositories.onDidChangeState(update));
    this._register(repositories.onDidChangeOperation(update));
    this.update();
  }

  private update(): void {
    const repository = this.repositories.active;
    const look = presentStatus({
      repositoryName: this.repositories.all.length > 1 ? repository?.name : undefined,
      state: repository?.state,
      operation: repository?.operation,
    });
    if (!look.visible) {
      this.item.hide();
      return;
    }
    this.item.text = look.text;
    this.item.tooltip = look.tooltip;
    this.item.backgroundColor = look.backgroundColor;
    this.item.color = look.color;
    this.item.command = look.command;
    this.item.accessibilityInformation = { label: look.accessibilityLabel };
    this.item.show();
  }
}
