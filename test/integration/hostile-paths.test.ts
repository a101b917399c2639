// Repository paths with characters that sh or Postgres' %-placeholders could misread: init, commits through the hook, snapshot, preview, restore and undo through the real CLI.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectOk, explain, initRepo, shell, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

/** Everything at once: non-ASCII, a Postgres placeholder (`%f`), both quotes, a backslash, and two command substitutions that leave a trace if a shell runs them. */
const ALL_OF_THEM = `ünï 100%free 'q' "d" \\n $(touch PWNED) \`touch PWNED2\` `;
const TRACES = ['PWNED', 'PWNED2'];
const SYSTEM_DATA_ROOT = '/var/lib/lockstep';

interface Place {
  title: string;
  /** Start of the repository directory's name (a few random characters follow). */
  name: string;
  /** Mode of the directory that holds the repository: 0700 keeps Postgres' account out, so as root the cluster moves to /var/lib/lockstep/<name>-<hash>. */
  parentMode: number;
}

// No line break: initdb refuses a data directory whose path has one ("shell command argument contains a newline").
const PLACES: Place[] = [
  { title: 'every awkward character, the cluster inside the repository', name: ALL_OF_THEM, parentMode: 0o755 },
  { title: 'every awkward character, the cluster (as root) under /var/lib/lockstep, named after the repository', name: ALL_OF_THEM, parentMode: 0o700 },
  { title: 'a plain 100%free', name: '100%free', parentMode: 0o755 },
  { title: 'a tab and the other placeholders', name: 'tab\there %p %r %% ', parentMode: 0o700 },
];

const V1_SQL = `CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric);
INSERT INTO items (name, price) VALUES ('ünï', 1.5), ('100%', 2), ('it''s', 3);`;
const V2_SQL = `ALTER TABLE items ADD COLUMN note text;
UPDATE items SET price = price * 10, note = '%f %p';
INSERT INTO items (name, price) VALUES ('"d"', 4), ('$(x)', 5);
DELETE FROM items WHERE name = 'it''s';`;

/** Where this repository's cluster lives (config.json's `local.dataRoot`, else `.git/lockstep/local`). */
function dataRootOf(repo: LockstepRepo): string {
  const config = JSON.parse(fs.readFileSync(path.join(repo.lockstepDir, 'config.json'), 'utf8')) as { local?: { dataRoot?: string } };
  return config.local?.dataRoot ?? path.join(repo.lockstepDir, 'local');
}

/** Files named like a trace under `dir`, down to `depth` levels. */
function tracesUnder(dir: string, depth: number): string[] {
  const found: string[] = [];
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (TRACES.includes(entry.name)) found.push(full);
    if (depth > 0 && entry.isDirectory() && !entry.isSymbolicLink()) found.push(...tracesUnder(full, depth - 1));
  }
  return found;
}

/** A commit through the real git and its installed post-commit hook, as a person types it. */
async function commit(repo: LockstepRepo, message: string): Promise<string> {
  const result = await shell(repo.dir, 'git add -A && git commit --quiet -m "$1"', [message]);
  assert.equal(result.code, 0, explain(result));
  assert.equal(result.stderr, '', `the hook recorded without a word: ${explain(result)}`);
  const sha = repo.head();
  const checkpoint = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === sha);
  assert.ok(checkpoint, `the hook recorded "${message}"`);
  return checkpoint.id;
}

function undoIdOf(stdout: string): string {
  const id = /undo: lockstep restore ([0-9a-f]{12})/.exec(stdout)?.[1];
  assert.ok(id, `the output names the undo checkpoint:\n${stdout}`);
  return id;
}

for (const place of PLACES) {
  describe(`cli: a repository path with ${place.title}`, function () {
    let parent: string;
    let repo: LockstepRepo;
    let dataRoot: string;
    let v1: { checkpointId: string; data: Fingerprint };
    let v2: { checkpointId: string; data: Fingerprint };

    before(async () => {
      parent = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-hostile-')));
      fs.chmodSync(parent, place.parentMode);
      // initRepo makes its directory with mkdtemp under the temp dir: a prefix with a slash puts it inside `parent`.
      repo = await initRepo({ prefix: `${path.relative(os.tmpdir(), parent)}/${place.name}` });
      dataRoot = dataRootOf(repo);
    });
    after(async () => {
      await repo?.cleanup();
      if (parent) fs.rmSync(parent, { recursive: true, force: true });
    });

    it('init sets up the database, in a place named after the repository', () => {
      assert.ok(path.basename(repo.dir).startsWith(place.name), repo.dir);
      assert.ok(fs.existsSync(path.join(repo.dir, '.git', 'hooks', 'post-commit')), 'the hook is installed');
      if (process.getuid?.() === 0 && place.parentMode === 0o700) {
        assert.equal(path.dirname(dataRoot), SYSTEM_DATA_ROOT);
        assert.ok(path.basename(dataRoot).startsWith(path.basename(repo.dir)), `${dataRoot} is named after the repository`);
      } else {
        assert.equal(dataRoot, path.join(repo.lockstepDir, 'local'));
      }
    });

    it('commits are recorded by the installed hook, and a snapshot is taken', async () => {
      await sql(repo.url, V1_SQL);
      repo.write('migrations/001.sql', `${V1_SQL}\n`);
      v1 = { checkpointId: await commit(repo, 'v1: items'), data: await fingerprint(repo.url) };
      await sql(repo.url, V2_SQL);
      repo.write('migrations/002.sql', `${V2_SQL}\n`);
      v2 = { checkpointId: await commit(repo, 'v2: prices'), data: await fingerprint(repo.url) };
      assert.notDeepEqual(v1.data, v2.data);

      const snapshot = await repo.lockstep('snapshot', '-m', 'after v2', '--json');
      assert.equal(snapshot.code, 0, explain(snapshot));
      const id = (JSON.parse(snapshot.stdout) as { id: string }).id;
      assert.ok((await repo.list()).some((c) => c.id === id && c.kind === 'snapshot'));
    });

    it('restore --dry-run previews the first commit, its schema read from a recovered copy, and changes nothing', async () => {
      const result = await repo.lockstep('restore', v1.checkpointId, '--dry-run');
      assert.equal(result.code, 0, explain(result));
      assert.match(result.stdout, /^\(dry run: nothing was changed\)/);
      assert.match(result.stdout, new RegExp(`Restore to ${v1.checkpointId} "v1: items"`));
      // A preview that cannot recover its copy still exits 0, with a warning instead of the schema.
      assert.doesNotMatch(result.stdout, /could not be read/, explain(result));
      assert.match(result.stdout, /- items: column note disappears/, explain(result));
      assert.deepEqual(await fingerprint(repo.url), v2.data);
    });

    let undoId: string;
    it('restore --yes brings back the first commit’s data, and undo the later data', async () => {
      const restore = await repo.lockstep('restore', v1.checkpointId, '--yes');
      assert.equal(restore.code, 0, explain(restore));
      assert.deepEqual(await fingerprint(repo.url), v1.data);
      undoId = undoIdOf(restore.stdout);

      const undo = await repo.lockstep('restore', undoId, '--yes');
      assert.equal(undo.code, 0, explain(undo));
      assert.deepEqual(await fingerprint(repo.url), v2.data);
      expectOk(await repo.lockstep('db', 'status'));
    });

    it('no shell ran a command substitution from the path', () => {
      const found = [
        ...tracesUnder(parent, 8),
        ...tracesUnder(dataRoot, 3),
        ...tracesUnder(os.tmpdir(), 0),
        ...tracesUnder(SYSTEM_DATA_ROOT, 1),
        ...tracesUnder(process.cwd(), 0),
        ...tracesUnder(os.homedir(), 0),
        ...tracesUnder('/', 0),
      ];
      assert.deepEqual(found, []);
    });
  });
}
