// Pruning and retention: which base backups, archived WAL and data directories the kept checkpoints still need, and how far back a restore reaches.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PointInHistory, PruneOptions, PruneReport, Retention } from '../../core/engine';
import { directorySize, removeTree, REMOVING_PREFIX } from '../../base/files';
import { formatLsn, isLsn, parseLsn } from '../../base/lsn';
import { historyReader } from './archive';
import { chooseBackup, chooseBackupAt, listBackups } from './baseBackup';
import { withBackupLock, withClusterLock, type LocalContext } from './context';
import { dropPastCopy, settlePastCopy } from './keptCopy';
import { pinnedPoints } from './pins';

export async function retention(engine: LocalContext): Promise<Retention> {
  const state = engine.layout.readState();
  const backups = listBackups(engine.layout.backups);
  // The oldest backup that still leads to the serving timeline bounds how far back a restore of "this line" goes.
  const history = historyReader(engine.layout.archive);
  const usable = backups.filter((b) => chooseBackup([b], history, state.servingTimeline, parseLsn('FFFFFFFF/FFFFFFFF')));
  const oldest = usable[0];
  if (!oldest) return { summary: 'no base backup yet: nothing can be restored' };
  return {
    oldest: { timelineId: String(oldest.timeline), lsn: oldest.stopLsn, time: oldest.createdAt },
    summary: `restorable back to ${oldest.stopLsn} on timeline ${oldest.timeline} (${oldest.createdAt}); ${backups.length} base backup(s)`,
  };
}

/**
 * Keep what the kept positions, the pinned points (state.json `pins`) and
 * the serving head need: for each, the newest usable base backup; the WAL from the oldest of those onwards; the
 * serving data directory. Everything else goes.
 */
export async function prune(engine: LocalContext, keep: readonly PointInHistory[], options: PruneOptions = {}): Promise<PruneReport> {
  const { layout, cluster } = engine;
  return withClusterLock(layout, () =>
    withBackupLock(layout, 600_000, async () => {
      const removed: string[] = [];
      let bytesFreed = 0;
      // `lockstep prune` drops a preview's kept copy; the background upkeep's prune only one whose time is up (it runs right after a preview).
      const bytesOfCopy = layout.readState().pastCopy?.bytes ?? 0;
      const copy = options.keepPrevious ? await settlePastCopy(engine) : await dropPastCopy(engine);
      if (copy) {
        removed.push(copy);
        bytesFreed += bytesOfCopy;
      }
      const state = layout.readState();
      const backups = listBackups(layout.backups);
      const needed = new Set<string>();
      const positions: { timeline: number; lsn: bigint }[] = [];
      const moments: { timeline: number; time: number }[] = [];
      // Pinned points count whether or not the caller listed them: a pin outlives the journal's count.
      for (const p of [...keep, ...pinnedPoints(state.pins)]) {
        if (!Number.isInteger(Number(p.timelineId))) continue;
        // A time-based checkpoint keeps the backup a restore by time starts from: the newest finished before its moment.
        if (p.lsn === null) moments.push({ timeline: Number(p.timelineId), time: Date.parse(p.createdAt) });
        else if (isLsn(p.lsn)) positions.push({ timeline: Number(p.timelineId), lsn: parseLsn(p.lsn) });
      }
      // A server that stops while we look (a restore's cut-over) is read as stopped: its WAL is all kept.
      const head = cluster.runningPid(state.serving) !== undefined ? await engine.head(options).catch(() => undefined) : undefined;
      positions.push({ timeline: state.servingTimeline, lsn: head ? parseLsn(head.lsn) : parseLsn('FFFFFFFF/FFFFFFFF') });
      // The background upkeep keeps what the last restore left: the timeline's end (its undo point; the cut-over records
      // it here under the cluster lock, but the journal gets the undo checkpoint a moment later, perhaps after the upkeep
      // read `keep`, and an undo would then replay from an older backup) and, below, its data directory.
      const lastLeft = options.keepPrevious
        ? Object.entries(state.timelines)
            .filter(([, t]) => t.abandonedAt)
            .sort(([, a], [, b]) => (a.abandonedAt! < b.abandonedAt! ? 1 : -1))[0]
        : undefined;
      const leftEnd = lastLeft?.[1].endLsn;
      if (lastLeft && leftEnd && isLsn(leftEnd)) positions.push({ timeline: Number(lastLeft[0]), lsn: parseLsn(leftEnd) });
      const history = historyReader(layout.archive);
      for (const p of positions) {
        const b = chooseBackup(backups, history, p.timeline, p.lsn);
        if (b) needed.add(b.id);
      }
      for (const m of moments) {
        const b = Number.isNaN(m.time) ? undefined : chooseBackupAt(backups, history, m.timeline, m.time);
        if (b) needed.add(b.id);
      }
      const previous = lastLeft?.[1].dataDir;
      for (const b of backups) {
        if (needed.has(b.id)) continue;
        const dir = layout.backupDir(b.id);
        bytesFreed += directorySize(dir);
        removeTree(dir);
        removed.push(`base backup ${b.id} (timeline ${b.timeline}, ${b.stopLsn})`);
      }
      const kept = backups.filter((b) => needed.has(b.id));
      if (kept.length > 0) {
        const oldestStart = kept.reduce((min, b) => (parseLsn(b.startLsn) < min ? parseLsn(b.startLsn) : min), parseLsn(kept[0]!.startLsn));
        const firstSegment = oldestStart / BigInt(state.walSegmentBytes);
        let segments = 0;
        for (const file of fs.readdirSync(layout.archive)) {
          // Segments (and .partial/.backup files) hold a segment number; history files are tiny and always kept.
          const match = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$/.exec(file);
          if (!match) continue;
          const segmentsPerId = 0x100000000n / BigInt(state.walSegmentBytes);
          const segment = BigInt(`0x${match[1]}`) * segmentsPerId + BigInt(`0x${match[2]}`);
          if (segment >= firstSegment) continue;
          const full = path.join(layout.archive, file);
          bytesFreed += fs.statSync(full).size;
          fs.rmSync(full);
          segments++;
        }
        if (segments > 0) removed.push(`${segments} archived WAL segment(s) before ${formatLsn(oldestStart)}`);
      }
      for (const entry of fs.readdirSync(layout.root)) {
        if (entry.startsWith(REMOVING_PREFIX)) {
          // Left by a removal that a crash interrupted: already renamed away, so no one claims it.
          try {
            fs.rmSync(path.join(layout.root, entry), { recursive: true, force: true });
          } catch {
            // another remover got there first
          }
          continue;
        }
        const preparedOf = /^prepared-(.+)$/.exec(entry)?.[1];
        if (preparedOf !== undefined && !needed.has(preparedOf)) {
          const dir = path.join(layout.root, entry);
          bytesFreed += directorySize(dir);
          removeTree(dir);
          removed.push(`prepared copy of base backup ${preparedOf}`);
          continue;
        }
        if (!/^(data|preview)-/.test(entry) || entry === state.serving || entry === previous) continue;
        if (cluster.runningPid(entry) !== undefined) continue;
        // A fork between `fork` and `repoint` (another process's restore) is not ours; one an hour old was left by a crash.
        const pendingSince = state.pendingForks?.[entry];
        if (pendingSince && Date.now() - Date.parse(pendingSince) < 3_600_000) continue;
        const dir = layout.dataDir(entry);
        bytesFreed += directorySize(dir);
        removeTree(dir);
        removed.push(`data directory ${entry}`);
      }
      layout.updateState((s) => {
        for (const record of Object.values(s.timelines)) {
          if (record.dataDir && !fs.existsSync(layout.dataDir(record.dataDir))) delete record.dataDir;
        }
        for (const name of Object.keys(s.pendingForks ?? {})) {
          if (!fs.existsSync(layout.dataDir(name))) delete s.pendingForks![name];
        }
      });
      return { removed, bytesFreed };
    }),
  );
}
