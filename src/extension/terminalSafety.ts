// Safety points before risky commands run in any VS Code terminal (an agent's included), seen through shell integration.
import * as vscode from 'vscode';
import type { Checkpoint } from '../core/checkpoint';
import type { Position } from '../core/engine';
import { describeError } from '../base/errors';
import { displayText } from '../core/journalText';
import { scopedLog, type Log } from '../base/log';
import { checkRiskyPatterns, classifyCommand } from '../core/risky';
import { SECTION } from './config';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';
import type { WorkspaceRepository } from './repository';

/*
 * How "the safety point precedes every write of the command" is kept.
 *
 * The start event reaches the extension host after the shell has started the
 * command, which may already have connected and written by then: a position
 * read at the event can come too late. So each terminal keeps a reading taken
 * at its prompt, before the next command can start:
 *
 *   - when shell integration becomes active in the terminal, and when each
 *     command ends, the database position of every running repository is read
 *     (`engine.head()`: one query on a kept connection; it writes nothing);
 *   - at a risky command's start the position is read again. When it equals
 *     the prompt reading, the WAL did not move in between: nothing at all was
 *     written, so that position is exact. Otherwise the prompt reading is
 *     used: it was taken before the command started, so it precedes all its
 *     writes (and also undoes what other clients wrote in that gap).
 *
 * The race: a prompt reading is asked for when the previous command's end
 * event arrives, and the next command can start in the shell before that
 * reading reaches Postgres: only when it was already waiting in the shell's
 * input (typed ahead, or pasted with the previous one). The extension knows
 * only the order of events, so it uses the one sign it has: a prompt reading
 * still unanswered when the next start event arrives is in doubt. A doubtful
 * reading is replaced by the terminal's last reading not in doubt, taken before
 * the previous command started, which precedes both commands (the safety point
 * then undoes the previous command too, and says so). The exact limit: a
 * reading answered before the start event arrives, but executed by Postgres
 * after the command's first write; that needs the command to start, connect
 * and write before the end event of the command before it has travelled to
 * the extension host and one query has run (psql alone takes longer to start
 * and connect than that, but a slow, throttled or closed workbench delays
 * events without bound: with no workbench connected no events arrive at all).
 */

/** Who takes terminal safety points, in the journal and the tree. */
export const TERMINAL_AGENT = 'vscode-terminal';

/** Setting names under `lockstep.` that this part reads. */
export const TerminalSetting = {
  enabled: 'agents.terminalSafetyPoints',
  riskyCommands: 'agents.riskyCommands',
} as const;

/** A reading of one repository's position, asked for at a terminal's prompt. */
interface Reading {
  readonly position: Promise<Position | undefined>;
  answered: boolean;
}

/** What the extension knows of one terminal. */
interface TerminalWatch {
  /** Per repository (by work tree), the readings taken at the current prompt; undefined while a command runs. */
  prompt: Map<string, Reading> | undefined;
  /** Per repository, the last prompt reading that was not in doubt when a command started; the fallback for one that is. */
  trusted: Map<string, Reading>;
  /** The command whose start consumed the trusted readings (named when a fallback undoes it too). */
  previousCommand: string | undefined;
  running: number;
}

/** What a terminal safety point was taken at, and why there. */
export interface TerminalSafetyPoint {
  checkpoint: Checkpoint;
  terminal: vscode.Terminal;
  /** `unmoved`: the position at the start equalled the prompt reading; `prompt`: the prompt reading; `earlier`: the reading before the previous command; `late`: read at the start event (no prompt reading). */
  basis: 'unmoved' | 'prompt' | 'earlier' | 'late';
}

export class TerminalSafetyPoints extends Disposable {
  private readonly terminals = new Map<vscode.Terminal, TerminalWatch>();
  private readonly log: Log;
  private readonly taken = this._register(new vscode.EventEmitter<TerminalSafetyPoint>());
  /** A safety point was taken before a terminal command (tests listen to it). */
  readonly onDidTakeSafetyPoint = this.taken.event;
  private warnedPatterns = '';

  constructor(
    private readonly repositories: Repositories,
    log: Log,
  ) {
    super();
    this.log = scopedLog(log, 'terminal');
    this._register(vscode.window.onDidChangeTerminalShellIntegration(({ terminal }) => this.atPrompt(terminal, 'shell integration active')));
    this._register(vscode.window.onDidStartTerminalShellExecution((event) => void this.started(event)));
    this._register(vscode.window.onDidEndTerminalShellExecution(({ terminal }) => this.ended(terminal)));
    this._register(vscode.window.onDidCloseTerminal((terminal) => this.terminals.delete(terminal)));
    // A repository set up (or its database started) while terminals wait at their prompts: read its position there too.
    this._register(repositories.onDidChangeState((repository) => this.readMissing(repository)));
    for (const terminal of vscode.window.terminals) if (terminal.shellIntegration) this.atPrompt(terminal, 'found at activation');
  }

  private get enabled(): boolean {
    return vscode.workspace.getConfiguration(SECTION).get<boolean>(TerminalSetting.enabled, true) !== false;
  }

  private watch(terminal: vscode.Terminal): TerminalWatch {
    let watch = this.terminals.get(terminal);
    if (!watch) {
      watch = { prompt: undefined, trusted: new Map(), previousCommand: undefined, running: 0 };
      this.terminals.set(terminal, watch);
    }
    return watch;
  }

  private ended(terminal: vscode.Terminal): void {
    const watch = this.watch(terminal);
    watch.running = Math.max(0, watch.running - 1);
    if (watch.running === 0) this.atPrompt(terminal, 'command ended');
  }

  /** The terminal shows its prompt: read every running repository's position now, before the next command can start. */
  private atPrompt(terminal: vscode.Terminal, why: string): void {
    if (!this.enabled) return;
    const watch = this.watch(terminal);
    watch.prompt = new Map();
    for (const repository of this.repositories.all) this.readInto(watch.prompt, repository);
    this.log.trace(`${terminal.name}: ${why}; position read for ${watch.prompt.size} repositor${watch.prompt.size === 1 ? 'y' : 'ies'}`);
  }

  private readMissing(repository: WorkspaceRepository): void {
    if (!this.enabled) return;
    for (const watch of this.terminals.values()) {
      if (watch.prompt && watch.running === 0 && !watch.prompt.has(repository.repo.topLevel)) this.readInto(watch.prompt, repository);
    }
  }

  /** Asks for `repository`'s position (no waiting here: the event handler must return at once). */
  private readInto(readings: Map<string, Reading>, repository: WorkspaceRepository): void {
    // A stopped database cannot be written to; a cloud compute is not woken up for a reading.
    if (!repository.initialised || repository.state.engine?.state !== 'running' || repository.operation) return;
    const reading: Reading = {
      answered: false,
      position: repository.project
        .engine()
        .then((engine) => engine.head())
        .catch((error: unknown) => {
          this.log.debug(`${repository.name}: no position at the prompt: ${describeError(error)}`);
          return undefined;
        })
        .finally(() => {
          reading.answered = true;
        }),
    };
    readings.set(repository.repo.topLevel, reading);
  }

  private async started(event: vscode.TerminalShellExecutionStartEvent): Promise<void> {
    const { terminal, execution } = event;
    const watch = this.watch(terminal);
    const command = execution.commandLine.value;
    // Everything about the readings is decided here, synchronously, in the order the events arrived.
    const prompt = watch.prompt;
    const previousCommand = watch.previousCommand;
    const trustedBefore = new Map(watch.trusted);
    if (prompt) for (const [key, reading] of prompt) if (reading.answered) watch.trusted.set(key, reading);
    watch.prompt = undefined;
    watch.previousCommand = command;
    watch.running += 1;
    if (!this.enabled || command.trim() === '') return;

    const repository = this.repositoryOf(execution.cwd ?? terminal.shellIntegration?.cwd);
    if (!repository?.initialised) return;
    const verdict = classifyCommand(command, this.extraPatterns(repository));
    if (!verdict.risky) return;
    // `lockstep run` takes its own safety point, with the command's exit status.
    if (/(^|[\s;&|(])lockstep\s+run(\s|$)/.test(command)) return;
    if (repository.operation) {
      this.log.info(`${repository.name}: no safety point before \`${displayText(command, 80)}\`: ${repository.operation.title} is running`);
      return;
    }
    try {
      const key = repository.repo.topLevel;
      const engine = await repository.project.engine();
      const now = await engine.head();
      const { at, basis } = await this.startingPoint(now, prompt?.get(key), trustedBefore.get(key));
      const { labelFor, takeSafetyPoint } = await import('../core/safety');
      const checkpoint = await takeSafetyPoint(repository.project, {
        command,
        agent: { name: TERMINAL_AGENT },
        at,
        // Restoring it undoes the command before too: the label names both.
        ...(basis === 'earlier' && previousCommand ? { label: labelFor(`${previousCommand} ; ${command}`) } : {}),
      });
      const short = displayText(command, 60);
      const how: Record<TerminalSafetyPoint['basis'], string> = {
        unmoved: 'the database had not moved since the prompt',
        prompt: 'the position read at the prompt, before the command started',
        earlier: `the position before the command before it (\`${displayText(previousCommand ?? '', 80)}\`), which started right before it: restoring undoes both`,
        late: 'read after the command started (no reading at the prompt): its first writes may come before it',
      };
      (basis === 'late' || basis === 'earlier' ? this.log.warn : this.log.info).call(
        this.log,
        `${repository.name}: safety point ${checkpoint.id} at ${at.timelineId}/${at.lsn} before \`${displayText(command, 200)}\` (${verdict.reason ?? 'risky'}): ${how[basis]}`,
      );
      vscode.window.setStatusBarMessage(`$(shield) Lockstep: safety point before \`${short}\``, 8_000);
      this.taken.fire({ checkpoint, terminal, basis });
    } catch (error) {
      this.log.warn(`${repository.name}: no safety point before \`${displayText(command, 80)}\`: ${describeError(error)}`);
    }
  }

  /** Where the safety point goes; see the comment at the top of this file. */
  private async startingPoint(now: Position, prompt: Reading | undefined, trusted: Reading | undefined): Promise<{ at: Position; basis: TerminalSafetyPoint['basis'] }> {
    if (prompt && !prompt.answered) {
      const earlier = trusted && (await trusted.position);
      if (earlier) return { at: earlier, basis: 'earlier' };
    }
    const atPrompt = prompt && (await prompt.position);
    if (!atPrompt) return { at: now, basis: 'late' };
    if (atPrompt.timelineId === now.timelineId && atPrompt.lsn === now.lsn) return { at: now, basis: 'unmoved' };
    return { at: atPrompt, basis: 'prompt' };
  }

  /** The repository whose work tree holds the terminal's folder, else the active one. */
  private repositoryOf(cwd: vscode.Uri | undefined): WorkspaceRepository | undefined {
    return (cwd ? this.repositories.containing(cwd.fsPath) : undefined) ?? this.repositories.active;
  }

  /** The setting's patterns and the project's, each checked; a bad one is named once in the log and left out. */
  private extraPatterns(repository: WorkspaceRepository): string[] {
    const fromSetting = vscode.workspace.getConfiguration(SECTION, repository.folder.uri).get<unknown>(TerminalSetting.riskyCommands, []);
    const fromProject = repository.state.config?.riskyCommands ?? [];
    const good: string[] = [];
    const bad: string[] = [];
    for (const pattern of [...(Array.isArray(fromSetting) ? fromSetting : []), ...fromProject]) {
      try {
        good.push(...checkRiskyPatterns([pattern]));
      } catch (error) {
        bad.push(describeError(error));
      }
    }
    const warning = bad.join('; ');
    if (warning && warning !== this.warnedPatterns) this.log.warn(`lockstep.${TerminalSetting.riskyCommands}: ${warning}`);
    this.warnedPatterns = warning;
    return good;
  }
}
