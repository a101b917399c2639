// One-table restore: chosen tables put back as they were at a checkpoint, in one transaction on the serving database; everything else stays as it is now.

import { pipeline } from 'node:stream/promises';
import type { Client } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { describeError, LockstepError, throwIfAborted } from '../base/errors';
import { withLock } from '../base/locks';
import { checkpointTitle, newCheckpointId, pointOf, type Checkpoint } from './checkpoint';
import { restorabilityError, type OperationOptions, type PointInHistory } from './engine';
import { foldPending, readMarker } from './markers';
import { withPastAndNow } from './pastData';
import type { Project } from './project';
import { quoteIdent } from './postgresSchema';
import { readRestoreRecord, RESTORE_LOCK } from './restore';
import { resolveTarget } from './target';

export interface TableRestoreRequest {
  /** A checkpoint (id, commit, ISO time), as `lockstep restore REF`. */
  ref?: string;
  /** Any moment instead (ISO time, "10 minutes ago", an LSN), as `lockstep restore --at`. */
  at?: string;
  /** `name` or `schema.name`. */
  tables: string[];
  /** Restore the tables foreign keys tie to the chosen ones too (transitively), instead of refusing. */
  withDependents?: boolean;
}

/** What the restore did to one table, from now back to then. */
export interface RestoredTable {
  /** `schema.name`. */
  name: string;
  /** Rows put back: they were deleted since. */
  inserted: number;
  /** Rows removed: they were inserted since. */
  deleted: number;
  /** Rows set back to their values then. */
  changed: number;
  /** The table had been dropped since and was re-created. */
  created?: true;
  /** How rows were matched: by these key columns, or null for whole rows (a table without a primary key). */
  key: string[] | null;
}

/** A table the restore would need to take along, and why. */
export interface DependentTable {
  /** `schema.name` of the table to take along. */
  name: string;
  /** The restored table it hangs on. */
  because: string;
  /** The foreign key, `child(cols) → parent(cols)`. */
  via: string;
  /** `children`: rows of `name` would point at keys that go away; `parents`: restored rows of `because` point at rows of `name` that are gone now. */
  kind: 'children' | 'parents';
  rows: number;
}

export interface TableRestoreOutcome {
  tables: RestoredTable[];
  /** Sequences moved forward so that new rows do not collide with restored ones ("public.products_id_seq → 42"). */
  sequences: string[];
  /** Tables included because foreign keys tie them to the chosen ones (`schema.name`). */
  dependents: string[];
  /** Why each dependent is needed (with `withDependents`: why it was included; without: why the restore refuses). */
  needs: DependentTable[];
  /** What was left as it is, one sentence each (a foreign key into a re-created table that current rows break…). */
  notes: string[];
}

export interface TableRestorePlan extends TableRestoreOutcome {
  target: Checkpoint;
  point: PointInHistory;
  /** `at` named a moment, not a checkpoint. */
  synthetic: boolean;
  /** The restore would refuse: dependents are needed and `withDependents` was not given. */
  refusal?: LockstepError;
}

export interface TableRestoreResult extends TableRestoreOutcome {
  target: Checkpoint;
  /** The pre-restore checkpoint: restoring it (a full restore, `--data-only`, or these tables again) undoes this one. */
  undo: Checkpoint;
  durationMs: number;
}

export interface TableRestoreOptions extends OperationOptions {
  /** Asked with the exact plan before anything changes; false cancels. */
  confirm?: (plan: TableRestorePlan) => Promise<boolean>;
}

/** The dry run: the exact rows each table would get back and the dependents found; nothing changes. */
export async function previewTableRestore(project: Project, request: TableRestoreRequest, options: OperationOptions = {}): Promise<TableRestorePlan> {
  checkRequest(request);
  await foldPending(project);
  const { checkpoint, point, synthetic } = await resolveTablesTarget(project, request, options);
  return withPastAndNow(project, point, options, async (_past, then, now) => {
    const outcome = await restoreTablesBetween(then, now, { tables: request.tables, withDependents: request.withDependents, apply: false, signal: options.signal, onProgress: options.onProgress });
    return { target: checkpoint, point, synthetic, ...outcome, ...refusalOf(outcome, request) };
  });
}

/**
 * The chosen tables back as they were at the target, in one transaction on the
 * serving database, under the restore lock: an undo point first (journalled),
 * then the audit trail's started/finished like a restore's.
 */
export async function restoreTables(project: Project, request: TableRestoreRequest, options: TableRestoreOptions = {}): Promise<TableRestoreResult> {
  checkRequest(request);
  return withLock(project.paths.restoreLock, RESTORE_LOCK, async () => {
    const left = readRestoreRecord(project);
    if (left) {
      throw new LockstepError('CONFLICT', `a restore to ${left.target.id} was interrupted (at "${left.step}")`, { hint: 'Run `lockstep restore --continue` or `lockstep restore --abort` first.' });
    }
    const started = Date.now();
    await foldPending(project, { waitForHooks: true });
    const { checkpoint, point, synthetic } = await resolveTablesTarget(project, request, options);
    const label = `Before restoring ${request.tables.join(', ')} to ${checkpoint.id}`.slice(0, 200);

    return withPastAndNow(project, point, options, async (_past, then, now) => {
      const betweenOptions = { tables: request.tables, withDependents: request.withDependents, signal: options.signal, onProgress: options.onProgress };
      if (options.confirm) {
        // The plan is read in a transaction of its own that changes nothing: no lock is held while a person reads it.
        const outcome = await restoreTablesBetween(then, now, { ...betweenOptions, apply: false });
        const plan: TableRestorePlan = { target: checkpoint, point, synthetic, ...outcome, ...refusalOf(outcome, request) };
        if (plan.refusal) throw plan.refusal;
        if (!(await options.confirm(plan))) throw new LockstepError('CANCELLED', 'the restore was cancelled; nothing changed');
      }
      throwIfAborted(options.signal, 'the restore');

      const operationId = newCheckpointId();
      const what = `tables ${request.tables.join(', ')}${request.withDependents ? ' (with dependents)' : ''}`;
      const checkpointId = synthetic ? undefined : checkpoint.id;
      let undo: Checkpoint | undefined;
      let began = false;
      let outcome: TableRestoreOutcome;
      try {
        outcome = await restoreTablesBetween(then, now, {
          ...betweenOptions,
          apply: true,
          // Once every check passed: a refused restore leaves no undo point and no audit entry behind.
          beforeChanges: async () => {
            await project.audit.append({ op: 'restore', phase: 'started', operationId, checkpointId, detail: `${what}: ${checkpointTitle(checkpoint)}` });
            began = true;
            options.onProgress?.('Taking a pre-restore checkpoint');
            undo = await readMarker(project, { kind: 'pre-restore', label, signal: options.signal });
            await project.journal.append(undo);
          },
        });
      } catch (error) {
        // One transaction: it rolled back, so nothing changed whatever failed.
        if (began) {
          await project.audit.append({ op: 'restore', phase: 'failed', operationId, checkpointId, undoCheckpointId: undo?.id, detail: `${what}: ${describeError(error)} (rolled back; nothing changed)` });
        }
        throw error;
      }
      if (!undo) throw new LockstepError('INTERNAL', 'the table restore finished without an undo point');
      await project.audit.append({
        op: 'restore',
        phase: 'finished',
        operationId,
        checkpointId,
        undoCheckpointId: undo.id,
        detail: `${what}${synthetic ? ` at ${request.at}` : ''}: ${outcome.tables.map(describeRestoredTable).join('; ')}${outcome.dependents.length > 0 ? `; dependents: ${outcome.dependents.join(', ')}` : ''}`,
      });
      return { target: checkpoint, undo, ...outcome, durationMs: Date.now() - started };
    });
  });
}

/** "public.products: 4 changed, 1 put back, 2 removed" — for messages and the audit trail. */
export function describeRestoredTable(t: RestoredTable): string {
  if (t.created) return `${t.name}: re-created with ${t.inserted} row(s)`;
  const parts = [t.changed > 0 ? `${t.changed} changed back` : '', t.inserted > 0 ? `${t.inserted} put back` : '', t.deleted > 0 ? `${t.deleted} removed` : ''].filter(Boolean);
  return `${t.name}: ${parts.length > 0 ? parts.join(', ') : 'already as it was'}`;
}

function checkRequest(request: TableRestoreRequest): void {
  if (request.tables.length === 0 || request.tables.some((t) => t.trim() === '')) throw new LockstepError('BAD_INPUT', 'which tables? (--tables a,b)');
  if (request.ref === undefined && request.at === undefined) throw new LockstepError('BAD_INPUT', 'restore to what? Give a REF or --at');
}

async function resolveTablesTarget(project: Project, request: TableRestoreRequest, options: OperationOptions): Promise<{ checkpoint: Checkpoint; point: PointInHistory; synthetic: boolean }> {
  const resolved = await resolveTarget(project, { ref: request.ref, at: request.at }, options);
  const config = project.config();
  if (resolved.checkpoint.engine !== config.engine) {
    throw new LockstepError('BAD_INPUT', `checkpoint ${resolved.checkpoint.id} was taken with the ${resolved.checkpoint.engine} engine; this repository now uses ${config.engine}`);
  }
  if (!resolved.synthetic) {
    const point = pointOf(resolved.checkpoint);
    const verdict = await (await project.engine()).restorability(point, options);
    if (!verdict.restorable) throw restorabilityError(verdict, point);
  }
  return resolved;
}

function refusalOf(outcome: TableRestoreOutcome, request: TableRestoreRequest): { refusal?: LockstepError } {
  if (request.withDependents || outcome.needs.length === 0) return {};
  return { refusal: dependentsError(outcome.needs) };
}

function dependentsError(needs: DependentTable[]): LockstepError {
  const lines = needs.map((n) =>
    n.kind === 'children'
      ? `${n.rows} row(s) of ${n.name} would point at ${n.because} rows that did not exist then (${n.via})`
      : `${n.rows} row(s) of ${n.because} as it was then point at ${n.name} rows that are gone now (${n.via})`,
  );
  const names = [...new Set(needs.map((n) => n.name))];
  return new LockstepError('BAD_INPUT', `restoring these tables alone would break foreign keys: ${lines.join('; ')}`, {
    hint: `Pass --with-dependents to restore ${names.join(', ')} as they were then too, or restore the whole database (--data-only).`,
  });
}

// ─── The transaction ────────────────────────────────────────────────────────

export interface BetweenRequest {
  tables: string[];
  withDependents?: boolean;
  /** false: read and count only, roll back (a dry run, or the plan a person confirms). */
  apply: boolean;
  signal?: AbortSignal;
  onProgress?: (step: string) => void;
  /** With `apply`: called once every check passed and the tables are locked, before the first change (the undo point is taken here). Throwing rolls back. */
  beforeChanges?: () => Promise<void>;
}

interface TableRef {
  schema: string;
  name: string;
}

interface ColumnInfo {
  name: string;
  type: string;
  notnull: boolean;
  identity: '' | 'a' | 'd';
  generated: '' | 's';
  default: string | null;
  collation: string | null;
}

interface TableInfo {
  oid: number;
  ref: TableRef;
  kind: string;
  unlogged: boolean;
  owner: string;
  partitioned: boolean;
  inherits: boolean;
  columns: ColumnInfo[];
  /** Primary key columns, or null. */
  key: string[] | null;
}

interface ForeignKey {
  name: string;
  child: TableRef;
  parent: TableRef;
  cols: string[];
  refcols: string[];
  /** pg_get_constraintdef, read with a search path that qualifies every name. */
  definition: string;
}

/** A table being restored: what it was then, what it is now (absent: dropped since), its rows then in a temp table. */
interface Restoring {
  then: TableInfo;
  now: TableInfo | undefined;
  /** `pg_temp.…` holding the rows then (generated columns left out). */
  temp: string;
  /** The columns copied (generated ones are computed again). */
  data: string[];
  dependent: boolean;
}

/**
 * The core, on two connections: `then` reads the past (read-only), `now` is the
 * serving database as a superuser. One transaction on `now`: with `apply`, it
 * commits only when every foreign key touching the tables holds; without, it
 * counts and rolls back. Exported for tests that run it on two databases.
 */
export async function restoreTablesBetween(then: Client, now: Client, request: BetweenRequest): Promise<TableRestoreOutcome> {
  const step = (s: string): void => request.onProgress?.(s);
  await now.query('BEGIN');
  try {
    await now.query("SET LOCAL lock_timeout = '10s'");
    // Hash joins over whole tables and the rows then in temp tables: memory over spilling (this session only).
    await now.query("SET LOCAL work_mem = '128MB'");
    await now.query("SET LOCAL maintenance_work_mem = '256MB'");
    await now.query('SAVEPOINT lockstep_buffers');
    try {
      await now.query("SET LOCAL temp_buffers = '256MB'");
      await now.query('RELEASE SAVEPOINT lockstep_buffers');
    } catch {
      await now.query('ROLLBACK TO SAVEPOINT lockstep_buffers'); // the session used temp tables already (a plan before the apply)
    }
    const refs = await resolveTables(then, now, request.tables);
    const restoring = new Map<string, Restoring>();
    const notes: string[] = [];
    let counter = 0;

    const add = async (ref: TableRef, dependent: boolean): Promise<void> => {
      const key = display(ref);
      if (restoring.has(key)) return;
      const thenInfo = await readTable(then, ref);
      const nowInfo = await readTable(now, ref);
      if (!thenInfo) {
        throw new LockstepError('BAD_INPUT', `${key} did not exist at that point: a one-table restore only puts back tables that existed then`, {
          hint: `A full restore (--data-only) would put the whole database back, dropping ${key}; \`lockstep diff\` shows what changed.`,
        });
      }
      for (const info of [thenInfo, nowInfo]) {
        if (info && (info.partitioned || info.inherits)) {
          throw new LockstepError('BAD_INPUT', `${key} is partitioned or inherits: a one-table restore handles plain tables only`, { hint: 'A full restore (--data-only) puts it back.' });
        }
      }
      if (nowInfo) checkSameShape(thenInfo, nowInfo);
      // Locked before its rows are read: nothing writes to it between the checks and the commit (reads go on).
      if (nowInfo && request.apply) await now.query(`LOCK TABLE ONLY ${qualified(ref)} IN EXCLUSIVE MODE`);
      const data = thenInfo.columns.filter((c) => c.generated === '').map((c) => c.name);
      const temp = `pg_temp.${quoteIdent(`lockstep_then_${++counter}`)}`;
      step(`Copying ${key} as it was then`);
      await copyRowsThen(then, now, thenInfo, data, temp);
      restoring.set(key, { then: thenInfo, now: nowInfo, temp, data, dependent });
    };

    for (const ref of refs) await add(ref, false);

    // Foreign keys: find what the chosen tables drag along, until nothing new (transitively).
    const needs: DependentTable[] = [];
    for (let changed = true; changed; ) {
      changed = false;
      throwIfAborted(request.signal, 'the restore');
      const keys = await foreignKeysTouching(then, now, restoring);
      for (const fk of keys) {
        const child = restoring.get(display(fk.child));
        const parent = restoring.get(display(fk.parent));
        if (child && parent) continue; // both as they were then: it held then (checked again before commit)
        if (parent && !child) {
          // Rows outside the restore pointing at parent keys that go away (ON DELETE CASCADE must not take them silently).
          const rows = await count(now, `SELECT count(*) FROM ${qualified(fk.child)} c WHERE ${notNull('c', fk.cols)} AND NOT EXISTS (SELECT 1 FROM ${parent.temp} p WHERE ${joinOn('p', fk.refcols, 'c', fk.cols)})`);
          if (rows > 0) {
            if (!(await readTable(then, fk.child))) {
              throw new LockstepError('BAD_INPUT', `${rows} row(s) of ${display(fk.child)}, a table created since, point at ${display(fk.parent)} rows that did not exist then (${describeKey(fk)}): it cannot be taken along`, {
                hint: 'Delete or repoint those rows first, or restore the whole database (--data-only).',
              });
            }
            needs.push({ name: display(fk.child), because: display(fk.parent), via: describeKey(fk), kind: 'children', rows });
            await add(fk.child, true);
            changed = true;
          }
        } else if (child && !parent) {
          const parentNow = await readTable(now, fk.parent);
          const rows = parentNow
            ? await count(now, `SELECT count(*) FROM ${child.temp} c WHERE ${notNull('c', fk.cols)} AND NOT EXISTS (SELECT 1 FROM ${qualified(fk.parent)} p WHERE ${joinOn('p', fk.refcols, 'c', fk.cols)})`)
            : await count(now, `SELECT count(*) FROM ${child.temp} c WHERE ${notNull('c', fk.cols)}`);
          if (rows > 0) {
            needs.push({ name: display(fk.parent), because: display(fk.child), via: describeKey(fk), kind: 'parents', rows });
            await add(fk.parent, true);
            changed = true;
          }
        }
      }
    }
    const dependents = [...restoring.entries()].filter(([, r]) => r.dependent).map(([name]) => name);

    if (!request.apply || (needs.length > 0 && !request.withDependents)) {
      const tables: RestoredTable[] = [];
      for (const [name, r] of restoring) tables.push(await countChanges(now, name, r));
      await now.query('ROLLBACK');
      if (request.apply) throw dependentsError(needs);
      return { tables, sequences: [], dependents, needs, notes };
    }

    // Apply. The tables on the other side of their foreign keys are held still too (reads go on).
    const related = new Set<string>();
    for (const fk of await foreignKeysTouching(then, now, restoring)) for (const t of [fk.child, fk.parent]) if (!restoring.has(display(t))) related.add(qualified(t));
    const relatedNow: string[] = [];
    for (const name of related) if (await relationExists(now, name)) relatedNow.push(name);
    if (relatedNow.length > 0) await now.query(`LOCK TABLE ${relatedNow.join(', ')} IN SHARE MODE`);
    throwIfAborted(request.signal, 'the restore');
    await request.beforeChanges?.();
    // Foreign-key triggers (and the app's own triggers) stay quiet: a cascade must never touch rows outside the
    // restore, and restored rows get exactly their values then. Every key is checked below instead.
    await now.query("SET LOCAL session_replication_role = 'replica'");

    const tables: RestoredTable[] = [];
    const sequences: string[] = [];
    for (const [name, r] of restoring) {
      if (!r.now) continue;
      step(`Putting ${name} back`);
      tables.push(await applyRows(now, name, r));
    }
    const created = [...restoring.entries()].filter(([, r]) => !r.now);
    for (const [name, r] of created) {
      step(`Re-creating ${name}`);
      tables.push(await recreateTable(then, now, name, r, notes, sequences));
    }
    // Foreign keys the dropped tables had (theirs, and other tables' into them): back when the rows satisfy them.
    for (const [, r] of created) await recreateForeignKeys(then, now, r, restoring, notes);

    step('Setting sequences');
    for (const r of restoring.values()) sequences.push(...(await advanceSequences(now, r)));

    step('Checking foreign keys');
    for (const fk of await foreignKeysTouching(then, now, restoring, { nowOnly: true })) {
      const rows = await count(now, `SELECT count(*) FROM ${qualified(fk.child)} c WHERE ${notNull('c', fk.cols)} AND NOT EXISTS (SELECT 1 FROM ${qualified(fk.parent)} p WHERE ${joinOn('p', fk.refcols, 'c', fk.cols)})`);
      if (rows > 0) {
        throw new LockstepError('CONFLICT', `${rows} row(s) of ${display(fk.child)} would point at missing ${display(fk.parent)} rows (${describeKey(fk)}); nothing was changed`, {
          hint: 'Did the foreign key not exist then? Restore the whole database (--data-only), or fix the rows first.',
        });
      }
    }
    await now.query('SET CONSTRAINTS ALL IMMEDIATE');
    await now.query('COMMIT');
    return { tables, sequences, dependents, needs, notes };
  } catch (error) {
    await now.query('ROLLBACK').catch(() => undefined);
    if (error instanceof LockstepError) throw error;
    const pg = error as { code?: string; message?: string; detail?: string };
    if (pg.code === '55P03') throw new LockstepError('BUSY', `the tables are in use and could not be locked within 10 s (${pg.message}); nothing was changed`, { hint: 'Stop what writes to them, or try again.', cause: error });
    if (typeof pg.code === 'string' && /^(23|22|42)/.test(pg.code)) {
      throw new LockstepError('CONFLICT', `the tables could not be put back: ${pg.message}${pg.detail ? ` (${pg.detail})` : ''}; nothing was changed`, { cause: error });
    }
    throw error;
  }
}

// ─── Finding the tables ────────────────────────────────────────────────────

async function resolveTables(then: Client, now: Client, names: string[]): Promise<TableRef[]> {
  const refs: TableRef[] = [];
  for (const raw of names) {
    const text = raw.trim();
    const dot = text.indexOf('.');
    const schema = dot >= 0 ? text.slice(0, dot) : undefined;
    const name = dot >= 0 ? text.slice(dot + 1) : text;
    const found = new Map<string, TableRef>();
    for (const client of [now, then]) {
      // Exact first, then as Postgres folds an unquoted name.
      for (const candidate of [name, name.toLowerCase()]) {
        const { rows } = await client.query<{ schema: string; name: string }>(
          `SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relname = $1 AND ($2::text IS NULL OR n.nspname = $2 OR n.nspname = lower($2)) AND c.relkind IN ('r', 'p')
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`,
          [candidate, schema ?? null],
        );
        for (const row of rows) found.set(display(row), row);
        if (rows.length > 0) break;
      }
    }
    if (found.size === 0) throw new LockstepError('BAD_INPUT', `no table ${text}, neither now nor at that point`, { hint: '`lockstep diff REF` lists the tables that changed.' });
    if (found.size > 1) throw new LockstepError('BAD_INPUT', `${text} is ambiguous: ${[...found.keys()].join(', ')}`, { hint: 'Name it with its schema.' });
    const ref = [...found.values()][0]!;
    if (!refs.some((r) => display(r) === display(ref))) refs.push(ref);
  }
  return refs;
}

async function readTable(client: Client, ref: TableRef): Promise<TableInfo | undefined> {
  const { rows } = await client.query<{ oid: number; relkind: string; unlogged: boolean; owner: string; inherits: boolean }>(
    `SELECT c.oid::int AS oid, c.relkind::text AS relkind, c.relpersistence = 'u' AS unlogged, pg_get_userbyid(c.relowner)::text AS owner,
            (c.relispartition OR c.relhassubclass OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid)) AS inherits
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')`,
    [ref.schema, ref.name],
  );
  const row = rows[0];
  if (!row) return undefined;
  const columns = await withQualifiedNames(client, async () =>
    (
      await client.query<ColumnInfo>(
        `SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
                a.attidentity::text AS identity, a.attgenerated::text AS generated, pg_get_expr(d.adbin, d.adrelid) AS default,
                CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN quote_ident(cn.nspname) || '.' || quote_ident(co.collname) END AS collation
           FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           LEFT JOIN pg_collation co ON co.oid = a.attcollation LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
          WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
        [row.oid],
      )
    ).rows,
  );
  const key = await client.query<{ key: string[] | null }>(
    `SELECT (SELECT json_agg(a.attname::text ORDER BY k.ord) FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum) AS key
       FROM pg_index i WHERE i.indrelid = $1 AND i.indisprimary`,
    [row.oid],
  );
  return { oid: row.oid, ref, kind: row.relkind, unlogged: row.unlogged, owner: row.owner, partitioned: row.relkind === 'p', inherits: row.inherits, columns, key: key.rows[0]?.key ?? null };
}

/** Same columns (by name, type and whether generated) and the same primary key; else a clear refusal. */
function checkSameShape(then: TableInfo, now: TableInfo): void {
  const name = display(then.ref);
  const thenCols = new Map(then.columns.map((c) => [c.name, c]));
  const nowCols = new Map(now.columns.map((c) => [c.name, c]));
  const added = now.columns.filter((c) => !thenCols.has(c.name)).map((c) => `${c.name} ${c.type}`);
  const removed = then.columns.filter((c) => !nowCols.has(c.name)).map((c) => `${c.name} ${c.type}`);
  const retyped = then.columns
    .filter((c) => {
      const n = nowCols.get(c.name);
      return n !== undefined && (n.type !== c.type || n.generated !== c.generated);
    })
    .map((c) => `${c.name} ${c.type} → ${nowCols.get(c.name)!.type}`);
  const keyThen = then.key?.join(', ') ?? 'none';
  const keyNow = now.key?.join(', ') ?? 'none';
  const parts = [
    added.length > 0 ? `added since: ${added.join(', ')}` : '',
    removed.length > 0 ? `dropped since: ${removed.join(', ')}` : '',
    retyped.length > 0 ? `changed: ${retyped.join(', ')}` : '',
    keyThen !== keyNow ? `primary key then (${keyThen}), now (${keyNow})` : '',
  ].filter(Boolean);
  if (parts.length > 0) {
    throw new LockstepError('BAD_INPUT', `the columns of ${name} differ between then and now (${parts.join('; ')}): a one-table restore puts rows back into the same columns`, {
      hint: 'A full restore (--data-only) puts the whole database back, schema included; `lockstep diff` shows what else it would change.',
    });
  }
}

/** Foreign keys with a restored table on either side: now's, and for tables dropped since, those they had then. */
async function foreignKeysTouching(then: Client, now: Client, restoring: Map<string, Restoring>, options: { nowOnly?: boolean } = {}): Promise<ForeignKey[]> {
  const names = [...restoring.keys()];
  const keys = await readForeignKeys(now, names);
  if (!options.nowOnly) {
    const dropped = [...restoring.entries()].filter(([, r]) => !r.now).map(([name]) => name);
    // Their own keys only: a key another table had into a dropped one went with the drop (see recreateForeignKeys).
    if (dropped.length > 0) keys.push(...(await readForeignKeys(then, dropped)).filter((fk) => dropped.includes(display(fk.child))));
  }
  return keys;
}

async function readForeignKeys(client: Client, tables: string[]): Promise<ForeignKey[]> {
  return withQualifiedNames(client, async () => {
    const { rows } = await client.query<{ name: string; cs: string; cn: string; ps: string; pn: string; cols: string[]; refcols: string[]; definition: string }>(
      `SELECT k.conname::text AS name, cn.nspname::text AS cs, c.relname::text AS cn, pn.nspname::text AS ps, p.relname::text AS pn,
              (SELECT json_agg(a.attname::text ORDER BY o.ord) FROM unnest(k.conkey) WITH ORDINALITY o(n, ord) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = o.n) AS cols,
              (SELECT json_agg(a.attname::text ORDER BY o.ord) FROM unnest(k.confkey) WITH ORDINALITY o(n, ord) JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = o.n) AS refcols,
              pg_get_constraintdef(k.oid) AS definition
         FROM pg_constraint k
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
         JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
        WHERE k.contype = 'f' AND (cn.nspname || '.' || c.relname = ANY($1) OR pn.nspname || '.' || p.relname = ANY($1))
        ORDER BY 1`,
      [tables],
    );
    return rows.map((r) => ({ name: r.name, child: { schema: r.cs, name: r.cn }, parent: { schema: r.ps, name: r.pn }, cols: r.cols, refcols: r.refcols, definition: r.definition }));
  });
}

// ─── Rows ─────────────────────────────────────────────────────────────────

/** COPY the rows then into a temp table on `now` (streamed: COPY … TO STDOUT there, COPY … FROM STDIN here). */
async function copyRowsThen(then: Client, now: Client, info: TableInfo, data: string[], temp: string): Promise<void> {
  const cols = data.map(quoteIdent).join(', ');
  const source = qualified(info.ref);
  // LIKE takes the columns as they are now; a dropped table's come from its definition then.
  const columns = info.columns
    .filter((c) => c.generated === '')
    .map((c) => `${quoteIdent(c.name)} ${c.type}${c.collation ? ` COLLATE ${c.collation}` : ''}`)
    .join(', ');
  await now.query(`CREATE TEMP TABLE ${temp} (${columns}) ON COMMIT DROP`);
  await pipeline(then.query(copyTo(`COPY (SELECT ${cols} FROM ONLY ${source}) TO STDOUT`)), now.query(copyFrom(`COPY ${temp} (${cols}) FROM STDIN`)));
  // No index: every use is a whole-table hash join. Statistics, though: autovacuum never analyses a temp table.
  await now.query(`ANALYZE ${temp}`);
}

/** Row text for whole-row comparison: every type has a text form, not every type has `=`. */
function rowText(alias: string, cols: string[]): string {
  return `ROW(${cols.map((c) => `${alias}.${quoteIdent(c)}::text`).join(', ')})`;
}

async function countChanges(now: Client, name: string, r: Restoring): Promise<RestoredTable> {
  const key = r.then.key;
  if (!r.now) return { name, inserted: await count(now, `SELECT count(*) FROM ${r.temp}`), deleted: 0, changed: 0, created: true, key };
  const table = qualified(r.then.ref);
  if (key) {
    // One pass: a full join by key says which rows are only now, only then, or both and different.
    const rest = r.data.filter((c) => !key.includes(c));
    const differ = rest.length === 0 ? 'false' : `${rowText('t', rest)} IS DISTINCT FROM ${rowText('s', rest)}`;
    const { rows } = await now.query<{ deleted: string; inserted: string; changed: string }>(
      `SELECT count(*) FILTER (WHERE s.lockstep_then IS NULL)::text AS deleted, count(*) FILTER (WHERE t.lockstep_now IS NULL)::text AS inserted,
              count(*) FILTER (WHERE t.lockstep_now AND s.lockstep_then AND ${differ})::text AS changed
         FROM (SELECT true AS lockstep_now, u.* FROM ONLY ${table} u) t FULL JOIN (SELECT true AS lockstep_then, v.* FROM ${r.temp} v) s ON ${joinOn('t', key, 's', key)}`,
    );
    return { name, key, deleted: Number(rows[0]?.deleted ?? 0), inserted: Number(rows[0]?.inserted ?? 0), changed: Number(rows[0]?.changed ?? 0) };
  }
  const { thenCounts, nowCounts } = await rowCounts(now, r);
  const { rows } = await now.query<{ inserted: string; deleted: string }>(
    `SELECT coalesce(sum(greatest(coalesce(a.n, 0) - coalesce(b.n, 0), 0)), 0)::text AS inserted,
            coalesce(sum(greatest(coalesce(b.n, 0) - coalesce(a.n, 0), 0)), 0)::text AS deleted
       FROM ${thenCounts} a FULL JOIN ${nowCounts} b ON a.r = b.r`,
  );
  return { name, key: null, inserted: Number(rows[0]?.inserted ?? 0), deleted: Number(rows[0]?.deleted ?? 0), changed: 0 };
}

/** For a table without a key: how many copies of each distinct row there are, then and now (rows are a multiset). */
async function rowCounts(now: Client, r: Restoring): Promise<{ thenCounts: string; nowCounts: string }> {
  const thenCounts = `${r.temp.slice(0, -1)}_then_counts"`;
  const nowCounts = `${r.temp.slice(0, -1)}_now_counts"`;
  await now.query(`DROP TABLE IF EXISTS ${thenCounts}, ${nowCounts}`);
  await now.query(`CREATE TEMP TABLE ${thenCounts.replace('pg_temp.', '')} ON COMMIT DROP AS SELECT ${rowText('s', r.data)}::text AS r, count(*) AS n FROM ${r.temp} s GROUP BY 1`);
  await now.query(`CREATE TEMP TABLE ${nowCounts.replace('pg_temp.', '')} ON COMMIT DROP AS SELECT ${rowText('t', r.data)}::text AS r, count(*) AS n FROM ONLY ${qualified(r.then.ref)} t GROUP BY 1`);
  return { thenCounts, nowCounts };
}

/** Deletes, then updates, then inserts (so a unique value freed by a removed row can be taken by a restored one). */
async function applyRows(now: Client, name: string, r: Restoring): Promise<RestoredTable> {
  const table = qualified(r.then.ref);
  const cols = r.data.map(quoteIdent).join(', ');
  const overriding = r.then.columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : '';
  const key = r.then.key;
  if (key) {
    // One pass over both: the rows that differ (only now, only then, or changed) into a small temp table, with where
    // each one is now (ctid: the table is locked, nothing moves it); then each change touches only those rows.
    const rest = r.data.filter((c) => !key.includes(c));
    const differ = rest.length === 0 ? 'false' : `${rowText('t', rest)} IS DISTINCT FROM ${rowText('s', rest)}`;
    const delta = `${r.temp.slice(0, -1)}_delta"`;
    await now.query(
      `CREATE TEMP TABLE ${delta.replace('pg_temp.', '')} ON COMMIT DROP AS
       SELECT t.lockstep_tid, CASE WHEN s.lockstep_then IS NULL THEN 'd' WHEN t.lockstep_tid IS NULL THEN 'i' ELSE 'u' END AS lockstep_action,
              ${r.data.map((c) => `s.${quoteIdent(c)}`).join(', ')}
         FROM (SELECT u.ctid AS lockstep_tid, u.* FROM ONLY ${table} u) t FULL JOIN (SELECT true AS lockstep_then, v.* FROM ${r.temp} v) s ON ${joinOn('t', key, 's', key)}
        WHERE s.lockstep_then IS NULL OR t.lockstep_tid IS NULL OR ${differ}`,
    );
    const deleted = await now.query(`DELETE FROM ONLY ${table} t USING ${delta} d WHERE d.lockstep_action = 'd' AND t.ctid = d.lockstep_tid`);
    const changed =
      rest.length === 0
        ? { rowCount: 0 }
        : await now.query(`UPDATE ONLY ${table} t SET ${rest.map((c) => `${quoteIdent(c)} = d.${quoteIdent(c)}`).join(', ')} FROM ${delta} d WHERE d.lockstep_action = 'u' AND t.ctid = d.lockstep_tid`);
    const inserted = await now.query(`INSERT INTO ${table} (${cols})${overriding} SELECT ${r.data.map((c) => `d.${quoteIdent(c)}`).join(', ')} FROM ${delta} d WHERE d.lockstep_action = 'i'`);
    return { name, key, inserted: inserted.rowCount ?? 0, deleted: deleted.rowCount ?? 0, changed: changed.rowCount ?? 0 };
  }
  // No key: rows are a multiset. Remove the copies now has beyond then's, add the copies then had beyond now's.
  const { thenCounts, nowCounts } = await rowCounts(now, r);
  const deleted = await now.query(
    `DELETE FROM ONLY ${table} t USING (
       SELECT x.tid FROM (SELECT u.ctid AS tid, ${rowText('u', r.data)}::text AS r, row_number() OVER (PARTITION BY ${rowText('u', r.data)}::text) AS rn FROM ONLY ${table} u) x
       LEFT JOIN ${thenCounts} a ON a.r = x.r WHERE x.rn > coalesce(a.n, 0)) gone
     WHERE t.ctid = gone.tid`,
  );
  const inserted = await now.query(
    `INSERT INTO ${table} (${cols})${overriding}
     SELECT ${r.data.map((c) => `x.${quoteIdent(c)}`).join(', ')} FROM (SELECT s.*, ${rowText('s', r.data)}::text AS lockstep_r, row_number() OVER (PARTITION BY ${rowText('s', r.data)}::text) AS lockstep_rn FROM ${r.temp} s) x
     LEFT JOIN ${nowCounts} b ON b.r = x.lockstep_r WHERE x.lockstep_rn > coalesce(b.n, 0)`,
  );
  return { name, key: null, inserted: inserted.rowCount ?? 0, deleted: deleted.rowCount ?? 0, changed: 0 };
}

// ─── A table dropped since ────────────────────────────────────────────────

/** CREATE TABLE from its definition then: columns, defaults, NOT NULL, identity, owned sequences, constraints, indexes, triggers, owner. */
async function recreateTable(then: Client, now: Client, name: string, r: Restoring, notes: string[], sequences: string[]): Promise<RestoredTable> {
  const info = r.then;
  const table = qualified(info.ref);
  await now.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdent(info.ref.schema)}`);
  // Sequences the table owned (serial columns) went with it: back first, since column defaults name them.
  const owned = await withQualifiedNames(then, async () =>
    (
      await then.query<{ seq: string; col: string; definition: string; last: string; called: boolean }>(
        `SELECT quote_ident(sn.nspname) || '.' || quote_ident(s.relname) AS seq, a.attname::text AS col,
                format('AS %s INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s', format_type(q.seqtypid, NULL), q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) AS definition,
                pg_sequence_last_value(s.oid)::text AS last, pg_sequence_last_value(s.oid) IS NOT NULL AS called
           FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' JOIN pg_namespace sn ON sn.oid = s.relnamespace
           JOIN pg_sequence q ON q.seqrelid = s.oid JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
          WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = $1 AND d.deptype = 'a'`,
        [info.oid],
      )
    ).rows,
  );
  for (const s of owned) {
    await now.query(`CREATE SEQUENCE IF NOT EXISTS ${s.seq} ${s.definition}`);
    if (s.called) await now.query(`SELECT setval($1::regclass, $2::bigint, true)`, [s.seq, s.last]);
  }
  const identityOptions = await withQualifiedNames(then, async () =>
    (
      await then.query<{ col: string; options: string; last: string | null }>(
        `SELECT a.attname::text AS col, format('INCREMENT BY %s MINVALUE %s MAXVALUE %s START WITH %s CACHE %s %s', q.seqincrement, q.seqmin, q.seqmax, q.seqstart, q.seqcache, CASE WHEN q.seqcycle THEN 'CYCLE' ELSE 'NO CYCLE' END) AS options,
                pg_sequence_last_value(q.seqrelid)::text AS last
           FROM pg_attribute a JOIN pg_depend d ON d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'i' AND d.classid = 'pg_class'::regclass
           JOIN pg_sequence q ON q.seqrelid = d.objid
          WHERE a.attrelid = $1 AND a.attidentity <> ''`,
        [info.oid],
      )
    ).rows,
  );
  const columns = info.columns.map((c) => {
    let text = `${quoteIdent(c.name)} ${c.type}${c.collation ? ` COLLATE ${c.collation}` : ''}`;
    if (c.generated === 's') text += ` GENERATED ALWAYS AS (${c.default}) STORED`;
    else if (c.identity) text += ` GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY (${identityOptions.find((i) => i.col === c.name)?.options ?? ''})`;
    else if (c.default !== null) text += ` DEFAULT ${c.default}`;
    if (c.notnull) text += ' NOT NULL';
    return text;
  });
  await now.query(`CREATE ${info.unlogged ? 'UNLOGGED ' : ''}TABLE ${table} (${columns.join(', ')})`);
  for (const s of owned) await now.query(`ALTER SEQUENCE ${s.seq} OWNED BY ${table}.${quoteIdent(s.col)}`);
  for (const i of identityOptions) {
    if (i.last !== null) await now.query(`SELECT setval(pg_get_serial_sequence($1, $2), $3::bigint, true)`, [table, i.col, i.last]);
  }
  const overriding = info.columns.some((c) => c.identity === 'a') ? ' OVERRIDING SYSTEM VALUE' : '';
  const cols = r.data.map(quoteIdent).join(', ');
  const inserted = await now.query(`INSERT INTO ${table} (${cols})${overriding} SELECT ${cols} FROM ${r.temp}`);

  // Constraints (not foreign keys: those come once every table is back), then the other indexes, then triggers.
  const definitions = await withQualifiedNames(then, async () => ({
    constraints: (
      await then.query<{ name: string; definition: string }>(
        `SELECT conname::text AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint WHERE conrelid = $1 AND contype IN ('p', 'u', 'c', 'x') ORDER BY contype = 'c', conname`,
        [info.oid],
      )
    ).rows,
    indexes: (
      await then.query<{ definition: string }>(
        `SELECT pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i
          WHERE i.indrelid = $1 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))`,
        [info.oid],
      )
    ).rows,
    triggers: (
      await then.query<{ name: string; definition: string; enabled: string }>(`SELECT tgname::text AS name, pg_get_triggerdef(oid) AS definition, tgenabled::text AS enabled FROM pg_trigger WHERE tgrelid = $1 AND NOT tgisinternal`, [info.oid])
    ).rows,
  }));
  for (const c of definitions.constraints) await now.query(`ALTER TABLE ${table} ADD CONSTRAINT ${quoteIdent(c.name)} ${c.definition}`);
  for (const i of definitions.indexes) await now.query(i.definition);
  for (const t of definitions.triggers) {
    try {
      await now.query('SAVEPOINT lockstep_trigger');
      await now.query(t.definition);
      if (t.enabled === 'D') await now.query(`ALTER TABLE ${table} DISABLE TRIGGER ${quoteIdent(t.name)}`);
      await now.query('RELEASE SAVEPOINT lockstep_trigger');
    } catch (error) {
      await now.query('ROLLBACK TO SAVEPOINT lockstep_trigger');
      notes.push(`trigger ${t.name} on ${name} was not re-created: ${describeError(error)}`);
    }
  }
  if (await roleExists(now, info.owner)) await now.query(`ALTER TABLE ${table} OWNER TO ${quoteIdent(info.owner)}`);
  else notes.push(`${name} is owned by ${(await now.query<{ u: string }>('SELECT current_user AS u')).rows[0]?.u}: its owner then, ${info.owner}, no longer exists`);
  const grants = await then.query<{ grantee: string | null; privilege: string; grantable: boolean }>(
    `SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee)::text END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = $1 AND a.grantee <> c.relowner`,
    [info.oid],
  );
  for (const g of grants.rows) {
    if (g.grantee !== null && !(await roleExists(now, g.grantee))) continue;
    await now.query(`GRANT ${g.privilege} ON ${table} TO ${g.grantee === null ? 'PUBLIC' : quoteIdent(g.grantee)}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
  sequences.push(...owned.map((s) => `${s.seq} (re-created)`));
  return { name, key: info.key, inserted: inserted.rowCount ?? 0, deleted: 0, changed: 0, created: true };
}

/** A re-created table's foreign keys, and other tables' keys into it that went with the drop: each back when the rows satisfy it. */
async function recreateForeignKeys(then: Client, now: Client, r: Restoring, restoring: Map<string, Restoring>, notes: string[]): Promise<void> {
  const name = display(r.then.ref);
  for (const fk of await readForeignKeys(then, [name])) {
    const child = display(fk.child);
    const childNow = await readTable(now, fk.child);
    if (!childNow || !(await readTable(now, fk.parent))) continue;
    const exists = await now.query(`SELECT 1 FROM pg_constraint WHERE conrelid = $1 AND conname = $2`, [childNow.oid, fk.name]);
    if (exists.rows.length > 0) continue;
    if (fk.cols.some((c) => !childNow.columns.some((col) => col.name === c))) {
      notes.push(`foreign key ${fk.name} of ${child} was not re-created: its columns changed since`);
      continue;
    }
    const broken = await count(now, `SELECT count(*) FROM ${qualified(fk.child)} c WHERE ${notNull('c', fk.cols)} AND NOT EXISTS (SELECT 1 FROM ${qualified(fk.parent)} p WHERE ${joinOn('p', fk.refcols, 'c', fk.cols)})`);
    if (broken > 0 && !restoring.has(child)) {
      notes.push(`foreign key ${fk.name} (${describeKey(fk)}) was not re-created: ${broken} row(s) of ${child} now point at rows ${display(fk.parent)} did not have`);
      continue;
    }
    // A broken key of a restored table fails the check before commit, with its counts.
    await now.query(`ALTER TABLE ${qualified(fk.child)} ADD CONSTRAINT ${quoteIdent(fk.name)} ${fk.definition}`);
  }
}

// ─── Sequences ────────────────────────────────────────────────────────────

/** Sequences feeding the table's columns set past the largest value restored: max(current, max(column)). */
async function advanceSequences(now: Client, r: Restoring): Promise<string[]> {
  const table = qualified(r.then.ref);
  const moved: string[] = [];
  for (const c of r.then.columns) {
    if (!/^(smallint|integer|bigint)$/.test(c.type)) continue;
    const seq = (await now.query<{ seq: string | null }>('SELECT pg_get_serial_sequence($1, $2) AS seq', [table, c.name])).rows[0]?.seq;
    if (!seq) continue;
    const { rows } = await now.query<{ top: string | null; next: string | null; inc: string }>(
      `SELECT (SELECT max(${quoteIdent(c.name)})::text FROM ONLY ${table}) AS top,
              (SELECT CASE WHEN is_called THEN last_value + q.seqincrement ELSE last_value END FROM ${seq})::text AS next,
              q.seqincrement::text AS inc
         FROM pg_sequence q WHERE q.seqrelid = $1::regclass`,
      [seq],
    );
    const row = rows[0];
    if (!row || row.top === null || row.next === null || BigInt(row.inc) <= 0n) continue;
    if (BigInt(row.next) <= BigInt(row.top)) {
      await now.query('SELECT setval($1::regclass, $2::bigint, true)', [seq, row.top]);
      moved.push(`${seq} → ${row.top}`);
    }
  }
  return moved;
}

// ─── Small SQL pieces ─────────────────────────────────────────────────────

function display(ref: TableRef): string {
  return `${ref.schema}.${ref.name}`;
}

function qualified(ref: TableRef): string {
  return `${quoteIdent(ref.schema)}.${quoteIdent(ref.name)}`;
}

function describeKey(fk: ForeignKey): string {
  return `${display(fk.child)}(${fk.cols.join(', ')}) → ${display(fk.parent)}(${fk.refcols.join(', ')})`;
}

function joinOn(a: string, aCols: string[], b: string, bCols: string[]): string {
  return aCols.map((c, i) => `${a}.${quoteIdent(c)} = ${b}.${quoteIdent(bCols[i]!)}`).join(' AND ');
}

function notNull(alias: string, cols: string[]): string {
  return cols.map((c) => `${alias}.${quoteIdent(c)} IS NOT NULL`).join(' AND ');
}

async function count(client: Client, sql: string): Promise<number> {
  const { rows } = await client.query<{ count: string }>(sql);
  return Number(rows[0]?.count ?? 0);
}

async function roleExists(client: Client, role: string): Promise<boolean> {
  return (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role])).rows.length > 0;
}

async function relationExists(client: Client, qualifiedName: string): Promise<boolean> {
  return (await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [qualifiedName])).rows[0]?.r != null;
}

/** Definitions read with only pg_catalog on the search path name every object with its schema, so they mean the same on the other server. */
async function withQualifiedNames<T>(client: Client, work: () => Promise<T>): Promise<T> {
  const { rows } = await client.query<{ path: string }>("SELECT current_setting('search_path') AS path");
  await client.query('SET search_path = pg_catalog');
  try {
    return await work();
  } finally {
    await client.query(`SELECT set_config('search_path', $1, false)`, [rows[0]?.path ?? '"$user", public']);
  }
}
