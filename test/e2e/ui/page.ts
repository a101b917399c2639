// Page helpers for UI tests: the VS Code workbench in code-server, driven through its real DOM, with numbered screenshots.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Frame, Locator, Page } from 'playwright-core';
import { eventually as poll } from '../../support/eventually';

const STATUS_BAR = '[id="workbench.parts.statusbar"]';
const SIDEBAR = '[id="workbench.parts.sidebar"]';
const PANEL = '[id="workbench.parts.panel"]';
const QUICK_INPUT = '.quick-input-widget';

/** How long a step waits for the workbench to react before the test fails. */
export const STEP_TIMEOUT_MS = 15_000;

export class Workbench {
  private shots = 0;

  constructor(
    readonly page: Page,
    private readonly screenshotDir: string,
  ) {
    fs.mkdirSync(screenshotDir, { recursive: true });
  }

  /** Navigates to a workbench address (see CodeServer.workbenchUrl) and waits until it is usable. */
  async load(url: string): Promise<void> {
    await this.page.goto(url);
    await this.waitUntilReady();
  }

  /**
   * Opens a `.code-workspace` file and waits until the Explorer lists its
   * `folders`. code-server sometimes comes up with none of them ("no folder
   * opened") when it reads the workspace file from the server too early; it
   * never corrects itself, and a reload does, so the page is reloaded then.
   */
  async loadWorkspaceFile(url: string, folders: string[], attempts = 3): Promise<void> {
    await this.load(url);
    for (let attempt = 1; ; attempt += 1) {
      await this.openViewContainer('Explorer');
      const shown = await eventually('the workspace folders in the Explorer', async () => {
        const labels = new Set((await this.treeRows()).map((label) => label.trim()));
        return folders.every((name) => labels.has(name)) ? true : undefined;
      }, 10_000).then(() => true, () => false);
      if (shown) return;
      if (attempt === attempts) {
        throw new Error(`the workbench did not open the workspace's folders (${folders.join(', ')}) after ${attempts} loads`);
      }
      console.log(`      (the workbench came up without the workspace's folders; reloading, attempt ${attempt + 1} of ${attempts})`);
      await this.page.reload();
      await this.waitUntilReady();
    }
  }

  async waitUntilReady(timeoutMs = 60_000): Promise<void> {
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
    await this.page.locator(STATUS_BAR).waitFor({ state: 'visible', timeout: timeoutMs });
    // The remote indicator appears once the server connection (and so the extension host) is up.
    await this.page.locator(`${STATUS_BAR} #status\\.host`).waitFor({ state: 'visible', timeout: timeoutMs });
  }

  /** Saves `NN-step.png` in the run's screenshot folder and returns its path. */
  async screenshot(step: string): Promise<string> {
    this.shots += 1;
    const slug = step.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const file = path.join(this.screenshotDir, `${String(this.shots).padStart(2, '0')}-${slug}.png`);
    await this.page.screenshot({ path: file });
    return file;
  }

  async title(): Promise<string> {
    return this.page.title();
  }

  // Status bar

  statusBarItem(text: string | RegExp): Locator {
    return this.page.locator(`${STATUS_BAR} .statusbar-item`).filter({ hasText: text }).first();
  }

  async clickStatusBarItem(text: string | RegExp): Promise<void> {
    await this.statusBarItem(text).click({ timeout: STEP_TIMEOUT_MS });
  }

  // Command palette and quick picks

  /** Opens the command palette; F1 is sometimes lost while the workbench is busy, so it retries. */
  async openCommandPalette(): Promise<Locator> {
    const input = this.page.locator(`${QUICK_INPUT} input`);
    for (let attempt = 1; ; attempt += 1) {
      await this.page.keyboard.press('F1');
      try {
        await input.waitFor({ state: 'visible', timeout: 3_000 });
        return input;
      } catch (error) {
        if (attempt === 3) throw error;
        await this.page.keyboard.press('Escape');
      }
    }
  }

  /** Runs a command by its full palette title, e.g. `Lockstep: Show Log`. */
  async runCommand(title: string): Promise<void> {
    const deadline = Date.now() + STEP_TIMEOUT_MS;
    for (;;) {
      const input = await this.openCommandPalette();
      await input.fill(`>${title}`);
      const item = this.quickItem(title);
      try {
        await item.waitFor({ state: 'visible', timeout: 2_000 });
        await item.click();
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw new Error(`no command "${title}" in the palette after ${STEP_TIMEOUT_MS} ms: ${String(error)}`);
        // The palette lists the commands known when it opened; right after a load the extension's may still be on their way.
        await this.page.keyboard.press('Escape');
        await this.page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
      }
    }
  }

  /** The row of the open quick pick whose label is exactly `label` (or matches the pattern). */
  quickItem(label: string | RegExp): Locator {
    return this.page
      .locator(`${QUICK_INPUT} .quick-input-list .monaco-list-row`)
      .filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) })
      .first();
  }

  async pickQuickItem(label: string | RegExp): Promise<void> {
    await this.quickItem(label).click({ timeout: STEP_TIMEOUT_MS });
  }

  /** Labels of the quick pick's rendered rows (the list is virtual: only the visible ones). */
  async quickItems(): Promise<string[]> {
    const rows = this.page.locator(`${QUICK_INPUT} .quick-input-list .monaco-list-row .label-name`);
    await rows.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return rows.allTextContents();
  }

  /** Answers a showInputBox (or types into a quick pick) and presses Enter; an empty string accepts the empty value. */
  async answerInput(text: string): Promise<void> {
    const input = this.page.locator(`${QUICK_INPUT} input`);
    await input.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await input.fill(text);
    await input.press('Enter');
  }

  /** Escape on the open quick input: cancels a pick or an input box. */
  async cancelQuickInput(): Promise<void> {
    // The widget stays in the page, hidden, between uses: an Escape before it shows cancels nothing.
    const input = this.page.locator(`${QUICK_INPUT} input`);
    await input.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await input.press('Escape');
    await this.page.locator(QUICK_INPUT).waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  }

  // Modal dialogs and notifications

  dialog(): Locator {
    return this.page.locator('.monaco-dialog-box');
  }

  async dialogMessage(): Promise<string> {
    const message = this.dialog().locator('.dialog-message');
    await message.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return (await message.innerText()).trim();
  }

  /** The modal dialog's detail text (under its message). */
  async dialogDetail(): Promise<string> {
    const detail = this.dialog().locator('.dialog-message-detail');
    await detail.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return (await detail.innerText()).trim();
  }

  /** Clicks the modal dialog's button with exactly this label (e.g. `Restore`, `Cancel`) and waits for it to close. */
  async answerDialog(button: string): Promise<void> {
    const dialog = this.dialog();
    await dialog.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await dialog.locator('.dialog-buttons .monaco-button', { hasText: exactly(button) }).first().click();
    await dialog.waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
  }

  notification(text: string | RegExp): Locator {
    return this.page.locator('.notification-toast').filter({ hasText: text }).first();
  }

  async clickNotificationButton(text: string | RegExp, button: string): Promise<void> {
    await this.notification(text).locator('.monaco-button', { hasText: exactly(button) }).first().click({ timeout: STEP_TIMEOUT_MS });
  }

  // Sidebar views and trees

  /** Shows the view container whose activity bar entry starts with `label` (clicking an open one would close it). */
  async openViewContainer(label: string): Promise<void> {
    const item = this.page.locator(`.activitybar li.action-item:has(a[aria-label^="${label}"])`).first();
    await item.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    if ((await item.getAttribute('aria-pressed')) !== 'true' && !((await item.getAttribute('class')) ?? '').includes('checked')) {
      await item.click();
    }
    await this.page.locator(SIDEBAR).waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  }

  /** Drags the sash at the sidebar's right edge until the sidebar is about `width` pixels wide (rows show their descriptions). */
  async resizeSidebar(width: number): Promise<void> {
    const box = await this.page.locator(SIDEBAR).boundingBox();
    if (!box) throw new Error('the sidebar is not visible');
    const y = box.y + box.height / 2;
    await this.page.mouse.move(box.x + box.width, y);
    await this.page.mouse.down();
    await this.page.mouse.move(box.x + width, y, { steps: 8 });
    await this.page.mouse.up();
  }

  /** A view in the sidebar by its header title, e.g. `Checkpoints` (matched case-insensitively). */
  sidebarView(title: string): Locator {
    return this.page
      .locator(`${SIDEBAR} .pane`)
      .filter({ has: this.page.locator('.pane-header .title', { hasText: new RegExp(`^${escapeRegExp(title)}$`, 'i') }) })
      .first();
  }

  /** The text of a view's welcome content (shown while its tree is empty), or '' when none shows. */
  async welcomeText(view: string): Promise<string> {
    const content = this.sidebarView(view).locator('.welcome-view-content');
    return (await content.count()) > 0 && (await content.first().isVisible()) ? (await content.first().innerText()).trim() : '';
  }

  /** Clicks a button of a view's welcome content, e.g. `Start a Local Database`. */
  async clickWelcomeButton(view: string, label: string): Promise<void> {
    await this.sidebarView(view).locator('.welcome-view-content .monaco-button', { hasText: exactly(label) }).first().click({ timeout: STEP_TIMEOUT_MS });
  }

  /** Descriptions of the tree rows (the dimmer text after the label), top to bottom as rendered. */
  async treeRowDescriptions(view?: string): Promise<string[]> {
    const scope = view ? this.sidebarView(view) : this.page.locator(SIDEBAR);
    return scope.locator('.monaco-list-row .label-description').allTextContents();
  }

  /** Labels of the tree rows in the sidebar (in one view when `view` is given), top to bottom as rendered. */
  async treeRows(view?: string): Promise<string[]> {
    const scope = view ? this.sidebarView(view) : this.page.locator(SIDEBAR);
    return scope.locator('.monaco-list-row .label-name').allTextContents();
  }

  treeRow(label: string | RegExp, view?: string): Locator {
    const scope = view ? this.sidebarView(view) : this.page.locator(SIDEBAR);
    return scope.locator('.monaco-list-row').filter({ has: this.page.locator('.label-name', { hasText: exactly(label) }) }).first();
  }

  /** Right-clicks a tree row and picks an entry of its context menu. */
  async treeRowMenu(label: string | RegExp, entry: string, view?: string): Promise<void> {
    await this.treeRow(label, view).click({ button: 'right', timeout: STEP_TIMEOUT_MS });
    const item = this.page.locator('.monaco-menu .action-label', { hasText: exactly(entry) }).first();
    await item.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    // A menu ignores the mouse for a moment after it opens (so the right-click's own release picks nothing): wait, and retry.
    for (let attempt = 1; ; attempt += 1) {
      await this.page.waitForTimeout(300);
      await item.click({ timeout: STEP_TIMEOUT_MS });
      try {
        await item.waitFor({ state: 'hidden', timeout: 2_000 });
        return;
      } catch (error) {
        if (attempt === 3) throw new Error(`the context menu entry "${entry}" did not respond: ${String(error)}`);
      }
    }
  }

  /** Hovers a status bar item and returns the text of the hover it opens (its tooltip). */
  async statusBarTooltip(text: string | RegExp): Promise<string> {
    return this.hoverText(this.statusBarItem(text));
  }

  /** Hovers an element and returns the text of the hover (tooltip) it opens. */
  async hoverText(target: Locator): Promise<string> {
    await target.hover({ timeout: STEP_TIMEOUT_MS });
    const hover = this.page.locator('.monaco-hover:not(.hidden) .hover-contents').filter({ visible: true }).first();
    await hover.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return (await hover.innerText()).trim();
  }

  /** Clears the notification toasts (for screenshots of what is behind them). */
  async clearNotifications(): Promise<void> {
    await this.runCommand('Notifications: Clear All Notifications');
    await this.page.locator('.notification-toast').first().waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS }).catch(() => undefined);
  }

  // Editors

  /** The tab titles of the editor area. */
  async editorTabs(): Promise<string[]> {
    return this.page.locator('[id="workbench.parts.editor"] .tabs-container .tab .label-name').allTextContents();
  }

  /** The text of the active editor (what is rendered of it: the editor draws only the visible lines). */
  async activeEditorText(): Promise<string> {
    const lines = this.page.locator('[id="workbench.parts.editor"] .editor-group-container.active .monaco-editor .view-lines').first();
    await lines.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return plainText(await lines.innerText());
  }

  // Webviews

  /**
   * The frame of a Lockstep webview, found by its body's `data-view` (the
   * content sits two iframes deep, `iframe.webview` → `#active-frame`, and a
   * hidden panel keeps its frame in the page: the visible one wins).
   */
  async webviewFrame(view: string, timeoutMs = STEP_TIMEOUT_MS): Promise<Frame> {
    return eventually(`the webview "${view}"`, async () => {
      for (const frame of this.page.frames()) {
        const found = await frame
          .locator(`body[data-view="${view}"]`)
          .isVisible()
          .catch(() => false);
        if (found) return frame;
      }
      return undefined;
    }, timeoutMs);
  }

  /** The rendered text of a webview's page. */
  async webviewText(view: string, timeoutMs = STEP_TIMEOUT_MS): Promise<string> {
    const frame = await this.webviewFrame(view, timeoutMs);
    return (await frame.locator('body').innerText()).trim();
  }

  /** Clicks a button or link with exactly this text in a webview, in the table row that names `row` when given. */
  async clickInWebview(view: string, text: string, row?: string): Promise<void> {
    const frame = await this.webviewFrame(view);
    const scope = row ? frame.locator('tr', { has: frame.locator('td', { hasText: exactly(row) }) }).first() : frame.locator('body');
    await scope.locator('button, a', { hasText: exactly(text) }).first().click({ timeout: STEP_TIMEOUT_MS });
  }

  /** Clicks an editor tab by its title (or a pattern of it). */
  async clickEditorTab(title: string | RegExp): Promise<void> {
    await this.page
      .locator('[id="workbench.parts.editor"] .tabs-container .tab')
      .filter({ has: this.page.locator('.label-name', { hasText: exactly(title) }) })
      .first()
      .click({ timeout: STEP_TIMEOUT_MS });
  }

  /** The validation message under the open input box (what validateInput returned), or '' when none shows. */
  async inputValidation(): Promise<string> {
    const message = this.page.locator(`${QUICK_INPUT} .quick-input-message`).first();
    return (await message.isVisible()) ? (await message.innerText()).trim() : '';
  }

  /** Types into the open input box without pressing Enter. */
  async typeInput(text: string): Promise<void> {
    const input = this.page.locator(`${QUICK_INPUT} input`);
    await input.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await input.fill(text);
  }

  /** Saves a screenshot to an exact path too (the README's pictures), besides the numbered one. */
  async screenshotTo(step: string, file: string): Promise<string> {
    const numbered = await this.screenshot(step);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.copyFileSync(numbered, file);
    return file;
  }

  // Panel

  /** The channel the Output view shows (its dropdown's selected entry), e.g. `Lockstep`. */
  async outputChannel(): Promise<string> {
    const select = this.page.locator(`${PANEL} select.monaco-select-box`).filter({ visible: true }).first();
    await select.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return ((await select.locator('option:checked').textContent()) ?? '').trim();
  }

  /** The text shown by the editor in the bottom panel (the Output view, for instance). */
  async panelText(): Promise<string> {
    const lines = this.page.locator(`${PANEL} .monaco-editor .view-lines`).first();
    await lines.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return plainText(await lines.innerText());
  }
}

/** Polls `probe` until it returns something other than undefined; fails naming `what` after the timeout. */
export function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  return poll(what, probe, { timeoutMs, intervalMs: 200 });
}

/** The editor draws spaces as no-break spaces; tests compare with ordinary text. */
function plainText(rendered: string): string {
  return rendered.replace(/\u00a0/g, ' ');
}

/** Labels are matched whole: "Restore" must not pick "Restore Data Only". */
function exactly(label: string | RegExp): RegExp {
  return typeof label === 'string' ? new RegExp(`^\\s*${escapeRegExp(label)}\\s*$`) : label;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
