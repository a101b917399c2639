// Checks HTTP requests and responses against an OpenAPI document (test/contracts/), so the test doubles answer only what the real service would accept.

import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import * as YAML from 'yaml';

export const CONTRACTS_DIR = path.join(__dirname, '..', 'contracts');

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'] as const;

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required: boolean;
  schema: JsonObject;
}

export interface Operation {
  method: string;
  /** The path as the contract writes it: `/projects/{project_id}/branches`. */
  template: string;
  operationId: string | undefined;
  parameters: Parameter[];
  requestBody: { required: boolean; schema: JsonObject | undefined } | undefined;
  responses: Map<string, { schema: JsonObject | undefined }>;
}

export interface MatchedOperation {
  operation: Operation;
  params: Record<string, string>;
}

export interface OpenApiContractOptions {
  /**
   * Error statuses the service answers on any operation even where the
   * document lists only the successes, and the schema their bodies follow
   * (the pageserver answers every error with `{msg}`).
   */
  undocumentedErrors?: { statuses: readonly number[]; schemaRef: string };
}

/**
 * Every `$ref` is inlined before compiling (the documents have no cycles), so
 * a schema is checked exactly as written, `allOf`s and enums included. Ajv runs
 * with every format the documents use declared, so a typo in a format cannot
 * pass silently.
 */
export class OpenApiContract {
  readonly basePath: string;
  private readonly operations: Operation[] = [];
  private readonly ajv: Ajv;
  private readonly compiled = new Map<JsonObject, ValidateFunction>();

  constructor(
    private readonly doc: JsonObject,
    private readonly options: OpenApiContractOptions = {},
  ) {
    this.ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
    this.ajv.addFormat('date-time', { type: 'string', validate: (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s) && !Number.isNaN(Date.parse(s)) });
    this.ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i);
    this.ajv.addFormat('email', /^[^@\s]+@[^@\s]+$/);
    // The pageserver writes ids (32 hex digits) and LSNs (`0/16B3748`) as "hex".
    this.ajv.addFormat('hex', /^[0-9a-fA-F]+(\/[0-9a-fA-F]+)?$/);
    this.ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
    this.ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isInteger(n) });
    const server = ((doc.servers as JsonObject[] | undefined)?.[0]?.url as string | undefined) ?? '';
    this.basePath = server.startsWith('http') ? new URL(server).pathname.replace(/\/$/, '') : server.replace(/\/$/, '');
    for (const [template, item] of Object.entries(doc.paths as JsonObject)) {
      const pathItem = item as JsonObject;
      const shared = ((pathItem.parameters as Json[] | undefined) ?? []).map((p) => this.parameter(p));
      for (const method of METHODS) {
        const raw = pathItem[method] as JsonObject | undefined;
        if (!raw) continue;
        const own = ((raw.parameters as Json[] | undefined) ?? []).map((p) => this.parameter(p));
        const parameters = [...shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in)), ...own];
        let requestBody: Operation['requestBody'];
        if (raw.requestBody) {
          const body = this.resolve(raw.requestBody) as JsonObject;
          const schema = ((body.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as JsonObject | undefined;
          requestBody = { required: body.required === true, schema: schema ? (this.deref(schema) as JsonObject) : undefined };
        }
        const responses = new Map<string, { schema: JsonObject | undefined }>();
        for (const [status, response] of Object.entries((raw.responses as JsonObject | undefined) ?? {})) {
          const resolved = this.resolve(response) as JsonObject;
          const schema = ((resolved.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as JsonObject | undefined;
          responses.set(status, { schema: schema ? (this.deref(schema) as JsonObject) : undefined });
        }
        this.operations.push({ method: method.toUpperCase(), template, operationId: raw.operationId as string | undefined, parameters, requestBody, responses });
      }
    }
    // Literal segments win over parameters: `/v1/tenant/config` is not the tenant "config".
    this.operations.sort((a, b) => paramCount(a.template) - paramCount(b.template));
  }

  static load(file: string, options: OpenApiContractOptions = {}): OpenApiContract {
    const text = fs.readFileSync(file, 'utf8');
    const doc = (file.endsWith('.json') ? JSON.parse(text) : YAML.parse(text)) as JsonObject;
    return new OpenApiContract(doc, options);
  }

  /** The operation a request is for, or undefined when the contract has no such path and method. */
  match(method: string, pathname: string): MatchedOperation | undefined {
    if (!pathname.startsWith(this.basePath)) return undefined;
    const rest = pathname.slice(this.basePath.length) || '/';
    for (const operation of this.operations) {
      if (operation.method !== method.toUpperCase()) continue;
      const names: string[] = [];
      const pattern = operation.template.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{([^}]+)\}/g, (_, name: string) => {
        names.push(name);
        return '([^/]+)';
      });
      const found = new RegExp(`^${pattern}$`).exec(rest);
      if (!found) continue;
      const params: Record<string, string> = {};
      names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1]!)));
      return { operation, params };
    }
    return undefined;
  }

  /** Whether any operation has this path (to tell "wrong method" from "no such path"). */
  hasPath(pathname: string): boolean {
    return METHODS.some((m) => this.match(m, pathname) !== undefined);
  }

  /** Problems with a request, in words; empty when the contract allows it. */
  checkRequest(matched: MatchedOperation, query: URLSearchParams, body: { present: boolean; json: unknown; contentType: string | undefined }): string[] {
    const { operation, params } = matched;
    const problems: string[] = [];
    for (const p of operation.parameters.filter((x) => x.in === 'path')) {
      problems.push(...this.validate(p.schema, params[p.name], `path parameter ${p.name}`));
    }
    const declared = operation.parameters.filter((p) => p.in === 'query');
    for (const key of new Set(query.keys())) {
      if (!declared.some((p) => p.name === key)) problems.push(`query parameter "${key}" is not in the contract`);
      if (query.getAll(key).length > 1) problems.push(`query parameter "${key}" given more than once`);
    }
    for (const p of declared) {
      const raw = query.get(p.name);
      if (raw === null) {
        if (p.required) problems.push(`required query parameter "${p.name}" is missing`);
        continue;
      }
      problems.push(...this.validate(p.schema, coerce(raw, p.schema), `query parameter ${p.name}`));
    }
    if (!operation.requestBody) {
      if (body.present) problems.push('a request body was sent, but the operation takes none');
    } else if (!body.present) {
      if (operation.requestBody.required) problems.push('the required request body is missing');
    } else {
      if (!body.contentType?.startsWith('application/json')) problems.push(`request body content-type is ${String(body.contentType)}, not application/json`);
      if (operation.requestBody.schema) problems.push(...this.validate(operation.requestBody.schema, body.json, 'request body'));
    }
    return problems;
  }

  /** Problems with a response the double is about to send. */
  checkResponse(operation: Operation, status: number, body: unknown): string[] {
    let response = operation.responses.get(String(status)) ?? operation.responses.get(`${Math.floor(status / 100)}XX`) ?? operation.responses.get('default');
    const extra = this.options.undocumentedErrors;
    if (!response && extra?.statuses.includes(status)) {
      response = { schema: this.deref({ $ref: extra.schemaRef }) as JsonObject };
    }
    if (!response) return [`status ${status} is not documented for ${operation.method} ${operation.template}`];
    if (!response.schema) return body === undefined ? [] : [`status ${status} of ${operation.method} ${operation.template} has no body in the contract`];
    return this.validate(response.schema, body, `response ${status}`);
  }

  private validate(schema: JsonObject, value: unknown, what: string): string[] {
    let validate = this.compiled.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.compiled.set(schema, validate);
    }
    if (validate(value)) return [];
    return (validate.errors ?? []).map((e: ErrorObject) => `${what}${e.instancePath}: ${e.message ?? e.keyword}${e.params && 'allowedValues' in e.params ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}`);
  }

  private parameter(raw: Json): Parameter {
    const p = this.resolve(raw) as JsonObject;
    return {
      name: p.name as string,
      in: p.in as Parameter['in'],
      required: p.required === true,
      schema: this.deref((p.schema as JsonObject | undefined) ?? {}) as JsonObject,
    };
  }

  private resolve(node: Json): Json {
    let current = node;
    for (let guard = 0; guard < 20 && isObject(current) && typeof current.$ref === 'string'; guard++) current = this.pointer(current.$ref);
    return current;
  }

  private pointer(ref: string): Json {
    if (!ref.startsWith('#/')) throw new Error(`external $ref not supported: ${ref}`);
    let node: Json = this.doc;
    for (const token of ref.slice(2).split('/')) {
      const key = decodeURIComponent(token).replace(/~1/g, '/').replace(/~0/g, '~');
      if (!isObject(node) || !(key in node)) throw new Error(`$ref ${ref} points nowhere`);
      node = node[key]!;
    }
    return node;
  }

  private deref(node: Json, seen: readonly string[] = []): Json {
    if (Array.isArray(node)) return node.map((n) => this.deref(n, seen));
    if (!isObject(node)) return node;
    if (typeof node.$ref === 'string') {
      if (seen.includes(node.$ref)) throw new Error(`cyclic $ref ${node.$ref}`);
      return this.deref(this.pointer(node.$ref), [...seen, node.$ref]);
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(node)) out[key] = this.deref(value, seen);
    return out;
  }
}

function isObject(node: Json | undefined): node is JsonObject {
  return typeof node === 'object' && node !== null && !Array.isArray(node);
}

function paramCount(template: string): number {
  return (template.match(/\{/g) ?? []).length;
}

/** Query strings are text; the schema says what the text must spell. */
function coerce(raw: string, schema: JsonObject): unknown {
  if (schema.type === 'integer' || schema.type === 'number') return raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw);
  if (schema.type === 'boolean') return raw === 'true' ? true : raw === 'false' ? false : raw;
  return raw;
}
