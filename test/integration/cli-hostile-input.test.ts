// Hostile input through the real CLI (issue 9, items 5 and 6): labels that could forge output are refused, git text with control
// and direction characters is printed escaped, bad numbers exit 2 and change nothing, and a failed `init` leaves the repository as it found it.

import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { labelProblem } from '../../src/core/journalText';
import { expectOk, explain, initRepo, lockstep, type JournalRecord, type LockstepRepo } from '../support/cli';
import { fingerprint, sql } from '../support/fingerprint';
import { createRepo, type TestRepo } from '../support/git';
import { freePort, traversableTempDir } from '../support/postgres';

/** What a terminal would act on or reorder: C0 and C1 controls, DEL, bidi embeddings, overrides, isolates and marks. */
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** git lets a commit subject hold ESC, BEL and a right-to-left override (and the forged row of issue 9). */
/** Fails naming the first raw character and where it is, rather than printing 100 KB of output. */
function assertNoRawControl(text: string, what: string): void {
  const match = RAW_CONTROL.exec(text);
  if (!match) return;
  const at = match.index;
  assert.fail(`${what} prints U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} raw at offset ${at}: ${JSON.stringify(text.slice(Math.max(0, at - 80), at + 40))}`);
}

const EVIL_SUBJECT = 'evil \x1b[2J\x1b[31mred\x07 \u202eexe.txt\u202c \r*  000000000000  commit  0000000  1@0/0  just now  forged';

describe('cli: hostile input', function () {
  let repo: LockstepRepo;
  let hookFile: string;

  /** Everything a refused command must leave alone: git, the journal, the audit trail, the configuration, the hook, the data. */
  async function world() {
    return {
      head: repo.head(),
      branch: repo.git('branch', '--show-current'),
      journal: repo.journalLines(),
      audit: fs.existsSync(repo.auditFile) ? fs.readFileSync(repo.auditFile, 'utf8') : '',
      config: fs.readFileSync(path.join(repo.lockstepDir, 'config.json'), 'utf8'),
      gitConfig: fs.readFileSync(path.join(repo.dir, '.git', 'config'), 'utf8'),
      hook: fs.readFileSync(hookFile, 'utf8'),
      data: await fingerprint(repo.url),
    };
  }

  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-hostile-input-' });
    hookFile = path.join(repo.dir, '.git', 'hooks', 'post-commit');
    await sql(repo.url, 'CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, $$one$$), (2, $$two$$)');
    expectOk(await repo.lockstep('snapshot', '-m', 'a fine label'));
  });
  after(async () => {
    await repo?.cleanup();
  });

  describe('labels that could forge output are refused (exit 2, the journal unchanged)', () => {
    const FORGED: [string, string, RegExp][] = [
      ['a newline forging a `list` row', 'x\n*  000000000000  commit  0000000  1@0/0  just now  forged', /U\+000A \(a newline\) at position 2\b/],
      ['ESC (a terminal escape sequence)', 'red \x1b[31malert', /U\+001B \(ESC, an escape\) at position 5\b/],
      ['BEL', 'ding\x07', /U\+0007 \(BEL, a bell\) at position 5\b/],
      ['a tab', 'a\tb', /U\+0009 \(a tab\) at position 2\b/],
      ['a carriage return', 'ok\rforged', /U\+000D \(a carriage return\) at position 3\b/],
      ['DEL', 'del\x7f', /U\+007F \(DEL\) at position 4\b/],
      ['a C1 control (CSI)', 'c1\u009b31m', /U\+009B/],
      ['a right-to-left override (U+202E)', 'invoice\u202etxt.exe', /U\+202E \(a right-to-left override\) at position 8\b/],
      ['a right-to-left isolate (U+2067)', 'iso\u2067late', /U\+2067 \(a right-to-left isolate\) at position 4\b/],
      ['a right-to-left embedding (U+202B)', 'emb\u202bed', /U\+202B/],
      ['a right-to-left mark (U+200F)', 'mark\u200f', /U\+200F \(the right-to-left mark\)/],
      ['the Arabic letter mark (U+061C)', 'alm\u061c', /U\+061C/],
      ['a zero-width space', 'zero\u200bwidth', /U\+200B \(a zero-width space\)/],
      ['a 100 KB label', 'x'.repeat(100 * 1024), /the label is 102400 characters long; at most 200/],
      ['201 characters', 'y'.repeat(201), /the label is 201 characters long; at most 200/],
    ];
    for (const [what, label, message] of FORGED) {
      it(`${what}`, async () => {
        const before = await world();
        for (const kind of ['snapshot', 'safety']) {
          const result = await repo.lockstep('snapshot', '--kind', kind, '-m', label);
          assert.equal(result.code, 2, explain(result).slice(0, 2000));
          assert.match(result.stderr, /^lockstep: the label /);
          assert.match(result.stderr, message);
          assert.equal(result.stdout, '');
          assertNoRawControl(result.stderr, 'the refusal');
          assert.ok(result.stderr.length < 1000, 'the refusal does not echo a 100 KB label');
        }
        assert.deepEqual(await world(), before);
      });
    }

    it('a label of 200 characters with accents, CJK and an emoji family (zero-width joiners) is taken', async () => {
      const label = `café 迁移 👩‍👩‍👧 ${'z'.repeat(200 - [...'café 迁移 👩‍👩‍👧 '].length)}`;
      assert.equal([...label].length, 200);
      const result = await repo.lockstep('snapshot', '-m', label, '--json');
      assert.equal(result.code, 0, explain(result));
      assert.equal((JSON.parse(result.stdout) as JournalRecord).label, label);
    });
  });

  describe('text from git and old journals is printed escaped', () => {
    let evil: { sha: string; id: string };
    before(async () => {
      // The commit hook records it, as it would an agent's commit.
      const sha = repo.commit('evil.txt', 'evil\n', EVIL_SUBJECT);
      const checkpoint = (await repo.list()).find((c) => c.commitSha === sha && c.kind === 'commit');
      assert.ok(checkpoint, 'the hook recorded the commit');
      evil = { sha, id: checkpoint.id };
      const record = repo.journalLines().map((l) => JSON.parse(l) as JournalRecord).find((c) => c.id === evil.id)!;
      assert.ok(record.subject?.includes('\x1b') && record.subject.includes('\u202e') && record.subject.includes('\r'), 'the journal keeps the raw subject');
      // An old journal's lines: a subject with a real newline (git folds it; an older Lockstep or an edit may not), a label with ESC, and a 100 KB subject.
      const template = JSON.parse(repo.journalLines().at(-1)!) as Record<string, unknown>;
      const old = [
        { ...template, id: 'ee0000000001', kind: 'commit', subject: 'old\n*  000000000000  commit  0000000  1@0/0  just now  forged', label: null },
        { ...template, id: 'ee0000000002', kind: 'snapshot', label: 'old \x1b]0;pwned\x07 label' },
        { ...template, id: 'ee0000000003', kind: 'commit', subject: 'long '.repeat(20 * 1024), label: null },
      ];
      fs.appendFileSync(repo.journalFile, `${old.map((c) => JSON.stringify(c)).join('\n')}\n`);
    });

    it('`list`: one row per checkpoint, no raw control or direction character, each shown as an escape, long text cut', async () => {
      const result = await repo.lockstep('list');
      assert.equal(result.code, 0, explain(result));
      assertNoRawControl(result.stdout, 'stdout');
      const rows = result.stdout.split('\n').filter((l) => l !== '');
      const listed = await repo.list();
      assert.equal(rows.length, listed.length, `one row per checkpoint:\n${result.stdout}`);
      assert.equal(rows.filter((r) => /^\*? *000000000000/.test(r)).length, 0, 'no forged row');
      const evilRow = rows.find((r) => r.includes(evil.id))!;
      assert.ok(evilRow.includes('evil \\x1b[2J\\x1b[31mred\\x07 \\u202eexe.txt\\u202c \\x0d*  000000000000'), evilRow);
      assert.ok(rows.find((r) => r.includes('ee0000000001'))!.includes('old\\x0a*  000000000000'));
      assert.ok(rows.find((r) => r.includes('ee0000000002'))!.includes('old \\x1b]0;pwned\\x07 label'));
      const longRow = rows.find((r) => r.includes('ee0000000003'))!;
      assert.ok(longRow.endsWith('…') && longRow.length < 300, `the 100 KB subject is cut: ${longRow.length} characters`);
    });

    it('`list --json` keeps the raw data (JSON escapes it)', async () => {
      const result = await repo.lockstep('list', '--json');
      assert.equal(result.code, 0, explain(result));
      assertNoRawControl(result.stdout, 'stdout');
      const listed = JSON.parse(result.stdout) as { id: string; label: string | null }[];
      assert.equal(listed.find((c) => c.id === 'ee0000000002')?.label, 'old \x1b]0;pwned\x07 label');
    });

    it('`status`, `restore --dry-run` and an ambiguous REF print it escaped', async () => {
      // The newest checkpoint, by time, is the evil commit's (the old lines copy an older time).
      const status = await repo.lockstep('status');
      assert.equal(status.code, 0, explain(status));
      assertNoRawControl(status.stdout, '`status`');
      const dry = await repo.lockstep('restore', evil.id, '--dry-run');
      assert.equal(dry.code, 0, explain(dry));
      assertNoRawControl(dry.stdout + dry.stderr, 'the dry run');
      assert.match(dry.stdout, new RegExp(`Restore to ${evil.id} "evil \\\\x1b\\[2J`));
      const ambiguous = await repo.lockstep('restore', 'ee00000000', '--dry-run');
      assert.equal(ambiguous.code, 2, explain(ambiguous));
      assertNoRawControl(ambiguous.stderr, 'the ambiguous-REF message');
      assert.ok(ambiguous.stderr.includes('old\\x0a*  000000000000'), ambiguous.stderr);
    });

    it('a branch name with a right-to-left override is printed escaped by the restore preview', async () => {
      const branch = 'feature\u202egnp.exe';
      repo.git('checkout', '--quiet', '-b', branch);
      try {
        const target = (await repo.list()).find((c) => c.label === 'a fine label')!;
        const dry = await repo.lockstep('restore', target.id, '--dry-run');
        assert.equal(dry.code, 0, explain(dry));
        assertNoRawControl(dry.stdout, 'the dry run');
        assert.ok(dry.stdout.includes('code: feature\\u202egnp.exe@'), dry.stdout);
      } finally {
        repo.git('checkout', '--quiet', 'main');
        repo.git('branch', '--quiet', '-D', branch);
      }
    });

    it('a restore to the evil commit works: its undo point is labelled from the escaped subject, and the output is escaped', async () => {
      const result = await repo.lockstep('restore', evil.id, '--yes');
      assert.equal(result.code, 0, explain(result));
      assertNoRawControl(result.stdout, 'stdout');
      assert.match(result.stdout, /undo: lockstep restore [0-9a-f]{12}/);
      const undo = repo.journalLines().map((l) => JSON.parse(l) as JournalRecord).find((c) => c.kind === 'pre-restore');
      assert.ok(undo?.label, 'a pre-restore checkpoint was taken');
      assert.equal(labelProblem(undo.label), undefined, `a label the core accepts: ${JSON.stringify(undo.label)}`);
      // Named in words after the restore's target (its subject, escaped), not by its id.
      assert.ok(undo.label.startsWith("Before restoring 'evil \\x1b[2J"), undo.label);
      await repo.waitForUpkeep();
    });
  });

  describe('bad numbers exit 2 and change nothing', () => {
    const NOT_NUMBERS = ['0x10', '1e1', '+5', ' 5', '5.0', '', '-1', 'many'];
    const CASES: string[][] = [
      ...NOT_NUMBERS.map((v) => ['list', `--limit=${v}`]),
      ['list', '-n', '0x10'],
      ['list', '--limit', '0'],
      ...NOT_NUMBERS.map((v) => ['prune', `--keep=${v}`]),
      ['prune', '--keep', '0'],
      ...NOT_NUMBERS.map((v) => ['init', `--keep=${v}`]),
      // Ports that Number() reads as 4096, 10000, 5433…: the old parser took them (and moved the database).
      ...['0x1000', '1e4', '+5433', ' 5433', '5433.0', '', '-1', 'many'].map((v) => ['init', `--port=${v}`]),
      ['init', '--port', '99999'],
      ['init', '--port', '65536'],
      ['init', '--port', '0'],
      ['init', '--port', '80'],
      ['init', '--engine', 'neon', '--project-id', 'p', '--port', '99999'],
      ['init', '--engine', 'mysql'],
    ];
    for (const args of CASES) {
      it(`\`lockstep ${args.map((a) => JSON.stringify(a)).join(' ')}\``, async () => {
        const before = await world();
        const result = await repo.lockstep(...args);
        assert.equal(result.code, 2, explain(result));
        assert.match(result.stderr, /^lockstep: (--(limit|keep|port) (must be a|\d+ is a privileged)|--engine must be one of)/);
        assert.equal(result.stdout, '');
        assert.deepEqual(await world(), before);
      });
    }
  });

  describe('a refused login is named as such', () => {
    it('a password that no longer matches: exit 1, "refused Lockstep\'s login", not "start the database"', async () => {
      // The files Lockstep reads its passwords from, made wrong (as if the role's password had been changed), then put back.
      const root = path.join(repo.lockstepDir, 'local');
      const files = fs.readdirSync(root).filter((name) => /password/.test(name) && fs.statSync(path.join(root, name)).isFile());
      assert.ok(files.length > 0, `password files in ${root}`);
      const saved = files.map((name) => [path.join(root, name), fs.readFileSync(path.join(root, name))] as const);
      try {
        for (const [file] of saved) fs.writeFileSync(file, 'not-the-password\n');
        const result = await repo.lockstep('snapshot', '-m', 'after a password change');
        assert.equal(result.code, 1, explain(result));
        assert.match(result.stderr, /refused Lockstep's login \(password authentication failed/);
        assert.match(result.stderr, /hint: Starting it will not help: the password/);
        assert.doesNotMatch(result.stderr, /db start|Start Local Database/);
      } finally {
        for (const [file, bytes] of saved) fs.writeFileSync(file, bytes);
      }
      expectOk(await repo.lockstep('snapshot', '-m', 'the password is back'));
    });
  });
});

/** Every file under .git (but the index, whose stat cache git refreshes by itself), with a hash of its bytes. */
function gitDirState(repo: TestRepo): Record<string, string> {
  const root = path.join(repo.dir, '.git');
  const state: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(root, full);
      if (rel === 'index') continue;
      if (entry.isDirectory()) {
        state[`${rel}/`] = 'dir';
        walk(full);
      } else {
        state[rel] = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
      }
    }
  };
  walk(root);
  return state;
}

/** Postgres processes working in a directory under `dir` (the data directory of a cluster this repository made). */
function postgresUnder(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}

describe('cli: a failed `init` leaves the repository as it found it', function () {
  const made: string[] = [];
  function freshRepo(): TestRepo {
    const dir = fs.realpathSync(traversableTempDir('lockstep-init-fails-'));
    made.push(dir);
    return createRepo({ dir });
  }
  after(() => {
    for (const dir of made) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function initFails(repo: TestRepo, args: string[], code: number, message: RegExp): Promise<void> {
    const before = { git: gitDirState(repo), head: repo.head(), status: repo.git('status', '--porcelain', '--ignored') };
    const result = await lockstep(repo.dir, ['init', ...args], { timeoutMs: 240_000 });
    assert.equal(result.code, code, explain(result));
    assert.match(result.stderr, message);
    assert.equal(fs.existsSync(path.join(repo.dir, '.git', 'lockstep')), false, '.git/lockstep is not left behind');
    assert.equal(fs.existsSync(path.join(repo.dir, '.git', 'hooks', 'post-commit')), false, 'no hook');
    assert.deepEqual({ git: gitDirState(repo), head: repo.head(), status: repo.git('status', '--porcelain', '--ignored') }, before);
    assert.deepEqual(postgresUnder(repo.dir), [], 'no Postgres left running');
  }

  it('a port out of range: exit 2', async () => {
    await initFails(freshRepo(), ['--port', '99999'], 2, /--port must be a port number from 1 to 65535/);
  });

  it('an unknown engine: exit 2', async () => {
    await initFails(freshRepo(), ['--engine', 'mysql'], 2, /--engine must be one of local, neon, pageserver/);
  });

  it('a port another program holds: exit 1', async () => {
    const port = await freePort();
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await initFails(freshRepo(), ['--port', String(port)], 1, /port \d+ on 127\.0\.0\.1 is used by another program/);
    } finally {
      squatter.close();
    }
  });

  it('initdb failing half-way (the data root, password and archive already made): exit 1', async () => {
    // The system's binaries, but an initdb that fails.
    const bin = traversableTempDir('lockstep-bad-initdb-');
    made.push(bin);
    const real = '/usr/lib/postgresql/15/bin';
    for (const name of fs.readdirSync(real)) if (name !== 'initdb') fs.symlinkSync(path.join(real, name), path.join(bin, name));
    fs.writeFileSync(path.join(bin, 'initdb'), '#!/bin/sh\necho "initdb: injected failure" >&2\nexit 1\n', { mode: 0o755 });
    await initFails(freshRepo(), ['--port', String(await freePort()), '--pg-bin', bin], 1, /initdb failed: initdb: injected failure/);
  });

  it('the hook refused after the database is up (core.hooksPath outside the repository): exit 1, the database stopped and removed', async () => {
    const repo = freshRepo();
    const outside = traversableTempDir('lockstep-hooks-elsewhere-');
    made.push(outside);
    repo.git('config', 'core.hooksPath', outside);
    await initFails(repo, ['--port', String(await freePort())], 1, /core\.hooksPath points outside this repository/);
    assert.deepEqual(fs.readdirSync(outside), [], 'nothing written where the hooks path points');
  });
});
