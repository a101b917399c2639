// Finished restores read from the audit trail: the order, the pairing with their start, and what is left out.
import * as assert from 'node:assert/strict';
import type { AuditEvent } from '../../src/core/journal';
import { finishedRestores } from '../../src/core/restoreHistory';

function event(at: string, operationId: string, phase: AuditEvent['phase'], extra: Partial<AuditEvent> = {}): AuditEvent {
  return { at, op: 'restore', phase, operationId, ...extra };
}

describe('finishedRestores', () => {
  it('lists finished restores newest first, with their start, target and undo point', () => {
    const newestFirst: AuditEvent[] = [
      event('2026-12-02T10:05:00.000Z', 'b', 'finished', { checkpointId: 't2', undoCheckpointId: 'u2', detail: 'code-and-data on main' }),
      event('2026-12-02T10:04:00.000Z', 'b', 'started', { checkpointId: 't2' }),
      { at: '2026-12-02T10:03:00.000Z', op: 'prune', phase: 'finished', operationId: 'p' },
      event('2026-12-02T10:02:00.000Z', 'a', 'finished', { checkpointId: 't1', undoCheckpointId: 'u1' }),
      event('2026-12-02T10:01:00.000Z', 'a', 'started', { checkpointId: 't1' }),
    ];
    assert.deepEqual(finishedRestores(newestFirst), [
      { operationId: 'b', at: '2026-12-02T10:05:00.000Z', startedAt: '2026-12-02T10:04:00.000Z', targetId: 't2', undoId: 'u2', detail: 'code-and-data on main' },
      { operationId: 'a', at: '2026-12-02T10:02:00.000Z', startedAt: '2026-12-02T10:01:00.000Z', targetId: 't1', undoId: 'u1' },
    ]);
  });

  it('leaves out restores that failed or were put back, and counts a settled one once', () => {
    const newestFirst: AuditEvent[] = [
      event('2026-12-02T10:09:00.000Z', 'c', 'finished', { checkpointId: 't3', detail: 'finished after an interruption at replay' }),
      event('2026-12-02T10:08:00.000Z', 'c', 'finished', { checkpointId: 't3' }),
      event('2026-12-02T10:07:00.000Z', 'd', 'compensated', { checkpointId: 't4' }),
      event('2026-12-02T10:06:00.000Z', 'e', 'failed', { checkpointId: 't5' }),
    ];
    const events = finishedRestores(newestFirst);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.operationId, 'c');
    assert.equal(events[0]!.startedAt, undefined);
  });
});
