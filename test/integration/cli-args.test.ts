// The CLI's contract with tools outside the project, through the real binary: --help, exit codes for bad input, REF resolution errors, and the `list --json` fields.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { CHECKPOINT_KINDS } from '../../src/core/checkpoint';
import { isLsn } from '../../src/base/lsn';
import { expectOk, explain, initRepo, lockstep, LISTING_FIELDS, type LockstepRepo } from '../support/cli';
import { createRepo, makeTempDir, removeTempDirs } from '../support/git';

/** Each command and the flags (and actions) its --help must mention: those of DESIGN.md's CLI contract, and the ones each command adds. */
const HELP: Record<string, string[]> = {
  init: ['--engine', '--port', '--no-hook', '--keep', '--checkout', '--pg-bin', '--import'],
  db: ['start', 'stop', 'status', 'url', 'backup', '--json', '--if-due', '--quiet'],
  record: ['--commit', '--quiet'],
  snapshot: ['-m', '--kind', '--json'],
  list: ['--json', '--limit', '--retention'],
  restore: ['REF', '--dry-run', '--data-only', '--code-only', '--yes', '--stash', '--checkout', '--at', '--tables', '--with-dependents'],
  hook: ['install', 'uninstall', 'status', '--json'],
  status: ['--json'],
  prune: ['--keep'],
  run: ['-m', '--'],
  guard: ['--agent', 'claude', 'cursor', 'copilot'],
  agent: ['install', 'uninstall', 'claude', 'cursor', 'copilot', '--user'],
  mcp: ['--repo', 'lockstep_snapshot', 'lockstep_restore'],
  pin: ['REF', '--json'],
  unpin: ['REF'],
  keeper: ['--idle', '--stop'],
};

describe('cli: --help', function () {
  let outside: string;
  before(() => {
    outside = makeTempDir('lockstep-no-repo-');
  });
  after(() => {
    removeTempDirs();
  });

  it('`lockstep --help` exits 0 and names every command; no command at all is bad input (2)', async () => {
    const help = await lockstep(outside, ['--help']);
    assert.equal(help.code, 0, explain(help));
    for (const command of Object.keys(HELP)) assert.match(help.stdout, new RegExp(`^\\s+${command}\\s`, 'm'), `mentions ${command}`);
    const bare = await lockstep(outside, []);
    assert.equal(bare.code, 2, explain(bare));
  });

  for (const [command, flags] of Object.entries(HELP)) {
    it(`\`lockstep ${command} --help\` exits 0 and mentions ${flags.join(' ')} (outside any repository too)`, async () => {
      for (const helpFlag of ['--help', '-h']) {
        const result = await lockstep(outside, [command, helpFlag]);
        assert.equal(result.code, 0, explain(result));
        assert.match(result.stdout, new RegExp(`^Usage: lockstep ${command}\\b`));
        for (const flag of flags) assert.ok(result.stdout.includes(flag), `${command} --help mentions ${flag}:\n${result.stdout}`);
        assert.equal(result.stderr, '');
      }
    });
  }
});

describe('cli: bad input exits 2, and changes nothing', function () {
  let repo: LockstepRepo;
  let v1: string;
  let state: () => { head: string; branch: string; journal: string[]; audit: string };
  before(async () => {
    repo = await initRepo();
    v1 = repo.commit('app.txt', 'v1\n', 'v1');
    expectOk(await repo.lockstep('snapshot', '-m', 'a labelled snapshot'));
    state = () => ({
      head: repo.head(),
      branch: repo.git('branch', '--show-current'),
      journal: repo.journalLines(),
      audit: fs.existsSync(repo.auditFile) ? fs.readFileSync(repo.auditFile, 'utf8') : '',
    });
  });
  after(async () => {
    await repo?.cleanup();
  });

  const BAD_FLAGS: string[][] = [
    ['frobnicate'],
    ['list', '--bogus'],
    ['list', '--limit', '0'],
    ['list', '--limit', 'many'],
    ['list', 'extra'],
    ['snapshot', '--kind', 'nope'],
    ['snapshot', '-m'],
    ['restore'],
    ['restore', 'HEAD', 'HEAD~1', '--yes'],
    ['restore', 'HEAD', '--checkout', 'sideways', '--yes'],
    ['restore', 'HEAD', '--data-only', '--code-only', '--yes'],
    ['restore', 'HEAD', '--force', '--yes'],
    ['restore', '--at', 'sometime', '--yes'],
    ['restore', '--at', '2099-01-01T00:00:00Z', '--yes'],
    ['restore', '--at', '1 hour ago', 'HEAD', '--yes'],
    ['restore', '--at', '1 hour ago', '--code-only', '--yes'],
    ['list', '--retention'],
    ['prune', '--keep', '0'],
    ['prune', '--keep'],
    ['init', '--engine', 'mysql'],
    ['init', '--port', '80'],
    ['db', 'explode'],
    ['db'],
    ['hook', 'explode'],
    ['status', '--verbose'],
  ];
  for (const args of BAD_FLAGS) {
    it(`\`lockstep ${args.join(' ')}\` exits 2 with one message on stderr`, async () => {
      const before = state();
      const result = await repo.lockstep(...args);
      assert.equal(result.code, 2, explain(result));
      assert.match(result.stderr, /^lockstep: \S/);
      assert.equal(result.stdout, '');
      assert.deepEqual(state(), before);
    });
  }

  it('`lockstep record` with a bad flag still exits 0 (it never fails a commit), and says why', async () => {
    const result = await repo.lockstep('record', '--bogus');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stderr, /--bogus/);
  });

  const UNKNOWN_REFS: [string, string][] = [
    ['0123456789ab', 'a hex prefix that is neither a checkpoint nor a commit'],
    ['no-such-thing', 'a word that is no git revision'],
    ['1999-01-01', 'a time before every checkpoint'],
    ['HEAD~40', 'a revision that does not exist'],
  ];
  for (const [ref, what] of UNKNOWN_REFS) {
    it(`an unknown REF (${what}) exits 2 and changes nothing`, async () => {
      const before = state();
      const result = await repo.lockstep('restore', ref, '--yes');
      assert.equal(result.code, 2, explain(result));
      assert.match(result.stderr, /no checkpoint|not a valid time/);
      assert.deepEqual(state(), before);
    });
  }

  it('a commit with no checkpoint exits 2, naming the commit', async () => {
    // Committed with hooks switched off, so nothing recorded it.
    repo.write('unrecorded.txt', 'x\n');
    repo.git('add', 'unrecorded.txt');
    repo.git('-c', 'core.hooksPath=/dev/null', 'commit', '--quiet', '-m', 'not recorded');
    const sha = repo.head();
    const before = state();
    const result = await repo.lockstep('restore', sha.slice(0, 10), '--yes');
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, new RegExp(`commit ${sha.slice(0, 12)} has no checkpoint`));
    assert.deepEqual(state(), before);
    repo.git('reset', '--quiet', '--hard', 'HEAD~1');
  });

  it('a restore without --yes and without a terminal exits 2 and changes nothing', async () => {
    const before = state();
    const result = await repo.lockstep('restore', v1.slice(0, 7));
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, /needs a confirmation: pass --yes/);
    assert.deepEqual(state(), before);
  });

  it('`list --json` prints exactly the contract fields, newest first', async () => {
    const result = await repo.lockstep('list', '--json');
    assert.equal(result.code, 0, explain(result));
    const listed = JSON.parse(result.stdout) as Record<string, unknown>[];
    assert.ok(Array.isArray(listed) && listed.length >= 2);
    for (const c of listed) {
      assert.deepEqual(Object.keys(c).sort(), [...LISTING_FIELDS].sort());
      assert.match(String(c.id), /^[0-9a-f]{12}$/);
      assert.ok((CHECKPOINT_KINDS as readonly unknown[]).includes(c.kind));
      assert.ok(c.commitSha === null || /^[0-9a-f]{40}$/.test(String(c.commitSha)));
      assert.equal(typeof c.timelineId, 'string');
      assert.ok(typeof c.lsn === 'string' && isLsn(c.lsn), `lsn ${String(c.lsn)}`);
      assert.ok(c.label === null || typeof c.label === 'string');
      assert.ok(typeof c.createdAt === 'string' && new Date(c.createdAt).toISOString() === c.createdAt);
      assert.equal(typeof c.restorable, 'boolean');
    }
    const times = listed.map((c) => String(c.createdAt));
    assert.deepEqual(times, [...times].sort().reverse(), 'newest first');
    assert.ok(listed.some((c) => c.kind === 'snapshot' && c.label === 'a labelled snapshot'));
    assert.ok(listed.some((c) => c.kind === 'commit' && c.commitSha === v1 && c.restorable === true));

    const limited = JSON.parse(expectOk(await repo.lockstep('list', '--json', '--limit', '1')).stdout) as unknown[];
    assert.deepEqual(limited, listed.slice(0, 1));
  });

  it('an ISO time resolves to the newest checkpoint at or before it', async () => {
    const listed = await repo.list();
    const v1Checkpoint = listed.find((c) => c.kind === 'commit' && c.commitSha === v1)!;
    const result = await repo.lockstep('restore', v1Checkpoint.createdAt, '--dry-run', '--code-only');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`Restore to ${v1Checkpoint.id} "v1"`));
  });

  it('an ambiguous id prefix exits 2 and lists the candidates; a longer prefix resolves', async () => {
    // Two checkpoints whose ids share a prefix (ids are random, so they are written here).
    const template = JSON.parse(repo.journalLines().pop()!) as Record<string, unknown>;
    const twins = ['abcd00000001', 'abcd00000002'].map((id) => JSON.stringify({ ...template, id, label: `twin ${id}` }));
    fs.appendFileSync(repo.journalFile, `${twins.join('\n')}\n`);
    const before = state();

    const result = await repo.lockstep('restore', 'abcd', '--yes');
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, /"abcd" matches 2 checkpoints/);
    assert.match(result.stderr, /abcd00000001/);
    assert.match(result.stderr, /abcd00000002/);
    assert.deepEqual(state(), before);

    const resolved = await repo.lockstep('restore', 'abcd00000002', '--dry-run', '--code-only');
    assert.equal(resolved.code, 0, explain(resolved));
    assert.match(resolved.stdout, /Restore to abcd00000002 "twin abcd00000002"/);
  });
});

describe('cli: outside a set-up repository', function () {
  after(() => {
    removeTempDirs();
  });

  it('`list` says Lockstep is not set up (exit 1); `record` still exits 0', async () => {
    const plain = createRepo();
    const list = await lockstep(plain.dir, ['list']);
    assert.equal(list.code, 1, explain(list));
    assert.match(list.stderr, /not set up/);
    const record = await lockstep(plain.dir, ['record']);
    assert.equal(record.code, 0, explain(record));
    assert.match(record.stderr, /not set up/);
    assert.ok(!fs.existsSync(plain.path('.git', 'lockstep', 'journal.jsonl')));
  });
});
