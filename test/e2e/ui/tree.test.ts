// UI tests of a Checkpoints tree that tells the truth: undo points named and grouped with their restores, serving vs descends from, times that match the picker, "Restoring…" and Cancel only while true, Start and Snapshot, the walkthrough, the default width, Pin.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { relativeTime } from '../../../src/core/relativeTime';
import { eventually, type Workbench } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');
/** With LOCKSTEP_README_SCREENSHOTS=1 the picture the README shows is written to media/screenshots/ as well. */
const README_SHOTS = process.env.LOCKSTEP_README_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../../media/screenshots') : undefined;
const VIEW = 'Checkpoints';

function lockstep(workspace: GitWorkspace, ...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`lockstep ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
  return run.stdout.trim();
}

async function sql(workspace: GitWorkspace, text: string): Promise<void> {
  const client = new Client({ connectionString: lockstep(workspace, 'db', 'url') });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

interface Listed {
  id: string;
  label: string | null;
  kind: string;
  createdAt: string;
}

function journal(workspace: GitWorkspace): Listed[] {
  return JSON.parse(lockstep(workspace, 'list', '--json')) as Listed[];
}

interface Sample {
  bar: string;
  toasts: { text: string; cancel: boolean }[];
}

/** The status bar's text and each notification's text and whether it offers Cancel (a string: the tests compile without the DOM's types). */
const READ_BAR_AND_TOASTS = `(() => ({
  bar: document.getElementById('workbench.parts.statusbar')?.innerText ?? '',
  toasts: [...document.querySelectorAll('.notification-toast')].map((toast) => ({
    text: toast.innerText,
    cancel: [...toast.querySelectorAll('.monaco-button, .action-label')].some((b) => /^\\s*Cancel\\s*$/.test(b.innerText || b.getAttribute('aria-label') || '')),
  })),
}))()`;

/** Label → description of each row, as rendered. */
async function rowTexts(workbench: Workbench): Promise<Map<string, string>> {
  const rows = workbench.sidebarView(VIEW).locator('.monaco-list-row');
  const texts = await rows.evaluateAll((elements) =>
    elements.map((row) => [row.querySelector('.label-name')?.textContent ?? '', row.querySelector('.label-description')?.textContent ?? ''] as [string, string]),
  );
  return new Map(texts);
}

async function rowWith(workbench: Workbench, what: string, label: string, test: (description: string) => boolean, timeoutMs = 30_000): Promise<string> {
  return eventually(what, async () => {
    const description = (await rowTexts(workbench)).get(label);
    return description !== undefined && test(description) ? description : undefined;
  }, timeoutMs);
}

/** The relative time at the start of a description ("2 minutes ago · serving"), matched against what was true while it was read. */
function truthfulTime(text: string, createdAt: string, from: number, to: number): boolean {
  // The tree redraws at the second a text changes (rounded up), so a text up to 1.5 s old is allowed.
  for (let t = from - 1500; t <= to; t += 250) if (text === relativeTime(createdAt, t)) return true;
  return false;
}

describe('a Checkpoints tree that tells the truth', function () {
  this.timeout(180_000);
  let workspace: GitWorkspace;

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-tree', { settings: { 'lockstep.local.port': port } });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('checks the walkthrough’s steps off on real events: set-up done, a checkpoint; not a snapshot merely asked for', async () => {
    const { workbench } = e2e();
    // As on a first run: the walkthrough is open before the set-up (VS Code checks a step off when its context key
    // turns true while the walkthrough is registered; a key already true when it registers is not seen).
    const before = await openWalkthrough(workbench);
    assert.deepEqual([...before.values()], [false, false, false, false]);
    await workbench.openViewContainer('Lockstep');
    await eventually('the "not set up" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('not set up') ? true : undefined));
    await workbench.clickWelcomeButton(VIEW, 'Start a Local Database');
    await eventually('the "no checkpoints yet" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('No checkpoints yet') ? true : undefined), 60_000);
    await sql(workspace, 'create table items (id serial primary key, name text)');
    await sql(workspace, "insert into items (name) values ('one')");
    workspace.commit('Add items', { 'items.sql': 'create table items (id serial primary key, name text);\n' });
    await eventually('the commit in the tree', async () => ((await workbench.treeRows(VIEW)).includes('Add items') ? true : undefined), 30_000);
    // Asking for a snapshot and escaping the label takes none: its step stays open.
    await workbench.clickStatusBarItem('Snapshot');
    await workbench.cancelQuickInput();
    await workbench.clickEditorTab(/Walkthrough|Get Started|Welcome/);
    const steps = await readWalkthrough(workbench);
    assert.equal(steps.get('Give the project a database'), true, `set-up is not checked off: ${JSON.stringify([...steps])}`);
    assert.equal(steps.get('Commit as usual'), true, 'a checkpoint exists, but its step is not checked off');
    assert.equal(steps.get('Snapshot before a risky step'), false, 'the snapshot step was checked off by a command that took no snapshot');
    assert.equal(steps.get('Restore code and data together'), false);
    await workbench.screenshot('walkthrough after set-up');
    await workbench.runCommand('View: Close All Editors');
  });

  it('offers Start and Snapshot when the database is stopped, before asking for a label, and takes it', async () => {
    const { workbench } = e2e();
    lockstep(workspace, 'db', 'stop');
    await workbench.clickStatusBarItem(/Snapshot/);
    const offer = workbench.notification(/is stopped/);
    await offer.waitFor({ state: 'visible', timeout: 15_000 });
    assert.equal(await workbench.page.locator('.quick-input-widget input').isVisible(), false, 'a label was asked for before the database could take a snapshot');
    assert.doesNotMatch(await offer.innerText(), /ECONNREFUSED|connect|driver/i, 'a raw driver error');
    await workbench.screenshot('snapshot offers start');
    await workbench.clickNotificationButton(/is stopped/, 'Start and Snapshot');
    await workbench.answerInput('v1');
    await eventually('the snapshot on top', async () => ((await workbench.treeRows(VIEW))[0] === 'v1' ? true : undefined), 60_000);
    await sql(workspace, "insert into items (name) values ('two'), ('three')");
    await workbench.clickStatusBarItem(/Snapshot/);
    await workbench.answerInput('v2');
    await eventually('v2 on top', async () => ((await workbench.treeRows(VIEW))[0] === 'v2' ? true : undefined), 30_000);
  });

  it('says Restoring… only while the restore runs, and takes Cancel away at the point of no return', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    await workbench.treeRowMenu('v1', 'Restore', VIEW);
    await workbench.dialogMessage();
    // The preview and the modal: nothing is restoring yet.
    const bar = await workbench.page.locator('[id="workbench.parts.statusbar"]').innerText();
    assert.doesNotMatch(bar, /Restoring/, 'the status bar says Restoring… while the modal waits');
    await workbench.screenshot('restore modal, status bar quiet');
    // Watch the status bar and the progress notifications from the yes to the end.
    const seen: Sample[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const sample = await workbench.page.evaluate<Sample>(READ_BAR_AND_TOASTS).catch(() => undefined);
        if (sample) seen.push(sample);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored code and data to “v1”/).waitFor({ state: 'visible', timeout: 90_000 });
    watching = false;
    await watcher;
    assert.ok(seen.some((s) => /Restoring…/.test(s.bar)), 'the status bar never said Restoring… while the restore ran');
    const pastNoReturn = seen.flatMap((s) => s.toasts).filter((t) => /Restoring code and data/.test(t.text) && /cutting over|Cutting over|Checking out|no longer cancellable/i.test(t.text));
    assert.ok(pastNoReturn.length > 0, `no progress was seen past the point of no return: ${JSON.stringify(seen.flatMap((s) => s.toasts.map((t) => t.text)).slice(-10))}`);
    assert.deepEqual(pastNoReturn.filter((t) => t.cancel), [], 'Cancel was offered after the point of no return');
    await eventually('the status bar back to Snapshot', async () => (/Restoring/.test(await workbench.page.locator('[id="workbench.parts.statusbar"]').innerText()) ? undefined : true));
  });

  it('groups the undo point under its restore, named in words, and marks the target serving', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    const rows = await eventually('the restore row and its undo point', async () => {
      const labels = await workbench.treeRows(VIEW);
      return labels.includes("Restored 'v1'") && labels.includes("Before restoring 'v1'") ? labels : undefined;
    }, 30_000);
    assert.equal(rows.indexOf("Before restoring 'v1'"), rows.indexOf("Restored 'v1'") + 1, `the undo point is not under its restore: ${rows.join(' | ')}`);
    assert.ok(!rows.some((label) => /Before restoring [0-9a-f]{6,}/.test(label)), 'an undo point named by an id');
    await rowWith(workbench, 'v1 serving', 'v1', (d) => /· serving/.test(d));
    await workbench.screenshot('restore grouped, v1 serving');
  });

  it('says "descends from" once the data has moved since', async () => {
    const { workbench } = e2e();
    await sql(workspace, "insert into items (name) values ('four')");
    // The database moved outside Lockstep: the status poll (or Refresh) reads the head again.
    await workbench.runCommand('Lockstep: Refresh');
    const description = await rowWith(workbench, 'v1 descends from', 'v1', (d) => /descends from/.test(d));
    assert.doesNotMatch(description, /serving/);
    await workbench.screenshot('v1 descends from');
  });

  it('names an undo as one, without nesting', async () => {
    const { workbench } = e2e();
    await workbench.treeRowMenu("Before restoring 'v1'", 'Restore', VIEW);
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored code and data to “Before restoring 'v1'”/).waitFor({ state: 'visible', timeout: 90_000 });
    await workbench.clearNotifications();
    const rows = await eventually('the undo grouped', async () => {
      const labels = await workbench.treeRows(VIEW);
      return labels.includes("Undid the restore of 'v1'") ? labels : undefined;
    }, 30_000);
    assert.equal(rows[rows.indexOf("Undid the restore of 'v1'") + 1], "Before undoing 'v1'");
    assert.ok(!rows.some((label) => /Before restoring 'Before/.test(label)), `nested labels: ${rows.join(' | ')}`);
    if (README_SHOTS) await workbench.screenshotTo('undo grouped', path.join(README_SHOTS, 'tree-restores.png'));
    else await workbench.screenshot('undo grouped');
  });

  it('shows the same relative times in the tree and the picker', async () => {
    const { workbench } = e2e();
    // The newest rows cross "just now" → "1 minute ago" at 45 s: the tree must follow within a second or two, as the picker does.
    const newest = journal(workspace).filter((c) => c.kind !== 'pre-restore')[0]!;
    const crossing = Date.parse(newest.createdAt) + 47_000 - Date.now();
    if (crossing > 0) await new Promise((resolve) => setTimeout(resolve, crossing));
    const all = journal(workspace);
    const from = Date.now();
    const tree = await rowTexts(workbench);
    const to = Date.now();
    let compared = 0;
    for (const c of all) {
      const label = c.label ?? '';
      const description = tree.get(label);
      if (!description || c.kind === 'pre-restore') continue;
      const time = description.split(' · ')[0]!;
      assert.ok(truthfulTime(time, c.createdAt, from, to), `the tree says "${time}" for ${label}, taken ${c.createdAt}; read between ${new Date(from).toISOString()} and ${new Date(to).toISOString()}`);
      compared++;
    }
    assert.ok(compared >= 2, 'no rows to compare');
    await workbench.runCommand('Lockstep: Restore Checkpoint…');
    const pickFrom = Date.now();
    const items = await eventually('the picker', async () => {
      const found = await workbench.page.locator('.quick-input-list .monaco-list-row').evaluateAll((rows) =>
        rows.map((row) => [row.querySelector('.label-name')?.textContent ?? '', row.querySelector('.label-description')?.textContent ?? ''] as [string, string]),
      );
      return found.length > 0 ? found : undefined;
    });
    const pickTo = Date.now();
    for (const [label, description] of items) {
      const c = all.find((x) => x.label === label);
      if (!c) continue;
      const time = description.split(' · ')[1] ?? '';
      assert.ok(truthfulTime(time, c.createdAt, pickFrom, pickTo), `the picker says "${time}" for ${label}`);
      const treeTime = tree.get(label)?.split(' · ')[0];
      if (treeTime !== undefined) assert.ok(truthfulTime(treeTime, c.createdAt, from, to));
    }
    await workbench.screenshot('picker times');
    await workbench.cancelQuickInput();
  });

  it('pins a checkpoint from the tree: a pin mark, and what is kept in its tooltip', async () => {
    const { workbench } = e2e();
    await workbench.treeRowMenu('v2', 'Pin', VIEW);
    await rowWith(workbench, 'v2 pinned', 'v2', (d) => /pinned/.test(d), 60_000);
    // The pointer may still rest on the row after the menu: away first, so that hovering opens the tooltip afresh.
    const tooltip = await eventually('the pinned row’s tooltip', async () => {
      await workbench.page.mouse.move(700, 400);
      return workbench.hoverText(workbench.treeRow('v2', VIEW)).catch(() => undefined);
    }, 60_000);
    assert.match(tooltip, /Pinned:/);
    await workbench.screenshot('v2 pinned');
    const pins = JSON.parse(fs.readFileSync(path.join(workspace.dir, '.git', 'lockstep', 'pins.json'), 'utf8')) as { pins: { checkpointId: string }[] };
    const v2 = journal(workspace).find((c) => c.label === 'v2')!;
    assert.deepEqual(pins.pins.map((p) => p.checkpointId), [v2.id]);
    await workbench.page.mouse.move(700, 400);
    await workbench.treeRowMenu('v2', 'Unpin', VIEW);
    await rowWith(workbench, 'v2 unpinned', 'v2', (d) => !/pinned/.test(d), 60_000);
  });

  it('is readable at the default sidebar width: no row label is cut off', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    // The browser profile keeps the sidebar's width across workspaces (other tests widen it): back to VS Code's
    // default for a fresh profile, min(300 px, a quarter of the window).
    const window = workbench.page.viewportSize();
    await workbench.resizeSidebar(Math.min(300, Math.floor((window?.width ?? 1200) / 4)));
    const sidebar = await workbench.page.locator('[id="workbench.parts.sidebar"]').boundingBox();
    assert.ok(sidebar && sidebar.width <= 305, `the sidebar is ${sidebar?.width} px wide`);
    const measured = await workbench.sidebarView(VIEW).locator('.monaco-list-row').evaluateAll((rows) =>
      rows.map((row) => {
        // The text's own extent (a Range is not clipped by overflow), against the box that clips it with an ellipsis.
        const name = row.querySelector('.label-name')!;
        const range = name.ownerDocument.createRange();
        range.selectNodeContents(name);
        const text = range.getBoundingClientRect();
        const box = row.querySelector('.monaco-icon-label-container')!.getBoundingClientRect();
        const clipped = (name as unknown as { scrollWidth: number; clientWidth: number }).scrollWidth > (name as unknown as { scrollWidth: number; clientWidth: number }).clientWidth + 1;
        return { label: name.textContent ?? '', fits: text.right <= box.right + 0.5 && !clipped, right: Math.round(text.right), box: Math.round(box.right), width: Math.round(row.getBoundingClientRect().width) };
      }),
    );
    assert.ok(measured.length >= 5, `too few rows measured: ${JSON.stringify(measured)}`);
    assert.deepEqual(measured.filter((m) => !m.fits), [], `labels cut off at ${measured[0]?.width} px`);
    await workbench.screenshot('default width');
  });
});

/** Opens Lockstep's walkthrough and reads which steps are checked off, by title. */
async function openWalkthrough(workbench: Workbench): Promise<Map<string, boolean>> {
  await workbench.runCommand('Welcome: Open Walkthrough...');
  await workbench.pickQuickItem(/Get Started with Lockstep/);
  return readWalkthrough(workbench);
}

async function readWalkthrough(workbench: Workbench): Promise<Map<string, boolean>> {
  return eventually('the walkthrough steps', async () => {
    const steps = await workbench.page.locator('.getting-started-step').evaluateAll((elements) =>
      // VS Code marks a done step's badge (`[data-done-step-id]`) `complete` and the step `aria-checked`.
      elements.map((el) => [(el.querySelector('.step-title')?.textContent ?? '').trim(), el.getAttribute('aria-checked') === 'true' || el.querySelector('[data-done-step-id].complete') !== null] as [string, boolean]),
    );
    const ours = steps.filter(([title]) => ['Give the project a database', 'Commit as usual', 'Snapshot before a risky step', 'Restore code and data together'].includes(title));
    return ours.length === 4 ? new Map(ours) : undefined;
  });
}
