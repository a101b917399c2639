// Restore and its undo at once, over and over, while the background upkeep (base backups, prepared copies, pruning) runs: they never race.

import * as assert from 'node:assert/strict';
import { explain, initRepo, startLockstep, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

const ROUNDS = 20;

describe('cli: restore → immediate undo with the upkeep running', function () {
  this.timeout(600_000);
  let repo: LockstepRepo;
  let target: { id: string; data: Fingerprint };
  before(async () => {
    // Every restore claims the prepared copy, so the upkeep it starts has a new one to make while the undo runs.
    repo = await initRepo();
    await sql(repo.url, 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
    repo.write('app.txt', 'target\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'target');
    const checkpoint = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === repo.head());
    assert.ok(checkpoint);
    target = { id: checkpoint.id, data: await fingerprint(repo.url) };
    await sql(repo.url, "UPDATE t SET v = 'changed' WHERE id % 3 = 0; INSERT INTO t SELECT g, 'new' FROM generate_series(2001, 20000) g");
  });
  after(async () => {
    await repo?.cleanup();
  });

  it(`works ${ROUNDS} times out of ${ROUNDS}, with a forced \`db backup\` started just before every fourth restore`, async () => {
    const failures: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const before = await fingerprint(repo.url);
      const backup = round % 4 === 0 ? startLockstep(repo.dir, ['db', 'backup']) : undefined;
      if (backup) await new Promise((r) => setTimeout(r, 150));
      const restore = await repo.lockstep('restore', target.id, '--yes');
      if (restore.code !== 0) {
        failures.push(`round ${round}, restore: ${explain(restore)}`);
        await backup?.done;
        break;
      }
      assert.deepEqual(await fingerprint(repo.url), target.data, `round ${round}: the target's data`);
      const undoId = /undo: lockstep restore (\S+)/.exec(restore.stdout)?.[1];
      assert.ok(undoId, restore.stdout);
      // At once: the upkeep the restore started is working now.
      const undo = await repo.lockstep('restore', undoId, '--yes');
      if (undo.code !== 0) failures.push(`round ${round}, undo: ${explain(undo)}`);
      else assert.deepEqual(await fingerprint(repo.url), before, `round ${round}: undo brings back the data of before`);
      if (backup) {
        const result = await backup.done;
        if (result.code !== 0) failures.push(`round ${round}, db backup: ${explain(result)}`);
      }
      if (failures.length > 0) break;
    }
    assert.deepEqual(failures, []);
  });
});
