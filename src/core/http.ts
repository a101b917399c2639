// JSON over HTTP for the remote engines (Neon, pageserver): undici, bounded retries, cancellation, errors a person can act on.

import { Agent, errors as undiciErrors, request } from 'undici';
import { LockstepError, throwIfAborted, type ErrorCode, type LockstepErrorOptions } from '../base/errors';
import { redact, type Log } from '../base/log';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 500, maxDelayMs: 8_000 };

export interface HttpCall {
  method: HttpMethod;
  /** Path after the base URL, with its segments already encoded. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** What the call does, for messages: "restore branch br-main". */
  what: string;
  /**
   * Whether sending the call twice is harmless. Failures that leave it unknown
   * whether the server acted (a dropped connection, a 500) are retried only then.
   */
  idempotent: boolean;
  /** Statuses handed back to the caller instead of thrown (a DELETE polled until 404). */
  accept?: readonly number[];
  /** A better code and message for a status than the generic mapping (404 on a checkpoint's branch → TIMELINE_UNKNOWN). */
  onStatus?: (status: number, serverMessage: string) => LockstepError | undefined;
  /** 409 means "busy, try again" for some calls and "never" for others. Default: retried. */
  retryConflict?: boolean;
  signal?: AbortSignal;
}

/** A failed call, saying whether the server may have acted on it anyway (a dropped connection, a 500). */
export class RemoteCallError extends LockstepError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly status: number | undefined,
    readonly mayHaveActed: boolean,
    options: LockstepErrorOptions = {},
  ) {
    super(code, message, options);
  }
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
}

export interface RemoteService {
  /** For messages: "Neon", "the pageserver". */
  name: string;
  baseUrl: string;
  /** The Authorization header value, read when needed (never stored in files or logs). */
  authorization?: () => Promise<string | undefined>;
  /** What to check when the service refuses the credentials. */
  authHint: string;
  /** The human part of an error body (Neon `message`, pageserver `msg`). */
  serverMessage: (body: unknown) => string | undefined;
}

export interface JsonHttpClientOptions {
  retry?: Partial<RetryPolicy>;
  /** Per-request limit on waiting for the response. */
  requestTimeoutMs?: number;
}

/**
 * One client per engine: its own connection pool (closed with the engine), a
 * bounded exponential backoff that honours Retry-After, and every failure
 * turned into a LockstepError whose message names the service and the call but
 * never the credentials.
 */
export class JsonHttpClient {
  private readonly agent: Agent;
  private readonly retry: RetryPolicy;
  private readonly requestTimeoutMs: number;
  private readonly secrets: string[] = [];

  constructor(
    private readonly service: RemoteService,
    private readonly log: Log,
    options: JsonHttpClientOptions = {},
  ) {
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.agent = new Agent({ keepAliveTimeout: 4_000, connect: { timeout: 10_000 } });
  }

  /** Text that must never appear in a message or a log line (the API key). */
  addSecret(secret: string | undefined): void {
    if (secret && !this.secrets.includes(secret)) this.secrets.push(secret);
  }

  scrub(text: string): string {
    return redact(text, this.secrets);
  }

  async call<T = unknown>(call: HttpCall): Promise<HttpResult<T>> {
    const url = this.url(call);
    const label = `${call.method} ${this.scrub(url.pathname + url.search)}`;
    let lastError: LockstepError | undefined;
    for (let attempt = 1; attempt <= this.retry.attempts; attempt++) {
      throwIfAborted(call.signal, call.what);
      const outcome = await this.once<T>(call, url, label);
      if (outcome.kind === 'done') return outcome.result;
      lastError = outcome.error;
      if (!outcome.retry || attempt === this.retry.attempts) break;
      const delay = Math.min(this.retry.maxDelayMs, outcome.retryAfterMs ?? this.retry.baseDelayMs * 2 ** (attempt - 1));
      this.log.debug(`${label}: ${outcome.error.message}; retrying in ${delay} ms (attempt ${attempt + 1} of ${this.retry.attempts})`);
      await sleep(delay, call.signal, call.what);
    }
    throw lastError ?? new LockstepError('INTERNAL', `${call.what}: no attempt was made`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private url(call: HttpCall): URL {
    const base = this.service.baseUrl.replace(/\/+$/, '');
    const url = new URL(base + call.path);
    for (const [key, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    return url;
  }

  private async once<T>(call: HttpCall, url: URL, label: string): Promise<Outcome<T>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const authorization = await this.service.authorization?.();
    if (authorization) {
      this.addSecret(authorization.replace(/^Bearer\s+/i, ''));
      headers.authorization = authorization;
    }
    let payload: string | undefined;
    if (call.body !== undefined) {
      payload = JSON.stringify(call.body);
      headers['content-type'] = 'application/json';
    }
    const started = Date.now();
    let status: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    try {
      const response = await request(url, {
        method: call.method,
        headers,
        body: payload,
        dispatcher: this.agent,
        signal: call.signal,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
      });
      status = response.statusCode;
      retryAfter = response.headers['retry-after'];
      text = await response.body.text();
    } catch (error) {
      const mayHaveActed = call.method !== 'GET';
      if (call.signal?.aborted) {
        return { kind: 'failed', retry: false, error: new RemoteCallError('CANCELLED', `${call.what} was cancelled`, undefined, mayHaveActed) };
      }
      const timedOut = error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError;
      const detail = this.scrub(error instanceof Error ? describeNetworkError(error) : String(error));
      this.log.debug(`${label}: ${detail} (${Date.now() - started} ms)`);
      return {
        kind: 'failed',
        retry: call.idempotent,
        error: new RemoteCallError(
          timedOut ? 'TIMEOUT' : 'NETWORK',
          `${call.what}: could not reach ${this.service.name} at ${this.scrub(url.origin)} (${detail})`,
          undefined,
          mayHaveActed,
          { hint: 'Check the network and the API URL.' },
        ),
      };
    }
    this.log.debug(`${label} → ${status} (${Date.now() - started} ms)`);
    const body = parseBody(text);
    if ((status >= 200 && status < 300) || call.accept?.includes(status)) {
      return { kind: 'done', result: { status, body: body as T } };
    }
    const serverMessage = this.scrub(this.service.serverMessage(body) ?? (typeof body === 'string' ? body.slice(0, 300) : ''));
    const special = call.onStatus?.(status, serverMessage);
    if (special) return { kind: 'failed', retry: false, error: special };
    // A 5xx other than 503 may come after part of the work was done.
    const mayHaveActed = status >= 500 && status !== 503 && call.method !== 'GET';
    const said = serverMessage ? `: ${serverMessage}` : '';
    const retryAfterMs = parseRetryAfter(retryAfter);
    const fail = (code: ErrorCode, retry: boolean, message: string, hint?: string): Outcome<T> => ({
      kind: 'failed',
      retry,
      retryAfterMs,
      error: new RemoteCallError(code, message, status, mayHaveActed, hint === undefined ? {} : { hint }),
    });
    const name = this.service.name;
    if (status === 401 || status === 403) {
      return fail('AUTH', false, `${call.what}: ${name} refused the credentials (HTTP ${status})${said}`, this.service.authHint);
    }
    if (status === 404) {
      return fail('NOT_FOUND', false, `${call.what}: not found at ${name} (HTTP 404)${said}`, 'Check the configured ids.');
    }
    if (status === 409 || status === 423) {
      return fail(
        'CONFLICT',
        call.retryConflict !== false,
        `${call.what}: ${name} says it is busy with another change (HTTP ${status})${said}`,
        'Wait for the running operation to finish, then try again.',
      );
    }
    if (status === 429) {
      return fail('RATE_LIMITED', true, `${call.what}: ${name} is rate-limiting requests (HTTP 429)${said}`, 'Wait a minute and try again.');
    }
    if (status >= 500) {
      // A 503 is refused before any work; other 5xx may have done part of it.
      return fail(
        'REMOTE',
        call.idempotent || status === 503,
        `${call.what}: ${name} failed (HTTP ${status})${said}`,
        mayHaveActed ? `It is not known whether ${name} acted on the request; check its state before trying again.` : undefined,
      );
    }
    return fail('REMOTE', false, `${call.what}: ${name} rejected the request (HTTP ${status})${said}`);
  }
}

type Outcome<T> =
  | { kind: 'done'; result: HttpResult<T> }
  | { kind: 'failed'; error: LockstepError; retry: boolean; retryAfterMs?: number | undefined };

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function parseRetryAfter(value: string | string[] | undefined): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined) return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

function describeNetworkError(error: Error): string {
  const cause = (error as { cause?: unknown }).cause;
  const code = (error as { code?: unknown }).code ?? (cause as { code?: unknown } | undefined)?.code;
  const message = cause instanceof Error ? cause.message : error.message;
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Wait `ms`, or stop early with CANCELLED when the signal fires. */
export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  throwIfAborted(signal, what);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new LockstepError('CANCELLED', `${what} was cancelled`));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
