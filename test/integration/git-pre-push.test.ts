// The pre-push hook (src/git/pre-push.sh, `lockstep record --push`) and push refs (`restore --to push`) with real `git push`es to a bare remote, a real local Postgres and the real CLI.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dryRunInPushArgs, PUSH_RECORD_BUDGET_MS } from '../../src/cli/commands/record';
import { PUSH_RECORD_KILL_MS, PUSH_RECORD_TERM_MS } from '../../src/git/hook';
import { parsePushLines, pushLabel, remoteDisplayName } from '../../src/core/markers';
import { expectOk, explain, initRepo, shell, type CliResult, type JournalRecord, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';
import { git, makeTempDir, removeTempDirs } from '../support/git';

const ZERO = '0'.repeat(40);

interface PushRecord extends JournalRecord {
  push?: { remote: string; remoteRef: string; localRef: string };
}

/** `git push ...args` as a person types it, through a shell; the hooks run as git runs them. */
function push(repo: LockstepRepo, ...args: string[]): Promise<CliResult> {
  return shell(repo.dir, 'git push "$@"', args);
}

function records(repo: LockstepRepo): PushRecord[] {
  return repo.journalLines().map((l) => JSON.parse(l) as PushRecord);
}

function pushRecords(repo: LockstepRepo): PushRecord[] {
  return records(repo).filter((r) => r.kind === 'push');
}

/** What the bare remote's ref points at (empty when absent). */
function remoteRef(bare: string, ref: string): string {
  try {
    return git(bare, ['rev-parse', '--verify', '--quiet', ref]);
  } catch {
    return '';
  }
}

function bareRemote(): string {
  const bare = path.join(makeTempDir('lockstep-remote-'), 'remote.git');
  git(path.dirname(bare), ['init', '--quiet', '--bare', bare]);
  return bare;
}

async function rows(url: string): Promise<string[]> {
  return (await sql(url, 'SELECT v FROM shipped ORDER BY v')).map((r) => String(r.v));
}

describe('git: the pre-push hook records a checkpoint for each push', function () {
  let repo: LockstepRepo;
  let bare: string;

  before(async () => {
    repo = await initRepo({ initArgs: ['--pre-push'] });
    bare = bareRemote();
    repo.git('remote', 'add', 'origin', bare);
    await sql(repo.url, 'CREATE TABLE shipped (v text)');
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  it('`lockstep init --pre-push` installs it beside the commit hook; installing again changes nothing', async () => {
    const status = expectOk(await repo.lockstep('hook', 'status', '--pre-push'));
    assert.match(status.stdout, /pre-push hook: installed/);
    assert.match(status.stdout, /record --push/);
    expectOk(await repo.lockstep('hook', 'status'), 'the post-commit hook is installed too');
    const hooksDir = path.join(repo.dir, '.git', 'hooks');
    assert.ok(fs.statSync(path.join(hooksDir, 'pre-push')).mode & 0o100, 'executable');
    assert.match(fs.readFileSync(path.join(hooksDir, 'pre-push'), 'utf8'), /^#!\/bin\/sh\n# Lockstep pre-push hook/);
    assert.match(expectOk(await repo.lockstep('hook', 'install', '--pre-push')).stdout, /pre-push hook unchanged/);
  });

  it('a push records a "push" checkpoint: the pushed commit, "pushed main to origin", the database position at the push', async () => {
    await sql(repo.url, "INSERT INTO shipped VALUES ('v1')");
    repo.commit('app.js', 'v1\n', 'v1');
    const sha = repo.head();
    const before = pushRecords(repo).length;
    const result = await push(repo, 'origin', 'main');
    assert.equal(result.code, 0, explain(result));
    assert.equal(remoteRef(bare, 'refs/heads/main'), sha, 'the push went through');
    const pushes = pushRecords(repo);
    assert.equal(pushes.length, before + 1, explain(result));
    const pushed = pushes.at(-1)!;
    assert.equal(pushed.commitSha, sha);
    assert.equal(pushed.label, 'pushed main to origin');
    assert.equal(pushed.branch, 'main');
    assert.deepEqual(pushed.push, { remote: 'origin', remoteRef: 'refs/heads/main', localRef: 'refs/heads/main' });
    // Its position is the data as pushed: the commit's checkpoint, taken after the same insert, is at or before it.
    const commit = records(repo).find((r) => r.kind === 'commit' && r.commitSha === sha)!;
    assert.equal(pushed.timelineId, commit.timelineId);
    assert.ok(pushed.lsn !== null && commit.lsn !== null);

    const listed = (await repo.list()).find((c) => c.id === pushed.id);
    assert.equal(listed?.kind, 'push');
    assert.equal(listed?.restorable, true);
    const text = expectOk(await repo.lockstep('list')).stdout;
    assert.match(text, new RegExp(`${pushed.id}\\s+push\\s+${sha.slice(0, 7)}.*pushed main to origin`));
  });

  it('another branch to another name, and an annotated tag (peeled to its commit), each with its own label', async () => {
    repo.git('checkout', '--quiet', '-b', 'feature');
    await sql(repo.url, "INSERT INTO shipped VALUES ('feature')");
    const featureSha = repo.commit('feature.js', 'f\n', 'feature work');
    repo.git('tag', '-a', 'v1.0', '-m', 'release 1.0');
    const result = await push(repo, 'origin', 'feature:release', 'v1.0');
    assert.equal(result.code, 0, explain(result));
    const [second, first] = pushRecords(repo).slice(-2).reverse();
    const byLabel = new Map([first, second].map((r) => [r!.label, r!]));
    assert.equal(byLabel.get('pushed feature to origin/release')?.commitSha, featureSha);
    assert.equal(byLabel.get('pushed tag v1.0 to origin')?.commitSha, featureSha, 'the tag object is peeled to its commit');
    assert.equal(byLabel.get('pushed tag v1.0 to origin')?.branch, null);
    // One push, one moment: `push` is the checked-out branch's, `push~1` the push before.
    expectOk(await repo.lockstep('restore', 'push', '--dry-run'));
    repo.git('checkout', '--quiet', 'main');
  });

  it('deleting a remote ref, and a dry run, record nothing', async () => {
    expectOk(await push(repo, 'origin', 'main:refs/heads/to-delete'), 'git push');
    const before = pushRecords(repo).length;
    const deletion = await push(repo, 'origin', ':to-delete');
    assert.equal(deletion.code, 0, explain(deletion));
    assert.equal(remoteRef(bare, 'refs/heads/to-delete'), '', 'the ref is deleted on the remote');
    assert.equal(pushRecords(repo).length, before, `a deletion records nothing\n${explain(deletion)}`);
    repo.commit('dry.js', 'dry\n', 'for a dry run');
    const dry = await push(repo, '--dry-run', 'origin', 'main');
    assert.equal(dry.code, 0, explain(dry));
    assert.equal(pushRecords(repo).length, before, `a dry run pushes nothing, so nothing is recorded\n${explain(dry)}`);
    assert.notEqual(remoteRef(bare, 'refs/heads/main'), repo.head());
  });

  it('a push to a URL names the URL; hostile ref and remote names are stored escaped and printed safely', async () => {
    const hostileBranch = 'feat\u202eerutan';
    repo.git('checkout', '--quiet', '-b', hostileBranch);
    repo.commit('hostile.js', 'h\n', 'hostile branch');
    const hostileRemote = `ev\u202eil`;
    repo.git('remote', 'add', hostileRemote, bare);
    const result = await push(repo, hostileRemote, `${hostileBranch}:refs/heads/x\u200by`);
    assert.equal(result.code, 0, explain(result));
    const pushed = pushRecords(repo).at(-1)!;
    assert.equal(pushed.label, 'pushed feat\\u202eerutan to ev\\u202eil/x\\u200by', 'control and direction characters become visible escapes');
    assert.equal(pushed.push?.remote, hostileRemote, 'the raw name stays in its push field, for push:REMOTE');
    const text = expectOk(await repo.lockstep('list')).stdout;
    assert.doesNotMatch(text, /[\u202e\u200b]/, 'nothing that reorders or hides text reaches the terminal');

    const byUrl = await push(repo, bare, `${hostileBranch}:refs/heads/by-url`);
    assert.equal(byUrl.code, 0, explain(byUrl));
    assert.equal(pushRecords(repo).at(-1)!.label, `pushed feat\\u202eerutan to ${bare}/by-url`);
    repo.git('checkout', '--quiet', 'main');
  });

  it('`restore --to push` brings back the data and the code the last push shipped with; push:origin/main and push~N name earlier ones', async () => {
    await sql(repo.url, "INSERT INTO shipped VALUES ('v2')");
    repo.commit('app.js', 'v2\n', 'v2');
    const v2 = repo.head();
    const shipped: Fingerprint = await fingerprint(repo.url);
    const result = await push(repo, 'origin', 'main');
    assert.equal(result.code, 0, explain(result));
    // After the push: more work, and a mistake.
    await sql(repo.url, "INSERT INTO shipped VALUES ('after the push'); DELETE FROM shipped WHERE v = 'v1'");
    repo.commit('app.js', 'v3\n', 'v3, not pushed');

    const restored = await repo.lockstep('restore', '--to', 'push', '--yes');
    assert.equal(restored.code, 0, explain(restored));
    assert.deepEqual(await fingerprint(repo.url), shipped, 'the data as the push shipped it');
    assert.equal(repo.head(), v2, 'and its code');
    assert.equal(repo.read('app.js'), 'v2\n');

    // push:origin/main is the same push; push:origin/main~1 the first push of main.
    const latest = pushRecords(repo).filter((r) => r.push?.remote === 'origin' && r.push.remoteRef === 'refs/heads/main');
    const plan = expectOk(await repo.lockstep('restore', 'push:origin/main~1', '--dry-run'));
    assert.match(plan.stdout, new RegExp(latest.at(-2)!.commitSha!.slice(0, 7)));
    const feature = expectOk(await repo.lockstep('restore', '--to', 'push:origin/release', '--data-only', '--yes'));
    assert.match(feature.stdout + feature.stderr, /restored|Restored/);
    assert.deepEqual(await rows(repo.url), ['feature', 'v1']);
    // `pushed` reads as `push`.
    expectOk(await repo.lockstep('restore', '--to', 'pushed', '--data-only', '--yes'));
    assert.deepEqual(await fingerprint(repo.url), shipped);
  });

  it('an unknown push ref is bad input (exit 2) and changes nothing', async () => {
    const journal = repo.journalLines();
    const data = await fingerprint(repo.url);
    const head = repo.head();
    for (const ref of ['push:nope', 'push:origin/nope', 'push~99']) {
      const result = await repo.lockstep('restore', '--to', ref, '--yes');
      assert.equal(result.code, 2, explain(result));
      assert.match(result.stderr, ref === 'push~99' ? /only \d+ push checkpoint/ : /no push to "(nope|origin\/nope)" has a checkpoint/);
    }
    const both = await repo.lockstep('restore', 'push', '--to', 'push', '--yes');
    assert.equal(both.code, 2, explain(both));
    assert.deepEqual(repo.journalLines(), journal);
    assert.deepEqual(await fingerprint(repo.url), data);
    assert.equal(repo.head(), head);
  });

  it('with the database stopped the push goes through; it is recorded where the database stopped, and says so', async () => {
    const branch = repo.git('branch', '--show-current');
    expectOk(await repo.lockstep('db', 'stop'));
    try {
      repo.commit('stopped.js', 's\n', 'while stopped');
      const result = await push(repo, 'origin', `${branch}:refs/heads/while-stopped`);
      assert.equal(result.code, 0, explain(result));
      assert.equal(remoteRef(bare, 'refs/heads/while-stopped'), repo.head());
      assert.match(result.stderr, /the database is stopped: this push is recorded where it stopped/);
      assert.equal(pushRecords(repo).at(-1)?.commitSha, repo.head());
    } finally {
      expectOk(await repo.lockstep('db', 'start'));
    }
  });

  it('a CLI that does not even start in time is stopped by the hook: the push goes through, and the hook says it was not recorded', async () => {
    // Holds Node's start-up (before any handler of ours exists) past the hook's bound, as a very slow machine would.
    const slow = path.join(makeTempDir('lockstep-slow-start-'), 'slow-start.cjs');
    fs.writeFileSync(slow, 'const until = Date.now() + 60000; while (Date.now() < until);\n');
    const before = pushRecords(repo).length;
    const branch = repo.git('branch', '--show-current');
    repo.commit('slow.js', 's\n', 'while Node is slow');
    const result = await shell(repo.dir, 'git push "$@"', ['origin', `${branch}:refs/heads/while-slow`], { env: { NODE_OPTIONS: `--require ${slow}` } });
    assert.equal(result.code, 0, explain(result));
    assert.equal(remoteRef(bare, 'refs/heads/while-slow'), repo.head(), 'the push went through');
    assert.match(result.stderr, /lockstep: could not record a checkpoint for this push: stopped by the pre-push hook after 4 s/);
    assert.equal(pushRecords(repo).length, before);
    assert.match(fs.readFileSync(repo.logFile, 'utf8'), /record failed: push: stopped by the pre-push hook/);
  });

  it('with the database hung the push goes through, unrecorded, with one line saying so (and in the log)', async () => {
    const before = pushRecords(repo).length;
    const branch = repo.git('branch', '--show-current');
    repo.commit('hung.js', 'h\n', 'while hung');
    const pid = repo.postmasterPid();
    process.kill(pid, 'SIGSTOP');
    let result: CliResult;
    try {
      result = await push(repo, 'origin', `${branch}:refs/heads/while-hung`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.equal(result.code, 0, explain(result));
    assert.equal(remoteRef(bare, 'refs/heads/while-hung'), repo.head(), 'the push went through');
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('lockstep:'));
    assert.equal(lines.length, 1, explain(result));
    assert.match(lines[0]!, /lockstep: could not record a checkpoint for this push: /);
    assert.equal(pushRecords(repo).length, before, 'nothing recorded');
    assert.match(fs.readFileSync(repo.logFile, 'utf8'), /record failed: push/);
  });
});

describe('git: the pre-push hook chains the one that was there', function () {
  let repo: LockstepRepo;
  let bare: string;
  let hookFile: string;
  let log: string;
  const original = (log: string) => `#!/bin/sh
# the project's own pre-push hook
printf 'args %s %s\\n' "$1" "$2" >> '${log}'
while read -r lref lsha rref rsha; do printf 'line %s %s %s %s\\n' "$lref" "$lsha" "$rref" "$rsha" >> '${log}'; done
[ ! -e "$(dirname "$0")/../refuse-push" ] || { echo 'project hook: refusing the push' >&2; exit 1; }
`;

  before(async () => {
    repo = await initRepo();
    bare = bareRemote();
    repo.git('remote', 'add', 'origin', bare);
    log = path.join(makeTempDir('lockstep-prepush-log-'), 'hook.log');
    hookFile = path.join(repo.dir, '.git', 'hooks', 'pre-push');
    fs.writeFileSync(hookFile, original(log), { mode: 0o755 });
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  it('install keeps the existing hook, which runs first with the same arguments and lines', async () => {
    const install = expectOk(await repo.lockstep('hook', 'install', '--pre-push'));
    assert.match(install.stdout, /pre-push hook installed: .*\n {2}your existing hook is kept and runs first: .*pre-push\.lockstep-chained/);
    const sha = repo.commit('a.js', 'a\n', 'a');
    const result = await push(repo, 'origin', 'main');
    assert.equal(result.code, 0, explain(result));
    assert.equal(fs.readFileSync(log, 'utf8'), `args origin ${bare}\nline refs/heads/main ${sha} refs/heads/main ${ZERO}\n`);
    const pushed = repo.journalLines().map((l) => JSON.parse(l) as PushRecord).filter((r) => r.kind === 'push');
    assert.equal(pushed.length, 1);
    assert.equal(pushed[0]!.commitSha, sha);
  });

  it("the project hook's refusal still refuses the push, and nothing is recorded", async () => {
    fs.writeFileSync(path.join(repo.dir, '.git', 'refuse-push'), '');
    try {
      const sha = repo.commit('b.js', 'b\n', 'b');
      const pushes = () => repo.journalLines().filter((l) => (JSON.parse(l) as PushRecord).kind === 'push').length;
      const before = pushes();
      const result = await push(repo, 'origin', 'main');
      assert.notEqual(result.code, 0, explain(result));
      assert.match(result.stderr, /project hook: refusing the push/);
      assert.notEqual(remoteRef(bare, 'refs/heads/main'), sha, 'not pushed');
      assert.equal(pushes(), before, 'nothing recorded for a push that did not happen');
    } finally {
      fs.rmSync(path.join(repo.dir, '.git', 'refuse-push'));
    }
  });

  it('uninstall puts the project hook back byte for byte; the post-commit hook stays', async () => {
    const result = expectOk(await repo.lockstep('hook', 'uninstall', '--pre-push'));
    assert.match(result.stdout, /pre-push hook removed; your earlier hook is back/);
    assert.equal(fs.readFileSync(hookFile, 'utf8'), original(log));
    assert.ok(fs.statSync(hookFile).mode & 0o100);
    assert.equal(fs.existsSync(`${hookFile}.lockstep-chained`), false);
    expectOk(await repo.lockstep('hook', 'status'), 'the post-commit hook is still installed');
    const status = await repo.lockstep('hook', 'status', '--pre-push');
    assert.equal(status.code, 1);
    assert.match(status.stdout, /another pre-push hook is in the way/);
  });
});

describe('git: what the pre-push hook is given, read', function () {
  it("git's lines: deletions and malformed lines dropped", () => {
    const sha = 'a'.repeat(40);
    const refs = parsePushLines(`refs/heads/main ${sha} refs/heads/main ${ZERO}\n(delete) ${ZERO} refs/heads/old ${sha}\ngarbage\nHEAD ${sha} refs/heads/x ${sha}\n`);
    assert.deepEqual(
      refs.map((r) => r.localRef),
      ['refs/heads/main', 'HEAD'],
    );
  });

  it('labels: branch, renamed branch, tag; a URL without its user and password', () => {
    const sha = 'b'.repeat(40);
    const ref = (localRef: string, remoteRef: string) => ({ localRef, localSha: sha, remoteRef, remoteSha: ZERO });
    assert.equal(pushLabel(ref('refs/heads/main', 'refs/heads/main'), 'origin'), 'pushed main to origin');
    assert.equal(pushLabel(ref('HEAD', 'refs/heads/main'), 'origin'), 'pushed HEAD to origin/main');
    assert.equal(pushLabel(ref('refs/tags/v1', 'refs/tags/v1'), 'up'), 'pushed tag v1 to up');
    assert.equal(remoteDisplayName('https://me:ghp_secret@example.com/a/b.git'), 'https://example.com/a/b.git');
    assert.equal(pushLabel(ref('refs/heads/main', 'refs/heads/main'), 'https://x-access-token:tok@example.com/r.git'), 'pushed main to https://example.com/r.git');
    assert.equal(pushLabel(ref('refs/heads/a\x1b[31mred', 'refs/heads/a\x1b[31mred'), 'origin'), 'pushed a\\x1b[31mred to origin');
    assert.ok([...pushLabel(ref(`refs/heads/${'x'.repeat(300)}`, `refs/heads/${'x'.repeat(300)}`), 'origin')].length <= 200);
  });

  it("the script's bound is the one the CLI's budget is set below", () => {
    const script = fs.readFileSync(path.resolve(__dirname, '..', '..', 'src', 'git', 'pre-push.sh'), 'utf8');
    const term = Number(/^lockstep_term_s=([\d.]+)$/m.exec(script)?.[1]) * 1000;
    const kill = Number(/^lockstep_kill_s=([\d.]+)$/m.exec(script)?.[1]) * 1000;
    assert.equal(term, PUSH_RECORD_TERM_MS);
    assert.equal(term + kill, PUSH_RECORD_KILL_MS);
    assert.ok(PUSH_RECORD_BUDGET_MS < PUSH_RECORD_TERM_MS, 'record gives up (and says why) before the hook stops it');
  });

  it('a dry run, from git push’s own arguments', () => {
    assert.equal(dryRunInPushArgs(['git', 'push', '--dry-run', 'origin']), true);
    assert.equal(dryRunInPushArgs(['git', '-c', 'a=b', 'push', '-fn']), true);
    assert.equal(dryRunInPushArgs(['git', 'push', '-o', 'notify', 'origin']), false);
    assert.equal(dryRunInPushArgs(['git', 'push', '-onotify']), false);
    assert.equal(dryRunInPushArgs(['git', 'push', 'origin', 'main']), false);
    assert.equal(dryRunInPushArgs(['git', 'push', '--', '-n']), false);
    assert.equal(dryRunInPushArgs(['git', 'commit', '-n']), false);
  });
});
