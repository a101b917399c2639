// The part of the pageserver management API Lockstep uses (test/contracts/pageserver-openapi.yml), and the repoint endpoint.

import { LockstepError } from '../../base/errors';
import { JsonHttpClient, type JsonHttpClientOptions } from '../../core/http';
import type { Log } from '../../base/log';

/** Secrets the faces may hold for a self-hosted Neon (all optional). */
export const PAGESERVER_TOKEN_SECRET = 'pageserver.token';
export const REPOINT_TOKEN_SECRET = 'pageserver.repointToken';
export const COMPUTE_PASSWORD_SECRET = 'pageserver.password';

export interface TimelineInfo {
  timeline_id: string;
  tenant_id: string;
  last_record_lsn: string;
  disk_consistent_lsn: string;
  min_readable_lsn: string;
  applied_gc_cutoff_lsn?: string;
  ancestor_timeline_id?: string;
  ancestor_lsn?: string;
  state: string;
}

/**
 * `get_lsn_by_timestamp`: `present` (commits before and after the time: the LSN
 * just before the first one after it), `future` (only commits before it: all of
 * them are at or below `lsn`), `past` (before what the timeline still keeps),
 * `nodata` (no commit with a time at all, e.g. right after an import).
 */
export interface LsnByTimestamp {
  lsn: string;
  kind: 'past' | 'present' | 'future' | 'nodata';
  /** Set when a lease was asked for (`with_lease`) and granted. */
  valid_until?: string;
}

interface CallOptions {
  signal?: AbortSignal | undefined;
  /** What a 404 means to the caller (a checkpoint's timeline: TIMELINE_UNKNOWN). */
  onNotFound?: (serverMessage: string) => LockstepError;
}

const serverMessage = (body: unknown): string | undefined => {
  const msg = (body as { msg?: unknown } | undefined)?.msg;
  return typeof msg === 'string' ? msg : undefined;
};

export class PageserverApi {
  readonly http: JsonHttpClient;

  constructor(
    baseUrl: string,
    readonly tenantId: string,
    token: () => Promise<string | undefined>,
    log: Log,
    options: JsonHttpClientOptions = {},
  ) {
    this.http = new JsonHttpClient(
      {
        name: 'the pageserver',
        baseUrl,
        authorization: async () => {
          const jwt = await token();
          return jwt ? `Bearer ${jwt}` : undefined;
        },
        authHint: 'The pageserver wants a valid JWT: store it as the pageserver.token secret.',
        serverMessage,
      },
      log,
      options,
    );
  }

  private timelinePath(timelineId: string): string {
    return `/v1/tenant/${encodeURIComponent(this.tenantId)}/timeline/${encodeURIComponent(timelineId)}`;
  }

  async health(options: CallOptions = {}): Promise<void> {
    await this.http.call({ method: 'GET', path: '/v1/status', what: 'check the pageserver', idempotent: true, signal: options.signal });
  }

  async getTimeline(timelineId: string, options: CallOptions = {}): Promise<TimelineInfo> {
    const { body } = await this.http.call<TimelineInfo>({
      method: 'GET',
      path: this.timelinePath(timelineId),
      what: `read timeline ${timelineId}`,
      idempotent: true,
      signal: options.signal,
      onStatus: (status, message) => (status === 404 ? options.onNotFound?.(message) : undefined),
    });
    return body;
  }

  async listTimelines(options: CallOptions = {}): Promise<TimelineInfo[]> {
    const { body } = await this.http.call<TimelineInfo[]>({
      method: 'GET',
      path: `/v1/tenant/${encodeURIComponent(this.tenantId)}/timeline`,
      what: `list the timelines of tenant ${this.tenantId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body;
  }

  async createTimeline(
    request: { new_timeline_id: string; ancestor_timeline_id: string; ancestor_start_lsn: string },
    options: CallOptions & { onNotAcceptable?: (serverMessage: string) => LockstepError } = {},
  ): Promise<TimelineInfo> {
    const { body } = await this.http.call<TimelineInfo>({
      method: 'POST',
      path: `/v1/tenant/${encodeURIComponent(this.tenantId)}/timeline`,
      body: request,
      what: `branch timeline ${request.ancestor_timeline_id} at ${request.ancestor_start_lsn}`,
      // The pageserver answers 201 again for the same id with the same parameters, so repeating is safe.
      idempotent: true,
      // 409 here means "this id exists with other parameters": waiting will not help.
      retryConflict: false,
      signal: options.signal,
      onStatus: (status, message) => {
        if (status === 404) return options.onNotFound?.(message);
        if (status === 406) return options.onNotAcceptable?.(message);
        return undefined;
      },
    });
    return body;
  }

  /**
   * One DELETE: deletion runs in the background and the pageserver answers
   * 404 once the timeline is gone, 409 while it is going, 412 when it has children.
   */
  async deleteTimeline(timelineId: string, options: CallOptions = {}): Promise<number> {
    const { status } = await this.http.call({
      method: 'DELETE',
      path: this.timelinePath(timelineId),
      what: `delete timeline ${timelineId}`,
      idempotent: true,
      accept: [404, 409, 412],
      signal: options.signal,
    });
    return status;
  }

  /** The LSN of a moment on a timeline (a time-based checkpoint); with `withLease`, also a lease on it. */
  async lsnByTimestamp(timelineId: string, timestamp: string, options: CallOptions & { withLease?: boolean } = {}): Promise<LsnByTimestamp> {
    const { body } = await this.http.call<LsnByTimestamp>({
      method: 'GET',
      path: `${this.timelinePath(timelineId)}/get_lsn_by_timestamp`,
      query: { timestamp, ...(options.withLease ? { with_lease: true } : {}) },
      what: `find the LSN of ${timestamp} on timeline ${timelineId}`,
      idempotent: true,
      signal: options.signal,
      onStatus: (status, message) => (status === 404 ? options.onNotFound?.(message) : undefined),
    });
    return body;
  }

  /**
   * `valid_until` of the lease, or undefined when the answer was 404/405/501:
   * a pageserver without the lease endpoint answers so (the caller knows the
   * timeline exists, so a 404 means the route). A still-valid lease is
   * renewed at any LSN; a new one below the GC cutoff is refused (EXPIRED):
   * the pageserver says so as a 500 (`make_lsn_lease`'s error through
   * `lsn_lease_handler`), which is not worth retrying.
   */
  async leaseLsn(timelineId: string, lsn: string, options: CallOptions = {}): Promise<string | undefined> {
    const { status, body } = await this.http.call<{ valid_until?: string } | undefined>({
      method: 'POST',
      path: `${this.timelinePath(timelineId)}/lsn_lease`,
      body: { lsn },
      what: `lease ${lsn} on timeline ${timelineId}`,
      // A second lease on the same LSN only extends it.
      idempotent: true,
      accept: [404, 405, 501],
      signal: options.signal,
      onStatus: (_status, message) =>
        /lease.*below the (latest|planned) gc cutoff/i.test(message)
          ? new LockstepError('EXPIRED', `the pageserver refused a lease on ${lsn} of timeline ${timelineId}: it is below the GC cutoff and no valid lease holds it (${message})`)
          : undefined,
    });
    if (status === 404 || status === 405 || status === 501) return undefined;
    return body?.valid_until;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

/**
 * The endpoint of whoever owns the compute's configuration (a control plane,
 * a script around `neon_local`…): one POST `{tenant_id, timeline_id}` makes the
 * compute serve that timeline at the same address. Lockstep never changes the
 * compute behind its back.
 */
export class ComputeConfigEndpoint {
  readonly http: JsonHttpClient;

  constructor(
    private readonly url: string,
    token: () => Promise<string | undefined>,
    log: Log,
    options: JsonHttpClientOptions = {},
  ) {
    const parsed = new URL(url);
    this.http = new JsonHttpClient(
      {
        name: 'the compute configuration endpoint',
        baseUrl: parsed.origin,
        authorization: async () => {
          const value = await token();
          return value ? `Bearer ${value}` : undefined;
        },
        authHint: 'Store the endpoint\'s token as the pageserver.repointToken secret.',
        serverMessage: (body) => serverMessage(body) ?? ((body as { message?: unknown } | undefined)?.message as string | undefined),
      },
      log,
      options,
    );
  }

  async repoint(tenantId: string, timelineId: string, options: CallOptions = {}): Promise<void> {
    const parsed = new URL(this.url);
    await this.http.call({
      method: 'POST',
      path: parsed.pathname + parsed.search,
      body: { tenant_id: tenantId, timeline_id: timelineId },
      what: `repoint the compute to timeline ${timelineId}`,
      // Serving the same timeline twice is the same as once.
      idempotent: true,
      signal: options.signal,
    });
  }

  close(): Promise<void> {
    return this.http.close();
  }
}
