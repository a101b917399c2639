// Read-only virtual documents (`lockstep-rows:`) holding a table's rows then and now, which VS Code's diff editor shows side by side.
import * as vscode from 'vscode';
import { Disposable } from '../lifecycle';

export const ROWS_SCHEME = 'lockstep-rows';

/** Each table opened makes two documents; the last few pairs are kept so that reopening a tab still has its text. */
const KEEP = 40;

export class RowDocuments extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private counter = 0;

  constructor() {
    super();
    this._register(vscode.workspace.registerTextDocumentContentProvider(ROWS_SCHEME, this));
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '-- These rows are no longer available: open the table again from the changes view.\n';
  }

  /** Opens the diff editor on the two texts; `title` is the editor tab's. */
  async showDiff(table: string, then: { label: string; text: string }, now: { label: string; text: string }, title: string): Promise<void> {
    this.counter += 1;
    // A new query each time: a document of the same URI would show the text VS Code cached for the old one.
    const uri = (side: string): vscode.Uri => vscode.Uri.from({ scheme: ROWS_SCHEME, path: `/${safe(table)} (${safe(side)}).rows`, query: String(this.counter) });
    const left = uri(then.label);
    const right = uri(now.label);
    this.contents.set(left.toString(), then.text);
    this.contents.set(right.toString(), now.text);
    while (this.contents.size > KEEP) this.contents.delete(this.contents.keys().next().value!);
    await vscode.commands.executeCommand('vscode.diff', left, right, title, { preview: false, viewColumn: vscode.ViewColumn.Beside });
  }

  /** The texts shown for a table's last diff (host tests). */
  lastShown(): string[] {
    return [...this.contents.values()].slice(-2);
  }
}

function safe(name: string): string {
  return name.replace(/[\\/:*?"<>|#%]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 80) || 'table';
}
