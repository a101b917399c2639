// The nodes of the Checkpoints tree, one class per kind of row, each knowing how it looks as a TreeItem.
import * as vscode from 'vscode';
import type { AgentIdentity, CheckpointKind } from '../../core/checkpoint';
import type { Retention } from '../../core/engine';
import { displayText, displayTitle } from '../../core/journalText';
import { relativeTime } from '../../core/relativeTime';
import { unrestorableLabel, type ListedCheckpoint } from '../../core/listing';
import type { Pin } from '../../core/pins';
import type { RestoreEvent } from '../../core/restoreHistory';
import type { Checkpoint } from '../../core/checkpoint';
import { checkpointDescription, expiryText, restoreRowLabel, undoRowLabel } from './checkpointRows';
import { checkpointContext, TreeItemContext } from '../contextKeys';
import { interruptedSentence, interruptedShort } from '../interruptedRestore';
import type { WorkspaceRepository } from '../repository';
import { escapeMarkdown } from '../markdown';

/** The codicon of each kind of checkpoint, in the tree and the QuickPick alike. */
export const KIND_ICON: Record<CheckpointKind, string> = {
  commit: 'git-commit',
  snapshot: 'device-camera',
  safety: 'shield',
  'pre-restore': 'discard',
  push: 'cloud-upload',
};

const KIND_NAME: Record<CheckpointKind, string> = {
  commit: 'Commit',
  snapshot: 'Snapshot',
  safety: 'Safety point',
  'pre-restore': 'Pre-restore checkpoint',
  push: 'Push',
};

/** A repository of a multi-root workspace; its children are its checkpoints. */
export class RepositoryNode {
  constructor(readonly repository: WorkspaceRepository) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.repository.name, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `repository:${this.repository.repo.topLevel}`;
    item.iconPath = new vscode.ThemeIcon('repo');
    item.tooltip = this.repository.repo.topLevel;
    const { state } = this.repository;
    const reach = reachText(state.retention);
    item.description = !state.loaded ? '' : !state.config ? 'not set up' : problems(this.repository).map((p) => p.short).join(' · ') || [state.config.engine, ...(reach ? [reach] : [])].join(' · ');
    item.contextValue = state.config ? TreeItemContext.Repository : TreeItemContext.RepositoryUninitialised;
    return item;
  }
}

/**
 * How far back a restore reaches, in a few words for the view's title bar:
 * "restorable back to 10:42" (a clock time, so it does not go stale), "back to
 * 1 Dec 09:15" on another day, "restorable back 7 days" for a time window.
 */
export function reachText(retention: Retention | undefined, now = new Date()): string | undefined {
  if (!retention) return undefined;
  const time = retention.oldest?.time;
  if (time && !Number.isNaN(Date.parse(time))) {
    const at = new Date(time);
    const clock = `${String(at.getHours()).padStart(2, '0')}:${String(at.getMinutes()).padStart(2, '0')}`;
    const sameDay = at.toDateString() === now.toDateString();
    const day = sameDay ? '' : `${at.getDate()} ${at.toLocaleString('en', { month: 'short' })}${at.getFullYear() === now.getFullYear() ? '' : ` ${at.getFullYear()}`} `;
    return `restorable back to ${day}${clock}`;
  }
  if (retention.oldest) return `restorable back to ${retention.oldest.lsn}`;
  if (retention.windowSeconds !== undefined) {
    const s = retention.windowSeconds;
    if (s <= 0) return 'no history kept';
    const [n, unit] = s >= 86400 ? [Math.round(s / 86400), 'day'] : s >= 3600 ? [Math.round(s / 3600), 'hour'] : [Math.max(1, Math.round(s / 60)), 'minute'];
    return `restorable back ${n} ${unit}${n === 1 ? '' : 's'}`;
  }
  return /nothing can be restored/.test(retention.summary) ? 'nothing restorable yet' : undefined;
}

export interface Problem {
  /** A few words, for a repository row's description. */
  short: string;
  /** A sentence with the way out, for the line above the rows. */
  message: string;
}

/** What needs attention in a set-up repository. */
export function problems(repository: WorkspaceRepository): Problem[] {
  const { state } = repository;
  const found: Problem[] = [];
  if (state.restoring) found.push({ short: interruptedShort(state.restoring), message: interruptedSentence(state.restoring) });
  if (state.engine?.state === 'stopped') {
    found.push({ short: 'database stopped', message: 'The local database is stopped: snapshots and data restores need it (⋯ → Start Local Database).' });
  } else if (state.engine && state.engine.state !== 'running') {
    found.push({ short: 'database not answering', message: `The database does not answer: ${state.engine.summary}` });
  }
  if (state.hook?.state === 'not-installed') {
    found.push({ short: 'commit hook not installed', message: 'The commit hook is not installed: new commits are not checkpointed (⋯ → Install Commit Hook).' });
  } else if (state.hook?.state === 'stale') {
    found.push({ short: 'commit hook stale', message: `The commit hook is stale (${state.hook.problems[0] ?? 'it cannot run'}): ⋯ → Install Commit Hook.` });
  }
  return found;
}

export class CheckpointNode {
  constructor(
    readonly repository: WorkspaceRepository,
    readonly checkpoint: ListedCheckpoint,
    /** What the engine holds for it, when it is pinned (pins.json). */
    readonly pin?: Pin,
    /** The row's own title, when it differs from the checkpoint's (an undo point under its restore, named in words). */
    readonly title = displayTitle(checkpoint),
    /** The clock the relative times are read from (tests inject one). */
    readonly now = Date.now(),
  ) {}

  toTreeItem(): vscode.TreeItem {
    const c = this.checkpoint;
    const item = new vscode.TreeItem(this.title, vscode.TreeItemCollapsibleState.None);
    item.id = `checkpoint:${c.id}`;
    const when = relativeTime(c.createdAt, this.now);
    const notYet = c.unrestorable?.reason === 'not-archived';
    const unrestorable = c.restorable ? undefined : unrestorableLabel(c.unrestorable, c.lsn === null);
    const agent = c.kind === 'safety' && c.agent ? agentText(c.agent) : undefined;
    const expiring = !c.pinned && c.restorable && c.expiry?.soon === true;
    item.description = checkpointDescription(c, this.now, agent);
    // Not yet restorable and expiring soon are warnings (the one will be restorable, the other can be pinned); expired is for good, so greyed out.
    item.iconPath = new vscode.ThemeIcon(
      notYet ? 'watch' : expiring ? 'warning' : KIND_ICON[c.kind],
      c.serving ? new vscode.ThemeColor('charts.green') : notYet || expiring ? new vscode.ThemeColor('list.warningForeground') : c.restorable ? undefined : new vscode.ThemeColor('disabledForeground'),
    );
    // Safety points end in `:safety`: their rows offer Undo This Command.
    item.contextValue = checkpointContext(c.restorable, c.commitSha !== null, c.serving, c.pinned) + (c.kind === 'safety' ? `:${SAFETY_CONTEXT}` : '');
    item.tooltip = this.tooltip(when);
    const state = c.serving ? ', serving now' : c.descends ? ', the data now descends from it' : '';
    item.accessibilityInformation = {
      label: `${KIND_NAME[c.kind]} ${this.title}${agent ? `, by ${agent}` : ''}, ${when}${state}${c.pinned ? ', pinned' : ''}${expiring ? `, ${expiryText(c.expiry!, this.now)}` : ''}${unrestorable ? `, ${unrestorable}` : ''}`,
    };
    return item;
  }

  private tooltip(when: string): vscode.MarkdownString {
    const c = this.checkpoint;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`$(${KIND_ICON[c.kind]}) **${escapeMarkdown(this.title)}**\n\n`);
    // A branch name may hold a backtick (git allows it), so it is escaped text rather than a code span.
    const commit = c.commitSha ? `${KIND_NAME[c.kind]} at \`${c.commitSha.slice(0, 7)}\`${c.branch ? ` on ${escapeMarkdown(displayText(c.branch))}` : ' (detached)'}` : `${KIND_NAME[c.kind]} before the first commit`;
    md.appendMarkdown(`${commit}${c.author ? ` by ${escapeMarkdown(displayText(c.author))}` : ''}  \n${c.createdAt.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${when})\n\n`);
    md.appendMarkdown('| | |\n|---|---|\n');
    md.appendMarkdown(`| Timeline | \`${c.timelineId}\` |\n| LSN | ${c.lsn === null ? 'none: time-based, restored to the moment above' : `\`${c.lsn}\``} |\n`);
    if (c.filesChanged !== null) md.appendMarkdown(`| Files changed | ${c.filesChanged} |\n`);
    md.appendMarkdown(`| Engine | ${c.engine} |\n| Checkpoint | \`${c.id}\` |\n\n`);
    if (c.kind === 'pre-restore' && c.subject) md.appendMarkdown(`Commit: ${escapeMarkdown(displayText(c.subject))}\n\n`);
    if (c.kind === 'safety') {
      // Text an agent or a terminal wrote: escaped for Markdown, and its control and direction characters made visible.
      if (c.command) md.appendMarkdown(`$(terminal) Taken before: ${escapeMarkdown(displayText(c.command, 500))}\n\n`);
      if (c.agent) md.appendMarkdown(`$(person) Asked by: ${escapeMarkdown(agentText(c.agent))}${c.agent.session ? ` (session ${escapeMarkdown(displayText(c.agent.session, 80))})` : ''}\n\n`);
      if (c.restorable) md.appendMarkdown('$(discard) **Undo This Command** restores the data to this point (the code too when HEAD has moved since), after a preview and your yes.\n\n');
    }
    if (c.serving) md.appendMarkdown('$(pass-filled) Serving: the database holds exactly this checkpoint’s data now.\n\n');
    if (c.descends) md.appendMarkdown('$(git-merge) Descends from: the database started from this checkpoint and has changed since.\n\n');
    if (c.pinned) md.appendMarkdown(`$(pinned) Pinned: ${escapeMarkdown(displayText(this.pin?.hold.summary ?? 'kept restorable past retention', 300))}${this.pin?.tag ? ` (its commit is tagged ${escapeMarkdown(displayText(this.pin.tag, 80))})` : ''}.\n\n`);
    else if (c.restorable && c.expiry) md.appendMarkdown(`${c.expiry.soon ? '$(warning)' : '$(clock)'} ${escapeMarkdown(sentenceCase(expiryText(c.expiry, this.now)))}${c.expiry.soon ? ': Pin keeps it restorable' : ''}.\n\n`);
    if (c.lsn === null) {
      md.appendMarkdown(`$(history) Time-based: ${escapeMarkdown(displayText(c.unmeasured ?? 'the commit hook could not read the database position in time'))}.\n\n`);
      if (!c.restorable) md.appendMarkdown(`$(warning) Not recorded: ${escapeMarkdown(c.unrestorable?.message ?? 'its moment cannot be restored')}. Take a snapshot to record the database as it is now.\n\n`);
    }
    if (c.lsn === null && !c.restorable) {
      // said above
    } else if (c.unrestorable?.reason === 'not-archived') {
      md.appendMarkdown(`$(watch) Not yet restorable: ${escapeMarkdown(c.unrestorable.message)}\n\n`);
    } else if (!c.restorable) {
      md.appendMarkdown('$(warning) Expired: its data is past the retention window; only its code can be restored.\n\n');
    }
    return md;
  }
}

function sentenceCase(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/**
 * A finished restore ("Restored 'v1' · 3 minutes ago"); its child is the undo
 * point, named after what it undoes ("Before restoring 'v1'").
 */
export class RestoreNode {
  constructor(
    readonly repository: WorkspaceRepository,
    readonly restore: RestoreEvent,
    readonly undo: CheckpointNode,
    readonly target: Checkpoint | undefined,
    readonly now = Date.now(),
  ) {}

  toTreeItem(): vscode.TreeItem {
    const label = restoreRowLabel({ undo: this.undo.checkpoint, target: this.target });
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `restore:${this.restore.operationId}`;
    const when = relativeTime(this.restore.at, this.now);
    item.description = when;
    item.iconPath = new vscode.ThemeIcon('history');
    item.contextValue = TreeItemContext.Restore;
    const md = new vscode.MarkdownString(undefined, true);
    md.appendMarkdown(`$(history) **${escapeMarkdown(label)}**\n\n`);
    md.appendMarkdown(`Finished ${this.restore.at.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${when})${this.restore.detail ? `: ${escapeMarkdown(displayText(this.restore.detail, 200))}` : ''}\n\n`);
    md.appendMarkdown('$(discard) Restore the row below (its undo point) to take this restore back.');
    item.tooltip = md;
    item.accessibilityInformation = { label: `${label}, ${when}; its undo point is below` };
    return item;
  }

  static undoTitle(undo: Checkpoint, target: Checkpoint | undefined): string {
    return undoRowLabel(undo, target);
  }
}

/** Ends the contextValue of a safety point's row (package.json's menus match `viewItem =~ /:safety$/`). */
export const SAFETY_CONTEXT = 'safety';

/** Who took a safety point, on one line: `claude`, `mcp (Inspector)`; agents name themselves, so it goes through displayText. */
export function agentText(agent: AgentIdentity): string {
  return displayText(agent.client ? `${agent.name} (${agent.client})` : agent.name, 60);
}

/** The last row of a page: the next page of older checkpoints. */
export class ShowMoreNode {
  constructor(
    readonly repository: WorkspaceRepository,
    readonly shown: number,
    readonly pageSize: number,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(`Show ${this.pageSize} More…`, vscode.TreeItemCollapsibleState.None);
    item.id = `more:${this.repository.repo.topLevel}:${this.shown}`;
    item.description = `${this.shown} shown`;
    item.iconPath = new vscode.ThemeIcon('ellipsis');
    item.contextValue = TreeItemContext.ShowMore;
    item.command = { command: 'lockstep.showMore', title: 'Show More', arguments: [this] };
    return item;
  }
}

/** A row that runs a command: the set-up of a repository that is not set up (multi-root, where welcome views cannot say it). */
export class ActionNode {
  constructor(
    readonly repository: WorkspaceRepository,
    readonly label: string,
    readonly icon: string,
    readonly command: string,
  ) {}

  toTreeItem(): vscode.TreeItem {
    const item = new vscode.TreeItem(this.label, vscode.TreeItemCollapsibleState.None);
    item.id = `action:${this.repository.repo.topLevel}:${this.command}`;
    item.iconPath = new vscode.ThemeIcon(this.icon);
    item.contextValue = TreeItemContext.Action;
    item.command = { command: this.command, title: this.label, arguments: [this.repository] };
    return item;
  }
}

export type TreeNode = RepositoryNode | CheckpointNode | RestoreNode | ShowMoreNode | ActionNode;
