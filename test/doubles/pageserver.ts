// A pageserver double (timelines, branching, GC cutoff, LSN leases) checked against the OpenAPI spec, plus the compute owner's repoint endpoint.

import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { compareLsn, formatLsn, isLsn, parseLsn, type Lsn } from '../../src/base/lsn';
import { CONTRACTS_DIR, OpenApiContract } from './contract';
import { HistoryModel } from './history';
import { ContractDouble, ContractServer, type DoubleRequest, type DoubleResponse } from './server';

/** Error statuses the pageserver's HTTP layer can answer on any route, always with `{msg}`. */
const GENERIC_ERRORS = [400, 401, 403, 404, 409, 412, 429, 500, 503];

export const REPOINT_PATH = '/compute/repoint';

export interface PageserverDoubleOptions {
  tenantId?: string;
  /** When set, every call but /v1/status needs `Authorization: Bearer <token>`. */
  token?: string;
  /** When set, the repoint endpoint needs `Authorization: Bearer <repointToken>`. */
  repointToken?: string;
  /** False: the lease endpoint answers 404, as on a pageserver without it. */
  leasesOffered?: boolean;
  /** The tenant's `lsn_lease_length` (the pageserver's default: 10 minutes). */
  leaseLengthMs?: number;
  /** The double's clock (ms): a test moves it to make leases lapse without waiting. */
  now?: () => number;
}

/** The pageserver's default `lsn_lease_length`. */
export const DEFAULT_LEASE_LENGTH_MS = 10 * 60_000;

interface TimelineRecord {
  id: string;
  lastRecordLsn: Lsn;
  gcCutoffLsn: Lsn;
  ancestor?: { timelineId: string; lsn: Lsn };
  /** Polls left before a deletion completes; undefined when not deleting. */
  deletingPolls?: number;
  deleted: boolean;
}

export class PageserverDouble extends ContractDouble {
  readonly server: ContractServer;
  readonly history = new HistoryModel();
  readonly tenantId: string;
  readonly rootTimelineId: string;
  apiUrl = '';
  repointUrl = '';
  /** The timeline the (imagined) compute serves: the last one the repoint endpoint was told. */
  serving: string;
  readonly repoints: { tenant_id: string; timeline_id: string }[] = [];
  leasesOffered: boolean;
  /** `lsn_lease_length`: how long a lease (or its renewal) lasts from the request. */
  leaseLengthMs: number;
  private readonly now: () => number;
  private readonly timelines = new Map<string, TimelineRecord>();
  private readonly leases: { timelineId: string; lsn: Lsn; validUntil: number }[] = [];
  /** Every LSN-by-timestamp answer, for tests to check. */
  readonly timestampLookups: { timelineId: string; timestamp: string; kind: string; lsn: Lsn }[] = [];

  private constructor(private readonly options: PageserverDoubleOptions) {
    super();
    this.tenantId = options.tenantId ?? randomBytes(16).toString('hex');
    this.leasesOffered = options.leasesOffered ?? true;
    this.leaseLengthMs = options.leaseLengthMs ?? DEFAULT_LEASE_LENGTH_MS;
    this.now = options.now ?? Date.now;
    this.rootTimelineId = randomBytes(16).toString('hex');
    this.timelines.set(this.rootTimelineId, { id: this.rootTimelineId, lastRecordLsn: '0/1000000', gcCutoffLsn: '0/1000000', deleted: false });
    this.history.create(this.rootTimelineId);
    this.serving = this.rootTimelineId;
    const contract = OpenApiContract.load(path.join(CONTRACTS_DIR, 'pageserver-openapi.yml'), {
      undocumentedErrors: { statuses: GENERIC_ERRORS, schemaRef: '#/components/schemas/Error' },
    });
    const t = '/v1/tenant/{tenant_id}';
    this.server = new ContractServer(
      contract,
      {
        'GET /v1/status': () => ({ status: 200, body: { id: 1 } }),
        [`GET ${t}`]: (r) => this.checkTenant(r.params.tenant_id) ?? { status: 200, body: { id: this.tenantId, attachment_status: { slug: 'attached', data: {} } } },
        [`GET ${t}/timeline`]: (r) => this.checkTenant(r.params.tenant_id) ?? { status: 200, body: this.live().map((tl) => this.info(tl)) },
        [`POST ${t}/timeline`]: (r) => this.createTimeline(r),
        [`GET ${t}/timeline/{timeline_id}`]: (r) => this.getTimeline(r),
        [`DELETE ${t}/timeline/{timeline_id}`]: (r) => this.deleteTimeline(r),
        [`GET ${t}/timeline/{timeline_id}/get_lsn_by_timestamp`]: (r) => this.lsnByTimestamp(r),
        'POST /v1/tenant/{tenant_shard_id}/timeline/{timeline_id}/lsn_lease': (r) => this.lease(r),
      },
      {
        authenticate: (request, operation) => {
          if (!options.token || operation.template === '/v1/status') return undefined;
          return request.headers.authorization === `Bearer ${options.token}` ? undefined : fail(401, 'malformed or missing authorization header');
        },
        errorBody: (_status, message) => ({ msg: message }),
      },
    );
    this.server.route('POST', REPOINT_PATH, (r) => this.repoint(r));
  }

  static async start(options: PageserverDoubleOptions = {}): Promise<PageserverDouble> {
    const double = new PageserverDouble(options);
    double.apiUrl = await double.server.start();
    double.repointUrl = `${double.apiUrl}${REPOINT_PATH}`;
    return double;
  }

  /** The compute wrote `label` on the timeline it serves: WAL moves on. */
  write(label: string): Lsn {
    const timeline = this.get(this.serving);
    const lsn = formatLsn(parseLsn(timeline.lastRecordLsn) + 0x2000n + BigInt(Math.floor(Math.random() * 0x100)) * 8n);
    this.history.write(timeline.id, lsn, label);
    timeline.lastRecordLsn = lsn;
    return lsn;
  }

  /** Labels the serving timeline holds. */
  content(timelineId = this.serving): string[] {
    return this.history.contentAt(timelineId);
  }

  /**
   * GC up to `horizon` (never backwards), as the pageserver does: the cutoff
   * (`applied_gc_cutoff_lsn`, and `min_readable_lsn`) moves to the horizon
   * even past leases and children's branch points; those keep only *their*
   * LSN readable (`lsn_covered_by_lease`, `retain_lsns`), not the range below.
   * Lapsed leases are forgotten, as the pageserver's GC drops them.
   */
  gc(timelineId: string, horizon: Lsn): Lsn {
    const timeline = this.get(timelineId);
    const cutoff = compareLsn(horizon, timeline.lastRecordLsn) > 0 ? timeline.lastRecordLsn : horizon;
    if (compareLsn(cutoff, timeline.gcCutoffLsn) > 0) timeline.gcCutoffLsn = cutoff;
    const now = this.now();
    for (let i = this.leases.length - 1; i >= 0; i--) {
      if (this.leases[i]!.timelineId === timelineId && this.leases[i]!.validUntil <= now) this.leases.splice(i, 1);
    }
    return timeline.gcCutoffLsn;
  }

  timelineIds(): string[] {
    return this.live().map((t) => t.id);
  }

  /** The LSNs of the valid leases on a timeline. */
  leasesOn(timelineId: string): Lsn[] {
    const now = this.now();
    return this.leases.filter((l) => l.timelineId === timelineId && l.validUntil > now).map((l) => l.lsn);
  }

  /** When the lease on (timeline, LSN) ends (ms), valid or lapsed; undefined when there is none. */
  leaseEnd(timelineId: string, lsn: Lsn): number | undefined {
    return this.leases.find((l) => l.timelineId === timelineId && l.lsn === lsn)?.validUntil;
  }

  /** The timeline's GC cutoff (`min_readable_lsn`). */
  cutoff(timelineId: string): Lsn {
    return this.get(timelineId).gcCutoffLsn;
  }

  private validLease(timelineId: string, lsn: Lsn): { validUntil: number } | undefined {
    const now = this.now();
    return this.leases.find((l) => l.timelineId === timelineId && l.lsn === lsn && l.validUntil > now);
  }

  /**
   * `make_lsn_lease`: a valid lease on the LSN is extended (never shortened),
   * whatever the cutoff; a new one is refused below the GC cutoff.
   */
  private grantLease(timeline: TimelineRecord, lsn: Lsn): { validUntil: number } | { refused: string } {
    const validUntil = this.now() + this.leaseLengthMs;
    const existing = this.validLease(timeline.id, lsn);
    if (existing) {
      existing.validUntil = Math.max(existing.validUntil, validUntil);
      return { validUntil: existing.validUntil };
    }
    if (compareLsn(lsn, timeline.gcCutoffLsn) < 0) {
      return {
        refused: `invalid lsn lease request at ${lsn}: tried to request an lsn lease for an lsn below the latest gc cutoff. requested at ${lsn} gc cutoff ${timeline.gcCutoffLsn}`,
      };
    }
    // A lapsed lease GC has not dropped yet is replaced.
    const lapsed = this.leases.findIndex((l) => l.timelineId === timeline.id && l.lsn === lsn);
    if (lapsed >= 0) this.leases.splice(lapsed, 1);
    this.leases.push({ timelineId: timeline.id, lsn, validUntil });
    return { validUntil };
  }

  private get(id: string): TimelineRecord {
    const timeline = this.timelines.get(id);
    if (!timeline) throw new Error(`no timeline ${id}`);
    return timeline;
  }

  private live(): TimelineRecord[] {
    return [...this.timelines.values()].filter((t) => !t.deleted);
  }

  private checkTenant(tenantId: string | undefined): DoubleResponse | undefined {
    return tenantId === this.tenantId ? undefined : fail(404, `tenant ${tenantId} not found`);
  }

  private liveTimeline(id: string | undefined): TimelineRecord | undefined {
    const timeline = id === undefined ? undefined : this.timelines.get(id);
    return timeline && !timeline.deleted ? timeline : undefined;
  }

  private info(t: TimelineRecord): Record<string, unknown> {
    return {
      timeline_id: t.id,
      tenant_id: this.tenantId,
      last_record_lsn: t.lastRecordLsn,
      disk_consistent_lsn: t.lastRecordLsn,
      remote_consistent_lsn: t.lastRecordLsn,
      prev_record_lsn: t.lastRecordLsn,
      ...(t.ancestor ? { ancestor_timeline_id: t.ancestor.timelineId, ancestor_lsn: t.ancestor.lsn } : {}),
      current_logical_size: 8192 * (this.history.contentAt(t.id).length + 1),
      state: t.deletingPolls === undefined ? 'Active' : 'Stopping',
      min_readable_lsn: t.gcCutoffLsn,
      applied_gc_cutoff_lsn: t.gcCutoffLsn,
    };
  }

  private getTimeline(r: DoubleRequest): DoubleResponse {
    const refused = this.checkTenant(r.params.tenant_id);
    if (refused) return refused;
    const timeline = this.liveTimeline(r.params.timeline_id);
    if (!timeline) return fail(404, `timeline ${r.params.timeline_id} not found`);
    return { status: 200, body: this.info(timeline) };
  }

  private createTimeline(r: DoubleRequest): DoubleResponse {
    const refused = this.checkTenant(r.params.tenant_id);
    if (refused) return refused;
    const body = r.body as { new_timeline_id: string; ancestor_timeline_id?: string; ancestor_start_lsn?: string };
    if (!/^[0-9a-f]{32}$/.test(body.new_timeline_id)) return fail(400, `invalid timeline id ${body.new_timeline_id}`);
    if (!body.ancestor_timeline_id) return fail(400, 'this double only branches existing timelines');
    const ancestor = this.liveTimeline(body.ancestor_timeline_id);
    if (!ancestor) return fail(404, `ancestor timeline ${body.ancestor_timeline_id} not found`);
    const lsn = body.ancestor_start_lsn ?? ancestor.lastRecordLsn;
    if (!isLsn(lsn)) return fail(400, `invalid lsn ${lsn}`);
    const existing = this.timelines.get(body.new_timeline_id);
    if (existing) {
      const same = existing.ancestor?.timelineId === ancestor.id && existing.ancestor.lsn === lsn && !existing.deleted;
      return same ? { status: 201, body: this.info(existing) } : fail(409, `timeline ${body.new_timeline_id} already exists with different parameters`);
    }
    // Below the cutoff only at a validly leased LSN (tenant.rs: "skipping comparison … due to lsn lease").
    if (compareLsn(lsn, ancestor.gcCutoffLsn) < 0 && !this.validLease(ancestor.id, lsn)) {
      return fail(406, `invalid start lsn ${lsn} for ancestor timeline ${ancestor.id}: less than latest GC cutoff ${ancestor.gcCutoffLsn}`);
    }
    if (compareLsn(lsn, ancestor.lastRecordLsn) > 0) {
      return fail(406, `invalid start lsn ${lsn}: beyond the last record lsn ${ancestor.lastRecordLsn} of ${ancestor.id}`);
    }
    const timeline: TimelineRecord = {
      id: body.new_timeline_id,
      lastRecordLsn: lsn,
      gcCutoffLsn: lsn,
      ancestor: { timelineId: ancestor.id, lsn },
      deleted: false,
    };
    this.timelines.set(timeline.id, timeline);
    this.history.create(timeline.id, { timelineId: ancestor.id, lsn });
    return { status: 201, body: this.info(timeline) };
  }

  private deleteTimeline(r: DoubleRequest): DoubleResponse {
    const refused = this.checkTenant(r.params.tenant_id);
    if (refused) return refused;
    const timeline = this.liveTimeline(r.params.timeline_id);
    if (!timeline) return fail(404, `timeline ${r.params.timeline_id} not found`);
    if (this.live().some((c) => c.ancestor?.timelineId === timeline.id)) return fail(412, `timeline ${timeline.id} has child timelines`);
    if (timeline.deletingPolls === undefined) timeline.deletingPolls = 1;
    if (timeline.deletingPolls > 0) {
      timeline.deletingPolls -= 1;
      return fail(409, 'deletion is already in progress, continue polling');
    }
    timeline.deleted = true;
    return fail(404, `timeline ${timeline.id} not found`);
  }

  private lease(r: DoubleRequest): DoubleResponse {
    const refused = this.checkTenant(r.params.tenant_shard_id);
    if (refused) return refused;
    if (!this.leasesOffered) return fail(404, 'not found');
    const timeline = this.liveTimeline(r.params.timeline_id);
    if (!timeline) return fail(404, `timeline ${r.params.timeline_id} not found`);
    const { lsn } = r.body as { lsn: string };
    if (!isLsn(lsn)) return fail(400, `invalid lsn ${lsn}`);
    const granted = this.grantLease(timeline, lsn);
    // The pageserver answers a refused lease as an internal error (routes.rs `lsn_lease_handler`).
    if ('refused' in granted) return fail(500, granted.refused);
    return { status: 200, body: { valid_until: new Date(granted.validUntil).toISOString() } };
  }

  /**
   * `get_lsn_by_timestamp`, searched as the pageserver does (see
   * `HistoryModel.lsnByTime`) between what the timeline keeps (GC cutoff,
   * branch point) and its last record; `with_lease` leases a `present` or
   * `future` answer's LSN.
   */
  private lsnByTimestamp(r: DoubleRequest): DoubleResponse {
    const refused = this.checkTenant(r.params.tenant_id);
    if (refused) return refused;
    const timeline = this.liveTimeline(r.params.timeline_id);
    if (!timeline) return fail(404, `timeline ${r.params.timeline_id} not found`);
    const timestamp = r.query.get('timestamp')!;
    const time = Date.parse(timestamp);
    if (Number.isNaN(time)) return fail(400, `invalid timestamp ${timestamp}`);
    const min = timeline.ancestor && compareLsn(timeline.ancestor.lsn, timeline.gcCutoffLsn) > 0 ? timeline.ancestor.lsn : timeline.gcCutoffLsn;
    const found = this.history.lsnByTime(timeline.id, time, min, timeline.lastRecordLsn);
    this.timestampLookups.push({ timelineId: timeline.id, timestamp, kind: found.kind, lsn: found.lsn });
    const body: Record<string, unknown> = { lsn: found.lsn, kind: found.kind };
    if (r.query.get('with_lease') === 'true' && this.leasesOffered && (found.kind === 'present' || found.kind === 'future')) {
      const granted = this.grantLease(timeline, found.lsn);
      if ('validUntil' in granted) body.valid_until = new Date(granted.validUntil).toISOString();
    }
    return { status: 200, body };
  }

  /** The compute owner's endpoint: Lockstep's own small contract, `POST {tenant_id, timeline_id}`. */
  private repoint(r: DoubleRequest): DoubleResponse {
    if (this.options.repointToken && r.headers.authorization !== `Bearer ${this.options.repointToken}`) return fail(401, 'bad token');
    const body = r.body as Record<string, unknown> | undefined;
    const problems: string[] = [];
    if (r.headers['content-type'] !== 'application/json') problems.push('content-type must be application/json');
    if (typeof body !== 'object' || body === null) problems.push('body must be a JSON object');
    else {
      const keys = Object.keys(body).sort().join(',');
      if (keys !== 'tenant_id,timeline_id') problems.push(`body must have exactly tenant_id and timeline_id, got ${keys}`);
      if (typeof body.timeline_id !== 'string' || !/^[0-9a-f]{32}$/.test(body.timeline_id)) problems.push('timeline_id must be 32 hex digits');
    }
    if (r.query.size > 0) problems.push('the repoint endpoint takes no query');
    if (problems.length > 0) {
      for (const problem of problems) this.server.violations.push({ request: `POST ${REPOINT_PATH}`, problem });
      return fail(400, problems.join('; '));
    }
    const { tenant_id, timeline_id } = body as { tenant_id: string; timeline_id: string };
    if (tenant_id !== this.tenantId) return fail(404, `tenant ${tenant_id} not found`);
    if (!this.liveTimeline(timeline_id)) return fail(404, `timeline ${timeline_id} not found`);
    this.serving = timeline_id;
    this.repoints.push({ tenant_id, timeline_id });
    return { status: 200, body: { serving: timeline_id } };
  }
}

function fail(status: number, msg: string): DoubleResponse {
  return { status, body: { msg } };
}

/** Error answers as the pageserver sends them, for fault injection. */
export function pageserverError(msg: string): unknown {
  return { msg };
}
