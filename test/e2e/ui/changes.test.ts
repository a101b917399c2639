// UI tests of seeing before leaping: the row-level changes view, a table's rows in the diff editor, Restore This Table…, Restore to a Moment… and the palette's restore choices.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { eventually, type Workbench } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const VIEW = 'Checkpoints';
/** With LOCKSTEP_README_SCREENSHOTS=1 the pictures the README shows are written to media/screenshots/ as well. */
const README_SHOTS = process.env.LOCKSTEP_README_SCREENSHOTS === '1' ? path.resolve(__dirname, '../../../media/screenshots') : undefined;

function lockstep(workspace: GitWorkspace, ...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 60_000 });
  if (run.status !== 0) throw new Error(`lockstep ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
  return run.stdout.trim();
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

async function prices(workspace: GitWorkspace): Promise<string> {
  return (await sql<{ p: string }>(workspace, "select string_agg(id || ':' || price_cents, ',' order by id) as p from products"))[0]!.p;
}

async function shot(workbench: Workbench, step: string, readmeName: string): Promise<void> {
  if (README_SHOTS) await workbench.screenshotTo(step, path.join(README_SHOTS, readmeName));
  else await workbench.screenshot(step);
}

describe('changes since a checkpoint, one-table restore and restore to a moment', function () {
  this.timeout(180_000);
  let workspace: GitWorkspace;
  let between: string;

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-changes', { settings: { 'lockstep.local.port': port } });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('sets up a shop and changes every price after a commit', async () => {
    const { workbench } = e2e();
    await workbench.openViewContainer('Lockstep');
    await workbench.resizeSidebar(400);
    await eventually('the "not set up" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('not set up') ? true : undefined));
    await workbench.clickWelcomeButton(VIEW, 'Start a Local Database');
    await eventually('the "no checkpoints yet" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('No checkpoints yet') ? true : undefined), 60_000);
    await sql(workspace, 'create table products (id int primary key, name text not null, price_cents int not null)');
    await sql(workspace, 'create table reviews (id serial primary key, product_id int references products (id), stars int)');
    await sql(workspace, "insert into products values (1, 'Widget', 1200), (2, 'Gadget', 2500), (3, 'Doohickey', 900), (4, 'Sprocket', 450)");
    await sql(workspace, 'insert into reviews (product_id, stars) values (1, 5), (2, 4)');
    workspace.commit('Add products and reviews', { 'migrations/001_shop.sql': 'create table products (id int primary key, name text, price_cents int);\n' });
    await eventually('the commit in the tree', async () => ((await workbench.treeRows(VIEW))[0] === 'Add products and reviews' ? true : undefined), 30_000);
    // How far back a restore reaches, above the rows.
    await eventually('the reach above the rows', async () => ((await workbench.sidebarView(VIEW).innerText()).match(/Restorable back to \d{2}:\d{2}\./) ? true : undefined), 30_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    between = new Date().toISOString();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // The mistake the user wants to see, then undo: every price zeroed. A review written meanwhile must survive a restore of products.
    await sql(workspace, 'update products set price_cents = 0');
    await sql(workspace, "insert into products values (5, 'Gizmo', 0)");
    await sql(workspace, 'insert into reviews (product_id, stars) values (3, 2)');
  });

  it('shows the tables that changed since the checkpoint, with exact counts, in a view that follows the theme', async () => {
    const { workbench } = e2e();
    await workbench.treeRowMenu('Add products and reviews', 'Show Changes Since Checkpoint', VIEW);
    const text = await eventually('the changes view with products', async () => {
      const shown = await workbench.webviewText('changes', 60_000).catch(() => '');
      return /products/.test(shown) && /reviews/.test(shown) ? shown : undefined;
    }, 90_000);
    assert.match(text, /Changes since “Add products and reviews”/);
    assert.match(text, /products\s+changed\s+4 rows changed, 1 inserted \(by id\)\s+4\s+1\s+0\s+4\s+5/);
    assert.match(text, /reviews\s+changed\s+1 inserted \(by id\)\s+0\s+1\s+0\s+2\s+3/);
    assert.match(text, /Exact counts/);
    await workbench.clearNotifications();
    await shot(workbench, 'changes since checkpoint', 'diff-view.png');
  });

  it('opens a table’s rows then and now in the diff editor', async () => {
    const { workbench } = e2e();
    await workbench.clickInWebview('changes', 'Show Rows', 'products');
    await eventually('the diff editor on products', async () => ((await workbench.editorTabs()).some((tab) => /^products: “Add products and reviews” ↔ now/.test(tab)) ? true : undefined), 60_000);
    const text = await eventually('the rows in the diff editor', async () => {
      const shown = await workbench.page.locator('[id="workbench.parts.editor"] .monaco-diff-editor').first().innerText().catch(() => '');
      return shown.includes('price_cents=1200') && shown.includes('price_cents=0') ? shown : undefined;
    });
    assert.match(text.replace(/\u00a0/g, ' '), /id=5 {2}name=Gizmo {2}price_cents=0/);
    await workbench.clearNotifications();
    await shot(workbench, 'rows then and now', 'diff-rows.png');
    // The diff editor is the active editor: closed, the changes view has the room again.
    await workbench.runCommand('View: Close Editor');
  });

  it('restores one table behind a modal with its exact counts, and leaves the others as they are', async () => {
    const { workbench } = e2e();
    await workbench.clickEditorTab(/^Changes since/);
    await workbench.clickInWebview('changes', 'Restore This Table…', 'products');
    assert.equal(await workbench.dialogMessage(), 'Restore the table products to “Add products and reviews”?');
    const detail = await workbench.dialogDetail();
    assert.match(detail, /products: 4 changed row\(s\) set back, 1 row\(s\) inserted since removed/);
    assert.match(detail, /Every other table stays as it is now/);
    await shot(workbench, 'restore this table', 'table-restore.png');
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored products/).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(await prices(workspace), '1:1200,2:2500,3:900,4:450');
    assert.equal(Number((await sql<{ n: string }>(workspace, 'select count(*) as n from reviews'))[0]!.n), 3, 'the review written since is gone');
    // The view compares again: products no longer differs.
    await eventually('the changes view without products', async () => {
      const shown = await workbench.webviewText('changes').catch(() => '');
      return /reviews/.test(shown) && !/products\s+changed/.test(shown) ? true : undefined;
    }, 60_000);
    await workbench.screenshot('table restored');
  });

  it('restores the data to a moment typed in the palette, checked as it is typed', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    await sql(workspace, 'update products set name = upper(name)');
    await workbench.runCommand('Lockstep: Restore to a Moment…');
    await workbench.typeInput('next tuesday');
    const problem = await eventually('the input box to refuse', async () => {
      const message = await workbench.inputValidation();
      return /is not a moment/.test(message) ? message : undefined;
    });
    assert.match(problem, /10 minutes ago/, 'the refusal gives examples');
    await workbench.typeInput('5 minutes ago');
    await eventually('the input box to accept', async () => ((await workbench.inputValidation()).includes('Restores the data to') ? true : undefined));
    // The pointer off the input box, so that no hover covers its title.
    await workbench.page.mouse.move(700, 650);
    await shot(workbench, 'restore to a moment', 'restore-to-moment.png');
    await workbench.answerInput(between);
    assert.equal(await workbench.dialogMessage(), `Restore data only to “the moment ${between}”?`);
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored data only/).waitFor({ state: 'visible', timeout: 60_000 });
    const names = (await sql<{ n: string }>(workspace, "select string_agg(name, ',' order by id) as n from products"))[0]!.n;
    assert.equal(names, 'Widget,Gadget,Doohickey,Sprocket');
    assert.equal(Number((await sql<{ n: string }>(workspace, 'select count(*) as n from reviews'))[0]!.n), 2, 'the moment is before the third review');
  });

  it('offers Data Only first in the palette’s restore while files are uncommitted', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    fs.writeFileSync(path.join(workspace.dir, 'notes.txt'), 'work in progress\n');
    await workbench.runCommand('Lockstep: Restore Checkpoint…');
    await workbench.pickQuickItem('Add products and reviews');
    const items = await eventually('the restore choices', async () => {
      // The rows' details are labels too: only the three choices, in their order.
      const shown = (await workbench.quickItems()).map((label) => label.trim()).filter((label) => ['Code and Data', 'Data Only', 'Code Only'].includes(label));
      return shown.length === 3 ? shown : undefined;
    });
    assert.deepEqual(items, ['Data Only', 'Code and Data', 'Code Only']);
    await workbench.screenshot('restore choices with a dirty tree');
    await workbench.cancelQuickInput();
  });
});
