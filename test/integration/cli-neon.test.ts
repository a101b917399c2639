// The CLI against the Neon double: init, checkpoints and a restore end to end, with exactly the restore-and-poll sequence on the wire and no secret anywhere.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FINISHES, NeonDouble } from '../doubles/neon';
import { sql } from '../support/fingerprint';
import { explain, expectOk, lockstep } from '../support/cli';
import { createRepo, removeTempDirs, type TestRepo } from '../support/git';
import { startScratchPostgres, type ScratchPostgres } from '../support/postgres';

const API_KEY = 'neon-test-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0';

describe('cli: the neon engine against the Neon double', function () {
  this.timeout(180_000);
  let compute: ScratchPostgres;
  let double: NeonDouble;
  let repo: TestRepo;
  const env = () => ({ NEON_API_KEY: API_KEY, LOCKSTEP_NEON_API_URL: double.apiUrl });
  const run = (...args: string[]) => lockstep(repo.dir, args, { env: env(), timeoutMs: 120_000 });

  /** The app writes a row: on the real compute, and into the double's model of the branch's history. */
  async function write(label: string): Promise<void> {
    await sql(compute.url, 'INSERT INTO contacts (name) VALUES ($1)', [label]);
    const [row] = await sql(compute.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn');
    double.noteWrite(label, String(row!.lsn));
  }

  before(async () => {
    // The compute is a real Postgres, so `head()` really reads pg_current_wal_insert_lsn() over pg.
    compute = await startScratchPostgres();
    await sql(compute.url, 'CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL)');
    double = await NeonDouble.start({
      apiKey: API_KEY,
      connectionUri: compute.url,
      readComputeLsn: async () => String((await sql(compute.url, 'SELECT pg_current_wal_insert_lsn()::text AS lsn'))[0]!.lsn),
    });
    repo = createRepo();
  });

  after(async () => {
    await double?.stop();
    await compute?.stop();
    removeTempDirs();
  });

  it('init --engine neon checks the project through the API and keeps no key in the configuration', async () => {
    const init = expectOk(await run('init', '--engine', 'neon', '--project-id', double.projectId, '--no-hook'));
    assert.match(init.stdout, /engine: neon/);
    const config = JSON.parse(fs.readFileSync(repo.path('.git', 'lockstep', 'config.json'), 'utf8')) as { engine: string; neon: { branchId: string } };
    assert.equal(config.engine, 'neon');
    assert.equal(config.neon.branchId, double.mainBranchId, 'the default branch was resolved');
  });

  it('a restore through the CLI is exactly: POST restore, polls of every operation until finished, the preserved branch; code and data come back', async () => {
    await write('ada');
    const v1 = repo.commit('app.txt', 'v1\n', 'v1');
    const first = JSON.parse(expectOk(await run('snapshot', '--json', '-m', 'v1 data')).stdout) as { id: string; lsn: string; commitSha: string };
    assert.equal(first.commitSha, v1);
    await write('bob');
    repo.commit('app.txt', 'v2\n', 'v2');
    await run('snapshot', '-m', 'v2 data');

    double.scriptNextRestore(FINISHES, FINISHES);
    const from = double.log.length;
    const restored = await run('restore', first.id, '--yes');
    assert.equal(restored.code, 0, explain(restored));
    assert.match(restored.stdout, /Restored code and data/);

    const p = `/projects/${double.projectId}`;
    const calls = double.log.slice(from);
    const changes = calls.filter((c) => c.method !== 'GET');
    assert.deepEqual(changes.map((c) => `${c.method} ${c.path}`), [`POST ${p}/branches/${double.mainBranchId}/restore`], 'one change only: the restore');
    const post = changes[0]!;
    const body = post.body as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['preserve_under_name', 'source_branch_id', 'source_lsn']);
    assert.equal(body.source_branch_id, double.mainBranchId);
    assert.equal(body.source_lsn, first.lsn);
    const operations = (post.response as { operations: { id: string }[] }).operations.map((o) => o.id);
    // From the POST on: each operation polled until finished (scheduling → running → finished), then the preserved branch looked up.
    const afterPost = calls.slice(calls.indexOf(post));
    assert.deepEqual(
      afterPost.map((c) => `${c.method} ${c.path}${Object.keys(c.query).length ? `?${new URLSearchParams(c.query)}` : ''}`),
      [
        `POST ${p}/branches/${double.mainBranchId}/restore`,
        ...operations.map((id) => `GET ${p}/operations/${id}`),
        ...operations.map((id) => `GET ${p}/operations/${id}`),
        `GET ${p}/branches?search=${String(body.preserve_under_name)}`,
      ],
    );
    const statuses = afterPost.filter((c) => c.path.startsWith(`${p}/operations/`)).map((c) => (c.response as { operation: { status: string } }).operation.status);
    assert.deepEqual(statuses, [...operations.map(() => 'running'), ...operations.map(() => 'finished')]);
    assert.deepEqual(double.content(), ['ada'], 'the branch serves the checkpoint');
    assert.equal(repo.head(), v1, 'and the code is back');
    assert.equal(repo.read('app.txt'), 'v1\n');
    assert.deepEqual(double.violations, [], 'every request and answer within the contract');
  });

  it('the API key is in no file under .git/lockstep and in no output', async () => {
    const files = fs.readdirSync(repo.path('.git', 'lockstep'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
    assert.ok(files.length > 0);
    for (const entry of files) {
      const file = path.join(entry.parentPath, entry.name);
      assert.ok(!fs.readFileSync(file, 'utf8').includes(API_KEY), `${file} holds the API key`);
    }
    const status = expectOk(await run('status'));
    assert.ok(!`${status.stdout}${status.stderr}`.includes(API_KEY));
    // A wrong key: a clear error naming the cause, never echoing the key.
    const wrong = await lockstep(repo.dir, ['snapshot'], { env: { NEON_API_KEY: 'wrong-key-0000000000', LOCKSTEP_NEON_API_URL: double.apiUrl } });
    assert.equal(wrong.code, 1, explain(wrong));
    assert.match(wrong.stderr, /NEON_API_KEY|API key/i);
    assert.ok(!wrong.stderr.includes('wrong-key-0000000000'));
  });
});
