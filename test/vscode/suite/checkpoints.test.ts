// Extension-host tests against a real local Postgres: set-up, the tree after a terminal commit, Take Snapshot, Restore and its undo.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import type { Checkpoint } from '../../../src/core/checkpoint';
import type { RestoreResult } from '../../../src/core/restore';
import type { InitResult } from '../../../src/core/setup';
import type { LockstepInternals } from '../../../src/extension/container';
import { commit, eventually, freePort, git, internals, labelOf, lockstep, workspaceDir } from './support';

describe('checkpoints in a repository with a local database', function () {
  // initdb, a base backup, and restores (each a point-in-time recovery) take seconds each.
  this.timeout(120_000);
  let api: LockstepInternals;
  let dir: string;
  let initialised = false;

  async function rows(): Promise<vscode.TreeItem[]> {
    return api.checkpointRows();
  }

  /** The database URL, through the command a person uses (it goes to the clipboard). */
  async function databaseUrl(): Promise<string> {
    await vscode.commands.executeCommand('lockstep.copyConnectionString', { rethrow: true });
    const url = await vscode.env.clipboard.readText();
    assert.match(url, /^postgresql:\/\/lockstep:[^@]+@127\.0\.0\.1:\d+\/app$/);
    return url;
  }

  async function query<T>(sql: string): Promise<T[]> {
    const client = new Client({ connectionString: await databaseUrl() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  async function itemCount(): Promise<number> {
    return Number((await query<{ n: string }>('select count(*) as n from items'))[0]!.n);
  }

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    const port = await freePort();
    const result = await vscode.commands.executeCommand<InitResult>('lockstep.initialize', { port, rethrow: true });
    initialised = true;
    assert.equal(result.config.engine, 'local');
    assert.equal(result.config.local?.port, port);
  });

  after(async () => {
    // Stop the database even when a test failed; the harness stops any it still finds afterwards.
    if (initialised) await vscode.commands.executeCommand('lockstep.stopDatabase', { rethrow: false });
  });

  it('set the repository up with the hook running this extension’s CLI', () => {
    assert.ok(fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json')));
    const hook = fs.readFileSync(path.join(dir, '.git', 'hooks', 'post-commit'), 'utf8');
    assert.ok(hook.includes(path.join(lockstep().extensionPath, 'dist', 'cli.js')), `the hook does not run this extension's CLI:\n${hook}`);
    assert.ok(hook.includes(process.execPath), `the hook does not run the extension host's own program ${process.execPath}`);
  });

  it('shows a commit made from a terminal in the tree, by itself', async () => {
    // Only the journal watcher fires this event: the row must be there when it does, with nothing refreshed by hand.
    let shown: vscode.TreeItem | undefined;
    const listener = api.onDidChangeCheckpoints(async () => {
      shown ??= (await rows()).find((item) => labelOf(item) === 'Add the items table');
    });
    let sha: string;
    try {
      sha = commit(dir, 'Add the items table', { 'migrations/001_items.sql': 'create table items (id serial primary key, name text);\n' });
      await eventually('a refresh by the journal watcher that shows the commit', () => shown);
    } finally {
      listener.dispose();
    }
    const row = shown!;
    // Short enough for the default sidebar width: the time first, the sha in the tooltip.
    assert.match(String(row.description), /^(just now|\d+ minutes? ago)/);
    assert.ok(row.tooltip instanceof vscode.MarkdownString && row.tooltip.value.includes(sha.slice(0, 7)), 'the tooltip names the commit');
    assert.match(String(row.contextValue), /^checkpoint:restorable:commit/);
    assert.ok(row.tooltip instanceof vscode.MarkdownString && /LSN/.test(row.tooltip.value), 'the tooltip names the LSN');
  });

  it('adds a checkpoint with Take Snapshot', async () => {
    const before = (await rows()).length;
    const checkpoint = await vscode.commands.executeCommand<Checkpoint>('lockstep.takeSnapshot', { label: 'before the seed', rethrow: true });
    assert.equal(checkpoint.kind, 'snapshot');
    const after = await eventually('the snapshot row on top', async () => {
      const now = await rows();
      return labelOf(now[0]!) === 'before the seed' ? now : undefined;
    });
    assert.equal(after.length, before + 1);
  });

  it('copies a checkpoint’s LSN, compares it with now, and deletes it from the list', async () => {
    const snapshot = (await rows()).find((item) => labelOf(item) === 'before the seed');
    assert.ok(snapshot, 'no snapshot row');
    const id = String(snapshot.id).replace(/^checkpoint:/, '');
    const lsn = await vscode.commands.executeCommand<string>('lockstep.copyLsn', { id, rethrow: true });
    assert.match(lsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(await vscode.env.clipboard.readText(), lsn);

    const head = git(dir, 'rev-parse', 'HEAD');
    const preview = await vscode.commands.executeCommand<{ target: { id: string }; mode: string; blockers: unknown[] }>('lockstep.compareWithCurrent', { ref: id, rethrow: true });
    assert.equal(preview.target.id, id);
    assert.deepEqual(preview.blockers, []);
    assert.equal(git(dir, 'rev-parse', 'HEAD'), head, 'a preview changed HEAD');

    assert.equal(await vscode.commands.executeCommand('lockstep.deleteCheckpoint', { id, answer: 'Cancel', rethrow: true }), false);
    assert.equal(await vscode.commands.executeCommand('lockstep.deleteCheckpoint', { id, answer: 'Delete', rethrow: true }), true);
    assert.ok(!(await rows()).some((item) => labelOf(item) === 'before the seed'), 'the deleted snapshot is still listed');
  });

  describe('restore', () => {
    let first: string;
    let second: string;
    let restored: RestoreResult;

    before(async () => {
      await query('create table items (id serial primary key, name text)');
      await query("insert into items (name) values ('one')");
      first = commit(dir, 'One item', { 'items.txt': 'one\n' });
      await eventually('the checkpoint of "One item"', async () => (await rows()).some((item) => labelOf(item) === 'One item') || undefined);
      await query("insert into items (name) values ('two'), ('three')");
      second = commit(dir, 'Three items', { 'items.txt': 'one\ntwo\nthree\n' });
      await eventually('the checkpoint of "Three items"', async () => (await rows()).some((item) => labelOf(item) === 'Three items') || undefined);
      assert.equal(await itemCount(), 3);
    });

    it('changes nothing when the confirmation is cancelled', async () => {
      const result = await vscode.commands.executeCommand<RestoreResult | undefined>('lockstep.restoreCheckpoint', { ref: first, answer: 'Cancel', rethrow: true });
      assert.equal(result, undefined);
      assert.equal(git(dir, 'rev-parse', 'HEAD'), second);
      assert.equal(await itemCount(), 3);
    });

    it('brings the data and the commit back when confirmed', async () => {
      const result = await vscode.commands.executeCommand<RestoreResult>('lockstep.restoreCheckpoint', { ref: first, answer: 'Restore', rethrow: true });
      assert.ok(result, 'the restore returned nothing');
      restored = result;
      assert.equal(result.mode, 'both');
      assert.ok(result.undo, 'no pre-restore checkpoint was taken');
      assert.equal(git(dir, 'rev-parse', 'HEAD'), first);
      assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), `lockstep/restore-${first.slice(0, 7)}`);
      assert.equal(fs.readFileSync(path.join(dir, 'items.txt'), 'utf8'), 'one\n');
      assert.equal(await itemCount(), 1);
      const serving = await eventually('the restored checkpoint marked as serving', async () => (await rows()).find((item) => /:serving$/.test(String(item.contextValue))));
      assert.equal(labelOf(serving), 'One item');
      // The restore used up the prepared copy of the newest base backup; the background upkeep makes the next one.
      const local = path.join(dir, '.git', 'lockstep', 'local');
      await eventually('a new prepared copy from the background upkeep', async () => fs.readdirSync(local).find((n) => n.startsWith('prepared-')), 60_000);
    });

    it('is undone by restoring its pre-restore checkpoint', async () => {
      const result = await vscode.commands.executeCommand<RestoreResult>('lockstep.restoreCheckpoint', { ref: restored.undo!.id, answer: 'Restore', rethrow: true });
      assert.ok(result);
      assert.equal(git(dir, 'rev-parse', 'HEAD'), second);
      assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), 'main', 'the undo did not go back to the branch it came from');
      assert.equal(await itemCount(), 3);
    });
  });

  describe('settings', () => {
    afterEach(async () => {
      await vscode.workspace.getConfiguration('lockstep').update('checkpointsKept', undefined, vscode.ConfigurationTarget.Global);
    });

    it('reach the repository’s configuration only when applied', async () => {
      const file = path.join(dir, '.git', 'lockstep', 'config.json');
      const keep = (): number => (JSON.parse(fs.readFileSync(file, 'utf8')) as { keep: number }).keep;
      const before = keep();
      // User settings, so that the work tree stays clean.
      await vscode.workspace.getConfiguration('lockstep').update('checkpointsKept', before + 27, vscode.ConfigurationTarget.Global);
      assert.equal(keep(), before, 'a changed setting rewrote config.json without being applied');
      const applied = await vscode.commands.executeCommand<{ what: string; setting: string }[]>('lockstep.applySettings', { rethrow: true });
      assert.deepEqual(applied.map((d) => [d.what, d.setting]), [['checkpoints kept', String(before + 27)]]);
      assert.equal(keep(), before + 27);
    });
  });
});
