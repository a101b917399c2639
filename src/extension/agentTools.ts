// The language-model tools VS Code's agent can call (package.json `languageModelTools`): a safety point, the list, a
// preview, and a restore that never runs without a person's yes: the chat's confirmation, or Lockstep's own modal.
import * as vscode from 'vscode';
import type { Checkpoint } from '../core/checkpoint';
import { describeError, LockstepError } from '../base/errors';
import { displayText, displayTitle } from '../core/journalText';
import type { ListedCheckpoint } from '../core/listing';
import type { RestoreMode, RestorePreview, RestoreResult } from '../core/restore';
import { runRestore } from './commands/restore';
import { requireInitialised } from './commands/targets';
import type { Lockstep } from './container';
import { Disposable } from './lifecycle';
import type { WorkspaceRepository } from './repository';
import { confirmation, MODE_WORDS, previewMarkdown, resultMessage, RESTORE, STASH_AND_RESTORE } from './restoreDescription';

/** The tool names: the same as the `lockstep mcp` server's, so an agent meets one vocabulary. */
export const TOOL = {
  snapshot: 'lockstep_snapshot',
  list: 'lockstep_list',
  preview: 'lockstep_preview',
  restore: 'lockstep_restore',
} as const;

/** Who asked, as the journal records it. VS Code's stable API names no chat session, so there is none to record. */
const AGENT = { name: 'vscode-lm' } as const;

export interface SnapshotInput {
  label?: string;
}
export interface ListInput {
  limit?: number;
}
export interface RefInput {
  ref: string;
}

/** What the chat's confirmation showed for a restore: `invoke` restores only to that, with the same dirty-tree choice. */
interface ConfirmedPlan {
  targetId: string;
  willStash: boolean;
}

export class LanguageModelTools extends Disposable {
  /** By ref, what the last confirmation shown in a chat said (prepareInvocation comes right before invoke). */
  private readonly confirmed = new Map<string, ConfirmedPlan>();

  constructor(private readonly ctx: Lockstep) {
    super();
    this._register(vscode.lm.registerTool<SnapshotInput>(TOOL.snapshot, { invoke: (options, token) => this.call(TOOL.snapshot, () => this.snapshot(options.input, token)) }));
    this._register(vscode.lm.registerTool<ListInput>(TOOL.list, { invoke: (options) => this.call(TOOL.list, () => this.list(options.input)) }));
    this._register(
      vscode.lm.registerTool<RefInput>(TOOL.preview, {
        prepareInvocation: (options) => ({ invocationMessage: `Lockstep: previewing a restore to ${displayText(String(options.input.ref))}` }),
        invoke: (options, token) => this.call(TOOL.preview, () => this.preview(options.input, token)),
      }),
    );
    this._register(
      vscode.lm.registerTool<RefInput>(TOOL.restore, {
        prepareInvocation: (options, token) => this.call(`${TOOL.restore} (confirmation)`, () => this.prepareRestore(options.input, token)),
        invoke: (options, token) => this.call(TOOL.restore, () => this.restore(options.input, options.toolInvocationToken !== undefined, token)),
      }),
    );
  }

  /**
   * `lockstep_restore`'s confirmation, as the chat shows it before `invoke`:
   * what the restore changes (the dry run), in the words of the modal.
   */
  async prepareRestore(input: RefInput, token?: vscode.CancellationToken): Promise<vscode.PreparedToolInvocation> {
    const repository = await this.repository();
    const { target, mode } = await this.target(repository, input);
    const preview = await this.dryRun(repository, target, mode, token);
    if (preview.blockers.length > 0) throw preview.blockers[0]!;
    const ask = confirmation(preview);
    this.confirmed.set(input.ref, { targetId: target.id, willStash: preview.willStash });
    const where = this.ctx.repositories.all.length > 1 ? `In ${repository.name}:\n` : '';
    const message = new vscode.MarkdownString(markdownLines(where + ask.detail));
    return {
      invocationMessage: `Lockstep: restoring ${MODE_WORDS[mode]} to “${displayTitle(target)}”`,
      confirmationMessages: { title: ask.message, message },
    };
  }

  /** Runs one tool call; a failure reaches the model as an error with Lockstep's message and hint. */
  private async call<T>(name: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.ctx.log.warn(`[agent tools] ${name}: ${describeError(error)}`);
      throw new Error(describeError(error));
    }
  }

  /** The active repository: an agent cannot be asked to pick one, so the tools say which one they used. */
  private async repository(): Promise<WorkspaceRepository> {
    await this.ctx.repositories.whenScanned();
    const repository = this.ctx.repositories.active;
    if (!repository) throw new LockstepError('NOT_A_REPOSITORY', 'no git repository is open in this VS Code window', { hint: 'Open the folder of a git repository first.' });
    requireInitialised(repository);
    return repository;
  }

  private async snapshot(input: SnapshotInput, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const repository = await this.repository();
    if (input.label !== undefined && typeof input.label !== 'string') throw new LockstepError('BAD_INPUT', 'label must be a string');
    const { takeSafetyPoint } = await import('../core/safety');
    const checkpoint = await repository.run({ title: 'Taking a safety point', short: 'Safety point…' }, () =>
      takeSafetyPoint(repository.project, { label: input.label ?? null, agent: AGENT, signal: abortOn(token) }),
    );
    repository.log.info(`safety point ${checkpoint.id} "${displayTitle(checkpoint)}" for the agent at timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}`);
    this.ctx.checkpoints.refresh();
    return text(
      `Safety point ${checkpoint.id} taken in ${repository.name}: timeline ${checkpoint.timelineId} @ ${checkpoint.lsn ?? `${checkpoint.createdAt} (by time)`}, ${checkpoint.commitSha ? `commit ${checkpoint.commitSha.slice(0, 7)}` : 'no commit yet'}${checkpoint.label ? `, "${displayText(checkpoint.label)}"` : ''}.`,
      `If the next step goes wrong, lockstep_restore with ref ${checkpoint.id} puts the data back once the user confirms.`,
    );
  }

  private async list(input: ListInput): Promise<vscode.LanguageModelToolResult> {
    const repository = await this.repository();
    const limit = input.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new LockstepError('BAD_INPUT', `limit must be a whole number from 1 to 1000, not ${JSON.stringify(input.limit)}`);
    const { listCheckpoints } = await import('../core/listing');
    const listed = await listCheckpoints(repository.project, { limit, head: repository.state.engine?.head });
    if (listed.length === 0) return text(`${repository.name} has no checkpoints yet: commits record them (with the hook), or take one with lockstep_snapshot.`);
    return text(`Checkpoints of ${repository.name}, newest first (one JSON object a line):`, ...listed.map((c) => JSON.stringify(listRow(c))));
  }

  private async preview(input: RefInput, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const repository = await this.repository();
    const { target, mode } = await this.target(repository, input);
    const preview = await this.dryRun(repository, target, mode, token);
    const next = preview.blockers.length === 0 ? [`lockstep_restore with ref ${target.id} would do this, once the user confirms.`] : [];
    return text('(preview: nothing was changed)', previewMarkdown(preview), ...next);
  }

  /**
   * In a chat, the user answered the confirmation prepareRestore made: the
   * restore goes to that checkpoint with that dirty-tree choice, or not at
   * all. Outside a chat nobody has been asked (VS Code may show the
   * confirmation itself, or skip it when tools are auto-approved): Lockstep's
   * own modal asks, with the preview beside it. Cancel changes nothing.
   */
  private async restore(input: RefInput, inChat: boolean, token: vscode.CancellationToken): Promise<vscode.LanguageModelToolResult> {
    const repository = await this.repository();
    const { target, mode } = await this.target(repository, input);
    const shown = this.confirmed.get(input.ref);
    this.confirmed.delete(input.ref);
    let answer: string | undefined;
    // With every tool auto-approved, the chat asked nobody: Lockstep's modal asks instead.
    if (inChat && shown && !everyToolAutoApproved()) {
      if (shown.targetId !== target.id) {
        return text(`Not restored: ${displayText(input.ref)} named ${shown.targetId} when the user confirmed, and names ${target.id} now. Nothing was changed.`);
      }
      // The plan is made again under the restore lock; a different dirty-tree choice than the one confirmed is a no.
      answer = shown.willStash ? STASH_AND_RESTORE : RESTORE;
    }
    if (token.isCancellationRequested) return text('Not restored: the call was cancelled. Nothing was changed.');
    const result = await runRestore(this.ctx, repository, { ref: target.id, mode, title: displayTitle(target) }, answer);
    if (!result) {
      return text(
        `Not restored: the user did not confirm the restore to ${target.id}${answer ? ', or what it would change differs from what they confirmed' : ''}. Nothing was changed.`,
        'Do not ask again unless the user asks you to.',
      );
    }
    return text(resultMessage(result), ...undoLine(result));
  }

  /** The checkpoint `ref` names, and the mode: the data alone while HEAD is at its commit, so uncommitted edits are left alone. */
  private async target(repository: WorkspaceRepository, input: RefInput): Promise<{ target: Checkpoint; mode: RestoreMode }> {
    if (typeof input.ref !== 'string' || input.ref.trim() === '') throw new LockstepError('BAD_INPUT', 'ref must name a checkpoint: its id, a commit sha or an ISO time (lockstep_list shows the ids)');
    const [{ resolveRef }, { foldPending }, { readHeadRef }] = await Promise.all([import('../core/refs'), import('../core/markers'), import('../git/repository')]);
    await foldPending(repository.project);
    const target = await resolveRef(repository.repo, input.ref.trim(), repository.project.journal.list());
    const head = await readHeadRef(repository.repo);
    return { target, mode: target.commitSha !== null && head.sha === target.commitSha ? 'data-only' : 'both' };
  }

  private async dryRun(repository: WorkspaceRepository, target: Checkpoint, mode: RestoreMode, token?: vscode.CancellationToken): Promise<RestorePreview> {
    const { previewRestore } = await import('../core/restore');
    // stash: true, as the restore runs it: uncommitted work shows as "will be stashed", a choice the confirmation names.
    return previewRestore(repository.project, { ref: target.id, mode, stash: true }, { signal: token ? abortOn(token) : undefined });
  }
}

/**
 * Whether the user let the chat run every tool without asking (the setting's
 * name in VS Code 1.101–1.103, and its later one). Approving this tool by name
 * ("always allow") is a yes to it; approving all tools is not a yes to a restore.
 */
function everyToolAutoApproved(): boolean {
  const chat = vscode.workspace.getConfiguration('chat.tools');
  return chat.get('autoApprove') === true || chat.get('global.autoApprove') === true;
}

/**
 * The confirmation's plain lines as Markdown: indented lines become a list, each other line a paragraph of escaped
 * text. `~` stays as it is: VS Code's plain-text rendering of a confirmation (a dialog outside a chat) keeps `\~`.
 */
function markdownLines(detail: string): string {
  const escape = (line: string): string => line.trim().replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
  const blocks: string[] = [];
  let list: string[] = [];
  for (const line of detail.split('\n')) {
    if (line.startsWith('  ') && line.trim() !== '') {
      list.push(`- ${escape(line)}`);
      continue;
    }
    if (list.length > 0) blocks.push(list.join('\n'));
    list = [];
    if (line.trim() !== '') blocks.push(escape(line));
  }
  if (list.length > 0) blocks.push(list.join('\n'));
  return blocks.join('\n\n');
}

function listRow(c: ListedCheckpoint) {
  return {
    id: c.id,
    kind: c.kind,
    title: displayTitle(c),
    command: c.command ?? null,
    agent: c.agent?.name ?? null,
    commit: c.commitSha?.slice(0, 12) ?? null,
    time: c.createdAt,
    restorable: c.restorable,
    why: c.restorable ? null : (c.unrestorable?.message ?? null),
    serving: c.serving,
  };
}

function undoLine(result: RestoreResult): string[] {
  return result.undo ? [`The undo point is ${result.undo.id}: the user can click Undo Restore, or you can call lockstep_restore with that ref (the user is asked again).`] : [];
}

function text(...lines: string[]): vscode.LanguageModelToolResult {
  return new vscode.LanguageModelToolResult([new vscode.LanguageModelTextPart(lines.join('\n'))]);
}

function abortOn(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  if (token.isCancellationRequested) controller.abort();
  else token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}
