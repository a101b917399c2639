// Pins on the local engine: a pinned point keeps its base backup and the WAL from that backup's start, whatever prune is asked to keep, and what that costs on disk.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OperationOptions, PinHold, PinRequest, PointInHistory } from '../../core/engine';
import { isMoment, restorabilityError } from '../../core/engine';
import { directorySize } from '../../base/files';
import { parseLsn } from '../../base/lsn';
import { historyReader, safeReaddir, type HistoryReader } from './archive';
import { chooseBackup, chooseBackupAt, listBackups, type BackupMeta } from './baseBackup';
import { withClusterLock, type LocalContext } from './context';

/**
 * Takes the pin: records the point in state.json (`pins`, by checkpoint id),
 * which prune adds to whatever it is asked to keep, so the pin holds even if
 * the journal lost the checkpoint. The core has checked the point is
 * restorable; it is checked again here under the cluster lock, so that a
 * prune that ran in between is not missed (nothing recorded then).
 */
export async function pin(engine: LocalContext, at: PointInHistory, request: PinRequest, options: OperationOptions = {}): Promise<PinHold> {
  const { layout } = engine;
  return withClusterLock(layout, async () => {
    options.onProgress?.('Measuring what the pin keeps');
    const state = layout.readState();
    const backup = backupFor(listBackups(layout.backups), historyReader(layout.archive), at);
    if (!backup) throw restorabilityError({ restorable: false, reason: 'expired', message: 'older than every base backup kept' }, at);
    const cost = pinCost(engine, at, backup, state.walSegmentBytes);
    layout.updateState((s) => {
      s.pins = { ...(s.pins ?? {}), [request.checkpointId]: at };
    });
    return {
      ref: { checkpointId: request.checkpointId, backupId: backup.id, timelineId: at.timelineId, lsn: at.lsn, createdAt: at.createdAt ?? null },
      summary: cost.summary,
      bytes: cost.bytes,
    };
  });
}

/** Lets go: prune no longer keeps the point for the pin (it still does while the journal keeps the checkpoint). */
export async function unpin(engine: LocalContext, hold: PinHold): Promise<void> {
  const id = hold.ref.checkpointId;
  if (typeof id !== 'string') return;
  await withClusterLock(engine.layout, async () => {
    if (!engine.layout.readState().pins?.[id]) return;
    engine.layout.updateState((s) => {
      if (s.pins) delete s.pins[id];
    });
  });
}

/** The points pins hold, for prune. */
export function pinnedPoints(pins: Record<string, PointInHistory> | undefined): PointInHistory[] {
  return Object.values(pins ?? {});
}

function backupFor(backups: readonly BackupMeta[], history: HistoryReader, at: PointInHistory): BackupMeta | undefined {
  const timeline = Number(at.timelineId);
  if (!Number.isInteger(timeline) || timeline < 1) return undefined;
  return isMoment(at) ? chooseBackupAt(backups, history, timeline, Date.parse(at.createdAt)) : chooseBackup(backups, history, timeline, parseLsn(at.lsn));
}

export interface PinCost {
  /** The base backup's size plus the WAL segments counted. */
  bytes: number;
  summary: string;
}

/**
 * What the pin keeps on disk: the whole base backup a restore starts from and
 * the archived WAL from that backup's start to the point (for a time-based
 * point, whose position is unknown, every segment archived on its timeline's
 * ancestry from the backup's start: an upper bound). The full range, not the
 * share no other kept checkpoint needs: that share grows as newer checkpoints
 * take newer backups, and this is what the pin costs once it is the only one
 * left that needs them.
 */
export function pinCost(engine: LocalContext, at: PointInHistory, backup: BackupMeta, segmentBytes: number): PinCost {
  const { layout } = engine;
  const backupBytes = directorySize(layout.backupDir(backup.id)) || backup.bytes;
  const wal = walBetween(layout.archive, historyReader(layout.archive), Number(at.timelineId), parseLsn(backup.startLsn), isMoment(at) ? undefined : parseLsn(at.lsn), segmentBytes);
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0)} MB`;
  const walWords = isMoment(at) ? `up to ${mb(wal.bytes)} of WAL after it (${wal.segments} segment(s); the point is a moment, so every segment since the backup counts)` : `${mb(wal.bytes)} of WAL from its start to the checkpoint (${wal.segments} segment(s))`;
  return {
    bytes: backupBytes + wal.bytes,
    summary: `base backup ${backup.id} (${mb(backupBytes)}) and ${walWords} stay; prune will not remove them`,
  };
}

/**
 * Archived segments a replay from `start` to `end` on `timeline` reads: each
 * timeline of its ancestry for the part of the range it held (up to the
 * segment where the next one branched off), the timeline itself from there on.
 */
export function walBetween(archiveDir: string, history: HistoryReader, timeline: number, start: bigint, end: bigint | undefined, segmentBytes: number): { bytes: number; segments: number } {
  const ranges = new Map<number, { from: bigint; to: bigint | undefined }>();
  let from = 0n;
  let ancestry: { timeline: number; switchLsn: bigint }[] = [];
  try {
    ancestry = history(timeline);
  } catch {
    // A timeline whose history file is gone: count its own segments only.
  }
  for (const entry of ancestry) {
    ranges.set(entry.timeline, { from, to: entry.switchLsn });
    from = entry.switchLsn;
  }
  ranges.set(timeline, { from, to: undefined });
  const size = BigInt(segmentBytes);
  const segmentsPerId = 0x100000000n / size;
  const firstSegment = start / size;
  const lastSegment = end === undefined ? undefined : end / size;
  let bytes = 0;
  let segments = 0;
  const names = safeReaddir(archiveDir);
  const present = new Set(names);
  for (const name of names) {
    const match = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(\.partial)?$/.exec(name);
    if (!match) continue;
    // A promotion archives the old timeline's last segment as .partial; when the whole segment is there too, it is the one read.
    if (match[4] && present.has(name.slice(0, 24))) continue;
    const range = ranges.get(Number.parseInt(match[1]!, 16));
    if (!range) continue;
    const segment = BigInt(`0x${match[2]}`) * segmentsPerId + BigInt(`0x${match[3]}`);
    if (segment < firstSegment || (lastSegment !== undefined && segment > lastSegment)) continue;
    // The segment holding a switch point is read from the newer timeline's file (it has the older one's WAL up to there).
    if (segment < range.from / size || (range.to !== undefined && segment >= range.to / size)) continue;
    try {
      bytes += fs.statSync(path.join(archiveDir, name)).size;
      segments++;
    } catch {
      // removed meanwhile: it no longer costs anything
    }
  }
  return { bytes, segments };
}
