// Reading a schema summary (tables, columns, approximate rows) from any Postgres we can connect to.

import type { Client } from 'pg';
import type { SchemaSummary, TableSummary } from './engine';

/** Below this many pages (8 MB) a table is counted exactly; above, the planner's estimate is close enough for a preview. */
const EXACT_COUNT_MAX_PAGES = 1024;

interface CatalogRow {
  schema: string;
  name: string;
  reltuples: string;
  relpages: number;
  columns: { name: string; type: string }[];
}

/** User tables of the connected database, sorted by schema and name. Read-only: works on a paused standby. */
export async function describeDatabase(client: Client): Promise<SchemaSummary> {
  const { rows } = await client.query<CatalogRow>(`
    SELECT n.nspname AS schema, c.relname AS name, c.reltuples::bigint::text AS reltuples, c.relpages,
           json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum) AS columns
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relkind IN ('r', 'p')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
     GROUP BY n.nspname, c.relname, c.reltuples, c.relpages
     ORDER BY n.nspname, c.relname`);
  const tables: TableSummary[] = [];
  for (const row of rows) {
    let approxRows = Number(row.reltuples);
    // Never analysed (-1) or small: count, with a bound so a preview never hangs on a big table.
    if (approxRows < 0 || row.relpages < EXACT_COUNT_MAX_PAGES) {
      try {
        await client.query("SET statement_timeout = '2s'");
        const counted = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${quoteIdent(row.schema)}.${quoteIdent(row.name)}`);
        approxRows = Number(counted.rows[0]?.n ?? -1);
      } catch {
        approxRows = approxRows < 0 ? -1 : approxRows;
      } finally {
        await client.query('RESET statement_timeout').catch(() => undefined);
      }
    }
    tables.push({ schema: row.schema, name: row.name, columns: row.columns, approxRows });
  }
  return { tables };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
