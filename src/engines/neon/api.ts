// The part of the Neon API v2 Lockstep uses, typed after the contract (test/contracts/neon-api-v2-shapes.json).

import { LockstepError } from '../../base/errors';
import { JsonHttpClient, type JsonHttpClientOptions } from '../../core/http';
import { passwordOf, type Log } from '../../base/log';

export const DEFAULT_NEON_API_URL = 'https://console.neon.tech/api/v2';
/** The name under which the faces (env, SecretStorage, credentials file) hand over the API key. */
export const NEON_API_KEY_SECRET = 'neon.apiKey';

/** The API base URL: `LOCKSTEP_NEON_API_URL`, else the configured one, else Neon's. */
export function neonApiUrl(config: { apiUrl?: string | undefined }, env: Record<string, string | undefined> = process.env): string {
  return env.LOCKSTEP_NEON_API_URL || config.apiUrl || DEFAULT_NEON_API_URL;
}

export type NeonOperationStatus = 'scheduling' | 'running' | 'finished' | 'failed' | 'error' | 'cancelling' | 'cancelled' | 'skipped';

export interface NeonOperation {
  id: string;
  project_id: string;
  branch_id?: string;
  action: string;
  status: NeonOperationStatus;
  error?: string;
  failures_count: number;
  retry_at?: string;
  created_at: string;
  updated_at: string;
}

export interface NeonBranch {
  id: string;
  project_id: string;
  name: string;
  parent_id?: string;
  parent_lsn?: string;
  current_state: string;
  default: boolean;
  protected: boolean;
  created_at: string;
  logical_size?: number;
}

export interface NeonProject {
  id: string;
  name: string;
  history_retention_seconds: number;
  pg_version: number;
}

export interface NeonSchemaTable {
  schema: string;
  name: string;
  columns: { name: string; type: string }[];
}

interface CallOptions {
  signal?: AbortSignal | undefined;
}

/**
 * Thin and literal: one method per endpoint, paths and fields exactly as the
 * contract names them. Meaning (which branch, what a 404 means for Lockstep)
 * belongs to the engine.
 */
export class NeonApi {
  readonly http: JsonHttpClient;

  constructor(
    readonly baseUrl: string,
    readonly projectId: string,
    apiKey: () => Promise<string | undefined>,
    log: Log,
    options: JsonHttpClientOptions = {},
  ) {
    this.http = new JsonHttpClient(
      {
        name: 'Neon',
        baseUrl,
        authorization: async () => {
          const key = await apiKey();
          if (!key) {
            throw new LockstepError('AUTH', 'No Neon API key', {
              hint: 'Set NEON_API_KEY, or run `lockstep init --engine neon` (or "Lockstep: Connect a Neon Project") to store one.',
            });
          }
          return `Bearer ${key}`;
        },
        authHint: 'Check NEON_API_KEY (or the key stored by "Lockstep: Connect a Neon Project"): it may be revoked or belong to another organisation.',
        serverMessage: (body) => {
          const message = (body as { message?: unknown } | undefined)?.message;
          return typeof message === 'string' ? message : undefined;
        },
      },
      log,
      options,
    );
  }

  private get project(): string {
    return `/projects/${encodeURIComponent(this.projectId)}`;
  }

  private branchPath(branchId: string): string {
    return `${this.project}/branches/${encodeURIComponent(branchId)}`;
  }

  async getProject(options: CallOptions & { onNotFound?: () => LockstepError } = {}): Promise<NeonProject> {
    const { body } = await this.http.call<{ project: NeonProject }>({
      method: 'GET',
      path: this.project,
      what: `read Neon project ${this.projectId}`,
      idempotent: true,
      signal: options.signal,
      onStatus: (status) => (status === 404 ? options.onNotFound?.() : undefined),
    });
    return body.project;
  }

  async getBranch(branchId: string, options: CallOptions & { onNotFound?: () => LockstepError } = {}): Promise<NeonBranch> {
    const { body } = await this.http.call<{ branch: NeonBranch }>({
      method: 'GET',
      path: this.branchPath(branchId),
      what: `read Neon branch ${branchId}`,
      idempotent: true,
      signal: options.signal,
      onStatus: (status) => (status === 404 ? options.onNotFound?.() : undefined),
    });
    return body.branch;
  }

  async listBranches(options: CallOptions & { search?: string } = {}): Promise<NeonBranch[]> {
    const { body } = await this.http.call<{ branches: NeonBranch[] }>({
      method: 'GET',
      path: `${this.project}/branches`,
      query: { search: options.search },
      what: `list the branches of Neon project ${this.projectId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body.branches;
  }

  async restoreBranch(
    branchId: string,
    /** `source_lsn` or, for a moment, `source_timestamp` (never both). */
    request: { source_branch_id: string; source_lsn?: string; source_timestamp?: string; preserve_under_name: string },
    options: CallOptions = {},
  ): Promise<{ branch: NeonBranch; operations: NeonOperation[] }> {
    const { body } = await this.http.call<{ branch: NeonBranch; operations: NeonOperation[] }>({
      method: 'POST',
      path: `${this.branchPath(branchId)}/restore`,
      body: request,
      what: `restore Neon branch ${branchId} to ${request.source_lsn ?? request.source_timestamp} of ${request.source_branch_id}`,
      // Two restores would preserve the restored state under the second name and lose the mapping.
      idempotent: false,
      signal: options.signal,
    });
    return body;
  }

  async getOperation(operationId: string, options: CallOptions = {}): Promise<NeonOperation> {
    const { body } = await this.http.call<{ operation: NeonOperation }>({
      method: 'GET',
      path: `${this.project}/operations/${encodeURIComponent(operationId)}`,
      what: `read Neon operation ${operationId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body.operation;
  }

  /** Undefined when the branch was already gone. */
  async deleteBranch(branchId: string, options: CallOptions = {}): Promise<NeonOperation[] | undefined> {
    const { status, body } = await this.http.call<{ operations?: NeonOperation[] } | undefined>({
      method: 'DELETE',
      path: this.branchPath(branchId),
      what: `delete Neon branch ${branchId}`,
      idempotent: true,
      accept: [404],
      signal: options.signal,
    });
    if (status === 404) return undefined;
    return body?.operations ?? [];
  }

  async connectionUri(
    query: { branchId: string; databaseName: string; roleName: string },
    options: CallOptions & { onNotFound?: () => LockstepError } = {},
  ): Promise<string> {
    const { body } = await this.http.call<{ uri: string }>({
      method: 'GET',
      path: `${this.project}/connection_uri`,
      query: { branch_id: query.branchId, database_name: query.databaseName, role_name: query.roleName, pooled: false },
      what: `get the connection string of Neon branch ${query.branchId}`,
      idempotent: true,
      signal: options.signal,
      onStatus: (status) => (status === 404 ? options.onNotFound?.() : undefined),
    });
    this.http.addSecret(passwordOf(body.uri));
    return body.uri;
  }

  async branchSchema(
    branchId: string,
    query: { databaseName: string; lsn?: string; timestamp?: string },
    options: CallOptions = {},
  ): Promise<{ sql?: string; json?: { tables: NeonSchemaTable[] } }> {
    const at = query.lsn ?? query.timestamp;
    const { body } = await this.http.call<{ sql?: string; json?: { tables: NeonSchemaTable[] } }>({
      method: 'GET',
      path: `${this.branchPath(branchId)}/schema`,
      query: { db_name: query.databaseName, lsn: query.lsn, timestamp: query.timestamp, format: 'json' },
      what: `read the schema of Neon branch ${branchId}${at ? ` at ${at}` : ''}`,
      idempotent: true,
      signal: options.signal,
    });
    return body ?? {};
  }

  async compareSchema(
    branchId: string,
    query: { databaseName: string; lsn?: string; timestamp?: string; baseBranchId: string },
    options: CallOptions = {},
  ): Promise<string> {
    const { body } = await this.http.call<{ diff?: string } | undefined>({
      method: 'GET',
      path: `${this.branchPath(branchId)}/compare_schema`,
      query: { db_name: query.databaseName, lsn: query.lsn, timestamp: query.timestamp, base_branch_id: query.baseBranchId },
      what: `compare the schema of Neon branch ${branchId} with ${query.baseBranchId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body?.diff ?? '';
  }

  close(): Promise<void> {
    return this.http.close();
  }
}

