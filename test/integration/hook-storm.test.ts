// Every commit recorded: twenty commits at once in twenty worktrees, and commits while the database is stopped, hung and back.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { explain, expectOk, initRepo, lockstep, shell, type CliResult, type JournalRecord, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';
import { addWorktree, removeTempDirs, type TestRepo } from '../support/git';

/** The bound the hook keeps (it stops `lockstep record` at 1.7 s and kills it at 1.9 s). */
const HOOK_BOUND_MS = 2000;

function commitFromShell(dir: string, message: string, hooks = true): Promise<CliResult> {
  return shell(dir, `git ${hooks ? '' : '-c core.hooksPath=/nonexistent '}commit --quiet --allow-empty -m "$1"`, [message]);
}

async function listed(repo: LockstepRepo): Promise<JournalRecord[]> {
  return JSON.parse(expectOk(await repo.lockstep('list', '--json')).stdout) as JournalRecord[];
}

describe('the commit hook: every commit recorded', function () {
  this.timeout(600_000);
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  it("twenty commits at once in twenty worktrees, with a writer running: 20 of 20 recorded, none slower than git's own by more than the hook's bound", async () => {
    await sql(repo.url, 'CREATE TABLE storm (n int)');
    // The first commit, recorded by `lockstep record`, tells the hook how to read the position with psql.
    const first = await commitFromShell(repo.dir, 'before the storm');
    assert.equal(first.stderr, '', explain(first));
    assert.match(fs.readFileSync(path.join(repo.lockstepDir, 'hook.conf'), 'utf8'), /^psql \//m, 'the hook has psql to read the position with');
    const trees: TestRepo[] = [repo];
    for (let i = 1; i < 20; i++) trees.push(addWorktree(repo, `storm-${i}`));
    // A writer, so that the positions differ and a lost pairing would show.
    let writing = true;
    const writer = (async () => {
      let n = 0;
      while (writing) await sql(repo.url, 'INSERT INTO storm VALUES ($1)', [n++]);
    })();
    let commits: CliResult[];
    let withoutHook: CliResult[];
    try {
      // Git's own time for twenty commits at once on this (shared, loaded) machine, measured beside ours: the hook's bound comes on top.
      withoutHook = await Promise.all(trees.map((tree, i) => commitFromShell(tree.dir, `calm ${i}`, false)));
      commits = await Promise.all(trees.map((tree, i) => commitFromShell(tree.dir, `storm ${i}`)));
    } finally {
      writing = false;
      await writer;
    }
    for (const commit of commits) assert.equal(commit.code, 0, explain(commit));
    const slowest = Math.max(...commits.map((c) => c.durationMs));
    const gitAlone = Math.max(...withoutHook.map((c) => c.durationMs));
    const shas = trees.map((tree) => tree.head());
    assert.equal(new Set(shas).size, 20);

    const all = await listed(repo);
    const recorded = shas.map((sha) => all.filter((c) => c.kind === 'commit' && c.commitSha === sha));
    const missing = shas.filter((_, i) => recorded[i]!.length === 0);
    assert.deepEqual(missing, [], `every commit is listed (stderr: ${commits.map((c) => c.stderr).join('')})`);
    for (const [i, entries] of recorded.entries()) assert.equal(entries.length, 1, `commit ${i} is listed once`);
    const exact = recorded.filter((e) => e[0]!.lsn !== null).length;
    // Every line the hook printed tells the truth: a time-based commit says so, an exact one says nothing.
    for (const [i, commit] of commits.entries()) {
      const entry = recorded[i]![0]!;
      if (entry.lsn === null) assert.match(commit.stderr, /recorded by its time/, explain(commit));
      else assert.equal(commit.stderr, '', explain(commit));
    }
    assert.ok(slowest <= gitAlone + HOOK_BOUND_MS, `the slowest commit took ${Math.round(slowest)} ms, git alone ${Math.round(gitAlone)} ms (exact ${exact}/20)`);
    // Folded into the journal for good, not only shown from the spool.
    expectOk(await lockstep(repo.dir, ['record', '--fold']));
    const journal = repo.journalLines().map((l) => JSON.parse(l) as JournalRecord);
    for (const sha of shas) assert.equal(journal.filter((c) => c.commitSha === sha).length, 1, `${sha} is in the journal once`);
    assert.deepEqual(fs.readdirSync(path.join(repo.dir, '.git', 'lockstep', 'pending')).filter((n) => !n.startsWith('.')), [], 'the spool is empty');
  });
});
