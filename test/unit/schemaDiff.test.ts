// What a restore preview says about tables, columns and rows.

import * as assert from 'node:assert/strict';
import type { SchemaSummary } from '../../src/core/engine';
import { describeSchemaDiff, diffSchemas, isEmptyDiff } from '../../src/core/schemaDiff';

const table = (name: string, columns: string[], approxRows: number, schema = 'public') => ({
  schema,
  name,
  columns: columns.map((c) => ({ name: c, type: 'text' })),
  approxRows,
});

describe('schema diff (restore previews)', () => {
  it('lists tables and columns that appear or disappear, and row counts now → then', () => {
    const now: SchemaSummary = { tables: [table('contacts', ['id', 'name', 'role'], 5), table('audit', ['id'], 2, 'ops')] };
    const then: SchemaSummary = { tables: [table('contacts', ['id', 'name', 'email'], 3), table('old', ['x'], 1)] };
    const diff = diffSchemas(now, then);
    assert.deepEqual(diff.tablesAppearing, ['old']);
    assert.deepEqual(diff.tablesDisappearing, ['ops.audit']);
    assert.deepEqual(diff.columnsAppearing.map((c) => `${c.table}.${c.column}`), ['contacts.email']);
    assert.deepEqual(diff.columnsDisappearing.map((c) => `${c.table}.${c.column}`), ['contacts.role']);
    assert.deepEqual(describeSchemaDiff(diff), [
      '+ table old comes back',
      '- table ops.audit disappears',
      '+ contacts: column email comes back',
      '- contacts: column role disappears',
      '  rows contacts: ~5 → ~3',
      '  rows old: — → ~1',
      '  rows ops.audit: ~2 → —',
    ]);
    assert.equal(isEmptyDiff(diff), false);
  });

  it('treats an unknown row count (-1) as unknown, not as a change', () => {
    const diff = diffSchemas({ tables: [table('t', ['id'], 10)] }, { tables: [table('t', ['id'], -1)] });
    assert.equal(isEmptyDiff(diff), true);
    assert.deepEqual(describeSchemaDiff(diff), []);
  });
});
