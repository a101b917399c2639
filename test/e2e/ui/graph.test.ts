// UI tests of the history graph in Chromium: lines, fork points and the serving line after two restores and an undo, live updates, and the node menu (Pin, Preview, Restore, the keyboard).
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { Frame } from 'playwright-core';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { eventually, STEP_TIMEOUT_MS, type Workbench } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const VIEW = 'Checkpoints';
const GRAPH = 'history-graph';
/** With LOCKSTEP_README_SCREENSHOTS=1 the picture the README shows is written to media/screenshots/ as well. */
const README_SHOTS = process.env.LOCKSTEP_README_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../../media/screenshots') : undefined;

function lockstep(workspace: GitWorkspace, ...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`lockstep ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
  return run.stdout.trim();
}

interface Listed {
  id: string;
  kind: string;
  label: string | null;
  commitSha: string | null;
}

function listed(workspace: GitWorkspace): Listed[] {
  return JSON.parse(lockstep(workspace, 'list', '--json')) as Listed[];
}

async function sql<T>(workspace: GitWorkspace, text: string): Promise<T[]> {
  const client = new Client({ connectionString: lockstep(workspace, 'db', 'url') });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

async function names(workspace: GitWorkspace): Promise<string> {
  return (await sql<{ n: string | null }>(workspace, "select coalesce(string_agg(name, ',' order by id), '') as n from items"))[0]!.n ?? '';
}

/** What the graph's DOM says: its rows (data attributes) and strokes. */
interface Drawn {
  lanes: number;
  servingLine: number;
  rows: { id: string; kind: string; lane: number; line: number; serving: boolean; descends: boolean; pinned: boolean; undo: boolean; forkFrom: string | null; title: string }[];
  forks: { line: number; from: number; to: number; fromLane: number; toLane: number; serving: boolean }[];
  servingEdges: number;
}

/** Read in the page (a string: the tests compile without the DOM's types). */
const READ_GRAPH = `(() => {
  const body = document.body;
  const rows = [...document.querySelectorAll('#rows .row')].map((row) => ({
    id: row.dataset.id || '',
    kind: row.dataset.kind || '',
    lane: Number(row.dataset.lane),
    line: Number(row.dataset.line),
    serving: row.dataset.serving === 'true',
    descends: row.dataset.descends === 'true',
    pinned: row.dataset.pinned === 'true',
    undo: row.dataset.undo === 'true',
    forkFrom: row.dataset.forkFrom || null,
    title: (row.querySelector('.text') || {}).textContent || '',
  }));
  const forks = [...document.querySelectorAll('#lanes path[data-edge="fork"]')].map((p) => ({
    line: Number(p.dataset.line),
    from: Number(p.dataset.from),
    to: Number(p.dataset.to),
    fromLane: Number(p.dataset.fromLane),
    toLane: Number(p.dataset.toLane),
    serving: p.dataset.serving === 'true',
  }));
  return { lanes: Number(body.dataset.lanes), servingLine: Number(body.dataset.servingLine), rows, forks, servingEdges: document.querySelectorAll('#lanes path[data-serving="true"]').length };
})()`;

async function drawn(frame: Frame): Promise<Drawn> {
  return (await frame.evaluate(READ_GRAPH)) as Drawn;
}

async function graphWith(workbench: Workbench, what: string, test: (d: Drawn) => boolean, timeoutMs = 60_000): Promise<Drawn> {
  return eventually(what, async () => {
    const frame = await workbench.webviewFrame(GRAPH).catch(() => undefined);
    if (!frame) return undefined;
    const d = await drawn(frame).catch(() => undefined);
    return d && test(d) ? d : undefined;
  }, timeoutMs);
}

/** Opens a row's menu from its ⋯ button and picks an entry. */
async function nodeMenu(workbench: Workbench, id: string, entry: string): Promise<void> {
  const frame = await workbench.webviewFrame(GRAPH);
  const row = frame.locator(`#rows .row[data-id="${id}"]`);
  await row.hover({ timeout: STEP_TIMEOUT_MS });
  await row.locator('button.more').click({ timeout: STEP_TIMEOUT_MS });
  const item = frame.locator('#menu [role="menuitem"]', { hasText: new RegExp(`^${entry}$`) });
  await item.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
  await item.click();
}

async function shot(workbench: Workbench, step: string, readmeName?: string): Promise<void> {
  if (README_SHOTS && readmeName) await workbench.screenshotTo(step, path.join(README_SHOTS, readmeName));
  else await workbench.screenshot(step);
}

describe('history graph', function () {
  this.timeout(300_000);
  let workspace: GitWorkspace;
  const ids: Record<string, string> = {};

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-graph', { settings: { 'lockstep.local.port': port } });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('sets up a database with two commits and a snapshot, and opens the graph from the Checkpoints view: one line', async () => {
    const { workbench } = e2e();
    await workbench.openViewContainer('Lockstep');
    await eventually('the "not set up" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('not set up') ? true : undefined));
    await workbench.clickWelcomeButton(VIEW, 'Start a Local Database');
    await eventually('the "no checkpoints yet" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('No checkpoints yet') ? true : undefined), 60_000);
    await sql(workspace, 'create table items (id serial primary key, name text not null)');
    await sql(workspace, "insert into items (name) values ('one')");
    workspace.commit('Add the items table', { 'migrations/001_items.sql': 'create table items (id serial primary key, name text);\n' });
    await sql(workspace, "insert into items (name) values ('two'), ('three')");
    workspace.commit('Seed three items', { 'seeds/items.sql': "insert into items (name) values ('one'), ('two'), ('three');\n" });
    await eventually('both commits in the tree', async () => ((await workbench.treeRows(VIEW))[0] === 'Seed three items' ? true : undefined), 30_000);
    await sql(workspace, "insert into items (name) values ('four')");
    lockstep(workspace, 'snapshot', '-m', 'before the bulk rename');
    await sql(workspace, "update items set name = upper(name)");
    const all = listed(workspace);
    assert.deepEqual(all.map((c) => c.kind), ['snapshot', 'commit', 'commit']);
    ids.snapshot = all[0]!.id;
    ids.seed = all[1]!.id;
    ids.add = all[2]!.id;

    // The view's title button (a container with one view shows its actions in the sidebar's title bar).
    await workbench.page.locator('[id="workbench.parts.sidebar"] a.action-label[aria-label^="Show History Graph"]').first().click({ timeout: STEP_TIMEOUT_MS });
    const d = await graphWith(workbench, 'the graph with three checkpoints', (g) => g.rows.length === 3);
    assert.equal(d.lanes, 1);
    assert.equal(d.servingLine, 0);
    assert.deepEqual(d.rows.map((r) => r.id), [ids.snapshot, ids.seed, ids.add]);
    assert.deepEqual(d.rows.map((r) => r.title), ['before the bulk rename', 'Seed three items', 'Add the items table']);
    assert.equal(d.forks.length, 0);
    assert.equal(d.servingEdges, 2, 'the one line serves: both its strokes are highlighted');
    await workbench.screenshot('graph one line');
  });

  it('follows two restores and an undo as they happen: a line per restore, forked from its target, the serving line leftmost', async () => {
    const { workbench } = e2e();
    // The first restore, from a terminal: the graph updates by itself.
    lockstep(workspace, 'restore', ids.add!, '--data-only', '--yes');
    assert.equal(await names(workspace), 'one');
    await graphWith(workbench, 'the first restore', (g) => g.rows.some((r) => r.kind === 'restore' && r.forkFrom === ids.add));
    await sql(workspace, "insert into items (name) values ('five')");
    lockstep(workspace, 'snapshot', '-m', 'after the first restore');
    // The second restore, to the snapshot.
    lockstep(workspace, 'restore', ids.snapshot!, '--data-only', '--yes');
    assert.equal(await names(workspace), 'one,two,three,four');
    const second = await graphWith(workbench, 'the second restore', (g) => g.rows.filter((r) => r.kind === 'restore').length === 2);
    const undoPoint = second.rows.find((r) => r.undo && r.line === second.rows.find((x) => x.forkFrom === ids.add)!.line)!;
    assert.ok(undoPoint, 'the line the second restore left ends at its undo point');

    // The undo, from the graph's own menu: Restore on the undo point, through the preview and the modal.
    await workbench.clearNotifications();
    await nodeMenu(workbench, undoPoint.id, 'Restore');
    // The palette's question: what to restore.
    const choices = await eventually('the restore choices', async () => {
      const shown = (await workbench.quickItems()).map((label) => label.trim()).filter((label) => ['Code and Data', 'Data Only', 'Code Only'].includes(label));
      return shown.length === 3 ? shown : undefined;
    });
    assert.deepEqual(choices, ['Code and Data', 'Data Only', 'Code Only']);
    await workbench.pickQuickItem('Code and Data');
    assert.match(await workbench.dialogMessage(), /^Restore code and data to “/);
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored/).waitFor({ state: 'visible', timeout: 120_000 });
    assert.equal(await names(workspace), 'one,five');
    await workbench.clearNotifications();

    const d = await graphWith(workbench, 'the undo in the graph', (g) => g.rows.filter((r) => r.kind === 'restore').length === 3);
    const restores = d.rows.filter((r) => r.kind === 'restore');
    // Newest first: the undo (from the undo point), the restore to the snapshot, the restore to the first commit.
    assert.deepEqual(restores.map((r) => r.forkFrom), [undoPoint.id, ids.snapshot, ids.add]);
    assert.match(restores[0]!.title, /^Undid the restore of 'before the bulk rename'$/);
    assert.equal(restores[2]!.title, "Restored 'Add the items table'");
    // Four lines; the serving one is the newest, drawn in column 0 and marked.
    assert.equal(d.servingLine, 3);
    assert.equal(restores[0]!.line, 3);
    assert.equal(restores[0]!.lane, 0);
    // Serving, or "descends from" once the database has written anything since (its own upkeep included).
    assert.ok(restores[0]!.serving || restores[0]!.descends, 'the restore row that began the serving line carries the serving mark');
    assert.equal(d.rows.filter((r) => r.serving || r.descends).length, 1);
    // The undo went back to the line it had left: the same column, a straight stroke; the other two lines each take a column.
    const firstRestoreLine = restores[2]!.line;
    assert.equal(d.rows.find((r) => r.id === undoPoint.id)!.lane, 0);
    assert.equal(d.lanes, 3);
    assert.deepEqual(d.rows.filter((r) => r.undo).length, 3, 'each restore left an undo point');
    // Fork points: a fork stroke ends at its target's row, in the target's column.
    const rowOf = (id: string): number => d.rows.findIndex((r) => r.id === id);
    const forkTo = (line: number) => d.forks.find((f) => f.line === line)!;
    assert.equal(forkTo(firstRestoreLine).to, rowOf(ids.add!));
    assert.equal(forkTo(firstRestoreLine).toLane, d.rows[rowOf(ids.add!)]!.lane);
    assert.equal(forkTo(restores[1]!.line).to, rowOf(ids.snapshot!));
    assert.equal(forkTo(3).to, rowOf(undoPoint.id));
    assert.ok(forkTo(3).serving, 'the serving line’s fork is highlighted');
    assert.ok(d.forks.filter((f) => f.fromLane !== f.toLane).length >= 2, 'two forks curve into another column');
    await shot(workbench, 'graph after two restores and an undo');
  });

  it('pins a checkpoint from a node’s ⋯ menu, and the graph marks it', async () => {
    const { workbench } = e2e();
    await nodeMenu(workbench, ids.seed!, 'Pin');
    await graphWith(workbench, 'the pin mark', (g) => g.rows.some((r) => r.id === ids.seed && r.pinned), 60_000);
    const pins = JSON.parse(fs.readFileSync(path.join(workspace.dir, '.git', 'lockstep', 'pins.json'), 'utf8')) as { pins: { checkpointId: string }[] };
    assert.deepEqual(pins.pins.map((p) => p.checkpointId), [ids.seed]);
    await workbench.clearNotifications();
    const frame = await workbench.webviewFrame(GRAPH);
    await frame.locator(`#rows .row[data-id="${ids.seed}"] .badge.pinned`).waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await workbench.page.mouse.move(5, 5);
    await shot(workbench, 'history graph', 'history-graph.png');
  });

  it('opens the node menu from the keyboard, and Preview opens the restore preview', async () => {
    const { workbench } = e2e();
    const frame = await workbench.webviewFrame(GRAPH);
    await frame.locator('#scroller').focus();
    await frame.locator('#scroller').press('End');
    const last = await frame.locator('#rows .row.selected').getAttribute('data-id');
    assert.equal(last, ids.add, 'End selects the oldest row');
    await frame.locator('#scroller').press('Shift+F10');
    const items = frame.locator('#menu [role="menuitem"]');
    await items.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    assert.deepEqual((await items.allTextContents()).map((t) => t.trim()), ['Preview', 'Restore', 'Restore This Table…', 'Pin', 'Copy Checkpoint Id']);
    assert.equal(await frame.evaluate('document.activeElement && document.activeElement.textContent'), 'Preview', 'the menu takes the focus');
    await shot(workbench, 'graph node menu');
    await frame.locator('#menu').press('Escape');
    await frame.locator('#menu').waitFor({ state: 'hidden', timeout: STEP_TIMEOUT_MS });
    // Right click opens the same menu; Preview shows what a restore would change.
    await frame.locator(`#rows .row[data-id="${ids.snapshot}"]`).click({ button: 'right' });
    await frame.locator('#menu [role="menuitem"]', { hasText: /^Preview$/ }).click({ timeout: STEP_TIMEOUT_MS });
    const text = await eventually('the restore preview', async () => {
      const shown = await workbench.webviewText('restore-preview', 60_000).catch(() => '');
      return shown.includes('Restore preview') ? shown : undefined;
    }, 90_000);
    assert.match(text, /before the bulk rename/);
    await workbench.screenshot('graph preview');
  });
});
