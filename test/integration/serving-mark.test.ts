// "serving" vs "descends from" on a real local Postgres, through the real CLI: the mark stays through what Lockstep itself
// writes (a base backup, a preview's archive switch) and moves on the app's first write, after a snapshot and after a restore.

import * as assert from 'node:assert/strict';
import { expectOk, initRepo, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';

/** The two mark places of a `lockstep list` row, by checkpoint id. */
async function marks(repo: LockstepRepo): Promise<Map<string, string>> {
  const out = expectOk(await repo.lockstep("list")).stdout;
  const rows = new Map<string, string>();
  for (const line of out.split('\n')) {
    const match = /^(..) ([0-9a-f]{12}) /.exec(line);
    if (match) rows.set(match[2]!, match[1]!);
  }
  return rows;
}

describe('cli: the serving mark (local engine)', function () {
  this.timeout(600_000);
  let repo: LockstepRepo;

  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-serving-' });
    await sql(repo.url, 'CREATE TABLE t (id int PRIMARY KEY, v text)');
    await sql(repo.url, "INSERT INTO t VALUES (1, 'a')");
  });

  after(async () => {
    await repo?.cleanup();
  });

  it('a snapshot serves through a base backup, and descends once the app writes', async () => {
    const snap = JSON.parse(expectOk(await repo.lockstep('snapshot', '-m', 'before', '--json')).stdout) as { id: string };
    assert.equal((await marks(repo)).get(snap.id)?.[0], '*', 'serving right after the snapshot');
    expectOk(await repo.lockstep('db', 'backup'), 'lockstep db backup');
    assert.equal((await marks(repo)).get(snap.id)?.[0], '*', 'a base backup is Lockstep writing, not the app');
    await sql(repo.url, "UPDATE t SET v = 'b'");
    assert.equal((await marks(repo)).get(snap.id)?.[0], '+', 'descends from it after the app wrote');
  });

  it('a restore target serves through a dry run and a base backup, and descends after a write', async () => {
    const target = (await repo.list()).find((c) => c.label === 'before')!;
    expectOk(await repo.lockstep('restore', target.id, '--yes', '--data-only'), 'lockstep restore');
    await repo.waitForUpkeep();
    assert.deepEqual(await sql(repo.url, 'SELECT v FROM t'), [{ v: 'a' }]);
    assert.equal((await marks(repo)).get(target.id)?.[0], '*', 'serving right after the restore (and its upkeep)');
    expectOk(await repo.lockstep('restore', target.id, '--dry-run'), 'lockstep restore --dry-run');
    expectOk(await repo.lockstep('db', 'backup'), 'lockstep db backup');
    assert.equal((await marks(repo)).get(target.id)?.[0], '*', 'a preview and a base backup are Lockstep writing');
    await sql(repo.url, "INSERT INTO t VALUES (2, 'c')");
    assert.equal((await marks(repo)).get(target.id)?.[0], '+', 'descends from it after the app wrote');
  });
});
