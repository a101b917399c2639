// The row-level diff view: a webview of the tables that changed since a checkpoint (or a moment), with their counts, Show Rows and Restore This Table….
import * as vscode from 'vscode';
import { Disposable } from '../lifecycle';
import type { WorkspaceRepository } from '../repository';
import { columnChangeWords, differs, qualifiedName, rowChangesFootnote, tableChangeWords, tableLabel, type RowChanges, type TableChange } from '../rowDiffText';
import { escapeHtml, page } from './webviewPage';

export const CHANGES_VIEW_TYPE = 'lockstep.changes';

/** What the changes are measured against: a checkpoint (`ref`) or a moment (`at`), and how to name it. */
export interface ChangesTarget {
  ref?: string;
  at?: string;
  /** “Seed three items”, or “the moment 10 minutes ago”. */
  title: string;
  /** One line under the title: checkpoint id, commit, when, where in history. */
  detail: string;
}

export interface ShownChanges {
  repository: WorkspaceRepository;
  target: ChangesTarget;
  changes: RowChanges;
}

/** What the view's buttons do; the commands module implements them. */
export interface ChangesActions {
  showRows(shown: ShownChanges, table: TableChange): Promise<void>;
  restoreTable(shown: ShownChanges, table: TableChange): Promise<void>;
  refresh(shown: ShownChanges): Promise<void>;
}

type Message = { type: 'showRows' | 'restore'; table: string } | { type: 'refresh' };

export class ChangesPanel extends Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private shown: ShownChanges | undefined;

  constructor(private readonly actions: ChangesActions) {
    super();
  }

  get current(): ShownChanges | undefined {
    return this.shown;
  }

  show(shown: ShownChanges): void {
    const title = `Changes since ${shown.target.title.length > 50 ? `${shown.target.title.slice(0, 49)}…` : shown.target.title}`;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(CHANGES_VIEW_TYPE, title, vscode.ViewColumn.Active, { enableScripts: true, enableFindWidget: true, retainContextWhenHidden: false });
      this.panel.onDidDispose(() => {
        this.panel = undefined;
        this.shown = undefined;
      });
      this.panel.webview.onDidReceiveMessage((message: Message) => void this.onMessage(message));
    } else {
      this.panel.title = title;
      this.panel.reveal(undefined, false);
    }
    this.shown = shown;
    this.panel.webview.html = page({ cspSource: this.panel.webview.cspSource, title, body: changesBody(shown), script: SCRIPT, view: 'changes' });
  }

  close(): void {
    this.panel?.dispose();
  }

  override dispose(): void {
    this.close();
    super.dispose();
  }

  private async onMessage(message: Message): Promise<void> {
    const shown = this.shown;
    if (!shown) return;
    if (message.type === 'refresh') return this.actions.refresh(shown);
    const table = shown.changes.tables.find((t) => qualifiedName(t) === message.table);
    if (!table) return;
    if (message.type === 'showRows') return this.actions.showRows(shown, table);
    return this.actions.restoreTable(shown, table);
  }
}

const SCRIPT = `
  const vscode = acquireVsCodeApi();
  document.addEventListener('click', (event) => {
    const button = event.target.closest('[data-action]');
    if (!button || button.disabled) return;
    event.preventDefault();
    const row = button.closest('[data-table]');
    vscode.postMessage({ type: button.dataset.action, table: row ? row.dataset.table : undefined });
  });
`;

const STATUS_WORDS: Record<TableChange['status'], string> = { same: 'unchanged', changed: 'changed', new: 'new since', dropped: 'dropped since' };

function count(n: number, css: string, table: TableChange): string {
  return n === 0 ? '<td class="num muted">0</td>' : `<td class="num ${css}">${table.partial ? '≥ ' : ''}${n}</td>`;
}

/** Column changes under the row counts, when there are both. */
function columnsLine(table: TableChange): string {
  const columns = columnChangeWords(table);
  if (columns.length === 0 || table.inserted + table.deleted + table.changed === 0) return '';
  return `<br><span class="muted">${escapeHtml(columns.join(', '))}</span>`;
}

function rows(n: number | null): string {
  return n === null ? '<td class="num muted">—</td>' : `<td class="num">${n}</td>`;
}

/** The page: the target, the tables that differ with their counts and buttons, the unchanged ones in one line, how exact it is. */
export function changesBody({ target, changes }: Pick<ShownChanges, 'target' | 'changes'>): string {
  const tables = changes.tables.filter(differs);
  const same = changes.tables.filter((t) => !differs(t));
  const out: string[] = [];
  out.push(`<h1>Changes since ${escapeHtml(target.title)}</h1>`);
  out.push(`<p class="meta">${escapeHtml(target.detail)}</p>`);
  out.push('<div class="toolbar"><button class="secondary" data-action="refresh" title="Compare again with the database as it is now">Refresh</button></div>');
  if (changes.partial) out.push(`<p class="notice">The time to compare ran out for some tables: their figures are “at least” (marked ≥).</p>`);
  if (tables.length === 0) {
    out.push('<p>No row changed in any table since then.</p>');
  } else {
    out.push('<table><thead><tr><th>table</th><th>since then</th><th class="num">changed</th><th class="num">inserted</th><th class="num">deleted</th><th class="num">rows then</th><th class="num">rows now</th><th></th></tr></thead><tbody>');
    for (const t of tables) {
      const name = qualifiedName(t);
      const canRestore = t.status !== 'new';
      out.push(
        `<tr data-table="${escapeHtml(name)}">` +
          `<td><a href="#" data-action="showRows" title="Show the rows then and now in the diff editor">${escapeHtml(tableLabel(t))}</a></td>` +
          `<td><span class="status">${STATUS_WORDS[t.status]}</span> <span class="muted">${escapeHtml(tableChangeWords(t))}</span>${columnsLine(t)}</td>` +
          count(t.changed, 'changed', t) +
          count(t.inserted, 'added', t) +
          count(t.deleted, 'deleted', t) +
          rows(t.thenRows) +
          rows(t.nowRows) +
          `<td><button class="secondary" data-action="showRows">Show Rows</button>` +
          `<button data-action="restore" ${canRestore ? 'title="Put this table back as it was; every other table stays as it is now"' : 'disabled title="The table did not exist then: nothing to put back"'}>Restore This Table…</button></td>` +
          '</tr>',
      );
    }
    out.push('</tbody></table>');
  }
  if (same.length > 0) {
    const names = same.map(tableLabel);
    out.push(`<p class="muted">Unchanged: ${escapeHtml(names.slice(0, 20).join(', '))}${names.length > 20 ? ` and ${names.length - 20} more` : ''}.</p>`);
  }
  out.push(`<hr><p class="muted">${escapeHtml(rowChangesFootnote(changes))} Show Rows opens the rows that differ, then and now, in the diff editor. Restore This Table… puts one table back (with an undo point first) and leaves the others as they are.</p>`);
  return out.join('\n');
}
