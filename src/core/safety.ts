// Safety points: checkpoints taken before a risky step (an agent's command, a migration, `lockstep run`), and the one rule
// under which an agent may restore without a person: back to its own safety point, with nothing else done since.

import { headFromFiles, readHeadRef } from '../git/repository';
import type { AgentIdentity, Checkpoint } from './checkpoint';
import { countRows } from './compute';
import type { OperationOptions, Position, SchemaSummary } from './engine';
import { MAX_LABEL_LENGTH } from './journalText';
import { takeMarker } from './markers';
import type { Project } from './project';

export interface SafetyRequest extends OperationOptions {
  /** Default: derived from the command ("before: <command>", one line, cut to fit). */
  label?: string | null;
  /** The command the point is taken before, when there is one. */
  command?: string;
  agent?: AgentIdentity;
  /** A position read earlier (a terminal's reading at its prompt, before the command started); default: read now. */
  at?: Position;
}

/** Commands longer than this are kept cut (with `…`) in the journal: a checkpoint is a marker, not a log. */
const MAX_COMMAND_LENGTH = 4000;

/** Takes a `safety` checkpoint at HEAD and appends it to the journal. */
export async function takeSafetyPoint(project: Project, request: SafetyRequest): Promise<Checkpoint> {
  const command = request.command === undefined ? undefined : cut(request.command, MAX_COMMAND_LENGTH);
  const label = request.label ?? (command !== undefined ? labelFor(command) : null);
  return takeMarker(project, {
    kind: 'safety',
    label,
    command,
    agent: request.agent,
    at: request.at,
    signal: request.signal,
    onProgress: request.onProgress,
  });
}

/** "before: <command>" as a label may hold it: whitespace and control characters become single spaces, cut to fit. */
export function labelFor(command: string): string {
  // eslint-disable-next-line no-control-regex
  const oneLine = command.replace(/[\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]+/gu, ' ').trim();
  // Lone surrogates and tag characters cannot be in a label either.
  const visible = [...oneLine].filter((ch) => !/[\ud800-\udfff]|[\u{e0000}-\u{e007f}]/u.test(ch)).join('');
  return cut(`before: ${visible}`, MAX_LABEL_LENGTH);
}

/** The command as a safety point keeps it (cut to fit), for faces that build the checkpoint from a reading of their own (core/quickSafety.ts). */
export function safetyCommandText(command: string): string {
  return cut(command, MAX_COMMAND_LENGTH);
}

function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

export interface SelfRestoreVerdict {
  allowed: boolean;
  /** Why, in words an agent can pass on to its user. */
  reason: string;
}

/**
 * Whether an agent may restore `target` without asking a person: only its own
 * safety point (same `session`), and only while nothing else happened since —
 * no other checkpoint (a commit, a snapshot, another session's safety point, a
 * restore's undo point), no restore in the audit trail, HEAD still at the
 * target's commit. Anything else is the user's decision.
 */
export async function mayRestoreWithoutHuman(project: Project, target: Checkpoint, session: string): Promise<SelfRestoreVerdict> {
  const no = (reason: string): SelfRestoreVerdict => ({ allowed: false, reason });
  if (target.kind !== 'safety') return no(`${target.id} is a ${target.kind} checkpoint, not a safety point this session took`);
  if (!session || target.agent?.session !== session) return no(`${target.id} was not taken by this session`);
  const newestFirst = project.journal.list();
  const index = newestFirst.findIndex((c) => c.id === target.id);
  if (index < 0) return no(`${target.id} is not in the journal`);
  const since = newestFirst.slice(0, index).find((c) => !(c.kind === 'safety' && c.agent?.session === session));
  if (since) return no(`${since.kind === 'commit' ? 'a commit' : `a ${since.kind} checkpoint`} (${since.id}) was taken since`);
  const restoredSince = project.audit
    .list()
    .find((e) => e.op === 'restore' && e.at > target.createdAt);
  if (restoredSince) return no(`a restore ran since (${restoredSince.at})`);
  const head = headFromFiles(project.repo) ?? (await readHeadRef(project.repo));
  if (head.sha !== target.commitSha) return no('HEAD moved since (a commit or a checkout)');
  return { allowed: true, reason: `${target.id} is this session's own safety point and nothing else happened since` };
}

/** Tables with exact row counts (each count bounded; `approxRows` -1 where the budget ran out), for before/after comparisons. */
export async function summarizeDatabase(project: Project, options: OperationOptions & { budgetMs?: number } = {}): Promise<SchemaSummary> {
  const engine = await project.engine();
  const summary = await engine.describe(undefined, options);
  const url = await engine.connectionUrl?.();
  if (!url) return summary;
  const counts = await countRows(url, summary.tables, { what: 'the database', signal: options.signal, budgetMs: options.budgetMs ?? 5000 });
  return { tables: summary.tables.map((t) => ({ ...t, approxRows: counts.get(`${t.schema}.${t.name}`) ?? -1 })) };
}

/** What changed from `before` to `after`, one line each: tables created and dropped, row counts that moved. */
export function databaseChangesSince(before: SchemaSummary, after: SchemaSummary): string[] {
  const name = (t: { schema: string; name: string }) => (t.schema === 'public' ? t.name : `${t.schema}.${t.name}`);
  const was = new Map(before.tables.map((t) => [name(t), t]));
  const now = new Map(after.tables.map((t) => [name(t), t]));
  const rows = (n: number) => (n < 0 ? '? rows' : `${n} row${n === 1 ? '' : 's'}`);
  const lines: string[] = [];
  for (const [table, t] of now) if (!was.has(table)) lines.push(`+ table ${table} created (${rows(t.approxRows)})`);
  for (const [table, t] of was) if (!now.has(table)) lines.push(`- table ${table} dropped (had ${rows(t.approxRows)})`);
  for (const [table, t] of now) {
    const old = was.get(table);
    if (!old) continue;
    const columnsBefore = old.columns.map((c) => `${c.name} ${c.type}`).join(',');
    const columnsNow = t.columns.map((c) => `${c.name} ${c.type}`).join(',');
    if (columnsBefore !== columnsNow) lines.push(`~ table ${table}: columns changed`);
    if (old.approxRows !== t.approxRows) lines.push(`~ table ${table}: ${rows(old.approxRows)} → ${rows(t.approxRows)}`);
  }
  return lines;
}
