// `lockstep diff` through the real CLI on a real local Postgres: exact row counts since a commit, the rows of one
// table, --at, bad input, and `restore --dry-run` showing exact row changes instead of estimates.

import * as assert from 'node:assert/strict';
import { explain, expectOk, initRepo, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';

const V1_SQL = `CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price_cents int);
INSERT INTO products VALUES (1, 'tea', 450), (2, 'coffee', 300), (3, 'cake', 525), (4, 'water', 100);
CREATE TABLE tags (label text);
INSERT INTO tags VALUES ('a'), ('b');
CREATE TABLE legacy (id int PRIMARY KEY);
INSERT INTO legacy VALUES (1), (2), (3);`;

/** The case: every price zeroed (the change a restore preview used to hide as "~4 → ~4"), and more. */
const MISTAKE = `UPDATE products SET price_cents = 0;
DELETE FROM products WHERE id = 4;
INSERT INTO products VALUES (5, 'juice', 0);
INSERT INTO tags VALUES ('c');
DROP TABLE legacy;
CREATE TABLE audit (id int PRIMARY KEY);
INSERT INTO audit VALUES (1);`;

interface JsonTable {
  schema: string;
  name: string;
  status: string;
  key: string[] | null;
  inserted: number;
  deleted: number;
  changed: number;
  thenRows: number | null;
  nowRows: number | null;
}

describe('cli: lockstep diff', function () {
  this.timeout(300_000);
  let repo: LockstepRepo;
  let sha: string;
  let between: string;

  before(async () => {
    repo = await initRepo();
    await sql(repo.url, V1_SQL);
    repo.write('schema.sql', `${V1_SQL}\n`);
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'v1: products');
    sha = repo.head();
    await new Promise((r) => setTimeout(r, 1100));
    between = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    await sql(repo.url, MISTAKE);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('counts the rows changed, inserted and deleted since a commit, table by table', async () => {
    const result = expectOk(await repo.lockstep('diff', sha.slice(0, 8)));
    const out = result.stdout;
    assert.match(out, /^Changes since [0-9a-f]+ "v1: products"/, explain(result));
    assert.match(out, /^ {2}products\s+3 changed, \+1 inserted, −1 deleted \(by id\)$/m, explain(result));
    assert.match(out, /^ {2}tags\s+\+1 inserted \(whole rows: no primary key\)$/m, explain(result));
    assert.match(out, /^ {2}legacy\s+dropped since \(3 rows then\)$/m, explain(result));
    assert.match(out, /^ {2}audit\s+new since \(1 row now\)$/m, explain(result));
    assert.match(out, new RegExp(`lockstep diff ${sha.slice(0, 8)} --table audit`), explain(result));

    const json = JSON.parse(expectOk(await repo.lockstep('diff', sha.slice(0, 8), '--json')).stdout) as { tables: JsonTable[]; partial: boolean; method: string };
    assert.equal(json.partial, false);
    // The copy is the serving timeline's own past: only row versions written since were read.
    assert.equal(json.method, 'xmin');
    const products = json.tables.find((t) => t.name === 'products')!;
    assert.deepEqual(
      { status: products.status, key: products.key, inserted: products.inserted, deleted: products.deleted, changed: products.changed, thenRows: products.thenRows, nowRows: products.nowRows },
      { status: 'changed', key: ['id'], inserted: 1, deleted: 1, changed: 3, thenRows: 4, nowRows: 4 },
    );
  });

  it('--table shows the rows: then → now of the changed columns, inserted, deleted', async () => {
    const result = expectOk(await repo.lockstep('diff', sha.slice(0, 8), '--table', 'products'));
    const out = result.stdout;
    assert.match(out, /^products since .*: 3 changed, \+1 inserted, −1 deleted \(by id\)$/m, explain(result));
    assert.match(out, /^ {2}id=1 {2}price_cents: 450 → 0$/m, explain(result));
    assert.match(out, /^ {2}id=3 {2}price_cents: 525 → 0$/m, explain(result));
    assert.match(out, /^inserted:\n {2}id=5, name=juice, price_cents=0$/m, explain(result));
    assert.match(out, /^deleted:\n {2}id=4, name=water, price_cents=100$/m, explain(result));
    const limited = expectOk(await repo.lockstep('diff', sha.slice(0, 8), '--table', 'public.products', '--limit', '1', '--json'));
    const rows = JSON.parse(limited.stdout) as { changed: { key: Record<string, string>; columns: string[] }[]; truncated: boolean };
    assert.equal(rows.changed.length, 1);
    assert.deepEqual(rows.changed[0]!.columns, ['price_cents']);
    assert.equal(rows.truncated, true);
  });

  it('--at a moment between the commit and the change gives the same diff', async () => {
    const result = expectOk(await repo.lockstep('diff', '--at', between));
    // The copy pauses at the first commit after the moment, inside the change's transaction, whose DROP holds its lock: said, not waited for.
    assert.match(result.stdout, /^ {2}legacy\s+dropped since( \(3 rows then\)| \(rows not counted: the table is locked)/m, explain(result));
    assert.match(result.stdout, /^ {2}products\s+3 changed, \+1 inserted, −1 deleted \(by id\)$/m, explain(result));
  });

  it('refuses an unknown table, a bad REF and a bad --limit with exit 2, changing nothing', async () => {
    const unknown = await repo.lockstep('diff', sha.slice(0, 8), '--table', 'nope');
    assert.equal(unknown.code, 2, explain(unknown));
    assert.match(unknown.stderr, /no table "nope" then or now/);
    const badRef = await repo.lockstep('diff', 'no-such-checkpoint');
    assert.equal(badRef.code, 2, explain(badRef));
    const badLimit = await repo.lockstep('diff', sha.slice(0, 8), '--table', 'products', '--limit', 'x');
    assert.equal(badLimit.code, 2, explain(badLimit));
    const none = await repo.lockstep('diff');
    assert.equal(none.code, 2, explain(none));
  });

  it('restore --dry-run shows exact row changes, not estimates', async () => {
    const result = expectOk(await repo.lockstep('restore', sha.slice(0, 8), '--dry-run'));
    assert.match(result.stdout, /rows changed since then \(the restore takes them back\)/, explain(result));
    assert.match(result.stdout, /^ {6}products\s+3 changed, \+1 inserted, −1 deleted \(by id\)$/m, explain(result));
    assert.doesNotMatch(result.stdout, /~4 → ~4/);
  });
});
