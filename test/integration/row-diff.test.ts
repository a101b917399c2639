// The row-level diff against real Postgres: exact counts checked against an independent comparison, on two
// databases (every row compared) and on a physical copy sharing transaction ids (the xmin fast path).

import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from 'pg';
import { isLockstepError } from '../../src/base/errors';
import { describeRowDiff, diffRows, tableRows, type RowDiff, type TableRowDiff } from '../../src/core/rowDiff';
import { RECOVERY_CONF } from '../../src/engines/local/cluster';
import { startScratchPostgres, type ScratchPostgres } from '../support/postgres';

const SEED = `
  CREATE TABLE products (id int PRIMARY KEY, name text NOT NULL, price_cents int, note text);
  INSERT INTO products SELECT g, 'p' || g, g * 100, CASE WHEN g % 3 = 0 THEN NULL ELSE 'n' || g END FROM generate_series(1, 2000) g;
  -- TOAST: 128 kB of hex per row, out of line.
  CREATE TABLE docs (id bigint PRIMARY KEY, body text);
  INSERT INTO docs SELECT g, (SELECT string_agg(md5(g::text || '/' || i::text), '') FROM generate_series(1, 4000) i) FROM generate_series(1, 5) g;
  CREATE TABLE notes (body text, n int);
  INSERT INTO notes VALUES ('a', 1), ('a', 1), ('b', 2), ('c', NULL), (NULL, NULL);
  -- Text keys whose byte order differs from JavaScript's string order (U+FFFD vs an astral emoji), and from the locale's.
  CREATE TABLE words (w text PRIMARY KEY, v int);
  INSERT INTO words VALUES ('apple', 1), ('Apple', 2), ('éclair', 3), ('zebra', 4), ('😀', 5), ('�', 6), ('a b', 7), (E'tab\\there', 8), ('Z', 9);
  CREATE TABLE pairs (a int, b text, v text, PRIMARY KEY (a, b));
  INSERT INTO pairs SELECT g % 7, 'k' || g, 'v' || g FROM generate_series(1, 100) g;
  CREATE TABLE gone (id int PRIMARY KEY);
  INSERT INTO gone VALUES (1), (2), (3);
  CREATE TABLE renamed (id int PRIMARY KEY, price int);
  INSERT INTO renamed SELECT g, g FROM generate_series(1, 10) g;
  CREATE SCHEMA app;
  CREATE TABLE app.items (id uuid PRIMARY KEY, qty int);
  INSERT INTO app.items SELECT md5(g::text)::uuid, g FROM generate_series(1, 50) g;
  CREATE TABLE big (id bigint PRIMARY KEY, v int);
  INSERT INTO big SELECT g, g FROM generate_series(1, 200000) g;
  CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);
  INSERT INTO scratch VALUES (1);
  ANALYZE;
`;

const CHANGES = `
  UPDATE products SET price_cents = price_cents + 1 WHERE id % 100 = 0;
  UPDATE products SET note = NULL WHERE id IN (1, 2);
  UPDATE products SET note = 'x' WHERE id = 3;
  UPDATE products SET note = NULL WHERE id = 6;
  UPDATE products SET name = name WHERE id = 7;
  DELETE FROM products WHERE id BETWEEN 1001 AND 1010;
  INSERT INTO products SELECT g, 'new' || g, 1, NULL FROM generate_series(3001, 3005) g;
  UPDATE docs SET body = overlay(body placing 'X' from 60000 for 1) WHERE id = 2;
  UPDATE docs SET body = body WHERE id = 3;
  DELETE FROM notes WHERE ctid = (SELECT ctid FROM notes WHERE body = 'a' LIMIT 1);
  INSERT INTO notes VALUES ('a', 1), (NULL, NULL), ('d', 4);
  UPDATE words SET v = v + 10 WHERE w IN ('😀', '�');
  DELETE FROM words WHERE w = 'Apple';
  INSERT INTO words VALUES ('𝒳', 10);
  UPDATE pairs SET v = 'changed' WHERE a = 2 AND b = 'k2';
  DROP TABLE gone;
  CREATE TABLE fresh (id int PRIMARY KEY);
  INSERT INTO fresh VALUES (1), (2), (3), (4);
  ALTER TABLE renamed RENAME COLUMN price TO price_cents;
  UPDATE renamed SET price_cents = 0 WHERE id <= 3;
  UPDATE app.items SET qty = qty + 1000 WHERE qty % 10 = 0;
  -- 150,000 new row versions with the same values: more than one scan collects, so the fast path reads them through a cursor.
  UPDATE big SET v = v WHERE id > 50000;
  UPDATE big SET v = -v WHERE id % 1000 = 0;
  DELETE FROM big WHERE id > 199990;
`;

/** The tables and how an independent comparison reads them: key columns and compared columns (then name, now name). */
interface Shape {
  key: string[] | null;
  columns: [string, string][];
}

function table(diff: RowDiff, id: string): TableRowDiff {
  const found = diff.tables.find((t) => `${t.schema}.${t.name}` === id);
  assert.ok(found, `no ${id} in the diff: ${diff.tables.map((t) => `${t.schema}.${t.name}`).join(', ')}`);
  return found;
}

const q = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Inserted, deleted and changed by reading every row of both sides into memory: nothing shared with rowDiff.ts. */
async function independent(then: Client, now: Client, relation: string, shape: Shape) {
  const read = async (client: Client, side: 0 | 1) => {
    const keys = shape.key ? shape.key.map((k) => `${q(k)}::text`) : [];
    const cols = shape.columns.map((c) => `${q(c[side])}::text`);
    const { rows } = await client.query({ text: `SELECT ${[...keys, ...cols, 'true'].join(', ')} FROM ${relation}`, rowMode: 'array' });
    return rows.map((r: unknown[]) => ({ key: JSON.stringify(r.slice(0, keys.length)), values: JSON.stringify(r.slice(keys.length, keys.length + cols.length)) }));
  };
  const [a, b] = [await read(then, 0), await read(now, 1)];
  if (!shape.key) {
    const bag = new Map<string, number>();
    for (const r of a) bag.set(r.values, (bag.get(r.values) ?? 0) + 1);
    let inserted = 0;
    for (const r of b) {
      const n = bag.get(r.values) ?? 0;
      if (n > 0) bag.set(r.values, n - 1);
      else inserted++;
    }
    const deleted = [...bag.values()].reduce((s, n) => s + n, 0);
    return { inserted, deleted, changed: 0, thenRows: a.length, nowRows: b.length };
  }
  const before = new Map(a.map((r) => [r.key, r.values]));
  let inserted = 0;
  let changed = 0;
  for (const r of b) {
    const v = before.get(r.key);
    if (v === undefined) inserted++;
    else if (v !== r.values) changed++;
    before.delete(r.key);
  }
  return { inserted, deleted: before.size, changed, thenRows: a.length, nowRows: b.length };
}

function counts(t: TableRowDiff) {
  return { inserted: t.inserted, deleted: t.deleted, changed: t.changed, thenRows: t.thenRows, nowRows: t.nowRows };
}

async function expectBadInput(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => isLockstepError(error, 'BAD_INPUT') && pattern.test(error.message));
}

/** What both paths must find, whichever way rows are matched. */
const EXPECTED = {
  'public.products': { inserted: 5, deleted: 10, changed: 23, thenRows: 2000, nowRows: 1995 },
  'public.docs': { inserted: 0, deleted: 0, changed: 1, thenRows: 5, nowRows: 5 },
  'public.notes': { inserted: 2, deleted: 0, changed: 0, thenRows: 5, nowRows: 7 },
  'public.words': { inserted: 1, deleted: 1, changed: 2, thenRows: 9, nowRows: 9 },
  'public.pairs': { inserted: 0, deleted: 0, changed: 1, thenRows: 100, nowRows: 100 },
  'app.items': { inserted: 0, deleted: 0, changed: 5, thenRows: 50, nowRows: 50 },
  'public.big': { inserted: 0, deleted: 10, changed: 199, thenRows: 200000, nowRows: 199990 },
};

const SHAPES: Record<string, Shape> = {
  'public.products': { key: ['id'], columns: [['name', 'name'], ['price_cents', 'price_cents'], ['note', 'note']] },
  'public.docs': { key: ['id'], columns: [['body', 'body']] },
  'public.notes': { key: null, columns: [['body', 'body'], ['n', 'n']] },
  'public.words': { key: ['w'], columns: [['v', 'v']] },
  'public.pairs': { key: ['a', 'b'], columns: [['v', 'v']] },
  'app.items': { key: ['id'], columns: [['qty', 'qty']] },
  'public.big': { key: ['id'], columns: [['v', 'v']] },
};

describe('row diff', function () {
  this.timeout(300_000);
  let pg: ScratchPostgres;

  before(async () => {
    pg = await startScratchPostgres();
  });
  after(async () => {
    await pg?.stop();
  });

  describe('two databases: every row compared', () => {
    let then: Client;
    let now: Client;

    before(async () => {
      const admin = await pg.engine.cluster.connect();
      try {
        await admin.query('CREATE DATABASE rd_then');
        await admin.query('CREATE DATABASE rd_now');
      } finally {
        await admin.end();
      }
      then = await pg.engine.cluster.connect({ database: 'rd_then' });
      now = await pg.engine.cluster.connect({ database: 'rd_now' });
      await then.query(SEED);
      await now.query(SEED);
      await now.query(CHANGES);
    });
    after(async () => {
      await then?.end();
      await now?.end();
    });

    it('counts inserted, deleted and changed rows exactly, by key or whole row', async () => {
      const diff = await diffRows(then, now, { ancestorOfNow: false });
      // Only the unlogged table is left out (its rows are never in the history a past copy is recovered from).
      assert.deepEqual(diff.tables.filter((t) => t.partial).map((t) => t.name), ['scratch']);
      for (const [id, expected] of Object.entries(EXPECTED)) {
        const t = table(diff, id);
        assert.deepEqual(counts(t), expected, id);
        const [schema, name] = id.split('.');
        assert.deepEqual(counts(t), await independent(then, now, `${q(schema!)}.${q(name!)}`, SHAPES[id]!), `${id}: independent comparison`);
        assert.equal(t.method, 'full');
        assert.equal(t.status, 'changed');
      }
      assert.deepEqual(table(diff, 'public.products').key, ['id']);
      assert.deepEqual(table(diff, 'public.pairs').key, ['a', 'b']);
      assert.equal(table(diff, 'public.notes').key, null);
      assert.deepEqual({ status: table(diff, 'public.gone').status, deleted: table(diff, 'public.gone').deleted, thenRows: table(diff, 'public.gone').thenRows }, { status: 'dropped', deleted: 3, thenRows: 3 });
      assert.deepEqual({ status: table(diff, 'public.fresh').status, inserted: table(diff, 'public.fresh').inserted }, { status: 'new', inserted: 4 });
      // Two databases are two lineages: a renamed column is a column dropped and another added; the rows match by key.
      const renamed = table(diff, 'public.renamed');
      assert.deepEqual(renamed.columns, { added: [{ name: 'price_cents', type: 'integer' }], removed: [{ name: 'price', type: 'integer' }], retyped: [], renamed: [] });
      assert.deepEqual(counts(renamed), { inserted: 0, deleted: 0, changed: 0, thenRows: 10, nowRows: 10 });
      const lines = describeRowDiff(diff);
      assert.ok(lines.some((l) => /^products\s+23 changed, \+5 inserted, −10 deleted \(by id\)$/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /^gone\s+dropped since \(3 rows then\)$/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => /^fresh\s+new since \(4 rows now\)$/.test(l)), lines.join('\n'));
    });

    it('lists the rows themselves, limited, with the columns that changed', async () => {
      const rows = await tableRows(then, now, 'products', { limit: 3 });
      assert.equal(rows.truncated, true);
      assert.deepEqual(rows.deleted.map((r) => r.id), ['1001', '1002', '1003']);
      assert.deepEqual(rows.inserted.map((r) => r.id), ['3001', '3002', '3003']);
      assert.deepEqual(
        rows.changed.map((c) => ({ key: c.key, columns: c.columns, then: c.then.note, now: c.now.note })),
        [
          { key: { id: '1' }, columns: ['note'], then: 'n1', now: null },
          { key: { id: '2' }, columns: ['note'], then: 'n2', now: null },
          { key: { id: '3' }, columns: ['note'], then: null, now: 'x' },
        ],
      );
      const all = await tableRows(then, now, 'products', { limit: 1000 });
      assert.equal(all.truncated, false);
      assert.equal(all.changed.length, 23);
      const hundred = all.changed.find((c) => c.key.id === '100')!;
      assert.deepEqual([hundred.columns, hundred.then.price_cents, hundred.now.price_cents], [['price_cents'], '10000', '10001']);
      const notes = await tableRows(then, now, 'notes', { limit: 10 });
      assert.deepEqual(notes.inserted.map((r) => [r.body, r.n]).sort(), [['d', '4'], [null, null]].sort());
      assert.deepEqual(notes.deleted, []);
      const words = await tableRows(then, now, 'words', { limit: 10 });
      assert.deepEqual([words.inserted.map((r) => r.w), words.deleted.map((r) => r.w), words.changed.map((c) => c.key.w).sort()], [['𝒳'], ['Apple'], ['�', '😀'].sort()]);
      const gone = await tableRows(then, now, 'gone', { limit: 2 });
      assert.deepEqual([gone.deleted.map((r) => r.id), gone.truncated], [['1', '2'], true]);
      const docs = await tableRows(then, now, 'docs', { limit: 10 });
      assert.equal(docs.changed.length, 1);
      assert.equal(docs.changed[0]!.now.body!.length, 128_000);
      assert.equal(docs.changed[0]!.now.body![59_999], 'X');
    });

    it('refuses an unknown table, and a --tables choice narrows the diff', async () => {
      await expectBadInput(tableRows(then, now, 'nope'), /no table "nope"/);
      await expectBadInput(diffRows(then, now, { ancestorOfNow: false, tables: ['nope'] }), /no table "nope"/);
      const diff = await diffRows(then, now, { ancestorOfNow: false, tables: ['products', 'app.items'] });
      assert.deepEqual(diff.tables.map((t) => `${t.schema}.${t.name}`), ['app.items', 'public.products']);
    });

    it('says which tables are partial when the budget runs out', async () => {
      const diff = await diffRows(then, now, { ancestorOfNow: false, budgetMs: 1 });
      assert.equal(diff.partial, true);
      const big = table(diff, 'public.big');
      assert.match(big.partial ?? '', /time budget/);
      assert.equal(big.thenRows, null);
      assert.ok(describeRowDiff(diff).some((l) => /^big\s+/.test(l)), describeRowDiff(diff).join('\n'));
    });
  });

  describe('a physical copy sharing transaction ids: the xmin fast path', () => {
    let then: Client;
    let now: Client;
    let socketDir: string;

    before(async () => {
      const { cluster, layout } = pg.engine;
      const seed = await cluster.connect();
      try {
        await seed.query(SEED);
      } finally {
        await seed.end();
      }
      // "then": the serving data directory copied while stopped, started as a standby on a private socket, archiving off.
      const serving = layout.readState().serving;
      await cluster.stop(serving, 'fast');
      execFileSync('cp', ['-a', layout.dataDir(serving), layout.dataDir('data-then')]);
      socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-then-'));
      const account = cluster.options.account();
      if (account.uid !== undefined && account.gid !== undefined) fs.chownSync(socketDir, account.uid, account.gid);
      fs.chmodSync(socketDir, 0o700);
      const conf = path.join(layout.dataDir('data-then'), RECOVERY_CONF);
      fs.writeFileSync(conf, `listen_addresses = ''\nunix_socket_directories = '${socketDir}'\narchive_mode = off\ndefault_transaction_read_only = on\n`);
      cluster.giveToPostgres(conf);
      // A standby with nowhere to replay from: in recovery for good, read-only, like a paused past copy.
      const standby = path.join(layout.dataDir('data-then'), 'standby.signal');
      fs.writeFileSync(standby, '');
      cluster.giveToPostgres(standby);
      await cluster.start('data-then');
      await cluster.start(serving);
      then = await cluster.connect({ host: socketDir });
      now = await cluster.connect();
      await now.query(CHANGES);
    });
    after(async () => {
      await then?.end();
      await now?.end();
      await pg.engine.cluster.stop('data-then', 'immediate').catch(() => undefined);
      if (socketDir) fs.rmSync(socketDir, { recursive: true, force: true });
    });

    it('gives the same exact counts as comparing every row, reading only row versions written since', async () => {
      const fast = await diffRows(then, now, { ancestorOfNow: true });
      const full = await diffRows(then, now, { ancestorOfNow: false });
      for (const [id, expected] of Object.entries(EXPECTED)) {
        const t = table(fast, id);
        assert.deepEqual(counts(t), expected, `${id} (fast)`);
        assert.deepEqual(counts(table(full, id)), expected, `${id} (full)`);
        const [schema, name] = id.split('.');
        const shape = SHAPES[id]!;
        assert.deepEqual(counts(t), await independent(then, now, `${q(schema!)}.${q(name!)}`, shape), `${id}: independent comparison`);
        // Whole-row tables use the fast path only when no row version is gone: notes lost one (a deleted duplicate).
        assert.equal(t.method, id === 'public.notes' ? 'full' : 'xmin', id);
      }
      // One lineage: the renamed column keeps its attnum, so the rename is said and its values compared.
      const renamed = table(fast, 'public.renamed');
      assert.deepEqual(renamed.columns, { added: [], removed: [], retyped: [], renamed: [{ then: 'price', now: 'price_cents', type: 'integer' }] });
      assert.deepEqual(counts(renamed), { inserted: 0, deleted: 0, changed: 3, thenRows: 10, nowRows: 10 });
      assert.deepEqual(counts(renamed), await independent(then, now, 'renamed', { key: ['id'], columns: [['price', 'price_cents']] }));
      assert.equal(table(fast, 'public.gone').status, 'dropped');
      assert.equal(table(fast, 'public.fresh').status, 'new');
      // An unlogged table is not in the history: said, not guessed.
      assert.match(table(fast, 'public.scratch').partial ?? '', /unlogged/);
    });

    it('finds deleted rows by a key-ordered merge, and changed ones by key', async () => {
      const rows = await tableRows(then, now, 'big', { limit: 5, ancestorOfNow: true });
      assert.equal(rows.table.method, 'xmin');
      assert.deepEqual(rows.deleted.map((r) => r.id), ['199991', '199992', '199993', '199994', '199995']);
      assert.equal(rows.truncated, true);
      assert.equal(rows.changed.length, 5);
      assert.ok(rows.changed.every((c) => c.columns.join() === 'v' && Number(c.now.v) === -Number(c.then.v)));
      const renamed = await tableRows(then, now, 'renamed', { ancestorOfNow: true });
      assert.deepEqual(renamed.changed.map((c) => [c.key.id, c.then.price, c.now.price_cents, c.columns]), [
        ['1', '1', '0', ['price_cents']],
        ['2', '2', '0', ['price_cents']],
        ['3', '3', '0', ['price_cents']],
      ]);
    });
  });
});
