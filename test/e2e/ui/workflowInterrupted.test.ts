// UI tests of a restore killed in a terminal: the notification that names it with Continue / Abort, the status bar, and the window that settles one on opening.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { eventually } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');

/** `lockstep …` in the workspace, as a person would run it in a terminal; `fault` kills it at a step (LOCKSTEP_FAULT). */
function lockstep(workspace: GitWorkspace, args: string[], fault?: string): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...(fault ? { LOCKSTEP_FAULT: fault } : {}) } });
  if (fault) {
    if (run.signal !== 'SIGKILL') throw new Error(`lockstep ${args.join(' ')} was not killed at ${fault} (${run.status}): ${run.stderr}`);
  } else if (run.status !== 0) throw new Error(`lockstep ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
  return run.stdout.trim();
}

async function sql<T>(workspace: GitWorkspace, text: string): Promise<T[]> {
  const client = new Client({ connectionString: lockstep(workspace, ['db', 'url']) });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

const things = async (workspace: GitWorkspace): Promise<number> => Number((await sql<{ n: string }>(workspace, 'select count(*) as n from things'))[0]!.n);

describe('interrupted restore workflow', function () {
  this.timeout(180_000);
  let workspace: GitWorkspace;
  let record: string;
  let one: string;
  let three: string;

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-interrupted');
    record = path.join(workspace.dir, '.git', 'lockstep', 'restore-in-progress.json');
    lockstep(workspace, ['init', '--port', String(port)]);
    await sql(workspace, 'create table things (id serial primary key, name text)');
    await sql(workspace, "insert into things (name) values ('one')");
    one = workspace.commit('Things: one', { 'things.txt': 'one\n' });
    await sql(workspace, "insert into things (name) values ('two'), ('three')");
    three = workspace.commit('Things: three', { 'things.txt': 'one\ntwo\nthree\n' });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('names a restore that dies while the window is open, with Continue and Abort, and finishes it on Continue', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    lockstep(workspace, ['restore', one, '--yes'], 'checkout:kill');
    const notice = workbench.notification(/was interrupted while checking out the code/);
    await notice.waitFor({ state: 'visible', timeout: 30_000 });
    const text = await notice.innerText();
    assert.match(text, /Things: one/);
    assert.match(text, /by default it is finished/);
    await eventually('the status bar saying so', async () => ((await workbench.statusBarItem('Restore Interrupted').count()) > 0 ? true : undefined));
    await workbench.screenshot('interrupted restore notification');

    await workbench.clickNotificationButton(/was interrupted while checking out the code/, 'Continue Restore');
    await workbench.notification(/Lockstep finished the restore to “Things: one”/).waitFor({ state: 'visible', timeout: 60_000 });
    await workbench.screenshot('interrupted restore finished');
    assert.ok(!fs.existsSync(record), 'the record is still there');
    assert.equal(workspace.head(), one);
    assert.equal(await things(workspace), 1);
    await eventually('the status bar back to Snapshot', async () => ((await workbench.statusBarItem('Restore Interrupted').count()) === 0 ? true : undefined));
  });

  it('reverts, on opening the window, a restore killed before the point of no return, and says so', async () => {
    const { workbench } = e2e();
    const branch = workspace.git('rev-parse', '--abbrev-ref', 'HEAD');
    lockstep(workspace, ['restore', three, '--yes'], 'replay:kill');
    assert.ok(fs.existsSync(record), 'the killed restore left no record');
    // A new window: the extension activates and finds the restore left from before.
    await workbench.page.reload();
    await workbench.waitUntilReady();
    await workbench.notification(/Lockstep reverted the restore to “Things: three”/).waitFor({ state: 'visible', timeout: 60_000 });
    const text = await workbench.notification(/Lockstep reverted the restore/).innerText();
    assert.match(text, /interrupted while recovering the database/);
    assert.match(text, /Everything was put back as it was \(checked\)/);
    await workbench.screenshot('interrupted restore reverted on activation');
    assert.ok(!fs.existsSync(record), 'the record is still there');
    assert.equal(workspace.head(), one);
    assert.equal(workspace.git('rev-parse', '--abbrev-ref', 'HEAD'), branch);
    assert.equal(await things(workspace), 1);
  });
});
