// Extension-host tests of the row-level diff view, Show Rows, Restore Tables (with foreign keys and undo), Restore to a Moment and the readable preview.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import type { RestoreResult } from '../../../src/core/restore';
import type { TableRestoreResult } from '../../../src/core/tableRestore';
import type { LockstepInternals } from '../../../src/extension/container';
import type { RowChanges } from '../../../src/extension/rowDiffText';
import { commit, eventually, freePort, git, internals, labelOf, workspaceDir } from './support';

describe('row changes since a checkpoint', function () {
  // Each diff recovers (or reuses) a copy of the past; each restore is a recovery too.
  this.timeout(180_000);
  let api: LockstepInternals;
  let dir: string;
  let mark: string;
  let between: string;
  let restored: TableRestoreResult;

  async function query<T>(sql: string): Promise<T[]> {
    await vscode.commands.executeCommand('lockstep.copyConnectionString', { rethrow: true });
    const client = new Client({ connectionString: await vscode.env.clipboard.readText() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  const prices = async (): Promise<string> => (await query<{ p: string }>("select string_agg(id || ':' || coalesce(price_cents::text, ''), ',' order by id) as p from shop_products"))[0]!.p;
  const orders = async (): Promise<number> => Number((await query<{ n: string }>('select count(*) as n from shop_orders'))[0]!.n);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    await query('create table shop_products (id int primary key, name text not null, price_cents int)');
    await query('create table shop_orders (id int primary key, product_id int not null references shop_products (id), qty int)');
    await query("insert into shop_products values (1, 'Widget', 1200), (2, 'Gadget', 2500), (3, 'Doohickey', 900), (4, 'Thingamajig', null)");
    await query('insert into shop_orders values (1, 1, 3)');
    commit(dir, 'Shop: four products', { 'shop.txt': 'four products\n' });
    const row = await eventually('the checkpoint of "Shop: four products"', async () => (await api.checkpointRows()).find((item) => labelOf(item) === 'Shop: four products'));
    mark = String(row.id).replace(/^checkpoint:/, '');
    await sleep(100);
    between = new Date().toISOString();
    await sleep(100);
    // What the user is undoing: every price zeroed, a product and an order on it added.
    await query('update shop_products set price_cents = 0');
    await query("insert into shop_products values (5, 'Sprocket', 0)");
    await query('insert into shop_orders values (2, 5, 1)');
    await query('create table shop_notes (id int primary key, note text)');
    await query("insert into shop_notes values (1, 'written after the checkpoint')");
  });

  after(async () => {
    await vscode.commands.executeCommand('lockstep.stopDatabase', { rethrow: false });
  });

  it('counts every table’s changed, inserted and deleted rows exactly, in the changes view', async () => {
    const changes = await vscode.commands.executeCommand<RowChanges>('lockstep.showChanges', { ref: mark, rethrow: true });
    const table = (name: string) => changes.tables.find((t) => t.schema === 'public' && t.name === name);
    assert.deepEqual(pick(table('shop_products')), { status: 'changed', changed: 4, inserted: 1, deleted: 0, key: ['id'] });
    assert.deepEqual(pick(table('shop_orders')), { status: 'changed', changed: 0, inserted: 1, deleted: 0, key: ['id'] });
    assert.equal(table('shop_notes')?.status, 'new');
    const shown = api.shownChanges();
    assert.equal(shown?.target.ref, mark, 'the view does not show the changes since the checkpoint');
    assert.match(shown.target.title, /Shop: four products/);
  });

  it('opens a table’s rows then and now in the diff editor', async () => {
    const texts = await vscode.commands.executeCommand<{ then: string; now: string }>('lockstep.showTableChanges', { ref: mark, table: 'shop_products', rethrow: true });
    assert.match(texts.then, /^id=1 {2}name=Widget {2}price_cents=1200$/m);
    assert.match(texts.then, /^id=4 {2}name=Thingamajig {2}price_cents=NULL$/m);
    assert.match(texts.now, /^id=1 {2}name=Widget {2}price_cents=0$/m);
    assert.match(texts.now, /^id=5 {2}name=Sprocket {2}price_cents=0$/m);
    assert.doesNotMatch(texts.then, /Sprocket/, 'a row inserted since shows on the left');
    const input = await eventually('the diff editor on the rows', async () => {
      const tab = vscode.window.tabGroups.all.flatMap((group) => group.tabs).find((t) => t.input instanceof vscode.TabInputTextDiff && t.input.original.scheme === 'lockstep-rows');
      return tab?.input as vscode.TabInputTextDiff | undefined;
    });
    assert.equal(input.modified.scheme, 'lockstep-rows');
    const left = await vscode.workspace.openTextDocument(input.original);
    assert.equal(left.getText(), texts.then);
  });

  it('refuses to restore a table alone when rows elsewhere point at rows that would go, and changes nothing', async () => {
    await assert.rejects(
      async () => vscode.commands.executeCommand('lockstep.restoreTables', { ref: mark, tables: ['shop_products'], answer: 'Restore', rethrow: true }),
      (error: Error) => /foreign key/.test(error.message) && /shop_orders/.test(error.message),
    );
    assert.equal(await prices(), '1:0,2:0,3:0,4:0,5:0');
  });

  it('changes nothing when the confirmation is cancelled', async () => {
    const result = await vscode.commands.executeCommand('lockstep.restoreTables', { ref: mark, tables: ['shop_products'], withDependents: true, answer: 'Cancel', rethrow: true });
    assert.equal(result, undefined);
    assert.equal(await prices(), '1:0,2:0,3:0,4:0,5:0');
  });

  it('puts the table back with the tables that depend on it, and leaves every other table as it is', async () => {
    const result = await vscode.commands.executeCommand<TableRestoreResult>('lockstep.restoreTables', {
      ref: mark,
      tables: ['shop_products'],
      answer: 'Restore',
      dependentsAnswer: 'Restore With Dependents',
      rethrow: true,
    });
    assert.ok(result, 'the table restore returned nothing');
    restored = result;
    assert.equal(await prices(), '1:1200,2:2500,3:900,4:');
    assert.equal(await orders(), 1);
    assert.deepEqual(result.dependents, ['public.shop_orders']);
    const products = result.tables.find((t) => t.name === 'public.shop_products');
    assert.deepEqual(products && { changed: products.changed, deleted: products.deleted, inserted: products.inserted }, { changed: 4, deleted: 1, inserted: 0 });
    assert.equal((await query<{ note: string }>('select note from shop_notes'))[0]?.note, 'written after the checkpoint', 'a table not chosen changed');
    assert.equal(result.undo.kind, 'pre-restore');
    // The changes view compares again by itself.
    await eventually('the changes view without the restored tables', async () => {
      const shown = api.shownChanges()?.changes.tables.find((t) => t.name === 'shop_products');
      return shown && shown.changed + shown.inserted + shown.deleted === 0 ? true : undefined;
    }, 60_000);
  });

  it('is undone by restoring the same tables to its undo point', async () => {
    const result = await vscode.commands.executeCommand<TableRestoreResult>('lockstep.restoreTables', {
      ref: restored.undo.id,
      tables: restored.tables.map((t) => t.name),
      withDependents: true,
      answer: 'Restore',
      rethrow: true,
    });
    assert.ok(result);
    assert.equal(await prices(), '1:0,2:0,3:0,4:0,5:0');
    assert.equal(await orders(), 2);
  });

  it('shows the restore preview as a readable page with exact counts', async () => {
    await vscode.commands.executeCommand('lockstep.compareWithCurrent', { ref: mark, mode: 'data-only', rethrow: true });
    const preview = api.restorePreview();
    assert.ok(preview, 'no preview is open');
    assert.match(preview.title, /^Restore preview · Shop: four products/);
    // Markdown source escapes punctuation; what it says, read without the escapes:
    const said = preview.markdown.replace(/\\(.)/g, '$1');
    assert.match(said, /\| shop_products \| 4 rows changed, 1 inserted \(by id\) \| 4 changed rows set back, 1 row inserted since removed \| 5 \| 4 \|/);
    // A page, not Markdown source: the tab is Lockstep's webview.
    await eventually('the preview’s webview tab', async () => {
      const tabs = vscode.window.tabGroups.all.flatMap((group) => group.tabs);
      return tabs.find((t) => t.label.startsWith('Restore preview') && /lockstep\.restorePreview/.test((t.input as { viewType?: string } | undefined)?.viewType ?? '')) ? true : undefined;
    });
  });

  it('restores the data to a moment between two writes, leaves the code, and closes the stale preview', async () => {
    const head = git(dir, 'rev-parse', 'HEAD');
    const result = await vscode.commands.executeCommand<RestoreResult>('lockstep.restoreToMoment', { at: between, answer: 'Restore', rethrow: true });
    assert.ok(result, 'the restore returned nothing');
    assert.equal(result.mode, 'data-only');
    assert.equal(await prices(), '1:1200,2:2500,3:900,4:');
    assert.equal(await orders(), 1);
    assert.equal(git(dir, 'rev-parse', 'HEAD'), head, 'a restore to a moment moved HEAD');
    assert.equal(api.restorePreview(), undefined, 'the preview of a restore that happened is still open');
  });

  it('refuses a moment that is not one, before anything changes', async () => {
    await assert.rejects(async () => vscode.commands.executeCommand('lockstep.restoreToMoment', { at: 'next tuesday', answer: 'Restore', rethrow: true }), /is not a moment/);
  });

  it('says how far back a restore reaches above the tree’s rows', async () => {
    await vscode.commands.executeCommand('lockstep.refresh');
    const message = await eventually('the reach above the Checkpoints rows', async () => api.checkpointsMessage());
    assert.match(message, /Restorable back to (\d+ [A-Z][a-z]{2} )?\d{2}:\d{2}\./);
  });
});

function pick(table: RowChanges['tables'][number] | undefined) {
  return table && { status: table.status, changed: table.changed, inserted: table.inserted, deleted: table.deleted, key: table.key };
}
