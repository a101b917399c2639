// One-table restore against real Postgres: the transaction core on two databases (then, now), and the whole command on a local-engine project.

import * as assert from 'node:assert/strict';
import type { Client } from 'pg';
import { isLockstepError } from '../../src/base/errors';
import { restoreTablesBetween } from '../../src/core/tableRestore';
import { expectOk, explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';
import { startScratchPostgres, type ScratchPostgres } from '../support/postgres';

async function expectCode(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isLockstepError(error), `expected a LockstepError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message + (error.hint ?? ''), pattern);
    return true;
  });
}

async function rows(client: Client, sql: string): Promise<unknown[]> {
  return (await client.query(sql)).rows;
}

describe('one-table restore — the transaction, on two databases', function () {
  this.timeout(180_000);
  let pg: ScratchPostgres;
  let admin: Client;
  let then: Client;
  let now: Client;

  before(async () => {
    pg = await startScratchPostgres();
    admin = await pg.engine.cluster.connect();
  });
  after(async () => {
    await admin?.end().catch(() => undefined);
    await pg?.stop();
  });
  beforeEach(async () => {
    for (const db of ['t_then', 't_now']) {
      await admin.query(`DROP DATABASE IF EXISTS ${db}`);
      await admin.query(`CREATE DATABASE ${db}`);
    }
    then = await pg.engine.cluster.connect({ database: 't_then' });
    now = await pg.engine.cluster.connect({ database: 't_now' });
  });
  afterEach(async () => {
    await then?.end().catch(() => undefined);
    await now?.end().catch(() => undefined);
  });

  /** The same schema on both sides (as a physical copy would have), then each side's own rows. */
  async function both(schema: string): Promise<void> {
    await then.query(schema);
    await now.query(schema);
  }

  const SHOP = `
    CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, price_cents int, notes text);
    CREATE TABLE order_items (id serial PRIMARY KEY, product_id int REFERENCES products(id) ON DELETE CASCADE, qty int NOT NULL);
    CREATE TABLE customers (id int PRIMARY KEY, name text);
    INSERT INTO products (name, price_cents, notes) VALUES ('apple', 100, NULL), ('pear', 200, repeat('long ', 5000)), ('plum', 300, 'x'), ('fig', 400, NULL);
    INSERT INTO order_items (product_id, qty) VALUES (1, 1), (2, 2);
    INSERT INTO customers VALUES (1, 'ann'), (2, 'bob');`;

  it('puts a keyed table back (changed, deleted, inserted rows; NULLs, TOAST) and leaves other tables as they are now', async () => {
    await both(SHOP);
    const expected = await rows(then, 'SELECT * FROM products ORDER BY id');
    await now.query(`UPDATE products SET price_cents = 0; UPDATE products SET notes = NULL WHERE id = 2; UPDATE products SET notes = 'now' WHERE id = 1;
      DELETE FROM products WHERE id = 4; INSERT INTO products (name, price_cents) VALUES ('kiwi', 50);
      UPDATE customers SET name = 'changed now'`);

    const dry = await restoreTablesBetween(then, now, { tables: ['products'], apply: false });
    assert.deepEqual(dry.tables, [{ name: 'public.products', key: ['id'], inserted: 1, deleted: 1, changed: 3 }]);
    assert.equal((await rows(now, 'SELECT * FROM products WHERE id = 5')).length, 1, 'a dry run changes nothing');

    const done = await restoreTablesBetween(then, now, { tables: ['products'], apply: true });
    assert.deepEqual(done.tables, [{ name: 'public.products', key: ['id'], inserted: 1, deleted: 1, changed: 3 }]);
    assert.deepEqual(done.dependents, []);
    assert.deepEqual(await rows(now, 'SELECT * FROM products ORDER BY id'), expected);
    assert.deepEqual(await rows(now, 'SELECT name FROM customers ORDER BY id'), [{ name: 'changed now' }, { name: 'changed now' }]);
    // The sequence had handed out 5 already: it stays ahead.
    assert.deepEqual(await rows(now, "INSERT INTO products (name) VALUES ('new') RETURNING id"), [{ id: 6 }]);

    const again = await restoreTablesBetween(then, now, { tables: ['public.products'], apply: false });
    assert.deepEqual(again.tables, [{ name: 'public.products', key: ['id'], inserted: 0, deleted: 1, changed: 0 }]);
  });

  it('puts a table without a key back as a multiset of rows (duplicates, NULLs)', async () => {
    await both('CREATE TABLE events (kind text, n int)');
    await then.query("INSERT INTO events VALUES ('a', 1), ('a', 1), ('b', 2), (NULL, NULL), ('', 3)");
    await now.query("INSERT INTO events VALUES ('a', 1), ('b', 2), ('b', 2), ('c', 3), (NULL, 3)");
    const done = await restoreTablesBetween(then, now, { tables: ['events'], apply: true });
    assert.deepEqual(done.tables, [{ name: 'public.events', key: null, inserted: 3, deleted: 3, changed: 0 }]);
    const order = 'SELECT kind, n FROM events ORDER BY kind NULLS FIRST, n NULLS FIRST';
    assert.deepEqual(await rows(now, order), await rows(then, order));
  });

  it('refuses when rows elsewhere would point at keys that go away (ON DELETE CASCADE never deletes them), and takes them along with withDependents', async () => {
    await both(SHOP);
    await now.query("INSERT INTO products (id, name) VALUES (10, 'new'); INSERT INTO order_items (product_id, qty) VALUES (10, 7), (10, 8); UPDATE order_items SET qty = 99 WHERE id = 1");
    await expectCode(restoreTablesBetween(then, now, { tables: ['products'], apply: true }), 'BAD_INPUT', /2 row\(s\) of public\.order_items .*--with-dependents/s);
    assert.equal((await rows(now, 'SELECT * FROM order_items')).length, 4, 'nothing changed');
    assert.equal((await rows(now, 'SELECT * FROM products WHERE id = 10')).length, 1, 'nothing changed');

    const dry = await restoreTablesBetween(then, now, { tables: ['products'], apply: false });
    assert.deepEqual(dry.dependents, ['public.order_items']);
    assert.deepEqual(
      dry.needs.map((n) => [n.name, n.because, n.kind, n.rows]),
      [['public.order_items', 'public.products', 'children', 2]],
    );

    const done = await restoreTablesBetween(then, now, { tables: ['products'], withDependents: true, apply: true });
    assert.deepEqual(done.dependents, ['public.order_items']);
    assert.deepEqual(
      done.tables.map((t) => [t.name, t.inserted, t.deleted, t.changed]),
      [
        ['public.products', 0, 1, 0],
        ['public.order_items', 0, 2, 1],
      ],
    );
    for (const table of ['products', 'order_items']) assert.deepEqual(await rows(now, `SELECT * FROM ${table} ORDER BY id`), await rows(then, `SELECT * FROM ${table} ORDER BY id`));
  });

  it('refuses when restored rows would point at parents that are gone, naming them', async () => {
    await both(SHOP);
    await now.query('DELETE FROM products WHERE id = 2'); // cascades to order item 2 now
    await expectCode(restoreTablesBetween(then, now, { tables: ['order_items'], apply: true }), 'BAD_INPUT', /public\.order_items as it was then point at public\.products rows that are gone now/);
    const done = await restoreTablesBetween(then, now, { tables: ['order_items'], withDependents: true, apply: true });
    assert.deepEqual(done.dependents, ['public.products']);
    for (const table of ['products', 'order_items']) assert.deepEqual(await rows(now, `SELECT * FROM ${table} ORDER BY id`), await rows(then, `SELECT * FROM ${table} ORDER BY id`));
  });

  it('refuses when a table created since points at keys that go away: it cannot be taken along', async () => {
    await both(SHOP);
    await now.query("INSERT INTO products (id, name) VALUES (20, 'new'); CREATE TABLE wishes (product_id int REFERENCES products(id)); INSERT INTO wishes VALUES (20), (1)");
    await expectCode(restoreTablesBetween(then, now, { tables: ['products'], withDependents: true, apply: true }), 'BAD_INPUT', /1 row\(s\) of public\.wishes, a table created since/);
    assert.equal((await rows(now, 'SELECT * FROM products WHERE id = 20')).length, 1, 'nothing changed');
  });

  it('re-creates a dropped table: columns, defaults, constraints, indexes, its sequence, foreign keys, owner', async () => {
    await both(`${SHOP}
      CREATE TABLE reviews (id serial PRIMARY KEY, product_id int NOT NULL REFERENCES products(id), stars int CHECK (stars BETWEEN 1 AND 5),
        body text DEFAULT 'none', created timestamptz NOT NULL DEFAULT now(), code text UNIQUE, uid int GENERATED BY DEFAULT AS IDENTITY);
      CREATE INDEX reviews_stars ON reviews (stars);
      ALTER TABLE reviews OWNER TO lockstep;
      INSERT INTO reviews (product_id, stars, code) VALUES (1, 5, 'a'), (2, 3, 'b'), (3, 1, NULL);`);
    await now.query('DROP TABLE reviews');
    const done = await restoreTablesBetween(then, now, { tables: ['reviews'], apply: true });
    assert.deepEqual(done.tables, [{ name: 'public.reviews', key: ['id'], inserted: 3, deleted: 0, changed: 0, created: true }]);
    assert.deepEqual(await rows(now, 'SELECT * FROM reviews ORDER BY id'), await rows(then, 'SELECT * FROM reviews ORDER BY id'));
    const definition = `SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conrelid = 'reviews'::regclass ORDER BY conname`;
    assert.deepEqual(await rows(now, definition), await rows(then, definition));
    const indexes = `SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'reviews' ORDER BY indexname`;
    assert.deepEqual(await rows(now, indexes), await rows(then, indexes));
    assert.deepEqual(await rows(now, "SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'reviews'"), [{ owner: 'lockstep' }]);
    const inserted = await rows(now, "INSERT INTO reviews (product_id, stars) VALUES (1, 4) RETURNING id, uid, body");
    assert.deepEqual(inserted, [{ id: 4, uid: 4, body: 'none' }]);
    await assert.rejects(now.query('INSERT INTO reviews (product_id, stars) VALUES (1, 9)'), /check constraint/);
    await assert.rejects(now.query('INSERT INTO reviews (product_id, stars) VALUES (99, 1)'), /foreign key/);
  });

  it('refuses a table whose columns changed since, or that did not exist then, and an unknown name', async () => {
    await both(SHOP);
    await now.query('ALTER TABLE customers ADD COLUMN email text; CREATE TABLE brand_new (id int)');
    await expectCode(restoreTablesBetween(then, now, { tables: ['customers'], apply: true }), 'BAD_INPUT', /columns of public\.customers differ.*added since: email text.*full restore/s);
    await expectCode(restoreTablesBetween(then, now, { tables: ['brand_new'], apply: true }), 'BAD_INPUT', /did not exist at that point/);
    await expectCode(restoreTablesBetween(then, now, { tables: ['nope'], apply: true }), 'BAD_INPUT', /no table nope/);
    assert.deepEqual(await rows(now, "SELECT count(*)::int AS n FROM pg_class WHERE relname LIKE 'lockstep_then%'"), [{ n: 0 }], 'temp tables gone');
  });

  it('sets a sequence past the largest restored value', async () => {
    await both('CREATE TABLE items (id bigserial PRIMARY KEY, v text)');
    await then.query("INSERT INTO items (v) SELECT 'v' || g FROM generate_series(1, 20) g");
    await now.query("INSERT INTO items (v) VALUES ('only')");
    const done = await restoreTablesBetween(then, now, { tables: ['items'], apply: true });
    assert.deepEqual(done.sequences, ['public.items_id_seq → 20']);
    assert.deepEqual(await rows(now, "INSERT INTO items (v) VALUES ('next') RETURNING id"), [{ id: '21' }]);
  });
});

describe('lockstep restore REF --tables — a local-engine project through the CLI', function () {
  this.timeout(300_000);
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-tables-' });
  });
  after(async () => {
    await repo?.cleanup();
  });

  const only = (print: Fingerprint, tables: string[]): Record<string, unknown> => Object.fromEntries(tables.map((t) => [t, print.rows[t]]));

  it('puts chosen tables back (FKs both ways, a dropped table), refuses without --with-dependents, and undoes', async () => {
    await sql(
      repo.url,
      `CREATE TABLE products (id serial PRIMARY KEY, name text NOT NULL, price_cents int);
       CREATE TABLE order_items (id serial PRIMARY KEY, product_id int REFERENCES products(id) ON DELETE CASCADE, qty int);
       CREATE TABLE customers (id int PRIMARY KEY, name text);
       CREATE TABLE reviews (id serial PRIMARY KEY, product_id int NOT NULL REFERENCES products(id), stars int CHECK (stars BETWEEN 1 AND 5));
       INSERT INTO products (name, price_cents) VALUES ('apple', 100), ('pear', 200), ('plum', 300), ('fig', 400);
       INSERT INTO order_items (product_id, qty) VALUES (1, 1), (2, 2);
       INSERT INTO customers VALUES (1, 'ann'), (2, 'bob');
       INSERT INTO reviews (product_id, stars) VALUES (1, 5), (2, 4);`,
    );
    const good = await fingerprint(repo.url);
    const snap = JSON.parse(expectOk(await repo.lockstep('snapshot', '-m', 'good data', '--json')).stdout) as { id: string };
    await sql(
      repo.url,
      `UPDATE products SET price_cents = 0;
       INSERT INTO products (id, name) VALUES (50, 'new'); INSERT INTO order_items (product_id, qty) VALUES (50, 9);
       UPDATE customers SET name = 'kept as it is now';
       DROP TABLE reviews;`,
    );
    const mistake = await fingerprint(repo.url);

    const dry = expectOk(await repo.lockstep('restore', snap.id, '--tables', 'products', '--dry-run'));
    assert.match(dry.stdout, /public\.products: 4 changed back, 1 removed \(by id\)/, explain(dry));
    assert.match(dry.stdout, /public\.order_items: 1 row\(s\) would point at public\.products rows that did not exist then/, explain(dry));
    assert.match(dry.stdout, /public\.order_items: 1 removed \(by id\)  \[dependent: only with --with-dependents\]/);
    assert.match(dry.stdout, /would refuse/);

    const refused = await repo.lockstep('restore', snap.id, '--tables', 'products', '--yes');
    assert.equal(refused.code, 2, explain(refused));
    assert.match(refused.stderr, /public\.order_items.*--with-dependents/s);
    assert.deepEqual(await fingerprint(repo.url), mistake, 'a refused restore changes nothing');
    assert.ok(!(await repo.list()).some((c) => c.kind === 'pre-restore'), 'and leaves no undo point behind');

    const done = expectOk(await repo.lockstep('restore', snap.id, '--tables', 'products', '--with-dependents', '--yes'));
    assert.match(done.stdout, /with dependents: public\.order_items/, explain(done));
    const after = await fingerprint(repo.url);
    assert.deepEqual(only(after, ['public.products', 'public.order_items']), only(good, ['public.products', 'public.order_items']));
    assert.deepEqual(after.rows['public.customers'], mistake.rows['public.customers'], 'other tables stay as they are now');
    const undo = /Undo: lockstep restore ([0-9a-f]+) --tables (\S+) --with-dependents/.exec(done.stdout);
    assert.ok(undo, done.stdout);
    const finished = repo.audit().find((e) => e.op === 'restore' && e.phase === 'finished' && e.undoCheckpointId === undo[1]);
    assert.ok(finished, 'audited like a restore');
    assert.equal(finished.checkpointId, snap.id);
    assert.ok((await repo.list()).some((c) => c.id === undo[1] && c.kind === 'pre-restore'), 'the undo point is in the journal');

    // Undo with --tables again: exactly as before the table restore.
    expectOk(await repo.lockstep('restore', undo[1]!, '--tables', undo[2]!, '--with-dependents', '--yes'));
    assert.deepEqual(await fingerprint(repo.url), mistake);

    // A dropped table comes back with its rows, constraints and sequence; a full data restore of the undo point removes it again.
    const back = expectOk(await repo.lockstep('restore', snap.id, '--tables', 'reviews', '--yes'));
    assert.match(back.stdout, /public\.reviews: re-created with 2 row\(s\)/, explain(back));
    assert.deepEqual((await fingerprint(repo.url)).rows['public.reviews'], good.rows['public.reviews']);
    // A sequence read from a recovered copy is ahead by what Postgres logs in advance (up to 32): never behind.
    const [next] = await sql(repo.url, 'INSERT INTO reviews (product_id, stars) VALUES (1, 3) RETURNING id');
    assert.ok(Number(next?.id) > 2, `a new review does not collide (id ${String(next?.id)})`);
    await assert.rejects(sql(repo.url, 'INSERT INTO reviews (product_id, stars) VALUES (1, 7)'), /check constraint/);
    const undo2 = /Undo: lockstep restore ([0-9a-f]+) --data-only/.exec(back.stdout);
    assert.ok(undo2, back.stdout);
    expectOk(await repo.lockstep('restore', undo2[1]!, '--data-only', '--yes'));
    assert.deepEqual(await fingerprint(repo.url), mistake);
  });

  it('says what is wrong with the flags or the tables (exit 2)', async () => {
    const { id } = JSON.parse(expectOk(await repo.lockstep('snapshot', '--json')).stdout) as { id: string };
    for (const args of [
      ['restore', id, '--with-dependents', '--yes'],
      ['restore', id, '--tables', 'a,,b', '--yes'],
      ['restore', id, '--tables', 'products', '--code-only', '--yes'],
      ['restore', id, '--tables', 'no_such_table', '--yes'],
    ]) {
      const result = await repo.lockstep(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
    }
    assert.match((await repo.lockstep('restore', id, '--tables', 'no_such_table', '--yes')).stderr, /no table no_such_table/);
  });

  it('restores a table to a moment (--at) that no checkpoint marks', async () => {
    await sql(repo.url, "CREATE TABLE IF NOT EXISTS settings (k text PRIMARY KEY, v text); DELETE FROM settings; INSERT INTO settings VALUES ('mode', 'before the moment')");
    await new Promise((r) => setTimeout(r, 200));
    const moment = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 200));
    await sql(repo.url, "UPDATE settings SET v = 'after the moment'; INSERT INTO settings VALUES ('extra', 'x')");
    const done = expectOk(await repo.lockstep('restore', '--at', moment, '--tables', 'settings', '--yes'));
    assert.match(done.stdout, /public\.settings: 1 changed back, 1 removed/, explain(done));
    assert.deepEqual(await sql(repo.url, 'SELECT k, v FROM settings'), [{ k: 'mode', v: 'before the moment' }]);
    assert.ok(repo.audit().some((e) => e.op === 'restore' && e.phase === 'finished' && e.detail?.includes(`at ${moment}`)), 'audited with the moment');
  });
});
