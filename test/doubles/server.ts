// The HTTP side of a test double: a node:http server on 127.0.0.1 that checks every exchange against a contract, logs it, and injects faults.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MatchedOperation, OpenApiContract, Operation } from './contract';

export interface DoubleRequest {
  method: string;
  /** Path below the contract's base path, e.g. `/projects/p/branches/b/restore`. */
  path: string;
  /** The contract's template for it, e.g. `/projects/{project_id}/branches/{branch_id}/restore`. */
  template: string;
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

export interface DoubleResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface LoggedExchange {
  method: string;
  path: string;
  template: string | undefined;
  query: Record<string, string>;
  body: unknown;
  /** What the double answered; 'dropped' when a fault closed the connection. */
  status: number | 'dropped';
  response: unknown;
}

export interface Violation {
  request: string;
  problem: string;
}

/** A fault answers instead of the double: an error status, or a dropped connection. */
export type Fault = ({ kind: 'status'; status: number; body: unknown; retryAfterSeconds?: number } | { kind: 'drop' }) & {
  /** Which requests it hits; all by default. */
  match?: (request: { method: string; template: string | undefined; path: string }) => boolean;
  /** How many requests it hits; 'always' until cleared. */
  times: number | 'always';
};

export type Handler = (request: DoubleRequest) => DoubleResponse | Promise<DoubleResponse>;

/** What both doubles share: their ContractServer's lifecycle, exchange log, violations and faults. */
export abstract class ContractDouble {
  abstract readonly server: ContractServer;

  stop(): Promise<void> {
    return this.server.stop();
  }

  get violations(): Violation[] {
    return this.server.violations;
  }

  get log(): LoggedExchange[] {
    return this.server.log;
  }

  inject(fault: Fault): void {
    this.server.inject(fault);
  }

  clearFaults(): void {
    this.server.clearFaults();
  }
}

/**
 * Requests the contract does not allow are answered 400/404/405 (as a strict
 * server would) and recorded as violations; so are responses the double got
 * wrong, which are still sent so the test sees what happened. Tests assert
 * `violations` is empty.
 */
export class ContractServer {
  readonly violations: Violation[] = [];
  readonly log: LoggedExchange[] = [];
  private readonly faults: Fault[] = [];
  private readonly server: http.Server;
  private readonly extraRoutes = new Map<string, Handler>();

  constructor(
    private readonly contract: OpenApiContract,
    private readonly handlers: Record<string, Handler>,
    private readonly options: {
      /** Answer for a request that fails authentication (checked after the contract). */
      authenticate?: (request: DoubleRequest, operation: Operation) => DoubleResponse | undefined;
      /** The body of the error the double sends for contract violations and faults without a body. */
      errorBody: (status: number, message: string) => unknown;
    },
  ) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 1000;
  }

  /**
   * A route outside the contract (the compute's configuration endpoint of the
   * pageserver setup): its handler validates what it receives itself.
   */
  route(method: string, pathname: string, handler: Handler): void {
    this.extraRoutes.set(`${method} ${pathname}`, handler);
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  inject(fault: Fault): void {
    this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The logged exchanges whose handler ran (not faults or refusals). */
  answered(): LoggedExchange[] {
    return this.log.filter((e) => e.status !== 'dropped');
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://double');
    const method = req.method ?? 'GET';
    const label = `${method} ${url.pathname}${url.search}`;
    let json: unknown;
    let parseFailed = false;
    if (raw !== '') {
      try {
        json = JSON.parse(raw);
      } catch {
        parseFailed = true;
      }
    }
    const entry: LoggedExchange = {
      method,
      path: url.pathname,
      template: undefined,
      query: Object.fromEntries(url.searchParams),
      body: json,
      status: 0,
      response: undefined,
    };
    this.log.push(entry);
    const send = (response: DoubleResponse, operation: Operation | undefined) => {
      if (operation) {
        for (const problem of this.contract.checkResponse(operation, response.status, response.body)) {
          this.violations.push({ request: label, problem: `the double answered wrongly: ${problem}` });
        }
      }
      entry.status = response.status;
      entry.response = response.body;
      const text = response.body === undefined ? '' : JSON.stringify(response.body);
      res.writeHead(response.status, {
        ...(text ? { 'content-type': 'application/json' } : {}),
        ...response.headers,
      });
      res.end(text);
    };

    const extra = this.extraRoutes.get(`${method} ${url.pathname}`);
    const matched: MatchedOperation | undefined = extra ? undefined : this.contract.match(method, url.pathname);
    if (!extra && !matched) {
      const known = this.contract.hasPath(url.pathname);
      this.violations.push({ request: label, problem: known ? `${method} is not allowed on this path` : 'no such path in the contract' });
      send({ status: known ? 405 : 404, body: this.options.errorBody(known ? 405 : 404, 'not in the contract') }, undefined);
      return;
    }
    const template = matched?.operation.template;
    entry.template = template ?? url.pathname;
    entry.path = url.pathname.slice(this.contract.basePath.length) || '/';
    if (extra) entry.path = url.pathname;
    if (parseFailed) {
      this.violations.push({ request: label, problem: 'the request body is not JSON' });
      send({ status: 400, body: this.options.errorBody(400, 'body is not JSON') }, matched?.operation);
      return;
    }
    if (matched) {
      const problems = this.contract.checkRequest(matched, url.searchParams, {
        present: raw !== '',
        json,
        contentType: req.headers['content-type'],
      });
      if (problems.length > 0) {
        for (const problem of problems) this.violations.push({ request: label, problem });
        send({ status: 400, body: this.options.errorBody(400, problems.join('; ')) }, matched.operation);
        return;
      }
    }
    const request: DoubleRequest = {
      method,
      path: entry.path,
      template: entry.template,
      params: matched?.params ?? {},
      query: url.searchParams,
      body: json,
      headers: req.headers,
    };

    const fault = this.faults.find((f) => (f.times === 'always' || f.times > 0) && (f.match?.({ method, template: entry.template, path: entry.path }) ?? true));
    if (fault) {
      if (fault.times !== 'always') fault.times -= 1;
      if (fault.kind === 'drop') {
        entry.status = 'dropped';
        req.socket.destroy();
        return;
      }
      send(
        {
          status: fault.status,
          body: fault.body,
          ...(fault.retryAfterSeconds !== undefined ? { headers: { 'retry-after': String(fault.retryAfterSeconds) } } : {}),
        },
        matched?.operation,
      );
      return;
    }

    if (matched && this.options.authenticate) {
      const refusal = this.options.authenticate(request, matched.operation);
      if (refusal) {
        send(refusal, matched.operation);
        return;
      }
    }
    const handler = extra ?? this.handlers[`${method} ${template}`];
    if (!handler) {
      // Allowed by the contract, but the double does not implement it: the engine uses more than the tests know of.
      this.violations.push({ request: label, problem: `the double does not implement ${method} ${template}` });
      send({ status: 501, body: this.options.errorBody(501, 'not implemented by the double') }, undefined);
      return;
    }
    try {
      send(await handler(request), matched?.operation);
    } catch (error) {
      this.violations.push({ request: label, problem: `the double crashed: ${error instanceof Error ? error.stack : String(error)}` });
      send({ status: 500, body: this.options.errorBody(500, 'double crashed') }, undefined);
    }
  }
}
