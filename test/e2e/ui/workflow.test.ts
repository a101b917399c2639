// UI tests of the whole Lockstep workflow in Chromium: set-up from the welcome view, terminal commits in the tree, the status-bar snapshot, Restore from the palette.
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

/** `lockstep …` in the workspace, as a person would run it in a terminal. */
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

async function itemCount(workspace: GitWorkspace): Promise<number> {
  return Number((await sql<{ n: string }>(workspace, 'select count(*) as n from items'))[0]!.n);
}

async function rowsWith(workbench: Workbench, what: string, test: (rows: string[]) => boolean): Promise<string[]> {
  return eventually(what, async () => {
    const rows = await workbench.treeRows(VIEW);
    return test(rows) ? rows : undefined;
  }, 30_000);
}

describe('Lockstep workflow', function () {
  // A local Postgres is created, and each restore is a point-in-time recovery.
  this.timeout(120_000);
  let workspace: GitWorkspace;
  let port: number;
  let first: string;
  let second: string;

  before(async () => {
    port = await freePort();
    // The port reaches the extension as a workspace setting, which Initialize reads.
    workspace = await e2e().openNewWorkspace('ui-workflow', { settings: { 'lockstep.local.port': port } });
  });

  after(() => {
    // Stop the database whatever happened; the harness stops any it still finds afterwards.
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('offers the set-up in the Lockstep view and starts a local database from it', async () => {
    const { workbench } = e2e();
    await workbench.openViewContainer('Lockstep');
    // Wide enough for "sha · time · serving" after the labels.
    await workbench.resizeSidebar(460);
    await eventually('the "not set up" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('not set up') ? true : undefined));
    await workbench.screenshot('welcome not set up');
    await workbench.clickWelcomeButton(VIEW, 'Start a Local Database');
    await eventually('the "no checkpoints yet" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('No checkpoints yet') ? true : undefined), 60_000);
    const config = JSON.parse(fs.readFileSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'), 'utf8')) as { engine: string; local: { port: number } };
    assert.equal(config.engine, 'local');
    assert.equal(config.local.port, port, 'Initialize did not take the port from the workspace setting');
    await workbench.screenshot('set up no checkpoints yet');
  });

  it('shows commits made in a terminal, newest first, with sha and time', async () => {
    const { workbench } = e2e();
    await sql(workspace, 'create table items (id serial primary key, name text)');
    await sql(workspace, "insert into items (name) values ('one')");
    first = workspace.commit('Add the items table', { 'migrations/001_items.sql': 'create table items (id serial primary key, name text);\n' });
    await rowsWith(workbench, 'the first commit in the tree', (rows) => rows[0] === 'Add the items table');
    await sql(workspace, "insert into items (name) values ('two'), ('three')");
    second = workspace.commit('Seed three items', { 'seeds/items.sql': "insert into items (name) values ('one'), ('two'), ('three');\n" });
    const rows = await rowsWith(workbench, 'the second commit on top', (all) => all[0] === 'Seed three items');
    assert.deepEqual(rows, ['Seed three items', 'Add the items table']);
    const descriptions = await workbench.treeRowDescriptions(VIEW);
    // Short for the default sidebar width: the time first; the sha is in the tooltip (the last test hovers it).
    assert.match(descriptions[0] ?? '', /^(just now|\d+ minutes? ago)/);
    assert.match(descriptions[1] ?? '', /^(just now|\d+ minutes? ago)/);
    await workbench.screenshot('checkpoints tree');
  });

  it('takes a labelled snapshot from the status bar', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    const tooltip = await workbench.statusBarTooltip('Snapshot');
    assert.match(tooltip, /local/);
    assert.match(tooltip, /LSN/);
    assert.match(tooltip, /Seed three items/, 'the tooltip names the last checkpoint');
    await workbench.screenshot('status bar tooltip');
    await workbench.page.mouse.move(700, 400);
    await workbench.clickStatusBarItem('Snapshot');
    await workbench.answerInput('before the risky migration');
    const rows = await rowsWith(workbench, 'the snapshot on top', (all) => all[0] === 'before the risky migration');
    assert.equal(rows.length, 3);
    await workbench.screenshot('snapshot in tree');
  });

  it('takes nothing on Escape and an unlabelled snapshot on Enter', async () => {
    const { workbench } = e2e();
    await workbench.clickStatusBarItem('Snapshot');
    await workbench.cancelQuickInput();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal((await workbench.treeRows(VIEW)).length, 3, 'Escape took a snapshot');
    await workbench.clickStatusBarItem('Snapshot');
    await workbench.answerInput('');
    const rows = await rowsWith(workbench, 'the unlabelled snapshot on top', (all) => all.length === 4);
    assert.equal(rows[0], 'Snapshot');
  });

  it('compares a checkpoint with now from its context menu', async () => {
    const { workbench } = e2e();
    await workbench.treeRowMenu('Add the items table', 'Compare with Current', VIEW);
    // A readable page (rendered, following the theme), not Markdown source.
    const text = await eventually('the restore preview', async () => {
      const shown = await workbench.webviewText('restore-preview', 60_000).catch(() => '');
      return shown.includes('Restore preview') && shown.includes('items') ? shown : undefined;
    }, 60_000);
    assert.doesNotMatch(text, /^# /m, 'the preview shows Markdown source');
    assert.match(text, /items\s+2 inserted \(by id\)\s+2 rows inserted since removed\s+3\s+1/, 'the preview gives the exact rows since the checkpoint');
    assert.match(text, /seeds\/items\.sql/, 'the preview lists the changed files');
    await workbench.screenshot('compare with current');
  });

  it('restores from the palette through the preview and the modal, and checks out the commit', async () => {
    const { workbench } = e2e();
    await workbench.runCommand('Lockstep: Restore Checkpoint…');
    await workbench.pickQuickItem('Add the items table');
    // What to restore: the tree is clean, so Code and Data comes first.
    const choices = await eventually('the restore choices', async () => {
      // The rows' details are labels too: only the three choices, in their order.
      const shown = (await workbench.quickItems()).map((label) => label.trim()).filter((label) => ['Code and Data', 'Data Only', 'Code Only'].includes(label));
      return shown.length === 3 ? shown : undefined;
    });
    assert.deepEqual(choices, ['Code and Data', 'Data Only', 'Code Only']);
    await workbench.pickQuickItem('Code and Data');
    const message = await workbench.dialogMessage();
    assert.equal(message, 'Restore code and data to “Add the items table”?');
    const detail = await workbench.dialogDetail();
    assert.match(detail, /items: 2 rows inserted since removed/, 'the confirmation gives exact counts');
    assert.match(detail, new RegExp(`checks out ${first.slice(0, 7)}`));
    assert.ok((await workbench.editorTabs()).some((tab) => tab.includes('Restore preview · Add the items table')), 'the preview is open behind the modal');
    await workbench.screenshot('restore preview and confirmation');
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored code and data to “Add the items table”/).waitFor({ state: 'visible', timeout: 60_000 });
    await workbench.screenshot('restored');
    assert.equal(workspace.head(), first);
    assert.equal(workspace.git('rev-parse', '--abbrev-ref', 'HEAD'), `lockstep/restore-${first.slice(0, 7)}`);
    assert.equal(await itemCount(workspace), 1);
    // The preview described the restore that just happened: it closes rather than go stale.
    await eventually('the preview to close', async () => ((await workbench.editorTabs()).some((tab) => tab.includes('Restore preview')) ? undefined : true));
  });

  it('undoes the restore from the result notification', async () => {
    const { workbench } = e2e();
    await workbench.clickNotificationButton(/Restored code and data to “Add the items table”/, 'Undo Restore');
    await workbench.notification(/Restored code and data to “Before restoring/).waitFor({ state: 'visible', timeout: 60_000 });
    assert.equal(workspace.head(), second);
    assert.equal(workspace.git('rev-parse', '--abbrev-ref', 'HEAD'), 'main');
    assert.equal(await itemCount(workspace), 3);
    await workbench.screenshot('undone');
  });

  it('shows a checkpoint’s timeline, LSN, author and files on hover', async () => {
    const { workbench } = e2e();
    await workbench.runCommand('View: Close All Editors');
    await workbench.clearNotifications();
    const text = await workbench.hoverText(workbench.treeRow('Add the items table', VIEW));
    for (const part of ['Timeline', 'LSN', 'Files changed', 'Engine', 'Lockstep Tests', first.slice(0, 7)]) assert.ok(text.includes(part), `the tooltip lacks ${part}:\n${text}`);
    await workbench.screenshot('checkpoint tooltip');
  });
});
