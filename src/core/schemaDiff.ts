// What a restore would change in the database: tables and columns that appear or disappear, rows now and then.

import type { SchemaSummary } from './engine';

export interface ColumnChange {
  table: string;
  column: string;
  type: string;
}

export interface RowCount {
  table: string;
  /** Rows now; null when the table does not exist now, -1 when unknown. */
  now: number | null;
  /** Rows at the checkpoint; null when the table did not exist then, -1 when unknown. */
  then: number | null;
}

export interface SchemaDiff {
  /** Tables the restore brings back (exist at the checkpoint, not now). */
  tablesAppearing: string[];
  /** Tables the restore removes (exist now, not at the checkpoint). */
  tablesDisappearing: string[];
  columnsAppearing: ColumnChange[];
  columnsDisappearing: ColumnChange[];
  rows: RowCount[];
}

function tableName(schema: string, name: string): string {
  return schema === 'public' ? name : `${schema}.${name}`;
}

/** From `now` to `then` (the checkpoint): what restoring would change. */
export function diffSchemas(now: SchemaSummary, then: SchemaSummary): SchemaDiff {
  const index = (s: SchemaSummary) => new Map(s.tables.map((t) => [tableName(t.schema, t.name), t]));
  const nowTables = index(now);
  const thenTables = index(then);
  const diff: SchemaDiff = { tablesAppearing: [], tablesDisappearing: [], columnsAppearing: [], columnsDisappearing: [], rows: [] };
  const names = [...new Set([...nowTables.keys(), ...thenTables.keys()])].sort();
  for (const name of names) {
    const a = nowTables.get(name);
    const b = thenTables.get(name);
    if (!a && b) diff.tablesAppearing.push(name);
    if (a && !b) diff.tablesDisappearing.push(name);
    if (a && b) {
      const aCols = new Map(a.columns.map((c) => [c.name, c.type]));
      const bCols = new Map(b.columns.map((c) => [c.name, c.type]));
      for (const [column, type] of bCols) if (!aCols.has(column)) diff.columnsAppearing.push({ table: name, column, type });
      for (const [column, type] of aCols) if (!bCols.has(column)) diff.columnsDisappearing.push({ table: name, column, type });
    }
    diff.rows.push({ table: name, now: a ? a.approxRows : null, then: b ? b.approxRows : null });
  }
  return diff;
}

export function isEmptyDiff(diff: SchemaDiff): boolean {
  return (
    diff.tablesAppearing.length === 0 &&
    diff.tablesDisappearing.length === 0 &&
    diff.columnsAppearing.length === 0 &&
    diff.columnsDisappearing.length === 0 &&
    diff.rows.every((r) => !rowsChange(r))
  );
}

/** Counts differ, both being known (-1 is "unknown": Neon's schema API gives no row counts). */
function rowsChange(r: RowCount): boolean {
  const known = (n: number | null) => n === null || n >= 0;
  return known(r.now) && known(r.then) && r.now !== r.then;
}

/** Lines for a person: the CLI prints them, the extension shows them in its preview. */
export function describeSchemaDiff(diff: SchemaDiff): string[] {
  const lines: string[] = [];
  for (const t of diff.tablesAppearing) lines.push(`+ table ${t} comes back`);
  for (const t of diff.tablesDisappearing) lines.push(`- table ${t} disappears`);
  const byTable = (changes: ColumnChange[]) => {
    const map = new Map<string, string[]>();
    for (const c of changes) map.set(c.table, [...(map.get(c.table) ?? []), c.column]);
    return map;
  };
  for (const [table, cols] of byTable(diff.columnsAppearing)) lines.push(`+ ${table}: column${cols.length > 1 ? 's' : ''} ${cols.join(', ')} come${cols.length > 1 ? '' : 's'} back`);
  for (const [table, cols] of byTable(diff.columnsDisappearing)) lines.push(`- ${table}: column${cols.length > 1 ? 's' : ''} ${cols.join(', ')} disappear${cols.length > 1 ? '' : 's'}`);
  const count = (n: number | null) => (n === null ? '—' : n < 0 ? '?' : `~${n}`);
  for (const r of diff.rows) {
    if (rowsChange(r)) lines.push(`  rows ${r.table}: ${count(r.now)} → ${count(r.then)}`);
  }
  return lines;
}
