// A Neon API v2 double: projects, branches, restore in place, snapshots (plan limit, restore with finalize), operations that progress per poll, all checked against the contract.

import { randomBytes, randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { compareLsn, isLsn, type Lsn } from '../../src/base/lsn';
import { CONTRACTS_DIR, OpenApiContract } from './contract';
import { HistoryModel } from './history';
import { ContractDouble, ContractServer, type DoubleRequest, type DoubleResponse } from './server';

export type OperationStatus = 'scheduling' | 'running' | 'finished' | 'failed' | 'error' | 'cancelling' | 'cancelled' | 'skipped';

/** The statuses an operation shows, one per poll; it stays on the last one. */
export type OperationScript = readonly OperationStatus[];

export const FINISHES: OperationScript = ['scheduling', 'running', 'finished'];
export const FAILS_FOREVER: OperationScript = ['scheduling', 'running', 'failed'];
export const NEVER_ENDS: OperationScript = ['scheduling', 'running'];
export const IS_CANCELLED: OperationScript = ['scheduling', 'cancelling', 'cancelled'];
/** Fails twice (Neon retries it), then finishes. */
export const FAILS_THEN_FINISHES: OperationScript = ['scheduling', 'running', 'failed', 'running', 'error', 'running', 'finished'];

export interface NeonDoubleOptions {
  apiKey: string;
  /** Handed out by connection_uri for the default branch (a real Postgres, so head() really queries one). */
  connectionUri: string;
  /** The compute's `pg_current_wal_insert_lsn()`: the head of the branch it serves. */
  readComputeLsn: () => Promise<Lsn>;
  projectId?: string;
  historyRetentionSeconds?: number;
  databaseName?: string;
  roleName?: string;
  /** The project owner's plan (`owner.subscription_type`): free_* keeps 1 manual snapshot, the others 10. */
  subscriptionType?: string;
}

/** Manual snapshots a project may hold, as Neon's plans have it. */
export function snapshotLimit(subscriptionType: string): number {
  return subscriptionType.startsWith('free') ? 1 : 10;
}

interface SnapshotRecord {
  id: string;
  name: string;
  /** Where its data is: a position in the history model, which outlives every branch and the window. */
  timelineId: string;
  lsn: Lsn;
  timestamp?: string;
  sourceBranchId: string;
  createdAt: string;
  expiresAt?: string;
  manual: boolean;
  deleted: boolean;
}

/** A snapshot restore: a new branch from the snapshot; finalized, it takes the target's computes and name. */
interface SnapshotRestoreRecord {
  snapshotId: string;
  newBranchId: string;
  /** Whose computes move at finalize; undefined when the request named none and the snapshot's branch is gone. */
  targetBranchId: string | undefined;
  finalize: boolean;
  /** The target's head when the request arrived: where its history ends once the computes left it. */
  targetHeadLsn: Lsn;
  /** Name for the replaced branch (finalize_restore's `name`), else "<name> (old)". */
  oldName?: string;
  operations: string[];
  state: 'running' | 'applied' | 'finalized' | 'abandoned';
}

interface BranchRecord {
  id: string;
  name: string;
  timelineId: string;
  parentId?: string;
  createdAt: string;
  updatedAt: string;
  isDefault: boolean;
  /** Where a branch without a compute ends (preserved branches). */
  frozenHeadLsn?: Lsn;
  deleted: boolean;
}

interface OperationRecord {
  id: string;
  branchId: string;
  action: string;
  script: OperationScript;
  index: number;
  failures: number;
  createdAt: string;
  updatedAt: string;
}

interface RestoreRecord {
  branchId: string;
  sourceTimelineId: string;
  sourceLsn: Lsn;
  preserveUnderName: string;
  frozenHeadLsn: Lsn;
  operations: string[];
  state: 'running' | 'applied' | 'abandoned';
}

const TERMINAL_OK: ReadonlySet<OperationStatus> = new Set(['finished', 'skipped']);

export class NeonDouble extends ContractDouble {
  readonly server: ContractServer;
  readonly history = new HistoryModel();
  readonly projectId: string;
  /** The default branch the double starts with (the configured branch in tests). */
  readonly mainBranchId: string;
  /** The branch whose compute answers on `connectionUri`: main until a finalized snapshot restore moves it. */
  computeBranchId: string;
  subscriptionType: string;
  readonly databaseName: string;
  readonly roleName: string;
  apiUrl = '';
  historyRetentionSeconds: number;
  private readonly branches = new Map<string, BranchRecord>();
  private readonly operations = new Map<string, OperationRecord>();
  private readonly restores: RestoreRecord[] = [];
  private readonly restoreScripts: OperationScript[][] = [];
  private readonly snapshots = new Map<string, SnapshotRecord>();
  private readonly snapshotRestores: SnapshotRestoreRecord[] = [];
  private readonly snapshotScripts: OperationScript[][] = [];
  /** When each noted write committed: the history window's cutoff is found from these. */
  private readonly writeTimes: { lsn: Lsn; at: number }[] = [];
  /** Every time the double found an LSN for (restore's `source_timestamp`, the schema endpoints' `timestamp`), for tests to check. */
  readonly timestampsResolved: { branchId: string; timestamp: string; kind: string; lsn: Lsn }[] = [];
  /** The restore requests received, bodies as sent. */
  readonly restoreRequests: Record<string, unknown>[] = [];
  private timelineCounter = 0;
  private readonly createdAt = new Date().toISOString();

  private constructor(private readonly options: NeonDoubleOptions) {
    super();
    this.projectId = options.projectId ?? 'lockstep-test-1234';
    this.historyRetentionSeconds = options.historyRetentionSeconds ?? 86_400;
    this.databaseName = options.databaseName ?? 'neondb';
    this.roleName = options.roleName ?? 'neondb_owner';
    this.subscriptionType = options.subscriptionType ?? 'free_v3';
    this.mainBranchId = newBranchId('main');
    this.computeBranchId = this.mainBranchId;
    const timelineId = this.newTimeline();
    const now = new Date().toISOString();
    this.branches.set(this.mainBranchId, { id: this.mainBranchId, name: 'main', timelineId, createdAt: now, updatedAt: now, isDefault: true, deleted: false });
    const contract = OpenApiContract.load(path.join(CONTRACTS_DIR, 'neon-api-v2-shapes.json'));
    const p = '/projects/{project_id}';
    this.server = new ContractServer(
      contract,
      {
        [`GET ${p}`]: (r) => this.getProject(r),
        [`GET ${p}/branches`]: (r) => this.listBranches(r),
        [`GET ${p}/branches/{branch_id}`]: (r) => this.getBranch(r),
        [`DELETE ${p}/branches/{branch_id}`]: (r) => this.deleteBranch(r),
        [`POST ${p}/branches/{branch_id}/restore`]: (r) => this.restore(r),
        [`GET ${p}/operations/{operation_id}`]: (r) => this.getOperation(r),
        [`GET ${p}/connection_uri`]: (r) => this.connectionUri(r),
        [`GET ${p}/branches/{branch_id}/schema`]: (r) => this.schema(r),
        [`GET ${p}/branches/{branch_id}/compare_schema`]: (r) => this.compareSchema(r),
        [`POST ${p}/branches/{branch_id}/snapshot`]: (r) => this.createSnapshot(r),
        [`GET ${p}/snapshots`]: (r) => this.listSnapshots(r),
        [`PATCH ${p}/snapshots/{snapshot_id}`]: (r) => this.updateSnapshot(r),
        [`DELETE ${p}/snapshots/{snapshot_id}`]: (r) => this.deleteSnapshot(r),
        [`POST ${p}/snapshots/{snapshot_id}/restore`]: (r) => this.restoreSnapshot(r),
        [`POST ${p}/branches/{branch_id}/finalize_restore`]: (r) => this.finalizeRestore(r),
      },
      {
        authenticate: (request) =>
          request.headers.authorization === `Bearer ${options.apiKey}` ? undefined : error(401, 'authentication failed: invalid API key'),
        errorBody: (status, message) => errorBody(status, message),
      },
    );
  }

  static async start(options: NeonDoubleOptions): Promise<NeonDouble> {
    const double = new NeonDouble(options);
    double.apiUrl = `${await double.server.start()}/api/v2`;
    return double;
  }

  /** The operations the next restores (in place, or from a snapshot) return, one script per operation (default: two that finish; one for a snapshot restore without finalize). */
  scriptNextRestore(...scripts: OperationScript[]): void {
    this.restoreScripts.push(scripts);
  }

  /** Ends every restore still running as Neon would after a cancel, so the branch is free again. */
  abandonRunningRestores(): void {
    for (const restore of this.restores.filter((r) => r.state === 'running')) {
      restore.state = 'abandoned';
      for (const id of restore.operations) {
        const op = this.operations.get(id)!;
        op.script = ['cancelled'];
        op.index = 0;
      }
    }
  }

  /** The operations the next snapshot creations return, one script per operation (default: one that finishes). */
  scriptNextSnapshot(...scripts: OperationScript[]): void {
    this.snapshotScripts.push(scripts);
  }

  /** A snapshot someone else took (the console, a schedule), at the compute branch's head. */
  async addSnapshot(name: string, options: { manual?: boolean } = {}): Promise<string> {
    const branch = this.branch(this.computeBranchId);
    const lsn = await this.options.readComputeLsn();
    const record: SnapshotRecord = { id: newSnapshotId(), name, timelineId: branch.timelineId, lsn, sourceBranchId: branch.id, createdAt: new Date().toISOString(), manual: options.manual ?? true, deleted: false };
    this.snapshots.set(record.id, record);
    return record.id;
  }

  /** The snapshots Neon keeps now. */
  liveSnapshots(): { id: string; name: string; lsn: Lsn; sourceBranchId: string; manual: boolean }[] {
    return [...this.snapshots.values()].filter((x) => this.isLive(x)).map((x) => ({ id: x.id, name: x.name, lsn: x.lsn, sourceBranchId: x.sourceBranchId, manual: x.manual }));
  }

  /** A test wrote `label` through the compute; the write ended at `lsn`. */
  noteWrite(label: string, lsn: Lsn): void {
    this.history.write(this.branch(this.computeBranchId).timelineId, lsn, label);
    this.writeTimes.push({ lsn, at: Date.now() });
  }

  /** The labels a branch holds now (by default the one the compute serves). */
  content(branchId = this.computeBranchId): string[] {
    return this.history.contentAt(this.branch(branchId).timelineId);
  }

  liveBranches(): { id: string; name: string; isDefault: boolean }[] {
    return [...this.branches.values()].filter((b) => !b.deleted).map((b) => ({ id: b.id, name: b.name, isDefault: b.isDefault }));
  }

  private branch(id: string): BranchRecord {
    const branch = this.branches.get(id);
    if (!branch) throw new Error(`no branch ${id}`);
    return branch;
  }

  private newTimeline(parent?: { timelineId: string; lsn: Lsn }): string {
    const id = `timeline-${++this.timelineCounter}`;
    this.history.create(id, parent);
    return id;
  }

  // ── handlers ──────────────────────────────────────────────────────────────

  private checkProject(r: DoubleRequest): DoubleResponse | undefined {
    return r.params.project_id === this.projectId ? undefined : error(404, `project ${r.params.project_id} not found`);
  }

  private liveBranch(id: string | undefined): BranchRecord | undefined {
    const branch = id === undefined ? undefined : this.branches.get(id);
    return branch && !branch.deleted ? branch : undefined;
  }

  private getProject(r: DoubleRequest): DoubleResponse {
    return this.checkProject(r) ?? { status: 200, body: { project: this.projectBody() } };
  }

  private listBranches(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const search = r.query.get('search')?.toLowerCase();
    const branches = [...this.branches.values()]
      .filter((b) => !b.deleted && (!search || b.name.toLowerCase().includes(search) || b.id.includes(search)))
      .map((b) => this.branchBody(b));
    return { status: 200, body: { branches, annotations: {} } };
  }

  private getBranch(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branch = this.liveBranch(r.params.branch_id);
    if (!branch) return error(404, `branch ${r.params.branch_id} not found`);
    return { status: 200, body: { branch: this.branchBody(branch), annotation: { object: { type: 'console/branch', id: branch.id }, value: {} } } };
  }

  private deleteBranch(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branch = this.liveBranch(r.params.branch_id);
    if (!branch) return error(404, `branch ${r.params.branch_id} not found`);
    if (branch.isDefault) return error(400, 'the default branch cannot be deleted');
    if (this.busy(branch.id)) return error(423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
    branch.deleted = true;
    const op = this.newOperation(branch.id, 'delete_timeline', ['running', 'finished']);
    return { status: 200, body: { branch: this.branchBody(branch), operations: [this.operationBody(op)] } };
  }

  private async restore(r: DoubleRequest): Promise<DoubleResponse> {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branch = this.liveBranch(r.params.branch_id);
    if (!branch) return error(404, `branch ${r.params.branch_id} not found`);
    const body = r.body as { source_branch_id: string; source_lsn?: string; source_timestamp?: string; preserve_under_name?: string };
    this.restoreRequests.push({ ...body });
    const source = this.liveBranch(body.source_branch_id);
    if (!source) return error(404, `source branch ${body.source_branch_id} not found`);
    if (body.source_lsn !== undefined && body.source_timestamp !== undefined) return error(400, 'source_lsn and source_timestamp are mutually exclusive');
    if (source.id === branch.id && !body.preserve_under_name) return error(400, 'restoring a branch from its own history requires preserve_under_name');
    if (body.preserve_under_name && [...this.branches.values()].some((b) => !b.deleted && b.name === body.preserve_under_name)) {
      return error(400, `a branch named ${body.preserve_under_name} already exists`);
    }
    if (this.busy(branch.id) || this.busy(source.id)) return error(423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
    const computeLsn = await this.options.readComputeLsn();
    const sourceHead = source.frozenHeadLsn ?? computeLsn;
    let sourceLsn = body.source_lsn ?? sourceHead;
    if (body.source_timestamp !== undefined) {
      const found = this.lsnAtTime(source, body.source_timestamp, sourceHead, 'source_timestamp');
      if (typeof found !== 'string') return found;
      sourceLsn = found;
    }
    if (!isLsn(sourceLsn)) return error(400, `invalid LSN ${sourceLsn}`);
    if (compareLsn(sourceLsn, sourceHead) > 0) return error(400, `LSN ${sourceLsn} is beyond the head of branch ${source.id} (${sourceHead})`);
    const pastWindow = this.pastWindow(sourceLsn, 'source_lsn');
    if (pastWindow) return pastWindow;
    const scripts = this.restoreScripts.shift() ?? [FINISHES, FINISHES];
    const ops = scripts.map((script, i) => this.newOperation(branch.id, i === 0 ? 'create_timeline' : 'start_compute', script));
    const restore: RestoreRecord = {
      branchId: branch.id,
      sourceTimelineId: source.timelineId,
      sourceLsn,
      preserveUnderName: body.preserve_under_name ?? `${branch.name}_old_${Date.now()}`,
      frozenHeadLsn: computeLsn,
      operations: ops.map((op) => op.id),
      state: 'running',
    };
    this.restores.push(restore);
    this.settle(restore);
    return { status: 200, body: { branch: this.branchBody(branch), operations: ops.map((op) => this.operationBody(op)) } };
  }

  private getOperation(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const op = this.operations.get(r.params.operation_id!);
    if (!op) return error(404, `operation ${r.params.operation_id} not found`);
    if (op.index < op.script.length - 1) {
      op.index += 1;
      op.updatedAt = new Date().toISOString();
      const status = op.script[op.index]!;
      if (status === 'failed' || status === 'error') op.failures += 1;
    }
    const restore = this.restores.find((x) => x.operations.includes(op.id));
    if (restore) this.settle(restore);
    const snapshotRestore = this.snapshotRestores.find((x) => x.operations.includes(op.id));
    if (snapshotRestore) this.settleSnapshotRestore(snapshotRestore);
    return { status: 200, body: { operation: this.operationBody(op) } };
  }

  private connectionUri(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branchId = r.query.get('branch_id') ?? this.mainBranchId;
    const branch = this.liveBranch(branchId);
    if (!branch) return error(404, `branch ${branchId} not found`);
    if (branch.id !== this.computeBranchId) return error(404, `branch ${branchId} has no read-write endpoint`);
    if (r.query.get('database_name') !== this.databaseName) return error(404, `database ${r.query.get('database_name')} not found`);
    if (r.query.get('role_name') !== this.roleName) return error(404, `role ${r.query.get('role_name')} not found`);
    return { status: 200, body: { uri: this.options.connectionUri } };
  }

  /**
   * A time in a branch's history, as Neon takes `source_timestamp` and the
   * schema endpoints' `timestamp`: within the retention window and not in the
   * future, found as the pageserver finds it (the LSN just before the first
   * commit at or after that time). Neon keeps all history within the window,
   * so any time in it has an answer.
   */
  private lsnAtTime(branch: BranchRecord, timestamp: string, head: Lsn, param: string): Lsn | DoubleResponse {
    const time = Date.parse(timestamp);
    if (Number.isNaN(time)) return error(400, `invalid ${param} ${timestamp}`);
    if (time > Date.now()) return error(400, `${param} ${timestamp} is in the future`);
    if (Date.now() - time > this.historyRetentionSeconds * 1000) {
      return error(400, `${param} ${timestamp} is older than the project's history retention (${this.historyRetentionSeconds} s)`);
    }
    const parent = this.history.parentOf(branch.timelineId);
    const found = this.history.lsnByTime(branch.timelineId, time, parent?.lsn ?? '0/0', head);
    this.timestampsResolved.push({ branchId: branch.id, timestamp, kind: found.kind, lsn: found.lsn });
    return found.lsn;
  }

  private schemaAt(r: DoubleRequest, branchParam: string, lsnParam: string, timestampParam: string): { tables: string[] } | DoubleResponse {
    const branch = this.liveBranch(branchParam);
    if (!branch) return error(404, `branch ${branchParam} not found`);
    if (r.query.get('db_name') !== this.databaseName) return error(404, `database ${r.query.get('db_name')} not found`);
    let lsn = r.query.get(lsnParam) ?? undefined;
    const timestamp = r.query.get(timestampParam) ?? undefined;
    if (lsn !== undefined && timestamp !== undefined) return error(400, `${lsnParam} and ${timestampParam} are mutually exclusive`);
    if (timestamp !== undefined) {
      const found = this.lsnAtTime(branch, timestamp, branch.frozenHeadLsn ?? 'FFFFFFFF/FFFFFFFF', timestampParam);
      if (typeof found !== 'string') return found;
      lsn = found;
    }
    if (lsn !== undefined && !isLsn(lsn)) return error(400, `invalid LSN ${lsn}`);
    return { tables: [...new Set(this.history.contentAt(branch.timelineId, lsn))].map((label) => `label_${label}`) };
  }

  private schema(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const found = this.schemaAt(r, r.params.branch_id!, 'lsn', 'timestamp');
    if ('status' in found) return found;
    return {
      status: 200,
      body: {
        sql: found.tables.map((t) => `CREATE TABLE public.${t} (id integer);`).join('\n'),
        json: { tables: found.tables.map((name) => ({ schema: 'public', name, columns: [{ name: 'id', type: 'integer' }] })) },
      },
    };
  }

  private compareSchema(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const target = this.schemaAt(r, r.params.branch_id!, 'lsn', 'timestamp');
    if ('status' in target) return target;
    const baseId = r.query.get('base_branch_id') ?? this.branch(r.params.branch_id!).parentId ?? this.computeBranchId;
    const base = this.schemaAt(r, baseId, 'base_lsn', 'base_timestamp');
    if ('status' in base) return base;
    const lines = [
      ...base.tables.filter((t) => !target.tables.includes(t)).map((t) => `-CREATE TABLE public.${t} (id integer);`),
      ...target.tables.filter((t) => !base.tables.includes(t)).map((t) => `+CREATE TABLE public.${t} (id integer);`),
    ];
    return { status: 200, body: { diff: lines.length ? `--- a/${baseId}\n+++ b/${r.params.branch_id}\n${lines.join('\n')}\n` : '' } };
  }

  // ── snapshots ─────────────────────────────────────────────────────────────

  private isLive(snapshot: SnapshotRecord): boolean {
    return !snapshot.deleted && !(snapshot.expiresAt !== undefined && Date.parse(snapshot.expiresAt) <= Date.now());
  }

  private liveSnapshot(id: string | undefined): SnapshotRecord | undefined {
    const snapshot = id === undefined ? undefined : this.snapshots.get(id);
    return snapshot && this.isLive(snapshot) ? snapshot : undefined;
  }

  /**
   * `lsn` or `timestamp` (query parameters, mutually exclusive; neither = the
   * head), within the history window, and within the plan's snapshot limit.
   */
  private async createSnapshot(r: DoubleRequest): Promise<DoubleResponse> {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branch = this.liveBranch(r.params.branch_id);
    if (!branch) return error(404, `branch ${r.params.branch_id} not found`);
    const lsnParam = r.query.get('lsn') ?? undefined;
    const timestamp = r.query.get('timestamp') ?? undefined;
    const expiresAt = r.query.get('expires_at') ?? undefined;
    if (lsnParam !== undefined && timestamp !== undefined) return error(400, 'lsn and timestamp are mutually exclusive');
    if (expiresAt !== undefined && (Number.isNaN(Date.parse(expiresAt)) || Date.parse(expiresAt) <= Date.now())) return error(400, `invalid expires_at ${expiresAt}: must be a future time`);
    if (this.busy(branch.id)) return error(423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
    const limit = snapshotLimit(this.subscriptionType);
    const manual = [...this.snapshots.values()].filter((x) => this.isLive(x) && x.manual).length;
    if (manual >= limit) return error(422, `snapshots limit exceeded: the ${this.subscriptionType} plan allows ${limit} manual snapshot(s) per project`);
    const head = branch.frozenHeadLsn ?? (await this.options.readComputeLsn());
    let lsn = lsnParam ?? head;
    if (timestamp !== undefined) {
      const found = this.lsnAtTime(branch, timestamp, head, 'timestamp');
      if (typeof found !== 'string') return found;
      lsn = found;
    }
    if (!isLsn(lsn)) return error(400, `invalid LSN ${lsn}`);
    if (compareLsn(lsn, head) > 0) return error(400, `LSN ${lsn} is beyond the head of branch ${branch.id} (${head})`);
    const pastWindow = this.pastWindow(lsn, 'lsn');
    if (pastWindow) return pastWindow;
    const snapshot: SnapshotRecord = {
      id: newSnapshotId(),
      name: r.query.get('name') ?? `${branch.name} ${new Date().toISOString()}`,
      timelineId: branch.timelineId,
      lsn,
      ...(timestamp !== undefined ? { timestamp } : {}),
      sourceBranchId: branch.id,
      createdAt: new Date().toISOString(),
      ...(expiresAt !== undefined ? { expiresAt } : {}),
      manual: true,
      deleted: false,
    };
    this.snapshots.set(snapshot.id, snapshot);
    const scripts = this.snapshotScripts.shift() ?? [['running', 'finished']];
    const ops = scripts.map((script) => this.newOperation(branch.id, 'create_timeline', script));
    return { status: 200, body: { snapshot: this.snapshotBody(snapshot), operations: ops.map((op) => this.operationBody(op)) } };
  }

  private listSnapshots(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    return { status: 200, body: { snapshots: [...this.snapshots.values()].filter((x) => this.isLive(x)).map((x) => this.snapshotBody(x)) } };
  }

  private updateSnapshot(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const snapshot = this.liveSnapshot(r.params.snapshot_id);
    if (!snapshot) return error(404, `snapshot ${r.params.snapshot_id} not found`);
    const name = (r.body as { snapshot: { name?: string } }).snapshot.name;
    if (name !== undefined) snapshot.name = name;
    return { status: 200, body: { snapshot: this.snapshotBody(snapshot) } };
  }

  private deleteSnapshot(r: DoubleRequest): DoubleResponse {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const snapshot = this.liveSnapshot(r.params.snapshot_id);
    if (!snapshot) return error(404, `snapshot ${r.params.snapshot_id} not found`);
    snapshot.deleted = true;
    const op = this.newOperation(snapshot.sourceBranchId, 'delete_timeline', ['running', 'finished']);
    return { status: 202, body: { operations: [this.operationBody(op)] } };
  }

  /**
   * A new branch with the snapshot's data. With `finalize_restore`, once its
   * operations finish, the target's computes and name move to it (the
   * connection string stays, the serving branch id changes) and the target is
   * renamed "<name> (old)", keeping its history. Without `target_branch_id`
   * the target is the branch the snapshot was taken of, which after an earlier
   * restore is a backup branch: the pitfall Neon's documentation warns about.
   */
  private async restoreSnapshot(r: DoubleRequest): Promise<DoubleResponse> {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const snapshot = this.liveSnapshot(r.params.snapshot_id);
    if (!snapshot) return error(404, `snapshot ${r.params.snapshot_id} not found`);
    const body = (r.body ?? {}) as { name?: string; target_branch_id?: string; finalize_restore?: boolean };
    let target: BranchRecord | undefined;
    if (body.target_branch_id !== undefined) {
      target = this.liveBranch(body.target_branch_id);
      if (!target) return error(404, `target branch ${body.target_branch_id} not found`);
    } else {
      target = this.liveBranch(snapshot.sourceBranchId);
    }
    const finalize = body.finalize_restore === true;
    if (finalize && !target) return error(400, 'finalize_restore needs a target branch: the snapshot\'s branch is gone; give target_branch_id');
    if (target && this.busy(target.id)) return error(423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
    const name = body.name ?? r.query.get('name') ?? `${snapshot.name} (restored)`;
    const now = new Date().toISOString();
    const restored: BranchRecord = {
      id: newBranchId('restored'),
      name,
      timelineId: this.newTimeline({ timelineId: snapshot.timelineId, lsn: snapshot.lsn }),
      createdAt: now,
      updatedAt: now,
      isDefault: false,
      frozenHeadLsn: snapshot.lsn,
      deleted: false,
    };
    this.branches.set(restored.id, restored);
    const targetHeadLsn = target ? (target.frozenHeadLsn ?? (target.id === this.computeBranchId ? await this.options.readComputeLsn() : snapshot.lsn)) : snapshot.lsn;
    const scripts = this.restoreScripts.shift() ?? (finalize ? [FINISHES, FINISHES] : [FINISHES]);
    const ops = scripts.map((script, i) => this.newOperation(i === 0 ? restored.id : target!.id, i === 0 ? 'create_timeline' : 'start_compute', script));
    const record: SnapshotRestoreRecord = { snapshotId: snapshot.id, newBranchId: restored.id, targetBranchId: target?.id, finalize, targetHeadLsn, operations: ops.map((op) => op.id), state: 'running' };
    this.snapshotRestores.push(record);
    this.settleSnapshotRestore(record);
    return { status: 200, body: { branch: this.branchBody(restored), operations: ops.map((op) => this.operationBody(op)) } };
  }

  /** The second step of a restore made without `finalize_restore`: the target's computes move to this (restored) branch. */
  private async finalizeRestore(r: DoubleRequest): Promise<DoubleResponse> {
    const refused = this.checkProject(r);
    if (refused) return refused;
    const branch = this.liveBranch(r.params.branch_id);
    if (!branch) return error(404, `branch ${r.params.branch_id} not found`);
    const record = this.snapshotRestores.find((x) => x.newBranchId === branch.id && x.state === 'applied');
    if (!record) return error(400, `branch ${branch.id} has no restore waiting to be finalized`);
    if (!record.targetBranchId || !this.liveBranch(record.targetBranchId)) return error(400, `the branch branch ${branch.id} was restored for is gone`);
    if (this.busy(record.targetBranchId)) return error(423, 'project already has running conflicting operations, scheduling of new ones is prohibited');
    const name = (r.body as { name?: string } | undefined)?.name;
    if (name !== undefined) record.oldName = name;
    const target = this.branch(record.targetBranchId);
    record.targetHeadLsn = target.frozenHeadLsn ?? (target.id === this.computeBranchId ? await this.options.readComputeLsn() : record.targetHeadLsn);
    record.finalize = true;
    const op = this.newOperation(record.targetBranchId, 'start_compute', FINISHES);
    record.operations.push(op.id);
    record.state = 'running';
    this.settleSnapshotRestore(record);
    return { status: 200, body: { operations: [this.operationBody(op)] } };
  }

  private settleSnapshotRestore(record: SnapshotRestoreRecord): void {
    if (record.state !== 'running') return;
    const ops = record.operations.map((id) => this.operations.get(id)!);
    if (ops.some((op) => this.status(op) === 'cancelled')) {
      record.state = 'abandoned';
      return;
    }
    if (!ops.every((op) => TERMINAL_OK.has(this.status(op)))) return;
    if (!record.finalize) {
      record.state = 'applied';
      return;
    }
    const restored = this.branch(record.newBranchId);
    const target = this.branch(record.targetBranchId!);
    const now = new Date().toISOString();
    const targetName = target.name;
    target.name = record.oldName ?? `${targetName} (old)`;
    restored.name = targetName;
    restored.isDefault = target.isDefault;
    target.isDefault = false;
    if (this.computeBranchId === target.id) {
      this.computeBranchId = restored.id;
      delete restored.frozenHeadLsn;
      target.frozenHeadLsn = record.targetHeadLsn;
    }
    restored.updatedAt = now;
    target.updatedAt = now;
    record.state = 'finalized';
  }

  private snapshotBody(x: SnapshotRecord): Record<string, unknown> {
    return {
      id: x.id,
      name: x.name,
      lsn: x.lsn,
      ...(x.timestamp !== undefined ? { timestamp: x.timestamp } : {}),
      source_branch_id: x.sourceBranchId,
      created_at: x.createdAt,
      ...(x.expiresAt !== undefined ? { expires_at: x.expiresAt } : {}),
      manual: x.manual,
    };
  }

  // ── model ─────────────────────────────────────────────────────────────────

  /**
   * Neon keeps history for `historyRetentionSeconds`: below the newest write
   * older than that (the GC cutoff), an LSN can no longer be read. Snapshots
   * are exempt: they hold their data themselves.
   */
  private pastWindow(lsn: Lsn, param: string): DoubleResponse | undefined {
    const horizon = Date.now() - this.historyRetentionSeconds * 1000;
    const old = this.writeTimes.filter((w) => w.at < horizon);
    const cutoff = old[old.length - 1]?.lsn;
    if (cutoff === undefined || compareLsn(lsn, cutoff) >= 0) return undefined;
    return error(400, `${param} ${lsn} is older than the project's history retention (${this.historyRetentionSeconds} s); the oldest LSN kept is ${cutoff}`);
  }

  private busy(branchId: string): boolean {
    return (
      this.restores.some((r) => r.state === 'running' && r.branchId === branchId) ||
      this.snapshotRestores.some((r) => r.state === 'running' && (r.targetBranchId === branchId || r.newBranchId === branchId))
    );
  }

  private status(op: OperationRecord): OperationStatus {
    return op.script[op.index]!;
  }

  /** A restore takes effect when its last operation finishes, as Neon's does. */
  private settle(restore: RestoreRecord): void {
    if (restore.state !== 'running') return;
    const ops = restore.operations.map((id) => this.operations.get(id)!);
    if (ops.some((op) => this.status(op) === 'cancelled')) {
      restore.state = 'abandoned';
      return;
    }
    if (!ops.every((op) => TERMINAL_OK.has(this.status(op)))) return;
    const branch = this.branch(restore.branchId);
    const now = new Date().toISOString();
    const preserved: BranchRecord = {
      id: newBranchId('preserved'),
      name: restore.preserveUnderName,
      timelineId: branch.timelineId,
      createdAt: now,
      updatedAt: now,
      isDefault: false,
      frozenHeadLsn: restore.frozenHeadLsn,
      deleted: false,
    };
    if (branch.parentId) preserved.parentId = branch.parentId;
    this.branches.set(preserved.id, preserved);
    branch.timelineId = this.newTimeline({ timelineId: restore.sourceTimelineId, lsn: restore.sourceLsn });
    branch.updatedAt = now;
    restore.state = 'applied';
  }

  private newOperation(branchId: string, action: string, script: OperationScript): OperationRecord {
    const now = new Date().toISOString();
    const op: OperationRecord = { id: randomUUID(), branchId, action, script, index: 0, failures: 0, createdAt: now, updatedAt: now };
    this.operations.set(op.id, op);
    return op;
  }

  private operationBody(op: OperationRecord): Record<string, unknown> {
    const status = this.status(op);
    return {
      id: op.id,
      project_id: this.projectId,
      branch_id: op.branchId,
      action: op.action,
      status,
      ...(status === 'failed' || status === 'error' ? { error: 'timeline creation failed: pageserver unavailable' } : {}),
      failures_count: op.failures,
      created_at: op.createdAt,
      updated_at: op.updatedAt,
      total_duration_ms: 10 * op.index,
    };
  }

  private branchBody(b: BranchRecord): Record<string, unknown> {
    return {
      id: b.id,
      project_id: this.projectId,
      ...(b.parentId ? { parent_id: b.parentId } : {}),
      name: b.name,
      current_state: this.busy(b.id) ? 'init' : 'ready',
      state_changed_at: b.updatedAt,
      creation_source: 'console',
      created_at: b.createdAt,
      updated_at: b.updatedAt,
      default: b.isDefault,
      protected: false,
      cpu_used_sec: 0,
      active_time_seconds: 0,
      compute_time_seconds: 0,
      written_data_bytes: 0,
      data_transfer_bytes: 0,
    };
  }

  private projectBody(): Record<string, unknown> {
    return {
      id: this.projectId,
      platform_id: 'aws',
      region_id: 'aws-eu-central-1',
      name: 'lockstep-test',
      provisioner: 'k8s-neonvm',
      pg_version: 17,
      proxy_host: 'eu-central-1.aws.neon.tech',
      branch_logical_size_limit: 0,
      branch_logical_size_limit_bytes: 0,
      store_passwords: true,
      cpu_used_sec: 0,
      creation_source: 'console',
      history_retention_seconds: this.historyRetentionSeconds,
      created_at: this.createdAt,
      updated_at: this.createdAt,
      owner_id: 'owner-1',
      owner: { email: 'owner@example.com', name: 'Test Owner', branches_limit: 10, subscription_type: this.subscriptionType },
      consumption_period_start: this.createdAt,
      consumption_period_end: this.createdAt,
      active_time_seconds: 0,
      compute_time_seconds: 0,
      written_data_bytes: 0,
      data_transfer_bytes: 0,
      data_storage_bytes_hour: 0,
    };
  }
}

function newSnapshotId(): string {
  return `snap-${randomBytes(6).toString('hex')}`;
}

function newBranchId(word: string): string {
  return `br-${word}-${randomBytes(4).toString('hex')}`;
}

function errorBody(status: number, message: string): Record<string, unknown> {
  return { code: status === 423 ? 'LOCKED' : '', message, request_id: randomUUID() };
}

function error(status: number, message: string): DoubleResponse {
  return { status, body: errorBody(status, message) };
}

/** Error answers as Neon sends them, for fault injection. */
export function neonError(status: number, message: string): unknown {
  return errorBody(status, message);
}
