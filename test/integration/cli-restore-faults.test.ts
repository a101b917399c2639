// A restore killed (SIGKILL) or failing at each named step, through the real CLI (LOCKSTEP_FAULT, a documented test hook):
// the next lockstep command leaves code and data paired — both before, or both the target — no acknowledged write lost,
// no orphan server, fork or record, the lock free, and `status` truthful.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FAULT_STEPS, type FaultStep } from '../../src/core/faults';
import { explain, lockstep, type LockstepRepo, initRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

/** Steps after which the restore has passed its point of no return: a kill there is finished, not reverted. */
const FINISHED_AFTER_KILL: ReadonlySet<FaultStep> = new Set(['after-old-stop', 'after-new-start', 'checkout']);

interface Scenario {
  faults: string;
  /** The step whose fault decides the outcome. */
  step: FaultStep;
  kind: 'kill' | 'fail';
  expect: 'before' | 'target';
}

const SCENARIOS: Scenario[] = [
  ...FAULT_STEPS.filter((s) => s !== 'stash-reapply').flatMap((step): Scenario[] => [
    { faults: `${step}:kill`, step, kind: 'kill', expect: FINISHED_AFTER_KILL.has(step) ? 'target' : 'before' },
    { faults: `${step}:fail`, step, kind: 'fail', expect: 'before' },
  ]),
  // The stash is re-applied only while a failed restore is put back: fail the checkout first.
  { faults: 'checkout:fail,stash-reapply:kill', step: 'stash-reapply', kind: 'kill', expect: 'before' },
  { faults: 'checkout:fail,stash-reapply:fail', step: 'stash-reapply', kind: 'fail', expect: 'before' },
];

const DIRTY = 'work in progress\n';

describe('cli: a restore killed or failing at every step is settled by the next command', function () {
  this.timeout(600_000);
  let repo: LockstepRepo;
  let target: { id: string; sha: string; data: Fingerprint };
  let nextId = 1;

  before(async () => {
    repo = await initRepo();
    await sql(repo.url, 'CREATE TABLE acked (id int PRIMARY KEY); CREATE TABLE t (v text); INSERT INTO t VALUES (\'target\')');
    repo.write('app.txt', 'target\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'target');
    target = { id: '', sha: repo.head(), data: await fingerprint(repo.url) };
    target.id = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === target.sha)!.id;
    await sql(repo.url, "UPDATE t SET v = 'before'");
    repo.write('app.txt', 'before\n');
    repo.git('commit', '--quiet', '-am', 'before');
  });
  after(async () => {
    await repo?.cleanup();
  });

  for (const scenario of SCENARIOS) {
    it(`${scenario.faults} → ${scenario.expect}`, async () => {
      // An acknowledged write just before the restore, and uncommitted work it stashes.
      const ackedId = nextId++;
      await sql(repo.url, 'INSERT INTO acked VALUES ($1)', [ackedId]);
      const beforeData = await fingerprint(repo.url);
      const beforeHead = repo.head();
      const beforeBranch = repo.git('branch', '--show-current');
      repo.write('wip.txt', DIRTY);

      const failed = await lockstep(repo.dir, ['restore', target.id, '--yes', '--stash'], { env: { LOCKSTEP_FAULT: scenario.faults } });
      if (scenario.kind === 'kill') assert.equal(failed.signal, 'SIGKILL', `killed at ${scenario.step}: ${explain(failed)}`);
      else {
        assert.equal(failed.code, 1, explain(failed));
        assert.match(failed.stderr, new RegExp(`injected fault at ${scenario.step}`));
        if (scenario.step === 'stash-reapply') assert.match(failed.stderr, /NOT everything is back: the stash is not re-applied.*lockstep restore --abort/s);
        else assert.match(failed.stderr, /Everything was put back as it was \(checked\)/);
      }

      // The next command (any: `status`) settles what is left, and says so.
      const status = await repo.lockstep('status', '--json');
      assert.equal(status.code, 0, explain(status));
      const report = JSON.parse(status.stdout) as { engine: { state: string; head?: { timelineId: string } }; restoreInProgress: unknown };
      assert.equal(report.restoreInProgress, null, 'no restore left in progress');
      assert.equal(report.engine.state, 'running', `status: ${status.stdout}`);
      // A kill leaves the record; so does a put-back that is not complete (the stash): the next command finishes the job.
      if (scenario.kind === 'kill' || scenario.step === 'stash-reapply') {
        assert.match(status.stderr, scenario.expect === 'target' ? /was finished/ : /was reverted\. Everything was put back as it was \(checked\)/, explain(status));
      } else {
        assert.equal(status.stderr, '', 'a restore that put everything back leaves nothing for the next command');
      }

      // Paired: code and data both before, or both the target.
      const data = await fingerprint(repo.url);
      if (scenario.expect === 'before') {
        assert.deepEqual(data, beforeData, 'the data of before, the acknowledged write included');
        assert.equal(repo.head(), beforeHead);
        assert.equal(repo.git('branch', '--show-current'), beforeBranch);
        assert.equal(repo.read('wip.txt'), DIRTY, 'the uncommitted work is back in the tree');
      } else {
        assert.deepEqual(data, target.data, 'the data of the target');
        assert.equal(repo.head(), target.sha, 'the code of the target');
        assert.equal(fs.existsSync(repo.path('wip.txt')), false, 'the uncommitted work is in the stash');
        // Undo brings back the data of before, the acknowledged write included.
        const undoId = repo.audit().filter((e) => e.op === 'restore' && e.phase === 'finished').pop()?.undoCheckpointId;
        assert.ok(undoId, 'the finished restore names its undo point');
        const undo = await repo.lockstep('restore', undoId, '--yes');
        assert.equal(undo.code, 0, explain(undo));
        assert.deepEqual(await fingerprint(repo.url), beforeData);
        assert.equal(repo.head(), beforeHead);
        assert.match(undo.stdout, /undone: re-applied the work that restore had stashed/, 'undo takes back the stash the finished restore made');
        assert.equal(repo.read('wip.txt'), DIRTY);
      }

      // Nothing left behind: no lock, no record, no fork pending, one postmaster.
      assert.equal(fs.existsSync(path.join(repo.lockstepDir, 'restore.lock')), false, 'the restore lock is free');
      assert.equal(fs.existsSync(path.join(repo.lockstepDir, 'restore-in-progress.json')), false);
      const state = JSON.parse(fs.readFileSync(path.join(repo.lockstepDir, 'local', 'state.json'), 'utf8')) as { pendingForks?: Record<string, string>; serving: string };
      assert.deepEqual(Object.keys(state.pendingForks ?? {}), [], 'no fork pending');
      assert.deepEqual(runningDataDirs(path.join(repo.lockstepDir, 'local')), [state.serving], 'one postmaster: the serving one');

      fs.rmSync(repo.path('wip.txt'));
      await repo.waitForUpkeep();
    });
  }
});

/** Data directories under `root` with a live postmaster. */
function runningDataDirs(root: string): string[] {
  return fs
    .readdirSync(root)
    .filter((entry) => {
      try {
        const pid = Number(fs.readFileSync(path.join(root, entry, 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    })
    .sort();
}
