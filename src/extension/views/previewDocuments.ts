// Read-only virtual documents (`lockstep-preview:`) that show what a restore would change before the confirmation asks.
import * as vscode from 'vscode';
import { Disposable } from '../lifecycle';

export const PREVIEW_SCHEME = 'lockstep-preview';

/** Previews are small; the last few are kept so that reopening a tab still has its text. */
const KEEP = 20;

export class PreviewDocuments extends Disposable implements vscode.TextDocumentContentProvider {
  private readonly contents = new Map<string, string>();
  private counter = 0;

  constructor() {
    super();
    this._register(vscode.workspace.registerTextDocumentContentProvider(PREVIEW_SCHEME, this));
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.toString()) ?? '# This restore preview is no longer available\n\nRun “Compare with Current” again.\n';
  }

  /** Opens `markdown` beside the active editor, without taking the focus from the dialog that follows. */
  async show(name: string, markdown: string): Promise<vscode.TextEditor> {
    this.counter += 1;
    // A new query each time: a document of the same URI would show the text VS Code cached for the old one.
    const uri = vscode.Uri.from({ scheme: PREVIEW_SCHEME, path: `/Restore preview · ${safe(name)}.md`, query: String(this.counter) });
    this.contents.set(uri.toString(), markdown);
    while (this.contents.size > KEEP) this.contents.delete(this.contents.keys().next().value!);
    const document = await vscode.workspace.openTextDocument(uri);
    return vscode.window.showTextDocument(document, { preview: true, preserveFocus: true, viewColumn: vscode.ViewColumn.Active });
  }
}

function safe(name: string): string {
  return name.replace(/[\\/:*?"<>|#%]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 60) || 'restore';
}
