// `lockstep restore` (and `prune`) through the real CLI on a real Postgres: exact code and data, dry runs, modes, undo, dirty trees, a failure after the fork, and one restore at a time.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expectOk, explain, initRepo, startLockstep, type AuditRecord, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

interface Version {
  sha: string;
  /** The checkpoint the commit hook recorded for it. */
  checkpointId: string;
  data: Fingerprint;
  /** Every file of the app at that commit; null = absent. */
  files: Record<string, string | null>;
}

interface Seeded {
  v1: Version;
  v2: Version;
  /** The data after v2 and a bad statement, uncommitted to git: what "now" is before any restore. */
  mistake: Fingerprint;
}

const V1_CODE = "export const fields = ['name', 'email'];\n";
const V2_CODE = "export const fields = ['name', 'email', 'role'];\nexport const notes = true;\n";
const V1_SQL = `CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL, email text);
INSERT INTO contacts (name, email) VALUES ('Ada', 'ada@example.com'), ('Alan', 'alan@example.com'), ('Grace', 'grace@example.com');`;
const V2_SQL = `ALTER TABLE contacts ADD COLUMN role text;
UPDATE contacts SET role = 'engineer' WHERE name = 'Ada';
INSERT INTO contacts (name, email, role) VALUES ('Katherine', 'kj@example.com', 'mathematician');
CREATE TABLE notes (id serial PRIMARY KEY, contact_id int REFERENCES contacts (id), body text);
INSERT INTO notes (contact_id, body) VALUES (1, 'first programmer'), (2, 'codebreaker');`;

/** Two versions of an app, each a migration run on the database and a commit (recorded by the hook), then a bad UPDATE. */
async function seed(repo: LockstepRepo): Promise<Seeded> {
  const commitVersion = async (migrationFile: string, migration: string, code: string, subject: string): Promise<Version> => {
    await sql(repo.url, migration);
    repo.write(migrationFile, `${migration}\n`);
    repo.write('app/contacts.js', code);
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', subject);
    const sha = repo.head();
    const checkpoint = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === sha);
    assert.ok(checkpoint, `the hook recorded ${subject}`);
    return { sha, checkpointId: checkpoint.id, data: await fingerprint(repo.url), files: {} };
  };
  const v1 = await commitVersion('migrations/001.sql', V1_SQL, V1_CODE, 'v1: contacts');
  v1.files = { 'app/contacts.js': V1_CODE, 'migrations/001.sql': `${V1_SQL}\n`, 'migrations/002.sql': null };
  const v2 = await commitVersion('migrations/002.sql', V2_SQL, V2_CODE, 'v2: roles and notes');
  v2.files = { 'app/contacts.js': V2_CODE, 'migrations/001.sql': `${V1_SQL}\n`, 'migrations/002.sql': `${V2_SQL}\n` };
  await sql(repo.url, "UPDATE contacts SET email = NULL, name = 'REDACTED'; DELETE FROM notes");
  const mistake = await fingerprint(repo.url);
  assert.notDeepEqual(mistake, v2.data);
  assert.notDeepEqual(v1.data, v2.data);
  return { v1, v2, mistake };
}

/** Everything a restore may change, to compare before and after. */
interface World {
  data: Fingerprint;
  timeline: string;
  head: string;
  branch: string;
  branches: string;
  porcelain: string;
  files: Record<string, string | null>;
  journal: string[];
  audit: string;
  stashes: string;
}

async function world(repo: LockstepRepo, extraFiles: string[] = []): Promise<World> {
  const files: Record<string, string | null> = {};
  for (const file of ['app/contacts.js', 'migrations/001.sql', 'migrations/002.sql', ...extraFiles]) {
    files[file] = fs.existsSync(repo.path(file)) ? repo.read(file) : null;
  }
  return {
    data: await fingerprint(repo.url),
    timeline: await servingTimeline(repo),
    head: repo.head(),
    branch: repo.git('branch', '--show-current'),
    branches: repo.git('for-each-ref', '--format=%(refname:short) %(objectname)', 'refs/heads'),
    porcelain: repo.git('status', '--porcelain', '--untracked-files=all'),
    files,
    journal: repo.journalLines(),
    audit: fs.existsSync(repo.auditFile) ? fs.readFileSync(repo.auditFile, 'utf8') : '',
    stashes: repo.git('stash', 'list', '--format=%H'),
  };
}

async function servingTimeline(repo: LockstepRepo): Promise<string> {
  const status = JSON.parse(expectOk(await repo.lockstep('db', 'status', '--json')).stdout) as { head?: { timelineId: string } };
  assert.ok(status.head, 'the database is running');
  return status.head.timelineId;
}

/** HEAD and every app file are exactly those of `version`, and nothing is left uncommitted. */
function assertCodeIs(repo: LockstepRepo, version: Version): void {
  assert.equal(repo.head(), version.sha);
  for (const [file, content] of Object.entries(version.files)) {
    if (content === null) assert.ok(!fs.existsSync(repo.path(file)), `${file} should not exist`);
    else assert.equal(repo.read(file), content, file);
  }
  assert.equal(repo.git('status', '--porcelain', '--untracked-files=all'), '');
}

/** Resolves once `file` exists; fails if `ended` settles first (the process it waits for is gone). */
async function waitForFile(file: string, ended: Promise<unknown>): Promise<void> {
  let gone = false;
  void ended.then(() => (gone = true));
  while (!fs.existsSync(file)) {
    if (gone) throw new Error(`the process ended before ${file} appeared`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function undoIdOf(stdout: string): string {
  const id = /undo: lockstep restore ([0-9a-f]{12})/.exec(stdout)?.[1];
  assert.ok(id, `the output names the undo checkpoint:\n${stdout}`);
  return id;
}

describe('cli: restore code and data together, preview, modes and undo', function () {
  let repo: LockstepRepo;
  let s: Seeded;
  before(async () => {
    repo = await initRepo();
    s = await seed(repo);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('--dry-run prints the tables, columns, rows and files that would change, and changes nothing', async () => {
    const before = await world(repo);
    const result = await repo.lockstep('restore', s.v1.sha.slice(0, 8), '--dry-run');
    assert.equal(result.code, 0, explain(result));
    const out = result.stdout;
    assert.match(out, /^\(dry run: nothing was changed\)/);
    assert.match(out, new RegExp(`Restore to ${s.v1.checkpointId} "v1: contacts"`));
    assert.match(out, /- table notes disappears/);
    assert.match(out, /- contacts: column role disappears/);
    // Exact row changes since v1 (what the restore takes back), not planner estimates.
    assert.match(out, /^ {6}contacts\s+3 changed, \+1 inserted \(by id\)$/m);
    assert.match(out, /^ {6}notes\s+new since \(0 rows now\)$/m);
    assert.match(out, new RegExp(`code: main@${s.v2.sha.slice(0, 7)} → branch lockstep/restore-${s.v1.sha.slice(0, 7)}`));
    assert.match(out, /app\/contacts\.js\s+\|/);
    assert.match(out, /migrations\/002\.sql\s+\|/);
    assert.match(out, /working tree: clean/);
    assert.deepEqual(await world(repo), before, 'data, timeline, HEAD, files, journal and audit unchanged');
  });

  let undoOfV1: string;
  it('restores the code and the data exactly, on a new branch, with the same connection string', async () => {
    const urlBefore = repo.url;
    const result = await repo.lockstep('restore', s.v1.sha.slice(0, 8), '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`Restored code and data to ${s.v1.checkpointId}`));
    assert.deepEqual(await fingerprint(repo.url), s.v1.data);
    assertCodeIs(repo, s.v1);
    assert.equal(repo.git('branch', '--show-current'), `lockstep/restore-${s.v1.sha.slice(0, 7)}`);
    assert.equal(expectOk(await repo.lockstep('db', 'url')).stdout.trim(), urlBefore);

    undoOfV1 = undoIdOf(result.stdout);
    const undo = (await repo.list()).find((c) => c.id === undoOfV1);
    assert.equal(undo?.kind, 'pre-restore');
    assert.equal(undo?.commitSha, s.v2.sha);
    const finished = repo.audit().filter((e) => e.op === 'restore' && e.phase === 'finished').pop();
    assert.equal(finished?.checkpointId, s.v1.checkpointId);
    assert.equal(finished?.undoCheckpointId, undoOfV1);
  });

  it('undo: restoring the pre-restore checkpoint brings back the code and the data of before', async () => {
    const result = await repo.lockstep('restore', undoOfV1, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), s.mistake, 'the data as it was just before the restore, bad UPDATE included');
    assertCodeIs(repo, s.v2);
    assert.equal(repo.git('branch', '--show-current'), 'main', 'back on the branch it was on, not on a new restore branch');
  });

  it('--data-only restores the data and leaves the code, branch and files alone', async () => {
    const before = await world(repo);
    const result = await repo.lockstep('restore', s.v1.checkpointId, '--data-only', '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /Restored data to/);
    assert.deepEqual(await fingerprint(repo.url), s.v1.data);
    const after = await world(repo);
    assert.deepEqual([after.head, after.branch, after.branches, after.files, after.porcelain], [before.head, before.branch, before.branches, before.files, before.porcelain]);
    assert.notEqual(after.timeline, before.timeline, 'served from a new timeline');
  });

  it('--code-only checks out the code and leaves the data (and its timeline) alone', async () => {
    await sql(repo.url, "INSERT INTO contacts (name) VALUES ('added after the data-only restore')");
    const before = await world(repo);
    const result = await repo.lockstep('restore', s.v1.checkpointId, '--code-only', '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /Restored code to/);
    assertCodeIs(repo, s.v1);
    const after = await world(repo);
    assert.deepEqual(after.data, before.data);
    assert.equal(after.timeline, before.timeline);
  });

  it('--checkout detached checks out the commit without creating a branch', async () => {
    const before = await world(repo);
    const result = await repo.lockstep('restore', s.v2.checkpointId, '--checkout', 'detached', '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`code: detached at ${s.v2.sha.slice(0, 7)}`));
    assert.equal(repo.git('branch', '--show-current'), '', 'HEAD is detached');
    assertCodeIs(repo, s.v2);
    assert.deepEqual(await fingerprint(repo.url), s.v2.data);
    assert.equal((await world(repo)).branches, before.branches, 'no branch created or moved');
  });

  it('prune --keep 2 keeps the newest two plus the pinned ones (the last restore and its undo), and reports what it reclaimed', async () => {
    // The upkeep after each restore prunes too, keeping the data directory that served before the last restore.
    await repo.waitForUpkeep();
    const listed = await repo.list();
    const lastRestore = repo.audit().filter((e: AuditRecord) => e.op === 'restore' && e.phase === 'finished').pop()!;
    const pinned = [lastRestore.checkpointId!, lastRestore.undoCheckpointId!];
    const expected = new Set([...listed.slice(0, 2).map((c) => c.id), ...pinned]);
    assert.ok(listed.length > expected.size, 'there is something to prune');
    assert.ok(!listed.slice(0, 2).some((c) => c.id === lastRestore.checkpointId), 'the pinned target is not among the newest two');
    const localRoot = path.join(repo.lockstepDir, 'local');
    const serving = (JSON.parse(fs.readFileSync(path.join(localRoot, 'state.json'), 'utf8')) as { serving: string }).serving;
    const oldDataDirs = fs.readdirSync(localRoot).filter((e) => /^data-/.test(e) && e !== serving);
    assert.equal(oldDataDirs.length, 1, 'the background upkeep left exactly the previous data directory');

    const result = await repo.lockstep('prune', '--keep', '2');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`checkpoints: removed ${listed.length - expected.size}, kept ${expected.size}`));
    for (const dir of oldDataDirs) assert.match(result.stdout, new RegExp(`removed data directory ${dir}\\b`));
    const reclaimed = Number(/reclaimed (\d+(?:\.\d+)?) MB/.exec(result.stdout)?.[1]);
    assert.ok(reclaimed > 0, `reports the space reclaimed:\n${result.stdout}`);

    const after = await repo.list();
    assert.deepEqual(new Set(after.map((c) => c.id)), expected);
    assert.ok(after.every((c) => c.restorable), 'every kept checkpoint is still restorable');
    assert.deepEqual(
      fs.readdirSync(localRoot).filter((e) => /^data-/.test(e)),
      [serving],
      'only the serving data directory is left',
    );
    assert.ok(repo.audit().some((e) => e.op === 'prune' && e.phase === 'finished'));
  });
});

describe('cli: restore with a dirty working tree', function () {
  const DIRTY_CODE = '// work in progress\n';
  const UNTRACKED = 'scratch/notes.txt';
  let repo: LockstepRepo;
  let s: Seeded;
  before(async () => {
    repo = await initRepo();
    s = await seed(repo);
    repo.write('app/contacts.js', DIRTY_CODE);
    repo.write(UNTRACKED, 'untracked work\n');
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('is refused (exit 2, as the README says) with a clear message, and nothing changes: data, HEAD, the dirty files', async () => {
    const before = await world(repo, [UNTRACKED]);
    const result = await repo.lockstep('restore', s.v1.checkpointId, '--yes');
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, /the working tree has uncommitted changes \(2 file\(s\): app\/contacts\.js, scratch\/notes\.txt\)/);
    assert.match(result.stderr, /--stash/);
    const after = await world(repo, [UNTRACKED]);
    assert.deepEqual(after, before);
    assert.equal(after.files['app/contacts.js'], DIRTY_CODE);
  });

  it('--stash stashes the work (untracked files included), names the stash, and restores', async () => {
    const stashesBefore = repo.git('stash', 'list', '--format=%H');
    const result = await repo.lockstep('restore', s.v1.checkpointId, '--stash', '--yes');
    assert.equal(result.code, 0, explain(result));
    const named = /your uncommitted work is stashed: (.+) \(git stash apply ([0-9a-f]{12})\)/.exec(result.stdout);
    assert.ok(named, `the output names the stash:\n${result.stdout}`);
    assert.match(named[1]!, new RegExp(`lockstep: before restore to ${s.v1.checkpointId}`));

    const stashes = repo.git('stash', 'list', '--format=%H %s').split('\n');
    assert.equal(stashes.length, (stashesBefore === '' ? 0 : stashesBefore.split('\n').length) + 1);
    assert.ok(stashes[0]!.startsWith(named[2]!), 'the named stash is the newest');
    assert.equal(repo.git('show', 'stash@{0}:app/contacts.js'), DIRTY_CODE.trimEnd());
    assert.equal(repo.git('show', `stash@{0}^3:${UNTRACKED}`), 'untracked work', 'the untracked file is in the stash');

    assertCodeIs(repo, s.v1);
    assert.ok(!fs.existsSync(repo.path(UNTRACKED)));
    assert.deepEqual(await fingerprint(repo.url), s.v1.data);
    undoId = /undo: lockstep restore (\S+)/.exec(result.stdout)?.[1];
  });

  let undoId: string | undefined;
  it('undo is the exact inverse: data, code and branch back, the stash re-applied (index kept), the restore branch deleted, each said', async () => {
    assert.ok(undoId, 'the stash restore printed its undo');
    const restoreBranch = `lockstep/restore-${s.v1.sha.slice(0, 7)}`;
    assert.equal(repo.git('branch', '--show-current'), restoreBranch);
    const dry = await repo.lockstep('restore', undoId, '--dry-run');
    assert.match(dry.stdout, new RegExp(`undoes the restore to ${s.v1.checkpointId}: also re-applies the work it stashed .*deletes its branch ${restoreBranch.replace('/', '\\/')}`));
    const stashCount = repo.git('stash', 'list').split('\n').filter(Boolean).length;

    const result = await repo.lockstep('restore', undoId, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, new RegExp(`undone: deleted branch ${restoreBranch.replace('/', '\\/')}, which that restore created`));
    assert.match(result.stdout, /undone: re-applied the work that restore had stashed \(index kept\)/);
    assert.deepEqual(await fingerprint(repo.url), s.mistake, 'the data of before the restore');
    assert.equal(repo.git('branch', '--show-current'), 'main');
    assert.equal(repo.head(), s.v2.sha);
    assert.equal(repo.read('app/contacts.js'), DIRTY_CODE, 'the modified file is back');
    assert.equal(repo.read(UNTRACKED), 'untracked work\n', 'the untracked file is back');
    assert.equal(repo.git('stash', 'list').split('\n').filter(Boolean).length, stashCount - 1, 'the stash entry is popped, not left behind');
    assert.equal(repo.git('branch', '--list', restoreBranch), '', 'the restore branch is gone');
  });
});

describe('cli: a restore that fails after the data fork', function () {
  let repo: LockstepRepo;
  let s: Seeded;
  before(async () => {
    repo = await initRepo();
    s = await seed(repo);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('puts the data and HEAD back as they were, and records the restore as compensated', async () => {
    const before = await world(repo);
    // git cannot check out while another git holds the index: the checkout fails after the database was repointed.
    const indexLock = repo.path('.git', 'index.lock');
    fs.writeFileSync(indexLock, '');
    let result;
    try {
      result = await repo.lockstep('restore', s.v1.checkpointId, '--yes');
    } finally {
      fs.rmSync(indexLock, { force: true });
    }
    assert.equal(result.code, 1, explain(result));
    assert.match(result.stderr, /index\.lock/);
    assert.match(result.stderr, /Everything was put back as it was \(checked\)/);
    assert.match(result.stderr, /Cutting over/, 'the failure came after the cut-over');

    const after = await world(repo);
    assert.deepEqual(after.data, before.data, 'the data of before');
    assert.equal(after.timeline, before.timeline, 'served from the timeline of before');
    assert.deepEqual([after.head, after.branch, after.branches, after.files, after.porcelain], [before.head, before.branch, before.branches, before.files, before.porcelain]);

    const status = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { operations: AuditRecord[] };
    const last = status.operations[0]!;
    assert.equal(last.op, 'restore');
    assert.equal(last.phase, 'compensated');
    assert.equal(last.checkpointId, s.v1.checkpointId);
    assert.match(last.detail ?? '', new RegExp(`database serving timeline ${before.timeline} as before`));
    assert.deepEqual(repo.audit().pop(), last, 'audit.jsonl says the same');
  });

  it('leaves nothing locked or half-done: the same restore then succeeds', async () => {
    const result = await repo.lockstep('restore', s.v1.checkpointId, '--yes');
    assert.equal(result.code, 0, explain(result));
    assert.deepEqual(await fingerprint(repo.url), s.v1.data);
    assertCodeIs(repo, s.v1);
  });
});

describe('cli: one restore at a time', function () {
  let repo: LockstepRepo;
  let s: Seeded;
  before(async () => {
    repo = await initRepo();
    s = await seed(repo);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('a second concurrent restore gets a clear "busy" error (exit 1) and changes nothing', async () => {
    // A post-checkout hook holds the first restore inside its checkout step (lock held,
    // database already repointed) until the test lets it go: no race on timing.
    const inCheckout = repo.path('.git', 'test-in-checkout');
    const release = repo.path('.git', 'test-release-checkout');
    fs.writeFileSync(
      repo.path('.git', 'hooks', 'post-checkout'),
      `#!/bin/sh\ntouch '${inCheckout}'\nn=0\nwhile [ ! -e '${release}' ] && [ $n -lt 1200 ]; do sleep 0.05; n=$((n+1)); done\n`,
      { mode: 0o755 },
    );
    const auditBefore = repo.audit().length;
    const journalBefore = repo.journalLines().length;
    const first = startLockstep(repo.dir, ['restore', s.v1.checkpointId, '--yes']);
    let second;
    try {
      await waitForFile(inCheckout, first.done);
      second = await repo.lockstep('restore', s.v2.checkpointId, '--yes');
    } finally {
      fs.writeFileSync(release, '');
    }
    const firstResult = await first.done;
    fs.rmSync(repo.path('.git', 'hooks', 'post-checkout'));

    assert.equal(second.code, 1, explain(second));
    assert.match(second.stderr, /restore in this repository is in use by another Lockstep process/);
    assert.match(second.stderr, /Another restore is running/);
    assert.equal(firstResult.code, 0, explain(firstResult));

    const events = repo.audit().slice(auditBefore);
    assert.deepEqual(
      events.map((e) => `${e.phase} ${e.checkpointId}`),
      [`started ${s.v1.checkpointId}`, `finished ${s.v1.checkpointId}`],
      'only the first restore happened',
    );
    assert.equal(repo.journalLines().length, journalBefore + 1, 'one pre-restore checkpoint, the first restore\'s');
    assert.deepEqual(await fingerprint(repo.url), s.v1.data);
    assertCodeIs(repo, s.v1);
  });
});
