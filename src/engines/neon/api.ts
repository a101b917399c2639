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
  /** Optional in the contract; `subscription_type` says the plan (free_* = a free plan). */
  owner?: { email: string; name: string; branches_limit: number; subscription_type: string };
}

/** A Neon snapshot: a branch's state at an LSN or time, kept apart from the history window. */
export interface NeonSnapshot {
  id: string;
  name: string;
  lsn?: string;
  timestamp?: string;
  source_branch_id?: string;
  created_at: string;
  expires_at?: string;
  /** Taken by a person or an API call, not by a schedule: what the plan's snapshot limit counts. */
  manual?: boolean;
}

/** `POST /projects/{p}/snapshots/{id}/restore` body: with `finalize_restore` the computes of `target_branch_id` move to the new branch. */
export interface NeonSnapshotRestoreRequest {
  name?: string;
  target_branch_id?: string;
  finalize_restore?: boolean;
}

/** The words Neon's refusals use when a plan limit is reached (the API has no dedicated error code for it). */
const LIMIT_WORDS = /\b(limit|quota|exceed(?:s|ed)?|maximum)\b/i;

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

  // ── snapshots ──────────────────────────────────────────────────────────────

  /**
   * `lsn` or, for a moment, `timestamp` (never both), the name and an optional
   * expiry: query parameters, as the contract has them (no body). A refusal
   * for the plan's snapshot limit comes back as QUOTA.
   */
  async createSnapshot(
    branchId: string,
    query: { lsn?: string; timestamp?: string; name: string; expires_at?: string },
    options: CallOptions = {},
  ): Promise<{ snapshot: NeonSnapshot; operations: NeonOperation[] }> {
    const { body } = await this.http.call<{ snapshot: NeonSnapshot; operations: NeonOperation[] }>({
      method: 'POST',
      path: `${this.branchPath(branchId)}/snapshot`,
      query: { lsn: query.lsn, timestamp: query.timestamp, name: query.name, expires_at: query.expires_at },
      what: `take a Neon snapshot of branch ${branchId} at ${query.lsn ?? query.timestamp ?? 'its head'}`,
      // Sent twice it would take two snapshots, and the second counts against the plan's limit.
      idempotent: false,
      signal: options.signal,
      onStatus: (status, message) => quotaRefusal(status, message, 'take a Neon snapshot'),
    });
    return body;
  }

  async listSnapshots(options: CallOptions = {}): Promise<NeonSnapshot[]> {
    const { body } = await this.http.call<{ snapshots: NeonSnapshot[] }>({
      method: 'GET',
      path: `${this.project}/snapshots`,
      what: `list the snapshots of Neon project ${this.projectId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body.snapshots;
  }

  async renameSnapshot(snapshotId: string, name: string, options: CallOptions = {}): Promise<NeonSnapshot> {
    const { body } = await this.http.call<{ snapshot: NeonSnapshot }>({
      method: 'PATCH',
      path: `${this.project}/snapshots/${encodeURIComponent(snapshotId)}`,
      body: { snapshot: { name } },
      what: `rename Neon snapshot ${snapshotId}`,
      idempotent: true,
      signal: options.signal,
    });
    return body.snapshot;
  }

  /** Undefined when the snapshot was already gone. */
  async deleteSnapshot(snapshotId: string, options: CallOptions = {}): Promise<NeonOperation[] | undefined> {
    const { status, body } = await this.http.call<{ operations?: NeonOperation[] } | undefined>({
      method: 'DELETE',
      path: `${this.project}/snapshots/${encodeURIComponent(snapshotId)}`,
      what: `delete Neon snapshot ${snapshotId}`,
      idempotent: true,
      accept: [404],
      signal: options.signal,
    });
    if (status === 404) return undefined;
    return body?.operations ?? [];
  }

  /**
   * A new branch holding the snapshot's data; with `finalize_restore` and
   * `target_branch_id` Neon moves that branch's computes (and name) to it, so
   * the connection string stays while the serving branch id changes.
   */
  async restoreSnapshot(
    snapshotId: string,
    request: NeonSnapshotRestoreRequest,
    options: CallOptions = {},
  ): Promise<{ branch: NeonBranch; operations: NeonOperation[] }> {
    const { body } = await this.http.call<{ branch: NeonBranch; operations: NeonOperation[] }>({
      method: 'POST',
      path: `${this.project}/snapshots/${encodeURIComponent(snapshotId)}/restore`,
      body: request,
      what: `restore Neon snapshot ${snapshotId}${request.target_branch_id ? ` onto branch ${request.target_branch_id}` : ''}`,
      // A second restore would make a second branch and move the computes again.
      idempotent: false,
      signal: options.signal,
    });
    return body;
  }

  /** The second step of a restore made without `finalize_restore`: move the target's computes to `branchId` (the restored branch). */
  async finalizeRestore(branchId: string, request: { name?: string } = {}, options: CallOptions = {}): Promise<NeonOperation[]> {
    const { body } = await this.http.call<{ operations: NeonOperation[] }>({
      method: 'POST',
      path: `${this.branchPath(branchId)}/finalize_restore`,
      body: request,
      what: `finalize the restore into Neon branch ${branchId}`,
      idempotent: false,
      signal: options.signal,
    });
    return body.operations;
  }

  close(): Promise<void> {
    return this.http.close();
  }
}


/** A refusal that names a limit (HTTP 4xx other than 404/409/423/429) is the plan's quota, not a fault or a credential problem. */
function quotaRefusal(status: number, message: string | undefined, what: string): LockstepError | undefined {
  if (status < 400 || status >= 500 || status === 404 || status === 409 || status === 423 || status === 429) return undefined;
  if (!message || !LIMIT_WORDS.test(message)) return undefined;
  return new LockstepError('QUOTA', `${what}: Neon refused it: ${message} (HTTP ${status})`, {
    hint: 'Free plans keep 1 snapshot and paid plans 10. Unpin a checkpoint (`lockstep unpin REF`) or delete a snapshot in the Neon console (Backup & restore), then try again.',
  });
}
