// The checkpoint journal through the real CLI: concurrent snapshots from many processes, and corrupt or torn lines.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectOk, explain, initRepo, lockstep, shell, type JournalRecord, type LockstepRepo } from '../support/cli';

function parseLine(line: string): JournalRecord {
  return JSON.parse(line) as JournalRecord;
}

describe('cli: 20 concurrent snapshots', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('append exactly 20 valid journal lines: none lost, none torn, all listed', async () => {
    const before = repo.journalLines();
    const labels = Array.from({ length: 20 }, (_, i) => `parallel ${i}`);
    const results = await Promise.all(labels.map((label) => lockstep(repo.dir, ['snapshot', '-m', label, '--json'])));
    for (const r of results) assert.equal(r.code, 0, explain(r));
    const printed = results.map((r) => (JSON.parse(r.stdout) as JournalRecord).id);

    const after = repo.journalLines();
    assert.deepEqual(after.slice(0, before.length), before, 'earlier lines untouched');
    const added = after.slice(before.length);
    assert.equal(added.length, 20, `20 new lines, got ${added.length}`);
    const records = added.map((line, i) => {
      assert.doesNotThrow(() => JSON.parse(line), `line ${before.length + i + 1} is whole JSON: ${line}`);
      return parseLine(line);
    });
    assert.deepEqual(records.map((r) => r.label).sort(), [...labels].sort(), 'each label once');
    assert.ok(records.every((r) => r.kind === 'snapshot' && r.commitSha === repo.head()));
    assert.equal(new Set(records.map((r) => r.id)).size, 20, 'distinct ids');
    assert.deepEqual([...printed].sort(), records.map((r) => r.id).sort(), 'each process printed the id it appended');

    const listed = await repo.list();
    for (const id of printed) assert.ok(listed.some((c) => c.id === id), `${id} is listed`);
    const status = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { checkpoints: { count: number; unreadableLines: number[] } };
    assert.deepEqual(status.checkpoints.unreadableLines, []);
    assert.equal(status.checkpoints.count, before.length + 20);
  });
});

describe('cli: a corrupt or truncated journal line', function () {
  let repo: LockstepRepo;
  let good: string[];
  before(async () => {
    repo = await initRepo();
    for (const label of ['first', 'second', 'third']) expectOk(await repo.lockstep('snapshot', '-m', label));
    good = repo.journalLines();
    assert.equal(good.length, 3);
    // A line that is not JSON in the middle (a bad hand edit), and a writer that died mid-line at the end.
    const torn = good[2]!.slice(0, Math.floor(good[2]!.length / 2));
    fs.writeFileSync(repo.journalFile, `${good[0]}\nthis is not a checkpoint\n${good[1]}\n${good[2]}\n${torn}`);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('is skipped with a warning, and every other checkpoint still lists', async () => {
    const result = await repo.lockstep('list', '--json');
    assert.equal(result.code, 0, explain(result));
    const ids = (JSON.parse(result.stdout) as { id: string }[]).map((c) => c.id);
    assert.deepEqual(ids.sort(), good.map((l) => parseLine(l).id).sort());
    assert.match(result.stderr, /warning: .*journal\.jsonl: skipped 2 unreadable line\(s\): 2, 5/);

    const human = await repo.lockstep('list');
    assert.equal(human.code, 0, explain(human));
    for (const label of ['first', 'second', 'third']) assert.match(human.stdout, new RegExp(label));

    const status = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { checkpoints: { count: number; unreadableLines: number[] } };
    assert.deepEqual(status.checkpoints.unreadableLines, [2, 5]);
    assert.equal(status.checkpoints.count, 3);
  });

  it('takes new appends on a line of their own, and keeps the unreadable lines for repair', async () => {
    const snapshot = await repo.lockstep('snapshot', '-m', 'after the damage', '--json');
    assert.equal(snapshot.code, 0, explain(snapshot));
    const id = (JSON.parse(snapshot.stdout) as JournalRecord).id;

    const lines = repo.journalLines();
    assert.equal(parseLine(lines[lines.length - 1]!).id, id, 'the new checkpoint is a whole line, not glued to the torn one');
    assert.ok(lines.includes('this is not a checkpoint'), 'unreadable lines are kept');
    const listed = await repo.list();
    assert.equal(listed.length, 4);
    assert.equal(listed[0]?.id, id, 'newest first');
    assert.equal(listed[0]?.label, 'after the damage');
  });

  it('warns once, not on every later command or commit; `status` offers, and `status --set-aside` moves them to a file of their own', async () => {
    // The first test saw the warning; the same damage is not reported again.
    const again = await repo.lockstep('list');
    assert.equal(again.code, 0, explain(again));
    assert.doesNotMatch(again.stderr, /unreadable/, explain(again));
    repo.write('f.txt', 'x\n');
    repo.git('add', 'f.txt');
    const commit = await shell(repo.dir, 'git commit --quiet -m "after the damage"');
    assert.equal(commit.code, 0, explain(commit));
    assert.equal(commit.stderr, '', 'the commit says nothing of the old damage');

    const human = expectOk(await repo.lockstep('status')).stdout;
    assert.match(human, /2 unreadable journal line\(s\) skipped: 2, 5 \(`lockstep status --set-aside` moves them/);
    const before = repo.journalLines().filter((l) => { try { return typeof (JSON.parse(l) as { id?: unknown }).id === 'string'; } catch { return false; } });
    const aside = expectOk(await repo.lockstep('status', '--set-aside'));
    assert.match(aside.stdout, /^moved 2 unreadable journal line\(s\) to .*journal\.unreadable\.jsonl\n$/);
    assert.deepEqual(repo.journalLines(), before, 'every readable checkpoint stays, in order');
    const kept = fs.readFileSync(path.join(repo.lockstepDir, 'journal.unreadable.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
    assert.deepEqual(kept, ['this is not a checkpoint', good[2]!.slice(0, Math.floor(good[2]!.length / 2))]);
    const status = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { checkpoints: { unreadableLines: number[] } };
    assert.deepEqual(status.checkpoints.unreadableLines, []);
  });
});
