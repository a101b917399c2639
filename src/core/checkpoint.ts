// A checkpoint: a marker pairing a commit with a point in the database's history. It allocates no data.

import { randomBytes } from 'node:crypto';
import type { EngineKind, PointInHistory, UnrestorableReason } from './engine';
import type { Lsn } from '../base/lsn';
import { isLsn } from '../base/lsn';

export type CheckpointKind = 'commit' | 'snapshot' | 'safety' | 'pre-restore' | 'push';

export const CHECKPOINT_KINDS: readonly CheckpointKind[] = ['commit', 'snapshot', 'safety', 'pre-restore', 'push'];

/** Who asked for a safety point: an agent (its name and session when known), a terminal, `lockstep run`. */
export interface AgentIdentity {
  /** 'claude' | 'cursor' | 'copilot' | 'mcp' | 'vscode-lm' | 'vscode-terminal' | 'lockstep run' */
  name: string;
  /** The agent's session (Claude's session_id, Cursor's conversation_id, an MCP server's session); restores without a human are limited to it. */
  session?: string;
  /** The MCP client's own name, when it gave one. */
  client?: string;
}

export interface Checkpoint {
  /** Postgres' timeline id (`"1"`, `"2"`…) for local; a branch or timeline id elsewhere. */
  timelineId: string;
  /**
   * Where on the timeline; null for a time-based checkpoint: the commit hook
   * could not read the position within its budget (the database was hung, or
   * the machine too busy), so the commit is restored by its time, `createdAt`.
   */
  lsn: Lsn | null;
  /** Why a time-based checkpoint has no position, in words for a person. */
  unmeasured?: string;
  /** 12 hex digits, random: short unique prefixes are easy to type. */
  id: string;
  kind: CheckpointKind;
  /** HEAD when the marker was taken; null in a repository with no commit yet. */
  commitSha: string | null;
  /** Branch name, or null when HEAD was detached. */
  branch: string | null;
  /** The commit's subject line. */
  subject: string | null;
  author: string | null;
  /** Files the commit changed (commit checkpoints only). */
  filesChanged: number | null;
  /** A person's label for snapshots; the restore target for pre-restore markers. */
  label: string | null;
  /** ISO 8601 time the marker was taken. */
  createdAt: string;
  engine: EngineKind;
  /** Safety points: the command it was taken before (raw text; printed through `displayText`). */
  command?: string;
  /** Safety points: who asked. */
  agent?: AgentIdentity;
  /**
   * Not a checkpoint: a moment a person gave (`restore --at`, as typed),
   * carried through the plan, the restore record and the audit trail; never
   * written to the journal (core/target.ts).
   */
  at?: string;
}

/** The fields `lockstep list --json` prints: the contract tools outside the project rely on. */
export interface CheckpointListing {
  id: string;
  kind: CheckpointKind;
  commitSha: string | null;
  timelineId: string;
  /** null for a time-based checkpoint (restored by `createdAt`). */
  lsn: string | null;
  label: string | null;
  createdAt: string;
  /** Safety points: the command it was taken before; else null. */
  command: string | null;
  /** Safety points: who asked; else null. */
  agent: AgentIdentity | null;
  restorable: boolean;
  /** Why not, when `restorable` is false ('not-archived': not yet, its WAL is not in the archive while archiving fails); else null. */
  unrestorable: { reason: UnrestorableReason; message: string } | null;
  /** Pinned (`lockstep pin`): kept restorable past retention. Added with pins; fields are only ever added. */
  pinned: boolean;
}

export function newCheckpointId(): string {
  return randomBytes(6).toString('hex');
}

/** What `Date.toISOString()` writes; a regex rather than Date.parse, which costs 10,000 rows ~10 ms in a listing. */
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

export function isCheckpoint(value: unknown): value is Checkpoint {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.id === 'string' &&
    /^[0-9a-f]{6,}$/.test(c.id) &&
    typeof c.kind === 'string' &&
    (CHECKPOINT_KINDS as readonly string[]).includes(c.kind) &&
    typeof c.timelineId === 'string' &&
    ((typeof c.lsn === 'string' && isLsn(c.lsn)) || c.lsn === null) &&
    typeof c.createdAt === 'string' &&
    ISO_UTC.test(c.createdAt) &&
    typeof c.engine === 'string' &&
    (c.commitSha === null || typeof c.commitSha === 'string') &&
    (c.command === undefined || typeof c.command === 'string') &&
    (c.agent === undefined || (typeof c.agent === 'object' && c.agent !== null && typeof (c.agent as { name?: unknown }).name === 'string'))
  );
}

/** The name a person sees: commit subject, snapshot label, or what the marker is for. */
export function checkpointTitle(c: Checkpoint): string {
  switch (c.kind) {
    case 'commit':
      return c.subject ?? c.commitSha?.slice(0, 7) ?? 'commit';
    case 'snapshot':
      return c.label ?? 'Snapshot';
    case 'safety':
      return c.label ?? 'Safety checkpoint';
    case 'pre-restore':
      return c.label ?? 'Before restore';
    case 'push':
      return c.label ?? 'Pushed';
  }
}

/** Where a checkpoint's data lies, as the engines take it: its position, or for a time-based one its moment. */
export function pointOf(c: Checkpoint): PointInHistory {
  return c.lsn === null ? { timelineId: c.timelineId, lsn: null, createdAt: c.createdAt } : { timelineId: c.timelineId, lsn: c.lsn, createdAt: c.createdAt };
}
