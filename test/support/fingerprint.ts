// What "the same data" means in tests: the column lists and an md5 of every row of every user table.

import { Client } from 'pg';

export interface Fingerprint {
  tables: number;
  columns: string[];
  rows: Record<string, { count: number; md5: string }>;
}

export async function fingerprint(url: string): Promise<Fingerprint> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query<{ c: string }>(`
      SELECT table_schema || '.' || table_name || '.' || column_name || ':' || data_type AS c
        FROM information_schema.columns
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
       ORDER BY table_schema, table_name, ordinal_position`);
    const tables = await client.query<{ s: string; t: string }>(`
      SELECT table_schema AS s, table_name AS t FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
       ORDER BY 1, 2`);
    const rows: Fingerprint['rows'] = {};
    for (const { s, t } of tables.rows) {
      const q = `"${s.replace(/"/g, '""')}"."${t.replace(/"/g, '""')}"`;
      const r = await client.query<{ n: string; md5: string | null }>(
        `SELECT count(*)::text AS n, md5(string_agg(x::text, '|' ORDER BY x::text)) AS md5 FROM ${q} x`,
      );
      rows[`${s}.${t}`] = { count: Number(r.rows[0]!.n), md5: r.rows[0]!.md5 ?? '' };
    }
    return { tables: tables.rows.length, columns: columns.rows.map((r) => r.c), rows };
  } finally {
    await client.end();
  }
}

/** Run SQL on a fresh connection (tests use one per step, as an app would after a restore). */
export async function sql(url: string, text: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(text, params);
    return (Array.isArray(result) ? result[result.length - 1] : result).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}
