// The local engine: markers from Postgres' own WAL position, forks by point-in-time recovery onto a new timeline, on the same port.
// This class is the `Engine` face and the server's lifecycle; each walk lives in its own file:
// restorability.ts (verdicts), recovery.ts (fork), cutOver.ts (repoint), preview.ts (openPast, describe), keptCopy.ts (the copy a preview keeps),
// upkeep.ts (maintain), pruning.ts (prune), pins.ts (pin, unpin).

import { appDataChangedSince } from './dataChanges';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import type { LocalEngineConfig } from '../../core/config';
import type { HookFastPath } from '../../core/hookConf';
import type {
  Engine,
  EngineContext,
  EngineStatus,
  OperationOptions,
  PastDatabase,
  PinHold,
  PinRequest,
  PointInHistory,
  Position,
  PruneOptions,
  PruneReport,
  RepointOptions,
  Restorability,
  Retention,
  SchemaSummary,
  TimelineHandle,
} from '../../core/engine';
import { throwIfAborted } from '../../base/errors';
import { scopedLog, type Log } from '../../base/log';
import { formatLsn } from '../../base/lsn';
import type { ArchiverStatus } from './archive';
import type { BackupMeta } from './baseBackup';
import { findPostgresBinaries, type PostgresBinaries } from './binaries';
import { ADMIN_ROLE, LocalCluster } from './cluster';
import { readControlFile } from './controlFile';
import { withBackupLock, withClusterLock, type LocalContext } from './context';
import * as cutOver from './cutOver';
import { DEFAULT_PAST_COPY_POLICY, dropPastCopy, pastCopyStatus, settlePastCopy, type PastCopyPolicy } from './keptCopy';
import { LocalLayout, type LocalState } from './layout';
import { resolvePostgresAccount, type PostgresAccount } from './osUser';
import * as pins from './pins';
import * as preview from './preview';
import * as pruning from './pruning';
import * as recovery from './recovery';
import * as restorability from './restorability';
import { archiveServing, archiveWarnings, engineDown, readHeadAndArchiver, verifyServing } from './server';
import { trustedSocketDir } from './socketDir';
import * as upkeep from './upkeep';

export function localRoot(config: LocalEngineConfig, lockstepDir: string): string {
  return config.dataRoot ?? path.join(lockstepDir, 'local');
}

/** What a client outside Lockstep (the post-commit hook's `psql`) needs to reach the serving server as Lockstep does. */
export interface LocalAdminAccess {
  /** psql's `host=`: the server's private socket directory; undefined when there is none a client can trust (then use Lockstep itself). */
  socketDir: string | undefined;
  port: number;
  /** Lockstep's own role: `lockstep_admin`, or in a project made before that role existed, the `lockstep` role. */
  user: string;
  database: string;
  /** A libpq password file (mode 0600, `*:*:*:<user>:<password>`) for PGPASSFILE. */
  passfile: string;
}

/**
 * For an sh script: `PGPASSFILE=<passfile> psql "host=<socketDir> port=<port>
 * user=<user> dbname=<database>" -Atc 'select …'`. Reads two small files and
 * (re)writes the password file when it is missing or stale; needs no account,
 * no binaries and no connection. The socket directory is private (0700, the
 * Postgres account's), so what answers there is the cluster: libpq before 16
 * cannot refuse a cleartext request (`require_auth`) the way Lockstep does.
 * A server started by an older Lockstep may have no socket yet: psql then
 * fails to connect, and the script should fall back to `lockstep record`.
 */
export function localAdminAccess(config: LocalEngineConfig, lockstepDir: string): LocalAdminAccess {
  const layout = new LocalLayout(localRoot(config, lockstepDir));
  const adminPassword = layout.readAdminPassword();
  const user = adminPassword === undefined ? config.user : ADMIN_ROLE;
  const password = adminPassword ?? layout.readPassword();
  const escape = (text: string) => text.replace(/[\\:]/g, (c) => `\\${c}`);
  const line = `*:*:*:${escape(user)}:${escape(password)}\n`;
  let current: string | undefined;
  try {
    current = fs.readFileSync(layout.adminPassfile, 'utf8');
  } catch {
    // not written yet
  }
  if (current !== line) {
    const staging = `${layout.adminPassfile}.${process.pid}.tmp`;
    fs.writeFileSync(staging, line, { mode: 0o600 });
    fs.renameSync(staging, layout.adminPassfile);
  }
  return { socketDir: trustedSocketDir(layout, config.port), port: config.port, user, database: 'postgres', passfile: layout.adminPassfile };
}

/** A psql beside the server binaries in use, else the newest of the system's (any version reads a position). */
function findPsql(bin: string | undefined): string | undefined {
  const candidates = bin ? [path.join(bin, 'psql')] : [];
  for (const root of ['/usr/lib/postgresql']) {
    let versions: string[] = [];
    try {
      versions = fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    } catch {
      // none installed there
    }
    for (const v of versions) candidates.push(path.join(root, v, 'bin', 'psql'));
  }
  candidates.push('/usr/local/bin/psql', '/opt/homebrew/bin/psql', '/usr/bin/psql');
  return candidates.find((file) => {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export class LocalEngine implements Engine, LocalContext {
  readonly kind = 'local' as const;
  readonly reportsCutOverEnd = true;
  readonly layout: LocalLayout;
  readonly cluster: LocalCluster;
  readonly log: Log;
  private account?: PostgresAccount;
  private binaries?: PostgresBinaries;
  private headClient?: Client;
  /** Positions after which the app is known to have written (Engine.dataChangedSince): it stays so. */
  private readonly changedSince = new Set<string>();
  private lastArchiver?: ArchiverStatus;
  /** How long (and at what disk margin) a preview's copy is kept: ten minutes, 1 GB and 5 % free; tests shorten it. */
  pastCopyPolicy: PastCopyPolicy = DEFAULT_PAST_COPY_POLICY;

  private readonly lockstepDir: string;

  constructor(
    readonly config: LocalEngineConfig,
    ctx: EngineContext,
  ) {
    this.lockstepDir = ctx.lockstepDir;
    this.log = scopedLog(ctx.log, 'local');
    this.layout = new LocalLayout(localRoot(config, ctx.lockstepDir));
    this.cluster = new LocalCluster({
      layout: this.layout,
      account: () => this.postgresAccount(),
      port: config.port,
      user: config.user,
      database: config.database,
      log: this.log,
      binaries: () => this.postgresBinaries(),
    });
  }

  /** Resolved on first use: reading a marker needs neither the account nor the binaries. */
  postgresAccount(): PostgresAccount {
    this.account ??= resolvePostgresAccount(this.config.osUser);
    return this.account;
  }

  postgresBinaries(): PostgresBinaries {
    if (!this.binaries) {
      const state = this.layout.readState();
      this.binaries = findPostgresBinaries({ configured: this.config.pgBin ?? state.bin });
    }
    return this.binaries;
  }

  // ---- markers ------------------------------------------------------------

  async head(options: OperationOptions = {}): Promise<Position> {
    throwIfAborted(options.signal, 'reading the head');
    const client = await this.headConnection();
    try {
      const { head, archiver } = await readHeadAndArchiver(client);
      this.lastArchiver = archiver;
      return head;
    } catch (error) {
      this.headClient = undefined;
      await client.end().catch(() => undefined);
      throw engineDown(this.config.port, error);
    }
  }

  async dataChangedSince(since: Position, head: Position): Promise<boolean | undefined> {
    // Once changed, changed for good: the tree asks on every refresh, and a busy app would have it read the WAL each time.
    const key = `${since.timelineId}@${since.lsn}`;
    if (this.changedSince.has(key)) return true;
    const client = await this.headConnection().catch(() => undefined);
    if (!client) return undefined;
    const changed = await appDataChangedSince(client, this.config.database, since, head);
    if (changed === true) this.changedSince.add(key);
    return changed;
  }

  private async headConnection(): Promise<Client> {
    if (this.headClient) return this.headClient;
    try {
      this.headClient = await this.cluster.connect({ database: 'postgres', timeoutMs: 1500 });
    } catch (error) {
      throw engineDown(this.config.port, error);
    }
    return this.headClient;
  }

  /** A cleanly stopped cluster ends at its shutdown checkpoint: every acknowledged commit lies before it. */
  positionWhileStopped(): Position | undefined {
    try {
      const state = this.layout.readState();
      if (this.cluster.runningPid(state.serving) !== undefined) return undefined;
      const control = readControlFile(this.layout.dataDir(state.serving));
      if (control.state !== 'shut down' || control.timeline !== state.servingTimeline) return undefined;
      return { timelineId: String(control.timeline), lsn: formatLsn(control.checkpointLsn) };
    } catch {
      return undefined;
    }
  }

  /** psql over the private socket, when a psql is at hand (the system's binaries have one; the npm package's do not). */
  hookFastPath(): HookFastPath | undefined {
    try {
      // Without a psql (the npm binaries) the hook runs the CLI; the guard reads over the socket in-process either way.
      const psql = findPsql(this.config.pgBin ?? this.layout.readState().bin);
      const access = localAdminAccess(this.config, this.lockstepDir);
      if (access.socketDir === undefined) return undefined;
      return { ...(psql ? { psql } : {}), host: access.socketDir, port: access.port, user: access.user, dbname: access.database, passfile: access.passfile };
    } catch {
      return undefined;
    }
  }

  servingTimelineId(): string | undefined {
    try {
      return String(this.layout.readState().servingTimeline);
    } catch {
      return undefined;
    }
  }

  /** What the last head() noticed that a person should know (WAL archiving failing). */
  warnings(): string[] {
    return archiveWarnings(this.lastArchiver, this.layout.archive);
  }

  archiverSeen(): ArchiverStatus | undefined {
    return this.lastArchiver;
  }

  async close(): Promise<void> {
    const client = this.headClient;
    this.headClient = undefined;
    await client?.end().catch(() => undefined);
  }

  // ---- lifecycle ----------------------------------------------------------

  isRunning(): boolean {
    return this.cluster.runningPid(this.layout.readState().serving) !== undefined;
  }

  /** Start the serving data directory (no-op when it runs) and check it is ours, on the timeline we expect. */
  async start(options: OperationOptions = {}): Promise<Position> {
    return withClusterLock(this.layout, async () => {
      await settlePastCopy(this);
      const state = this.layout.readState();
      options.onProgress?.('Starting Postgres');
      await this.cluster.start(state.serving, { signal: options.signal });
      return verifyServing(this, state.serving, state, state.servingTimeline, Date.now() + 60_000, options.signal);
    });
  }

  /** Archive everything written so far, then stop: a clean stop never archives the last partial segment. */
  async stop(options: OperationOptions = {}): Promise<void> {
    await withClusterLock(this.layout, async () => {
      // A background upkeep (base backup, prepared copy) finishes first.
      await withBackupLock(this.layout, 600_000, async () => {
        // A preview's kept copy goes with the database: nothing of this project runs once `db stop` returns.
        if (this.layout.readState().pastCopy) {
          options.onProgress?.('Dropping the preview copy');
          await dropPastCopy(this);
        }
        const state = this.layout.readState();
        if (this.cluster.runningPid(state.serving) === undefined) return;
        options.onProgress?.('Archiving WAL');
        await archiveServing(this, options.signal);
        options.onProgress?.('Stopping Postgres');
        await this.close();
        await this.cluster.stop(state.serving, 'fast');
      });
    });
  }

  async connectionUrl(): Promise<string> {
    const password = encodeURIComponent(this.layout.readPassword());
    return `postgresql://${encodeURIComponent(this.config.user)}:${password}@127.0.0.1:${this.config.port}/${encodeURIComponent(this.config.database)}`;
  }

  async status(): Promise<EngineStatus> {
    let state: LocalState;
    try {
      state = this.layout.readState();
    } catch {
      return { engine: 'local', state: 'not-initialised', summary: 'local database not set up' };
    }
    const address = `postgresql://${this.config.user}@127.0.0.1:${this.config.port}/${this.config.database}`;
    if (this.cluster.runningPid(state.serving) === undefined) {
      return { engine: 'local', state: 'stopped', summary: `stopped (port ${this.config.port})`, address };
    }
    const kept = pastCopyStatus(this);
    try {
      const client = await this.headConnection();
      const { head, archiver } = await readHeadAndArchiver(client);
      this.lastArchiver = archiver;
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      const serverVersion = rows[0]?.v;
      const warnings = archiveWarnings(archiver, this.layout.archive);
      return {
        engine: 'local',
        state: 'running',
        summary: `running on 127.0.0.1:${this.config.port}, timeline ${head.timelineId}, Postgres ${serverVersion}`,
        head,
        address,
        serverVersion,
        ...(warnings.length > 0 ? { warnings } : {}),
        ...(kept ? { kept: [kept] } : {}),
      };
    } catch (error) {
      await this.close();
      return { engine: 'local', state: 'unreachable', summary: `running but not answering: ${(error as Error).message}`, address };
    }
  }

  // ---- restorability, forks and the cut-over --------------------------------

  restorability(at: PointInHistory, options: OperationOptions = {}): Promise<Restorability> {
    return restorability.restorability(this, at, options);
  }

  async restorableMany(points: readonly PointInHistory[]): Promise<Restorability[]> {
    return restorability.restorableMany(this, points);
  }

  fork(at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
    return recovery.fork(this, at, options);
  }

  async serving(): Promise<TimelineHandle> {
    const state = this.layout.readState();
    return { engine: 'local', role: 'serving', timelineId: String(state.servingTimeline), ref: { dataDir: state.serving } };
  }

  discard(handle: TimelineHandle): Promise<void> {
    return recovery.discard(this, handle);
  }

  abandonForks(): Promise<string[]> {
    return recovery.abandonForks(this);
  }

  repoint(target: TimelineHandle, options: RepointOptions = {}): Promise<Position> {
    return cutOver.repoint(this, target, options);
  }

  // ---- previews, retention, pruning, upkeep ---------------------------------

  describe(at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
    return preview.describe(this, at, options);
  }

  openPast(at: PointInHistory, options: OperationOptions = {}): Promise<PastDatabase> {
    return preview.openPast(this, at, options);
  }

  connectNow(): Promise<Client> {
    return preview.connectNow(this);
  }

  retention(): Promise<Retention> {
    return pruning.retention(this);
  }

  prune(keep: readonly PointInHistory[], options: PruneOptions = {}): Promise<PruneReport> {
    return pruning.prune(this, keep, options);
  }

  /** Keeps the point's base backup and WAL from pruning; the hold says what that costs on disk. */
  pin(at: PointInHistory, request: PinRequest, options: OperationOptions = {}): Promise<PinHold> {
    return pins.pin(this, at, request, options);
  }

  unpin(hold: PinHold): Promise<void> {
    return pins.unpin(this, hold);
  }

  maintenanceDue(head: Position): boolean {
    return upkeep.maintenanceDue(this, head);
  }

  takeBaseBackup(options: OperationOptions & { waitMs?: number } = {}): Promise<BackupMeta> {
    return upkeep.takeBaseBackup(this, options);
  }

  maintain(options: OperationOptions & { force?: boolean } = {}): Promise<string | undefined> {
    return upkeep.maintain(this, options);
  }
}
