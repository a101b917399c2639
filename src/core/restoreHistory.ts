// The restores that finished, read from the audit trail: what the tree groups pre-restore rows under and where the history graph forks.

import type { AuditEvent } from './journal';

export interface RestoreEvent {
  operationId: string;
  /** When it finished (ISO). */
  at: string;
  /** When it started (ISO), when the trail still holds that event. */
  startedAt?: string;
  /** The checkpoint restored. */
  targetId?: string;
  /** Its undo point: the pre-restore checkpoint taken as it began. */
  undoId?: string;
  /** `code-and-data on main; stashed …` as the trail has it. */
  detail?: string;
}

/** Finished restores, newest first, from the audit trail (newest first as `AuditTrail.list()` gives it). */
export function finishedRestores(auditNewestFirst: readonly AuditEvent[]): RestoreEvent[] {
  const started = new Map<string, string>();
  for (const e of auditNewestFirst) if (e.op === 'restore' && e.phase === 'started') started.set(e.operationId, e.at);
  const events: RestoreEvent[] = [];
  const seen = new Set<string>();
  for (const e of auditNewestFirst) {
    if (e.op !== 'restore' || e.phase !== 'finished' || seen.has(e.operationId)) continue;
    seen.add(e.operationId);
    const event: RestoreEvent = { operationId: e.operationId, at: e.at };
    const since = started.get(e.operationId);
    if (since) event.startedAt = since;
    if (e.checkpointId) event.targetId = e.checkpointId;
    if (e.undoCheckpointId) event.undoId = e.undoCheckpointId;
    if (e.detail) event.detail = e.detail;
    events.push(event);
  }
  return events;
}
