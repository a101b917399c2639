// Row-level changes in words and as text documents: the preview's counts, the diff view's rows, the one-table restore's modal (no VS Code API here).

import type { ColumnChanges, RowDiff, TableRowDiff } from '../core/rowDiff';

/** What the extension reads of a table's row diff: core/rowDiff's, with how it was compared left optional. */
export type TableChange = Omit<TableRowDiff, 'method' | 'columns' | 'ms'> & { method?: TableRowDiff['method']; ms?: number; columns?: Omit<ColumnChanges, 'renamed'> & Partial<Pick<ColumnChanges, 'renamed'>> };

export type RowChanges = Omit<RowDiff, 'tables' | 'method'> & { tables: TableChange[]; method?: RowDiff['method'] };

export type Row = Record<string, unknown>;

/** What core/rowDiff's tableRows returns: the differing rows of one table, limited. */
export interface TableRowsShown {
  inserted: Row[];
  deleted: Row[];
  changed: { key: Row; then: Row; now: Row; columns: string[] }[];
  truncated: boolean;
}

/** `products`, or `audit.events` outside the public schema. */
export function tableLabel(table: Pick<TableChange, 'schema' | 'name'>): string {
  return table.schema === 'public' ? table.name : `${table.schema}.${table.name}`;
}

/** `public.products`: what the core's functions take. */
export function qualifiedName(table: Pick<TableChange, 'schema' | 'name'>): string {
  return `${table.schema}.${table.name}`;
}

export function differs(table: TableChange): boolean {
  return table.status !== 'same' || table.inserted + table.deleted + table.changed > 0 || columnChangeWords(table).length > 0;
}

/** Column changes since then, in words: "column note (text) added", "column title renamed to name". */
export function columnChangeWords(table: TableChange): string[] {
  const c = table.columns;
  if (!c) return [];
  return [
    ...c.added.map((x) => `column ${x.name} (${x.type}) added`),
    ...c.removed.map((x) => `column ${x.name} (${x.type}) dropped`),
    ...(c.renamed ?? []).map((x) => `column ${x.then} renamed to ${x.now}`),
    ...c.retyped.map((x) => `column ${x.name} retyped ${x.then} → ${x.now}`),
  ];
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function atLeast(table: TableChange): string {
  return table.partial ? 'at least ' : '';
}

/** "4 rows changed, 12 inserted, 3 deleted (by id)", "dropped since (3 rows then)", "new since (5 rows)", "no change". */
export function tableChangeWords(table: TableChange): string {
  if (table.status === 'dropped') return `dropped since${table.thenRows === null ? '' : ` (${plural(table.thenRows, 'row')} then)`}`;
  if (table.status === 'new') return `new since${table.nowRows === null ? '' : ` (${plural(table.nowRows, 'row')} now)`}`;
  const parts: string[] = [];
  if (table.changed > 0) parts.push(`${plural(table.changed, 'row')} changed`);
  if (table.inserted > 0) parts.push(`${table.inserted} inserted`);
  if (table.deleted > 0) parts.push(`${table.deleted} deleted`);
  if (parts.length === 0) {
    const columns = columnChangeWords(table);
    if (columns.length > 0) return columns.join(', ');
    return table.partial ? `no change found so far (${table.partial})` : 'no change';
  }
  const by = table.key && table.key.length > 0 ? ` (by ${table.key.join(', ')})` : ' (whole rows: no primary key)';
  return `${atLeast(table)}${parts.join(', ')}${by}`;
}

/** What restoring the whole database would do to this table, for the restore confirmation: the inverse of what happened since. */
export function restoreChangeWords(table: TableChange): string {
  if (table.status === 'dropped') return `comes back${table.thenRows === null ? '' : ` with ${plural(table.thenRows, 'row')}`}`;
  if (table.status === 'new') return `disappears${table.nowRows === null ? '' : ` (${plural(table.nowRows, 'row')} now)`}`;
  const parts: string[] = [];
  if (table.changed > 0) parts.push(`${plural(table.changed, 'changed row')} set back`);
  if (table.inserted > 0) parts.push(`${plural(table.inserted, 'row')} inserted since removed`);
  if (table.deleted > 0) parts.push(`${plural(table.deleted, 'row')} deleted since put back`);
  return parts.length === 0 ? 'unchanged' : `${atLeast(table)}${parts.join(', ')}`;
}

/** Lines for the restore confirmation and preview: one per table that differs, "products: 4 rows changed (by id)". */
export function rowChangeLines(changes: RowChanges): string[] {
  return changes.tables.filter(differs).map((table) => `${tableLabel(table)}: ${tableChangeWords(table)}`);
}

/** The sentence under a diff: how long it took and whether every figure is exact. */
export function rowChangesFootnote(changes: RowChanges): string {
  const took = changes.ms < 1000 ? `${Math.round(changes.ms)} ms` : `${(changes.ms / 1000).toFixed(1)} s`;
  const partial = changes.tables.filter((t) => t.partial);
  return partial.length === 0
    ? `Exact counts, matched by primary key (whole rows where a table has none), computed in ${took}.`
    : `Computed in ${took}; the time ran out for ${partial.map(tableLabel).join(', ')}: ${partial.length === 1 ? 'its figures are' : 'their figures are'} “at least”.`;
}

/** A value (Postgres' text of it) on one line: bare when plain, else quoted as JSON, so that NULL, '' and 'NULL' stay apart and a newline stays on the line. */
function cell(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /^[^\s"'=\\]+$/.test(text) && text !== 'NULL' ? text : JSON.stringify(text);
}

export function rowLine(row: Row): string {
  return Object.entries(row)
    .map(([column, value]) => `${column}=${cell(value)}`)
    .join('  ');
}

function keyText(row: Row, key: string[] | null): string {
  if (!key || key.length === 0) return rowLine(row);
  return key.map((column) => cell(row[column])).join('\u0000');
}

/**
 * The two sides of a table's diff as text: rows that differ only, one a line,
 * in key order, so that VS Code's diff editor puts a changed row's two
 * versions side by side, a deleted row on the left only and an inserted row on
 * the right only.
 */
export function rowsDocuments(table: TableChange, rows: TableRowsShown, names: { then: string; now: string }): { then: string; now: string } {
  type Line = { sort: string; text: string };
  const then: Line[] = [];
  const now: Line[] = [];
  for (const row of rows.deleted) then.push({ sort: keyText(row, table.key), text: rowLine(row) });
  for (const row of rows.inserted) now.push({ sort: keyText(row, table.key), text: rowLine(row) });
  for (const change of rows.changed) {
    const sort = keyText(change.key, table.key);
    then.push({ sort, text: rowLine(change.then) });
    now.push({ sort, text: rowLine(change.now) });
  }
  // Numbers in keys sort as numbers (9 before 10), as the table's own order would have them.
  const order = (a: Line, b: Line): number => a.sort.localeCompare(b.sort, 'en', { numeric: true });
  // The same header on both sides, so that only rows show as changes.
  const header = [
    `-- ${qualifiedName(table)}: ${tableChangeWords(table)}`,
    `-- the rows that differ only${rows.truncated ? ' (the first of them: the list was cut at the limit)' : ''}; left: ${names.then}, right: ${names.now}`,
    '',
  ];
  return {
    then: [...header, ...then.sort(order).map((l) => l.text), ''].join('\n'),
    now: [...header, ...now.sort(order).map((l) => l.text), ''].join('\n'),
  };
}
