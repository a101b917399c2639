// The HTML shell of Lockstep's webviews: a strict content policy, and styles that follow the theme through VS Code's own variables.
import { randomBytes } from 'node:crypto';

export interface PageParts {
  /** The webview's cspSource (what it may load styles from). */
  cspSource: string;
  title: string;
  /** Trusted HTML: callers escape whatever came from git, Postgres or people. */
  body: string;
  /** Inline script, run with a nonce; none when the page only shows. */
  script?: string;
  /** `data-view` on the body: which Lockstep view this is (tests find the frame by it). */
  view: string;
}

const STYLE = `
  body { font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); color: var(--vscode-foreground); background: var(--vscode-editor-background); padding: 8px 20px 24px; line-height: 1.45; }
  h1 { font-size: 1.35em; font-weight: 600; margin: 0.6em 0 0.3em; }
  h2 { font-size: 1.1em; font-weight: 600; margin: 1.3em 0 0.4em; padding-bottom: 2px; border-bottom: 1px solid var(--vscode-panel-border, var(--vscode-widget-border, transparent)); }
  p { margin: 0.35em 0; }
  a { color: var(--vscode-textLink-foreground); }
  code { font-family: var(--vscode-editor-font-family); font-size: 0.95em; background: var(--vscode-textCodeBlock-background); padding: 0 3px; border-radius: 3px; }
  pre { font-family: var(--vscode-editor-font-family); background: var(--vscode-textCodeBlock-background); padding: 6px 10px; overflow-x: auto; border-radius: 3px; }
  pre code { background: none; padding: 0; }
  table { border-collapse: collapse; margin: 0.5em 0 0.8em; min-width: 50%; }
  th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--vscode-editorWidget-border, var(--vscode-widget-border, rgba(128,128,128,0.35))); vertical-align: middle; }
  th { font-weight: 600; color: var(--vscode-descriptionForeground); }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  tr:hover td { background: var(--vscode-list-hoverBackground); }
  .muted, em { color: var(--vscode-descriptionForeground); }
  .meta { color: var(--vscode-descriptionForeground); margin-bottom: 0.8em; }
  .added { color: var(--vscode-gitDecoration-addedResourceForeground, var(--vscode-charts-green)); }
  .deleted { color: var(--vscode-gitDecoration-deletedResourceForeground, var(--vscode-charts-red)); }
  .changed { color: var(--vscode-gitDecoration-modifiedResourceForeground, var(--vscode-charts-yellow)); }
  .warning { color: var(--vscode-editorWarning-foreground); }
  .notice { border-left: 3px solid var(--vscode-editorWarning-foreground); padding: 4px 10px; margin: 8px 0; background: var(--vscode-inputValidation-warningBackground, transparent); }
  .status { font-size: 0.85em; padding: 1px 6px; border-radius: 8px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); white-space: nowrap; }
  button { font-family: inherit; font-size: 0.95em; padding: 3px 10px; margin: 0 2px; border: 1px solid var(--vscode-button-border, transparent); border-radius: 2px; cursor: pointer; color: var(--vscode-button-foreground); background: var(--vscode-button-background); }
  button:hover { background: var(--vscode-button-hoverBackground); }
  button.secondary { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
  button.secondary:hover { background: var(--vscode-button-secondaryHoverBackground); }
  button:disabled { opacity: 0.5; cursor: default; }
  .toolbar { margin: 0.6em 0; }
  hr { border: none; border-top: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.35)); margin: 1.2em 0; }
`;

export function page(parts: PageParts): string {
  const nonce = randomBytes(16).toString('base64');
  const csp = [`default-src 'none'`, `style-src ${parts.cspSource} 'unsafe-inline'`, `img-src ${parts.cspSource} data:`, `script-src 'nonce-${nonce}'`].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${escapeHtml(parts.title)}</title>
<style>${STYLE}</style>
</head>
<body data-view="${escapeHtml(parts.view)}">
${parts.body}
${parts.script ? `<script nonce="${nonce}">${parts.script}</script>` : ''}
</body>
</html>`;
}

/**
 * Data for the page's script inside the page itself: a JSON element the browser
 * does not run, read with JSON.parse(element.textContent). Every "<" is escaped
 * (\u003c, the same string to JSON), so no text from git, Postgres or people
 * can close the element or open a comment.
 */
export function jsonData(id: string, value: unknown): string {
  return `<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(value).replace(/</g, '\\u003c')}</script>`;
}

/** Text from git, Postgres or people, made safe inside HTML text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
