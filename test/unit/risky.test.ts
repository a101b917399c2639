import * as assert from 'node:assert/strict';
import { checkRiskyPatterns, classifyCommand, classifySql } from '../../src/core/risky';
import { labelFor } from '../../src/core/safety';
import { LockstepError } from '../../src/base/errors';

describe('risky-command classifier', () => {
  const risky = [
    'npx prisma migrate reset --force',
    'cd api && npx prisma db push --force-reset',
    'prisma migrate dev --name add_users',
    'npx drizzle-kit push',
    'knex migrate:latest',
    'npx sequelize-cli db:migrate',
    'npx typeorm migration:run -d src/data-source.ts',
    'npm run typeorm -- schema:drop',
    'npx node-pg-migrate up',
    'npx supabase db reset --linked',
    'bin/rails db:migrate',
    'bundle exec rake db:reset',
    'alembic upgrade head',
    'flyway -url=jdbc:postgresql://x migrate',
    'liquibase --changelog-file=x.xml update',
    'python manage.py migrate',
    'django-admin flush --noinput',
    'dropdb app',
    'pg_restore -d app dump.pgc',
    "psql -c 'drop table contacts'",
    'psql "$DATABASE_URL" -c "UPDATE products SET price_cents = 0"',
    'psql -f seed.sql',
    'psql app < seed.sql',
    'cat seed.sql | psql app',
    "psql -c 'insert into t values (1)'",
    'pnpm run db:reset',
    'npm run migrate',
    'yarn seed',
    `node -e "pool.query('TRUNCATE orders')"`,
  ];
  for (const command of risky) {
    it(`risky: ${command}`, () => {
      const verdict = classifyCommand(command);
      assert.equal(verdict.risky, true, JSON.stringify(verdict));
      assert.ok(verdict.reason);
    });
  }
  const harmless = [
    'ls -la',
    'git status',
    'npm test',
    'npm run build',
    'npx prisma generate',
    'npx prisma migrate status',
    "psql -c 'select count(*) from contacts'",
    'psql -c "\\dt"',
    'grep -r migrate src/',
    'echo update',
  ];
  for (const command of harmless) {
    it(`harmless: ${command}`, () => {
      assert.deepEqual(classifyCommand(command), { risky: false });
    });
  }

  it('SQL text: DROP, TRUNCATE, ALTER, DELETE, UPDATE', () => {
    for (const sql of ['DROP TABLE x', 'truncate t', 'alter table t add column c int', 'delete from t where id=1', 'UPDATE "Orders" SET x=1']) {
      assert.equal(classifySql(sql).risky, true, sql);
    }
    for (const sql of ['select * from t', 'insert into t values (1)', 'create table t(id int)']) assert.equal(classifySql(sql).risky, false, sql);
  });

  it('users extend the list with regular expressions; bad ones are refused', () => {
    assert.equal(classifyCommand('./scripts/reset-db.sh').risky, false);
    assert.deepEqual(classifyCommand('./scripts/reset-db.sh', ['reset-db']), { risky: true, reason: 'pattern /reset-db/' });
    assert.deepEqual(checkRiskyPatterns(['a+', 'b']), ['a+', 'b']);
    assert.deepEqual(checkRiskyPatterns(undefined), []);
    assert.throws(() => checkRiskyPatterns(['(']), (e: unknown) => e instanceof LockstepError && e.code === 'BAD_INPUT');
    assert.throws(() => checkRiskyPatterns('x'), LockstepError);
    assert.throws(() => checkRiskyPatterns([42]), LockstepError);
  });

  it('a label from a command is one visible line that fits', () => {
    assert.equal(labelFor("psql -c 'drop table contacts'"), "before: psql -c 'drop table contacts'");
    assert.equal(labelFor('a\nb\x1b[31m\u202ec'), 'before: a b [31m c');
    const long = labelFor('x'.repeat(1000));
    assert.equal([...long].length, 200);
    assert.ok(long.endsWith('…'));
  });
});
