// The one error path: whatever a command or a background task throws becomes one message with a "Show Log" action.
import * as vscode from 'vscode';
import { describeError, isLockstepError, type ErrorCode } from '../base/errors';
import type { Log } from '../base/log';

const SHOW_LOG = 'Show Log';

/** A button that helps with a known error code, next to "Show Log". */
interface Remedy {
  title: string;
  command: string;
}

const REMEDIES: Partial<Record<ErrorCode, Remedy>> = {
  NOT_INITIALISED: { title: 'Initialize', command: 'lockstep.initialize' },
  ENGINE_DOWN: { title: 'Start Database', command: 'lockstep.startDatabase' },
  DIRTY_TREE: { title: 'Open Source Control', command: 'workbench.view.scm' },
  AUTH: { title: 'Connect a Neon Project', command: 'lockstep.connectNeon' },
};

export class ErrorReporter {
  constructor(
    private readonly log: Log,
    private readonly showLog: () => void,
  ) {}

  /**
   * Logs the whole error and shows one line (plus the hint) to the person. A
   * cancellation is what the person asked for: logged, not shown.
   */
  async report(error: unknown, what: string): Promise<void> {
    if (isLockstepError(error, 'CANCELLED')) {
      this.log.info(`${what}: ${error.message}`);
      return;
    }
    this.log.error(`${what} failed: ${describeError(error)}${error instanceof Error && !isLockstepError(error) && error.stack ? `\n${error.stack}` : ''}`);
    const remedy = isLockstepError(error) ? REMEDIES[error.code] : undefined;
    const text = isLockstepError(error)
      ? `${sentence(error.message)}${error.hint ? ` ${sentence(error.hint)}` : ''}`
      : `${what} failed unexpectedly: ${error instanceof Error ? error.message : String(error)}`;
    const buttons = [...(remedy ? [remedy.title] : []), SHOW_LOG];
    const choice = await vscode.window.showErrorMessage(`Lockstep: ${text}`, ...buttons);
    if (choice === SHOW_LOG) this.showLog();
    else if (remedy && choice === remedy.title) await vscode.commands.executeCommand(remedy.command);
  }
}

/** Core messages are lower-case clauses made for `lockstep: …` lines; a notification wants sentences. */
function sentence(text: string): string {
  const trimmed = text.trim();
  if (trimmed === '') return trimmed;
  const capital = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?)]$/.test(capital) ? capital : `${capital}.`;
}
