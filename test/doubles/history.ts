// What the doubles' databases "hold": timelines of labelled writes, where a child reads its parent's history up to its branch point.

import { compareLsn, formatLsn, parseLsn, type Lsn } from '../../src/base/lsn';

interface Write {
  lsn: Lsn;
  label: string;
  /** When it committed (ms): what finding a position by time goes by. */
  at: number;
}

interface Timeline {
  parent?: { timelineId: string; lsn: Lsn };
  writes: Write[];
}

/**
 * The pageserver's answer to "which LSN at this time" (`get_lsn_by_timestamp`):
 * `present` (commits before and after it: the LSN just before the first commit
 * at or after it), `future` (only commits before it: the last record LSN),
 * `past` (only commits after it within what is kept: the lowest LSN kept),
 * `nodata` (no commit at all: the lowest LSN kept).
 */
export interface LsnByTime {
  kind: 'present' | 'future' | 'past' | 'nodata';
  lsn: Lsn;
}

/**
 * The cloud doubles cannot copy data, so tests write labels and the model says
 * which labels a timeline holds at an LSN, with the same ancestry rules as the
 * pageserver: below its branch point a timeline is its parent. A restore from
 * the wrong branch or LSN shows up as the wrong labels.
 */
export class HistoryModel {
  private readonly timelines = new Map<string, Timeline>();

  create(timelineId: string, parent?: { timelineId: string; lsn: Lsn }): void {
    if (this.timelines.has(timelineId)) throw new Error(`timeline ${timelineId} exists`);
    if (parent && !this.timelines.has(parent.timelineId)) throw new Error(`no parent timeline ${parent.timelineId}`);
    this.timelines.set(timelineId, parent ? { parent, writes: [] } : { writes: [] });
  }

  has(timelineId: string): boolean {
    return this.timelines.has(timelineId);
  }

  write(timelineId: string, lsn: Lsn, label: string, at = Date.now()): void {
    const timeline = this.get(timelineId);
    const last = timeline.writes[timeline.writes.length - 1];
    if (last && compareLsn(lsn, last.lsn) <= 0) throw new Error(`write at ${lsn} is not after ${last.lsn} on ${timelineId}`);
    timeline.writes.push({ lsn, label, at });
  }

  /**
   * The pageserver's search by time on `timelineId` between `min` (what it
   * still keeps: max of GC cutoff and branch point) and `max` (its last record
   * LSN), over the commits visible there (its ancestors' below its branch
   * point included). A commit at or after `time` counts as after it.
   */
  lsnByTime(timelineId: string, time: number, min: Lsn, max: Lsn): LsnByTime {
    const visible = this.visibleWrites(timelineId, max);
    const firstAfter = visible.find((w) => w.at >= time);
    const anyBefore = visible.some((w) => w.at < time);
    if (!firstAfter) return anyBefore ? { kind: 'future', lsn: max } : { kind: 'nodata', lsn: min };
    const before = formatLsn(parseLsn(firstAfter.lsn) - 8n);
    if (!anyBefore || compareLsn(before, min) < 0) return { kind: 'past', lsn: min };
    return { kind: 'present', lsn: before };
  }

  private visibleWrites(timelineId: string, upTo: Lsn): Write[] {
    const timeline = this.get(timelineId);
    let base: Write[] = [];
    if (timeline.parent) {
      const parentUpTo = compareLsn(upTo, timeline.parent.lsn) > 0 ? timeline.parent.lsn : upTo;
      base = this.visibleWrites(timeline.parent.timelineId, parentUpTo);
    }
    return [...base, ...timeline.writes.filter((w) => compareLsn(w.lsn, upTo) <= 0)];
  }

  /** Labels the timeline holds at `lsn` (everything written so far when absent). */
  contentAt(timelineId: string, lsn?: Lsn): string[] {
    const timeline = this.get(timelineId);
    let base: string[] = [];
    if (timeline.parent) {
      const upTo = lsn === undefined || compareLsn(lsn, timeline.parent.lsn) > 0 ? timeline.parent.lsn : lsn;
      base = this.contentAt(timeline.parent.timelineId, upTo);
    }
    const own = timeline.writes.filter((w) => lsn === undefined || compareLsn(w.lsn, lsn) <= 0).map((w) => w.label);
    return [...base, ...own];
  }

  parentOf(timelineId: string): { timelineId: string; lsn: Lsn } | undefined {
    return this.get(timelineId).parent;
  }

  private get(timelineId: string): Timeline {
    const timeline = this.timelines.get(timelineId);
    if (!timeline) throw new Error(`no timeline ${timelineId}`);
    return timeline;
  }
}
