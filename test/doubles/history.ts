// What the doubles' databases "hold": timelines of labelled writes, where a child reads its parent's history up to its branch point.

import { compareLsn, type Lsn } from '../../src/core/lsn';

interface Timeline {
  parent?: { timelineId: string; lsn: Lsn };
  writes: { lsn: Lsn; label: string }[];
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

  write(timelineId: string, lsn: Lsn, label: string): void {
    const timeline = this.get(timelineId);
    const last = timeline.writes[timeline.writes.length - 1];
    if (last && compareLsn(lsn, last.lsn) <= 0) throw new Error(`write at ${lsn} is not after ${last.lsn} on ${timelineId}`);
    timeline.writes.push({ lsn, label });
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
