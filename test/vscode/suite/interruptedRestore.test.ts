// Extension-host tests: a restore killed in a terminal (the real CLI, LOCKSTEP_FAULT) is found by the extension and finished or reverted by its commands.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import type { LockstepInternals } from '../../../src/extension/container';
import type { SettledRestore } from '../../../src/extension/commands/settle';
import type { RestoreInProgress } from '../../../src/extension/interruptedRestore';
import { commit, eventually, freePort, git, internals, labelOf, lockstep, workspaceDir } from './support';

describe('interrupted restore', function () {
  // Restores are point-in-time recoveries: seconds each.
  this.timeout(180_000);
  let api: LockstepInternals;
  let dir: string;
  let record: string;
  let one: string;
  let three: string;

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

  const things = async (): Promise<number> => Number((await query<{ n: string }>('select count(*) as n from settle_things'))[0]!.n);

  /**
   * `lockstep restore REF --yes` in a terminal, killed (SIGKILL) at the named
   * step by the CLI's test hook. Asynchronous, so that the extension host goes
   * on running (and watching) while the restore runs.
   */
  async function killedRestore(ref: string, fault: string): Promise<void> {
    const cli = path.join(lockstep().extensionPath, 'dist', 'cli.js');
    const child = spawn(process.execPath, [cli, 'restore', ref, '--yes'], { cwd: dir, env: { ...process.env, ELECTRON_RUN_AS_NODE: '1', LOCKSTEP_FAULT: fault } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const signal = await new Promise<NodeJS.Signals | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (_code, killedBy) => resolve(killedBy));
    });
    assert.equal(signal, 'SIGKILL', `the restore was not killed at ${fault}:\n${output}`);
    assert.ok(fs.existsSync(record), 'the killed restore left no record');
  }

  /** What the extension shows once it notices the restore's process is gone (its poll, not a refresh by hand). */
  function interrupted(): Promise<RestoreInProgress> {
    return eventually('the extension to see the restore as interrupted', () => {
      const found = api.restoreInProgress();
      return found && !found.ownerAlive ? found : undefined;
    });
  }

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    record = path.join(dir, '.git', 'lockstep', 'restore-in-progress.json');
    // Alone (--grep) the repository is not set up yet; after the other suites its database is stopped.
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    await query('create table settle_things (id serial primary key, name text)');
    await query("insert into settle_things (name) values ('one')");
    one = commit(dir, 'Things: one', { 'things.txt': 'one\n' });
    await eventually('the checkpoint of "Things: one"', async () => (await api.checkpointRows()).some((item) => labelOf(item) === 'Things: one') || undefined);
    await query("insert into settle_things (name) values ('two'), ('three')");
    three = commit(dir, 'Things: three', { 'things.txt': 'one\ntwo\nthree\n' });
    await eventually('the checkpoint of "Things: three"', async () => (await api.checkpointRows()).some((item) => labelOf(item) === 'Things: three') || undefined);
  });

  after(async () => {
    await vscode.commands.executeCommand('lockstep.stopDatabase', { rethrow: false });
  });

  it('finishes a restore killed past the point of no return (at the checkout) with Continue', async () => {
    await killedRestore(one, 'checkout:kill');
    // Half-done: the data is the target's, the code is not.
    assert.equal(git(dir, 'rev-parse', 'HEAD'), three);
    assert.equal(await things(), 1);

    const found = await interrupted();
    assert.equal(found.step, 'checking-out');
    assert.equal(found.canContinue, true);
    assert.equal(found.defaultAction, 'continue');
    assert.equal(found.target.commitSha, one);

    const settled = await vscode.commands.executeCommand<SettledRestore>('lockstep.continueInterruptedRestore', { rethrow: true });
    assert.equal(settled.outcome.ok, true, settled.message);
    assert.equal(settled.outcome.action, 'continue');
    assert.ok(!fs.existsSync(record), 'the record is still there');
    // Paired again: the commit checked out, the data at it.
    assert.equal(git(dir, 'rev-parse', 'HEAD'), one);
    assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), `lockstep/restore-${one.slice(0, 7)}`);
    assert.equal(fs.readFileSync(path.join(dir, 'things.txt'), 'utf8'), 'one\n');
    assert.equal(await things(), 1);
    assert.match(settled.message, /^Lockstep finished the restore to “Things: one”, which had been interrupted while checking out the code/);
    assert.match(settled.message, /HEAD is on lockstep\/restore-/);
    await eventually('the status to drop the interrupted restore', () => (api.restoreInProgress() === undefined ? true : undefined));
  });

  it('reverts a restore killed before the point of no return (while recovering) with Abort, and refuses Continue', async () => {
    const branch = git(dir, 'rev-parse', '--abbrev-ref', 'HEAD');
    await killedRestore(three, 'replay:kill');
    assert.equal(git(dir, 'rev-parse', 'HEAD'), one);
    assert.equal(await things(), 1);

    const found = await interrupted();
    assert.equal(found.step, 'recovering');
    assert.equal(found.canContinue, false);
    assert.equal(found.defaultAction, 'abort');

    await assert.rejects(async () => vscode.commands.executeCommand('lockstep.continueInterruptedRestore', { rethrow: true }), /can only be reverted/);
    assert.ok(fs.existsSync(record), 'a refused Continue touched the record');

    const settled = await vscode.commands.executeCommand<SettledRestore>('lockstep.abortInterruptedRestore', { rethrow: true });
    assert.equal(settled.outcome.ok, true, settled.message);
    assert.equal(settled.outcome.action, 'abort');
    assert.ok(!fs.existsSync(record), 'the record is still there');
    // As before the killed restore: code and data.
    assert.equal(git(dir, 'rev-parse', 'HEAD'), one);
    assert.equal(git(dir, 'rev-parse', '--abbrev-ref', 'HEAD'), branch);
    assert.equal(await things(), 1);
    assert.match(settled.message, /^Lockstep reverted the restore to “Things: three”, which had been interrupted while recovering the database/);
    assert.match(settled.message, /Everything was put back as it was \(checked\)/);
  });

  it('says so when there is nothing to settle', async () => {
    await assert.rejects(async () => vscode.commands.executeCommand('lockstep.abortInterruptedRestore', { rethrow: true }), /no restore is in progress/);
  });
});
