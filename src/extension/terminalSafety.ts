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
 *     while the terminal waits at its prompt, the reading is taken again each
 *     time the repository's state is read (a commit, a restore, the status
 *     poll), so that a command typed long after the prompt appeared does not
 *     undo everything other clients wrote meanwhile;
 *   - at a risky command's start the position is read again. When it equals
 *     the prompt reading, the WAL did not move in between: nothing at all was
 *     written, so that position is exact. Otherwise the prompt reading is
 *     used: it was taken before the command started, so it precedes all its
 *     writes (and also undoes what other clients wrote in that gap).
 *
 * The race. Shell integration's events travel from the shell through the
 * workbench (in code-server: the browser, which parses the terminal's output)
 * before they reach the extension host, so every event arrives late, and a
 * command already waiting in the shell's input (typed ahead, pasted with the
 * one before, sent by a script) starts the moment the previous one ends: its
 * start event can arrive after it has connected and written, and a prompt
 * reading asked for at the previous end event can run in Postgres after that
 * write and still be answered before the start event arrives (measured here:
 * `psql -c 'drop table …'` typed ahead was done before its start event came).
 * Order alone does not tell. What does: a command a person types starts well
 * after its prompt was shown, and the prompt and the end event come from the
 * same output. So a prompt reading counts only once it has been answered for
 * SETTLED_MS when the start event arrives (decided in the start event's own
 * turn, before anything is awaited); then the command started at least
 * SETTLED_MS minus the events' delay after the reading ran, and psql's own
 * start and connection come on top. A prompt without such a reading is in
 * doubt, and the safety point goes to the terminal's last settled reading,
 * from before the commands that ran since; it then undoes them too, and its
 * label names them. The exact limit: events delayed by more than SETTLED_MS
 * plus the command's own start-up (a throttled or closed workbench delays
 * them without bound: with no workbench connected no events arrive at all).
 */

/** How long a prompt reading must have been answered when the next command's start event arrives to count for it (see above). */
export const SETTLED_MS = 400;

/** Who takes terminal safety points, in the journal and the tree. */
export const TERMINAL_AGENT = 'vscode-terminal';

/** Setting names under `lockstep.` that this part reads. */
export const TerminalSetting = {
  enabled: 'agents.terminalSafetyPoints',
  riskyCommands: 'agents.riskyCommands',
} as const;

/** One repository's position as read at a terminal's prompt. */
interface PromptReading {
  /** The answered readings at this prompt, oldest first, with when each was answered (the last three are kept). */
  answers: { position: Position; at: number }[];
  /** A reading is on its way (one at a time). */
  asking: boolean;
}

/** What the extension knows of one terminal. */
interface TerminalWatch {
  /** Per repository (by work tree), the readings taken at the current prompt; undefined while a command runs. */
  prompt: Map<string, PromptReading> | undefined;
  /** Per repository, the last settled prompt reading; the fallback for a prompt in doubt. */
  trusted: Map<string, Position>;
  /** Per repository, the commands started since its trusted reading (named when a fallback undoes them too). */
  sinceTrusted: Map<string, string[]>;
  /** A command runs (a boolean: a terminal runs one at a time, and a lost or doubled end event must not stop the readings for good). */
  running: boolean;
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
    this._register(repositories.onDidChangeState((repository) => this.readAgain(repository)));
    for (const terminal of vscode.window.terminals) if (terminal.shellIntegration) this.atPrompt(terminal, 'found at activation');
  }

  private get enabled(): boolean {
    return vscode.workspace.getConfiguration(SECTION).get<boolean>(TerminalSetting.enabled, true) !== false;
  }

  private watch(terminal: vscode.Terminal): TerminalWatch {
    let watch = this.terminals.get(terminal);
    if (!watch) {
      watch = { prompt: undefined, trusted: new Map(), sinceTrusted: new Map(), running: false };
      this.terminals.set(terminal, watch);
    }
    return watch;
  }

  private ended(terminal: vscode.Terminal): void {
    this.watch(terminal).running = false;
    this.atPrompt(terminal, 'command ended');
  }

  /** The terminal shows its prompt: read every running repository's position now, before the next command can start. */
  private atPrompt(terminal: vscode.Terminal, why: string): void {
    if (!this.enabled) return;
    const watch = this.watch(terminal);
    watch.prompt = new Map();
    for (const repository of this.repositories.all) this.readInto(watch.prompt, repository);
    this.log.trace(`${terminal.name}: ${why}; position read for ${watch.prompt.size} repositor${watch.prompt.size === 1 ? 'y' : 'ies'}`);
  }

  /** The repository's state was read again (set up, started, a commit, a restore, the poll): read it anew at every waiting prompt. */
  private readAgain(repository: WorkspaceRepository): void {
    if (!this.enabled) return;
    for (const watch of this.terminals.values()) if (watch.prompt && !watch.running) this.readInto(watch.prompt, repository);
  }

  /** Asks for `repository`'s position (no waiting here: the event handler must return at once). */
  private readInto(readings: Map<string, PromptReading>, repository: WorkspaceRepository): void {
    // A stopped database cannot be written to; a cloud compute is not woken up for a reading; a restore moves the timeline.
    if (!repository.initialised || repository.state.engine?.state !== 'running' || repository.operation) return;
    const key = repository.repo.topLevel;
    const reading: PromptReading = readings.get(key) ?? { answers: [], asking: false };
    readings.set(key, reading);
    if (reading.asking) return;
    reading.asking = true;
    void repository.project
      .engine()
      .then((engine) => engine.head())
      .then(
        (position) => {
          // Kept only while this prompt lasts: once a command started, the map was let go and this answer came too late.
          reading.answers = [...reading.answers.slice(-2), { position, at: performance.now() }];
        },
        (error: unknown) => {
          // Said at info: a risky command started at this prompt gets an earlier or a late safety point, and the log says why.
          this.log.info(`${repository.name}: no position at the prompt: ${describeError(error)}`);
        },
      )
      .finally(() => {
        reading.asking = false;
      });
  }

  private async started(event: vscode.TerminalShellExecutionStartEvent): Promise<void> {
    const { terminal, execution } = event;
    const watch = this.watch(terminal);
    const command = execution.commandLine.value;
    // Everything about the readings is decided here, synchronously, as the event arrives: per repository, the newest
    // reading at this prompt that has settled, else the last settled one before, with the commands it undoes as well.
    const arrived = performance.now();
    const atPrompt = new Map<string, Position>();
    for (const [key, reading] of watch.prompt ?? []) {
      const settled = reading.answers.filter((answer) => arrived - answer.at >= SETTLED_MS).at(-1);
      if (settled) atPrompt.set(key, settled.position);
    }
    const earlier = new Map<string, { position: Position; commands: string[] }>();
    for (const [key, position] of watch.trusted) earlier.set(key, { position, commands: [...(watch.sinceTrusted.get(key) ?? [])] });
    for (const [key, position] of atPrompt) {
      watch.trusted.set(key, position);
      watch.sinceTrusted.set(key, []);
    }
    // This command runs after every trusted reading: restoring one undoes it too.
    for (const commands of watch.sinceTrusted.values()) commands.push(command);
    watch.prompt = undefined;
    watch.running = true;
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
      const before = earlier.get(key);
      const { at, basis } = this.startingPoint(now, atPrompt.get(key), before?.position);
      const undoneToo = basis === 'earlier' ? (before?.commands ?? []) : [];
      const { labelFor, takeSafetyPoint } = await import('../core/safety');
      const checkpoint = await takeSafetyPoint(repository.project, {
        command,
        agent: { name: TERMINAL_AGENT },
        at,
        // Restoring it undoes the commands since the reading too: the label names them.
        ...(undoneToo.length > 0 ? { label: labelFor([...undoneToo, command].join(' ; ')) } : {}),
      });
      const short = displayText(command, 60);
      const how: Record<TerminalSafetyPoint['basis'], string> = {
        unmoved: 'the database had not moved since the prompt',
        prompt: 'the position read at the prompt, before the command started',
        earlier: `the last position read at a prompt in time (it started too soon after its own prompt for the reading there to count), before ${undoneToo.map((c) => `\`${displayText(c, 80)}\``).join(', ')}: restoring undoes ${undoneToo.length === 1 ? 'that command' : `those ${undoneToo.length} commands`} too`,
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
  private startingPoint(now: Position, atPrompt: Position | undefined, earlier: Position | undefined): { at: Position; basis: TerminalSafetyPoint['basis'] } {
    if (!atPrompt) return earlier ? { at: earlier, basis: 'earlier' } : { at: now, basis: 'late' };
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
