// Another program takes the app's port in the middle of the cut-over (after the old server stopped): bounded retry, then the truth —
// nothing claimed "put back" that is not, the old data directory intact and ready to start, and the next command puts it back.

import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { isLockstepError } from '../../src/base/errors';
import { silentLog } from '../../src/base/log';
import { Project } from '../../src/core/project';
import { ENGINES } from '../../src/engines';
import { restore, settleInterruptedRestore } from '../../src/core/restore';
import type { LocalEngine } from '../../src/engines/local/engine';
import { explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql } from '../support/fingerprint';

describe('restore: the port taken during the cut-over', function () {
  this.timeout(300_000);
  let repo: LockstepRepo;
  let project: Project;
  before(async () => {
    repo = await initRepo();
    project = await Project.open(repo.dir, { log: silentLog, secrets: { get: async () => undefined }, engines: ENGINES });
  });
  after(async () => {
    await project?.close();
    await repo?.cleanup();
  });

  it('retries, then says the database is down and how to start it; the old data comes back whole', async () => {
    await sql(repo.url, "CREATE TABLE t (v text); INSERT INTO t VALUES ('target')");
    const snap = await repo.lockstep('snapshot', '-m', 'target');
    assert.equal(snap.code, 0, explain(snap));
    const target = /^(\S+) /.exec(snap.stdout)![1]!;
    await sql(repo.url, "INSERT INTO t VALUES ('acknowledged before the cut-over')");
    const before = await fingerprint(repo.url);

    // Deterministic timing: the squatter binds inside the cut-over, once the old server has stopped and
    // just before the fork starts on the app's port. The engine and its cluster are the real ones.
    const accepted = new Set<net.Socket>();
    const squatter = net.createServer((socket) => accepted.add(socket));
    const engine = (await project.engine()) as LocalEngine;
    const start = engine.cluster.start.bind(engine.cluster);
    engine.cluster.start = async (name, options) => {
      if (!squatter.listening && name !== 'data-1' && !engine.cluster.endpointOf(name).private) {
        await new Promise<void>((resolve, reject) => squatter.once('error', reject).listen(repo.port, '127.0.0.1', resolve));
      }
      return start(name, options);
    };
    let error: unknown;
    try {
      await restore(project, { ref: target });
    } catch (e) {
      error = e;
    } finally {
      engine.cluster.start = start;
    }
    const held = squatter.listening;
    for (const socket of accepted) socket.destroy();
    await new Promise((r) => squatter.close(r));
    assert.ok(held, 'the squatter held the port');
    assert.ok(isLockstepError(error), String(error));
    assert.match(error.message, /port \d+ on 127\.0\.0\.1 is used by another program/);
    assert.match(error.message, /NOT everything is back: the database is not answering.*run `lockstep db start`/s);
    assert.doesNotMatch(error.message, /Everything was put back/);

    // The next command, once the port is free, puts the old timeline back: its data whole.
    const outcome = await settleInterruptedRestore(project, 'auto');
    assert.ok(outcome, 'the restore record was left for the next command');
    assert.equal(outcome.action, 'abort');
    assert.ok(outcome.ok, outcome.summary);
    assert.match(outcome.summary, /was reverted\. Everything was put back as it was \(checked\)/);
    assert.deepEqual(await fingerprint(repo.url), before);
    const status = await repo.lockstep('status', '--json');
    assert.equal((JSON.parse(status.stdout) as { engine: { state: string } }).engine.state, 'running');
  });
});
