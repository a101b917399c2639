// The restore preview as a readable page (a webview that follows the theme), closed once a restore makes it stale.
import * as vscode from 'vscode';
import { Disposable } from '../lifecycle';
import type { Repositories } from '../repositories';
import type { WorkspaceRepository } from '../repository';
import { escapeHtml, page } from './webviewPage';

export const PREVIEW_VIEW_TYPE = 'lockstep.restorePreview';

/** What the panel shows now; the host tests read it. */
export interface ShownPreview {
  title: string;
  markdown: string;
}

export class RestorePreviewPanel extends Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private shown: (ShownPreview & { repository?: WorkspaceRepository; timelineId?: string; sha?: string }) | undefined;

  constructor(repositories: Repositories) {
    super();
    // A restore from a terminal (or an agent) moves the serving timeline: a preview computed before it no longer says what a restore would do.
    this._register(
      repositories.onDidChangeState((repository) => {
        const shown = this.shown;
        if (!shown || shown.repository !== repository || shown.timelineId === undefined) return;
        const timeline = repository.state.engine?.head?.timelineId;
        if (timeline !== undefined && timeline !== shown.timelineId) this.close();
      }),
    );
  }

  get current(): ShownPreview | undefined {
    return this.shown ? { title: this.shown.title, markdown: this.shown.markdown } : undefined;
  }

  /** Shows `markdown` (rendered like VS Code's Markdown preview) beside the work, without taking the focus from the dialog that follows. */
  async show(name: string, markdown: string, repository?: WorkspaceRepository): Promise<void> {
    const title = `Restore preview · ${name.length > 60 ? `${name.slice(0, 59)}…` : name}`;
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(PREVIEW_VIEW_TYPE, title, { viewColumn: vscode.ViewColumn.Active, preserveFocus: true }, { enableScripts: false, enableFindWidget: true });
      this.panel.onDidDispose(() => {
        this.panel = undefined;
        this.shown = undefined;
      });
    } else {
      this.panel.title = title;
      this.panel.reveal(undefined, true);
    }
    this.shown = { title, markdown, repository, timelineId: repository?.state.engine?.head?.timelineId };
    this.panel.webview.html = page({ cspSource: this.panel.webview.cspSource, title, body: await render(markdown), view: 'restore-preview' });
  }

  /** Closes the preview (a restore made it stale). */
  close(): void {
    this.panel?.dispose();
  }

  override dispose(): void {
    this.close();
    super.dispose();
  }
}

/** Markdown to HTML with VS Code's own renderer (the built-in Markdown extension); plain text if it is not there. */
async function render(markdown: string): Promise<string> {
  try {
    const html = await vscode.commands.executeCommand<string>('markdown.api.render', markdown);
    if (typeof html === 'string' && html.trim() !== '') return html;
  } catch {
    // The Markdown extension can be disabled; the text still reads well as it is.
  }
  return `<pre>${escapeHtml(markdown)}</pre>`;
}
