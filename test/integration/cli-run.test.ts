// `lockstep run -- CMD`: a safety point, the command with its exit status, and on failure what changed and the restore that undoes it — real psql, real Postgres.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { explain, expectOk, initRepo, lockstep, startLockstep, type JournalRecord, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';
import { makeTempDir, removeTempDirs } from '../support/git';

const PSQL = '/usr/lib/postgresql/15/bin/psql';

async function rows(url: string): Promise<number> {
  return Number((await sql(url, 'SELECT count(*)::int AS n FROM contacts'))[0]!.n);
}

describe('cli: lockstep run', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
    await sql(repo.url, 'CREATE TABLE contacts (id int PRIMARY KEY, name text); INSERT INTO contacts SELECT g, $$c$$ || g FROM generate_series(1, 3) g');
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  const last = () => JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;

  it('a failing command: its exit status, what changed since the safety point, and the restore command that brings the data back', async () => {
    const lines = repo.journalLines().length;
    const script = `${PSQL} -X -q "$URL" -c 'delete from contacts'; exit 3`;
    const result = await lockstep(repo.dir, ['run', '--', 'sh', '-c', script], { env: { URL: repo.url } });
    assert.equal(result.code, 3, explain(result));
    assert.equal(await rows(repo.url), 0, 'the command did run');
    assert.equal(repo.journalLines().length, lines + 1);
    const point = last();
    assert.equal(point.kind, 'safety');
    assert.deepEqual(point.agent, { name: 'lockstep run' });
    // Quoted as a shell reads it back: the journal shows a command a person can run again.
    assert.equal(point.command, `sh -c '${script.replace(/'/g, `'\\''`)}'`);
    assert.match(result.stderr, /failed \(exit status 3\)/);
    assert.match(result.stderr, /~ table contacts: 3 rows → 0 rows/);
    const restore = new RegExp(`lockstep restore ${point.id}$`, 'm').exec(result.stderr);
    assert.ok(restore, explain(result));

    // The printed command, as printed (plus --yes: no terminal here to confirm at).
    const restored = await lockstep(repo.dir, [...restore[0].split(' ').slice(1), '--yes']);
    expectOk(restored, 'the restore run prints');
    assert.equal(await rows(repo.url), 3, 'the rows are back');
  });

  it('a command that succeeds: its output only, nothing extra, and still a safety point labelled with it', async () => {
    const lines = repo.journalLines().length;
    const result = await lockstep(repo.dir, ['run', '-m', 'seed the demo data', '--', 'sh', '-c', 'echo out; echo err >&2']);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, 'out\n');
    assert.equal(result.stderr, 'err\n');
    assert.equal(repo.journalLines().length, lines + 1);
    assert.equal(last().label, 'seed the demo data');
    assert.equal(last().command, `sh -c 'echo out; echo err >&2'`);
  });

  it('exit statuses pass through: a signal is 128+n, a missing command 127 (with no restore advice: nothing ran)', async () => {
    const killed = await lockstep(repo.dir, ['run', '--', 'sh', '-c', 'kill -TERM $$']);
    assert.equal(killed.code, 143, explain(killed));
    assert.match(killed.stderr, /was ended by SIGTERM/);
    const missing = await lockstep(repo.dir, ['run', '--', 'no-such-command-lockstep']);
    assert.equal(missing.code, 127, explain(missing));
    assert.match(missing.stderr, /command not found/);
    assert.doesNotMatch(missing.stderr, /lockstep restore/);
    const seven = await lockstep(repo.dir, ['run', '--', 'sh', '-c', 'exit 7']);
    assert.equal(seven.code, 7);
    assert.match(seven.stderr, /no table was created or dropped and no row count changed/);
  });

  it('signals sent to lockstep run reach the command', async () => {
    const marker = path.join(makeTempDir('lockstep-run-'), 'got-term');
    const running = startLockstep(repo.dir, ['run', '--', 'sh', '-c', `trap 'touch "${marker}"; exit 5' TERM; echo ready >&2; while :; do sleep 0.05; done`]);
    await running.stderrMatches(/ready/);
    // The lockstep process is the parent of sh: found by its command line, which names this run's own marker (another run of this test may be going on).
    const lockstepPid = fs
      .readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .find((e) => {
        try {
          const argv = fs.readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0');
          return argv.includes('run') && argv.some((a) => a.includes(marker)) && argv.some((a) => a.endsWith('cli.js'));
        } catch {
          return false;
        }
      });
    assert.ok(lockstepPid, 'the lockstep run process');
    process.kill(Number(lockstepPid), 'SIGTERM');
    const result = await running.done;
    assert.equal(result.code, 5, explain(result));
    assert.ok(fs.existsSync(marker), 'the command got the SIGTERM');
  });

  it('bad input: exit 2, nothing run, nothing in the journal', async () => {
    const lines = repo.journalLines().length;
    const marker = path.join(makeTempDir('lockstep-run-'), 'should-not-exist');
    for (const args of [['run'], ['run', 'touch', marker], ['run', '--'], ['run', '-m', 'two\nlines', '--', 'touch', marker], ['run', '--bogus', '--', 'touch', marker], ['run', 'extra', '--', 'touch', marker]]) {
      const result = await lockstep(repo.dir, args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
    }
    assert.ok(!fs.existsSync(marker));
    assert.equal(repo.journalLines().length, lines);
  });

  it('no safety point possible (the database down): the command is not run, exit 1, and the message says how to run it anyway', async () => {
    expectOk(await lockstep(repo.dir, ['db', 'stop']));
    try {
      const marker = path.join(makeTempDir('lockstep-run-'), 'ran');
      const lines = repo.journalLines().length;
      const result = await lockstep(repo.dir, ['run', '--', 'touch', marker]);
      assert.equal(result.code, 1, explain(result));
      assert.match(result.stderr, /no safety point could be taken, so the command was not run/);
      assert.match(result.stderr, new RegExp(`hint: to run it without a safety point: touch ${marker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.ok(!fs.existsSync(marker));
      assert.equal(repo.journalLines().length, lines);
    } finally {
      expectOk(await lockstep(repo.dir, ['db', 'start']));
    }
  });
});
