// The local engine: markers from Postgres' own WAL position, forks by point-in-time recovery onto a new timeline, on the same port.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from 'pg';
import type { LocalEngineConfig } from '../../core/config';
import type {
  Engine,
  EngineContext,
  EngineStatus,
  OperationOptions,
  PointInHistory,
  Position,
  PruneOptions,
  RepointOptions,
  PruneReport,
  Restorability,
  Retention,
  SchemaSummary,
  TimelineHandle,
} from '../../core/engine';
import { LockstepError, throwIfAborted } from '../../core/errors';
import { directorySize, removeTree, REMOVING_PREFIX } from '../../core/files';
import { withLock } from '../../core/locks';
import { scopedLog, type Log } from '../../core/log';
import { formatLsn, isLsn, parseLsn, timelineOfWalFile, walFileName } from '../../core/lsn';
import { faultPoint } from '../../core/faults';
import { describeDatabase } from '../postgresSchema';
import { archivedTimelines, archiverErrorIn, archiveTail, archiverFailing, copyIntoArchive, describeArchiverFailure, confQuote, historyFileName, historyReader, removeArchivedFiles, restoreCommand, waitForArchived, type ArchiverStatus, type HistoryReader } from './archive';
import { chooseBackup, listBackups, takeBaseBackup, type BackupMeta } from './baseBackup';
import { findPostgresBinaries, type PostgresBinaries } from './binaries';
import { firstFatal, LocalCluster, RECOVERY_CONF } from './cluster';
import { readControlFile } from './controlFile';
import { copyTree } from './copyTree';
import { LocalLayout, type LocalState } from './layout';
import { chownTree, resolvePostgresAccount, type PostgresAccount } from './osUser';

const DEFAULT_ARCHIVE_TIMEOUT_MS = 60_000;
/** How long the cut-over keeps trying to start a server whose port another program holds. */
const PORT_RETRY_MS = 3_000;
/** Replay runs at 60–175 MB/s here; allow far slower disks before calling a recovery stuck. */
const MIN_REPLAY_BYTES_PER_SECOND = 5 * 1024 * 1024;

export function localRoot(config: LocalEngineConfig, lockstepDir: string): string {
  return config.dataRoot ?? path.join(lockstepDir, 'local');
}

export class LocalEngine implements Engine {
  readonly kind = 'local' as const;
  readonly reportsCutOverEnd = true;
  readonly layout: LocalLayout;
  readonly cluster: LocalCluster;
  private readonly log: Log;
  private account?: PostgresAccount;
  private binaries?: PostgresBinaries;
  private headClient?: Client;
  private lastWarnings: string[] = [];

  constructor(
    readonly config: LocalEngineConfig,
    ctx: EngineContext,
  ) {
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
      this.lastWarnings = archiveWarnings(archiver, this.layout.archive);
      return head;
    } catch (error) {
      this.headClient = undefined;
      await client.end().catch(() => undefined);
      throw engineDown(this.config.port, error);
    }
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

  /** What the last head() noticed that a person should know (WAL archiving failing). */
  warnings(): string[] {
    return this.lastWarnings;
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
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const state = this.layout.readState();
      options.onProgress?.('Starting Postgres');
      await this.cluster.start(state.serving, { signal: options.signal });
      return this.verifyServing(state.serving, state, state.servingTimeline, Date.now() + 60_000, options.signal);
    });
  }

  /** Archive everything written so far, then stop: a clean stop never archives the last partial segment. */
  async stop(options: OperationOptions = {}): Promise<void> {
    await withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      // A background upkeep (base backup, prepared copy) finishes first.
      await withLock(this.layout.backupLock, { waitMs: 600_000, what: 'the base backups' }, async () => {
        const state = this.layout.readState();
        if (this.cluster.runningPid(state.serving) === undefined) return;
        options.onProgress?.('Archiving WAL');
        await this.archiveServing(options.signal);
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
    try {
      const client = await this.headConnection();
      const { head, archiver } = await readHeadAndArchiver(client);
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
      };
    } catch (error) {
      await this.close();
      return { engine: 'local', state: 'unreachable', summary: `running but not answering: ${(error as Error).message}`, address };
    }
  }

  // ---- forks --------------------------------------------------------------

  async restorability(at: PointInHistory, options: OperationOptions = {}): Promise<Restorability> {
    try {
      await this.checkTarget(at, options);
      return { restorable: true };
    } catch (error) {
      if (error instanceof LockstepError) {
        const reason = error.code === 'EXPIRED' ? 'expired' : error.code === 'LSN_BEYOND_HEAD' ? 'beyond-head' : error.code === 'TIMELINE_UNKNOWN' || error.code === 'BAD_LSN' ? 'unknown-timeline' : undefined;
        if (reason) return { restorable: false, reason, message: error.message };
      }
      throw error;
    }
  }

  /** Validates a target and returns the backup to start from. Throws the typed reason it is not restorable. */
  private async checkTarget(at: PointInHistory, options: OperationOptions = {}): Promise<{ timeline: number; lsn: bigint; backup: BackupMeta }> {
    const view = this.historyView();
    const serving = view.state.servingTimeline;
    const head = Number(at.timelineId) === serving && this.cluster.runningPid(view.state.serving) !== undefined ? await this.head(options) : undefined;
    return assessTarget(view, at, head);
  }

  async restorableMany(points: readonly PointInHistory[]): Promise<boolean[]> {
    const view = this.historyView();
    return points.map((p) => {
      try {
        assessTarget(view, p, undefined);
        return true;
      } catch {
        return false;
      }
    });
  }

  /** What restorability depends on, read once. */
  private historyView(): HistoryView {
    const state = this.layout.readState();
    const known = new Set(archivedTimelines(this.layout.archive));
    known.add(state.servingTimeline);
    return { state, known, backups: listBackups(this.layout.backups), history: historyReader(this.layout.archive) };
  }

  /**
   * A fork is recovered and promoted where no client can reach it — a private
   * socket directory, no TCP listener — while the old server keeps serving,
   * then stopped cleanly. What is left for `repoint` is the cut-over alone.
   */
  async fork(at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const { timeline, lsn, backup } = await this.checkTarget(at, options);
      const state = this.layout.readState();
      if (timeline === state.servingTimeline && this.cluster.runningPid(state.serving) !== undefined) {
        // The copy replays from the archive: the WAL up to the target (and a record after it) must be there first.
        options.onProgress?.('Archiving WAL');
        await this.archiveServing(options.signal);
      }
      const name = this.allocateDataDir();
      const socketDir = this.privateSocketDir();
      try {
        const ready = fs.existsSync(this.layout.preparedDir(backup.id));
        options.onProgress?.(ready ? `Taking the prepared copy of base backup ${backup.id}` : `Copying base backup ${backup.id}`);
        const prepared = await this.materialise(backup, name, { socketDir, timeline, lsn, action: 'promote' }, { usePrepared: true });
        options.onProgress?.(`Replaying WAL to ${formatLsn(lsn)} out of the app's reach`);
        const head = await this.promotePrivately(state, name, backup, lsn, options);
        return {
          engine: 'local',
          role: 'fork',
          timelineId: head.timelineId,
          at: { timelineId: String(timeline), lsn: formatLsn(lsn) },
          ref: { dataDir: name, backupId: backup.id, prepared, promoted: true },
        };
      } catch (error) {
        await this.cluster.stop(name, 'immediate').catch(() => undefined);
        removeTree(this.layout.dataDir(name));
        this.settleFork(name);
        throw error;
      } finally {
        fs.rmSync(socketDir, { recursive: true, force: true });
      }
    });
  }

  async serving(): Promise<TimelineHandle> {
    const state = this.layout.readState();
    return { engine: 'local', role: 'serving', timelineId: String(state.servingTimeline), ref: { dataDir: state.serving } };
  }

  async discard(handle: TimelineHandle): Promise<void> {
    if (handle.role !== 'fork') return;
    const name = String(handle.ref.dataDir);
    await withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      if (this.layout.readState().serving === name) return; // it serves now: not ours to drop
      await this.dropFork(name);
    });
  }

  async abandonForks(): Promise<string[]> {
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const state = this.layout.readState();
      const removed: string[] = [];
      for (const name of Object.keys(state.pendingForks ?? {})) {
        if (name === state.serving) continue;
        await this.dropFork(name);
        removed.push(name);
      }
      return removed;
    });
  }

  /** Stop a fork's server (on its private socket or the port), remove its socket directory and data, forget it (the caller holds the cluster lock). */
  private async dropFork(name: string): Promise<void> {
    const endpoint = this.cluster.endpointOf(name);
    await this.cluster.stop(name, 'immediate');
    if (endpoint.private) fs.rmSync(endpoint.host, { recursive: true, force: true });
    removeTree(this.layout.dataDir(name));
    this.settleFork(name);
  }

  /**
   * The cut-over: the only moment clients see. Stop the old server (fast:
   * every acknowledged commit is flushed and lies before its shutdown
   * checkpoint), seal its timeline (that checkpoint is its end, and the WAL up
   * to it goes to the archive: the exact undo point), then start the target on
   * the app's port. On failure the old server serves again, or the error says
   * it does not and how to start it.
   */
  async repoint(target: TimelineHandle, options: RepointOptions = {}): Promise<Position> {
    const name = String(target.ref.dataDir ?? '');
    if (!name || !fs.existsSync(this.layout.dataDir(name))) {
      throw new LockstepError('BAD_INPUT', `no data directory "${name}" to serve`);
    }
    if (target.role === 'fork' && target.ref.promoted !== true) {
      throw new LockstepError('BAD_INPUT', `the fork in ${name} was not recovered by this version of Lockstep; restore again`);
    }
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const state = this.layout.readState();
      const previous = state.serving;
      if (previous === name && this.cluster.runningPid(name) !== undefined) {
        return this.head(options);
      }

      if (this.cluster.runningPid(previous) !== undefined && previous !== name) {
        // While it still serves: fail before the cut if the archive is stuck, and
        // checkpoint now so that the shutdown checkpoint (in the gap) has little to write.
        options.onProgress?.('Checking the WAL archive');
        await this.readyForCutOver(options.signal);
        options.onProgress?.('Cutting over: stopping the current database');
        await this.close();
        await this.cluster.stop(previous, 'fast');
        faultPoint('after-old-stop');
      }
      // A server a killed restore left on the app's port (a fork it had started) gives way too.
      for (const stray of this.appPortHolders(state)) if (stray !== name) await this.cluster.stop(stray, 'fast');

      let end: Position | undefined;
      try {
        options.onProgress?.(target.role === 'fork' ? 'Cutting over: starting the restored database' : 'Starting the previous database');
        if (target.role === 'serving') this.unsealTimeline(name, state);
        const head = await this.startOnAppPort(state, name, Number(target.timelineId), options);
        faultPoint('after-new-start');
        // The app's gap is over; the old timeline, stopped for good, is sealed now (an
        // interruption here is finished by the next command, which seals it then).
        if (previous !== name) end = this.sealTimeline(previous, state);
        if (end) await options.onCutOver?.(end);
        this.layout.updateState((s) => {
          if (previous !== name) {
            const oldTimeline = String(s.servingTimeline);
            s.timelines[oldTimeline] = { ...s.timelines[oldTimeline], ...(end ? { endLsn: end.lsn } : {}), abandonedAt: new Date().toISOString() };
          }
          s.serving = name;
          s.servingTimeline = Number(head.timelineId);
          s.timelines[head.timelineId] = { dataDir: name };
          if (s.pendingForks) delete s.pendingForks[name];
        });
        return head;
      } catch (error) {
        if (previous === name) throw error;
        await this.cluster.stop(name, target.role === 'fork' ? 'fast' : 'immediate').catch(() => undefined);
        try {
          // The old timeline goes on: the tail we archived for it would clash with the segment it completes later.
          this.unsealTimeline(previous, state);
          await this.startOnAppPort(state, previous, state.servingTimeline, {});
          this.log.warn(`repoint to ${name} failed; ${previous} serves again`);
        } catch (compensation) {
          throw new LockstepError(
            'ENGINE_DOWN',
            `${(error as Error).message}; and the previous database (${previous}, timeline ${state.servingTimeline}) could not be started again: ${(compensation as Error).message}`,
            { hint: `It is stopped, intact and ready: \`lockstep db start\` starts it. Server logs: ${this.layout.logs}`, cause: error },
          );
        }
        throw error;
      }
    });
  }

  /** Our data directories whose server listens on the app's port (normally the serving one alone). */
  private appPortHolders(state: LocalState): string[] {
    const names = new Set([state.serving, ...Object.keys(state.pendingForks ?? {}), ...Object.values(state.timelines).flatMap((t) => (t.dataDir ? [t.dataDir] : []))]);
    return [...names].filter((n) => fs.existsSync(this.layout.dataDir(n)) && this.cluster.runningPid(n) !== undefined && !this.cluster.endpointOf(n).private);
  }

  /** A fresh directory only Postgres' account can enter, for a server no client may reach. */
  private privateSocketDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-'));
    fs.chmodSync(dir, 0o700);
    chownTree(dir, this.postgresAccount());
    return dir;
  }

  /** Start a materialised fork on its private socket, wait for its promotion, publish its history, stop it cleanly. */
  private async promotePrivately(state: LocalState, name: string, backup: BackupMeta, lsn: bigint, options: OperationOptions): Promise<Position> {
    const deadline = replayDeadline(backup, lsn);
    let head: Position;
    try {
      await this.cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
      faultPoint('replay');
      head = await this.verifyServing(name, state, undefined, deadline, options.signal);
    } catch (error) {
      // The server exits when recovery fails (target not reached, WAL missing, disk full): say so, with Postgres' own reason.
      if (error instanceof LockstepError && (error.code === 'ENGINE_DOWN' || error.code === 'RECOVERY_FAILED')) {
        const reason = firstFatal(this.cluster.logTail(name, 40)) ?? error.message;
        throw new LockstepError('RECOVERY_FAILED', `recovery to ${formatLsn(lsn)} failed: ${reason}`, {
          hint: `Server log: ${this.layout.serverLog(name)}. Nothing was changed: the database serves as before.`,
          cause: error,
        });
      }
      throw error;
    }
    // A later restore picks its timeline id from the archived history files: two
    // forks would get the same id if this one's history were not archived yet.
    this.publishHistory(name, Number(head.timelineId));
    faultPoint('after-promote');
    await this.cluster.stop(name, 'fast');
    // Without its recovery settings it serves on the app's port at its next start.
    fs.rmSync(path.join(this.layout.dataDir(name), RECOVERY_CONF), { force: true });
    return head;
  }

  /** Before the cut: the archiver must be working (else the old timeline's end could not be kept), and a checkpoint shortens the stop. */
  private async readyForCutOver(signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal, 'the restore');
    const client = await this.cluster.connect({ database: 'postgres' });
    try {
      const status = await archiverStatusOf(client);
      if (status && archiverFailing(status)) {
        const reason = archiverErrorIn(this.cluster.logTail(this.layout.readState().serving, 200));
        throw new LockstepError('ARCHIVE_STUCK', `Postgres cannot archive WAL: ${describeArchiverFailure(status)}${reason ? `: ${reason}` : ''}`, {
          hint: `Check free disk space and permissions of ${this.layout.archive}, and the server log (${this.layout.logs}). Nothing was changed.`,
        });
      }
      await client.query('CHECKPOINT');
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /**
   * A cleanly stopped data directory's timeline, sealed: its end is the
   * shutdown checkpoint, and every WAL segment up to it is copied into the
   * archive (the last one is never archived by Postgres itself). Undefined when
   * the directory was not stopped cleanly (its end is then unknown).
   */
  private sealTimeline(name: string, state: LocalState): Position | undefined {
    const dir = this.layout.dataDir(name);
    const control = readControlFile(dir);
    if (control.state !== 'shut down') {
      this.log.warn(`${name} was not shut down cleanly (${control.state}): its timeline's end is not known exactly`);
      return undefined;
    }
    if (state.systemIdentifier && control.systemIdentifier !== state.systemIdentifier) {
      throw new LockstepError('INTERNAL', `${name} belongs to another cluster (system ${control.systemIdentifier})`);
    }
    archiveTail(dir, this.layout.archive, control.timeline, control.checkpointLsn, state.walSegmentBytes, this.postgresAccount());
    return { timelineId: String(control.timeline), lsn: formatLsn(control.checkpointLsn) };
  }

  /**
   * Before a sealed timeline serves again: take back the tail we archived for
   * it, or its own archiving of those segments (longer by then) would clash.
   * Ours are the archived segments from its last checkpoint on that Postgres
   * never marked done in its archive_status.
   */
  private unsealTimeline(name: string, state: LocalState): void {
    const dir = this.layout.dataDir(name);
    let control;
    try {
      control = readControlFile(dir);
    } catch {
      return;
    }
    const from = walFileName(control.timeline, control.checkpointLsn, state.walSegmentBytes);
    const prefix = from.slice(0, 8);
    const ours = fs.readdirSync(this.layout.archive).filter(
      (f) => /^[0-9A-F]{24}$/.test(f) && f.startsWith(prefix) && f >= from && !fs.existsSync(path.join(dir, 'pg_wal', 'archive_status', `${f}.done`)),
    );
    removeArchivedFiles(this.layout.archive, ours);
  }

  /** Start a stopped data directory on the app's port, retrying a little while the port is taken, and check it serves `timeline`. */
  private async startOnAppPort(state: LocalState, name: string, timeline: number, options: OperationOptions): Promise<Position> {
    const deadline = Date.now() + PORT_RETRY_MS;
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      try {
        await this.cluster.start(name, { signal: options.signal });
        break;
      } catch (error) {
        if (!(error instanceof LockstepError && error.code === 'PORT_TAKEN') || Date.now() + delay > deadline) throw error;
        this.log.warn(`port ${this.config.port} is taken; trying again in ${delay} ms`);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
    return this.verifyServing(name, state, timeline, Date.now() + 60_000, options.signal);
  }

  private allocateDataDir(): string {
    let name = '';
    this.layout.updateState((s) => {
      while (fs.existsSync(this.layout.dataDir(`data-${s.nextDataDir}`))) s.nextDataDir++;
      name = `data-${s.nextDataDir}`;
      s.nextDataDir++;
      s.pendingForks = { ...s.pendingForks, [name]: new Date().toISOString() };
    });
    return name;
  }

  private settleFork(name: string): void {
    this.layout.updateState((s) => {
      if (s.pendingForks) delete s.pendingForks[name];
    });
  }

  /** A new data directory that recovers from `backup` to `lsn` on `timeline`, then promotes or pauses. */
  private async materialise(
    backup: BackupMeta,
    name: string,
    recovery: { socketDir: string; timeline: number; lsn: bigint; action: 'promote' | 'pause' },
    { usePrepared }: { usePrepared: boolean },
  ): Promise<boolean> {
    const dir = this.layout.dataDir(name);
    // Claim the prepared copy with one rename (atomic: a second claimer, or the
    // upkeep replacing it, finds it gone), else copy the backup now.
    let prepared = false;
    if (usePrepared) {
      try {
        fs.renameSync(this.layout.preparedDir(backup.id), dir);
        prepared = true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      // A prepared copy only ever appears whole (made under another name, then
      // renamed) and only ever leaves by a rename: this check is a last guard.
      if (prepared && !isCompleteCopy(dir)) {
        this.log.warn(`the prepared copy of base backup ${backup.id} was incomplete; copying the backup instead`);
        removeTree(dir);
        prepared = false;
      }
    }
    try {
      if (!prepared) await copyTree(path.join(this.layout.backupDir(backup.id), 'data'), dir);
      faultPoint('copying');
      const settings = [
        '# Written by Lockstep for one recovery; removed once the database is promoted.',
        `restore_command = ${confQuote(restoreCommand(this.layout.archive))}`,
        `recovery_target_lsn = '${formatLsn(recovery.lsn)}'`,
        // Never 'latest': the target names its own timeline, and history files lead there.
        `recovery_target_timeline = '${recovery.timeline}'`,
        // The marker is the insert position: the next commit's record starts exactly there.
        'recovery_target_inclusive = off',
        `recovery_target_action = '${recovery.action}'`,
        // Out of every client's reach until the cut-over: no TCP listener, one socket in a private directory.
        "listen_addresses = ''",
        `unix_socket_directories = ${confQuote(recovery.socketDir)}`,
        '',
      ];
      fs.writeFileSync(path.join(dir, RECOVERY_CONF), settings.join('\n'), { mode: 0o600 });
      fs.writeFileSync(path.join(dir, 'recovery.signal'), '', { mode: 0o600 });
      fs.chmodSync(dir, 0o700);
      if (prepared) {
        for (const file of [RECOVERY_CONF, 'recovery.signal']) this.cluster.giveToPostgres(path.join(dir, file));
      } else {
        chownTree(dir, this.postgresAccount());
      }
    } catch (error) {
      removeTree(dir);
      throw error;
    }
    return prepared;
  }

  /** Copy the new timeline's history file into the archive now, atomically, owned by the Postgres account. */
  private publishHistory(dataDirName: string, timeline: number): void {
    const file = historyFileName(timeline);
    if (fs.existsSync(path.join(this.layout.archive, file))) return;
    copyIntoArchive(path.join(this.layout.dataDir(dataDirName), 'pg_wal', file), this.layout.archive, file, this.postgresAccount());
  }

  /**
   * Wait until the server on the port is out of recovery, and is ours: same
   * system identifier, and (when given) the expected timeline. A naive connect
   * loop could reach an old server still holding the port.
   */
  private async verifyServing(name: string, state: LocalState, timeline: number | undefined, deadline: number, signal?: AbortSignal): Promise<Position> {
    for (;;) {
      const client = await this.cluster.connectWhenReady(name, { database: 'postgres', deadline, signal });
      try {
        const { rows } = await client.query<{ recovering: boolean; system: string }>(
          'SELECT pg_is_in_recovery() AS recovering, system_identifier::text AS system FROM pg_control_system()',
        );
        const row = rows[0]!;
        if (state.systemIdentifier && row.system !== state.systemIdentifier) {
          throw new LockstepError('PORT_TAKEN', `the server on port ${this.config.port} is not this project's database (system ${row.system})`);
        }
        if (!row.recovering) {
          const head = await readHead(client);
          if (timeline !== undefined && Number(head.timelineId) !== timeline) {
            throw new LockstepError('RECOVERY_FAILED', `the database serves timeline ${head.timelineId}, expected ${timeline}`);
          }
          return head;
        }
      } finally {
        await client.end().catch(() => undefined);
      }
      if (Date.now() > deadline) throw new LockstepError('TIMEOUT', 'the database did not finish recovery in time');
      throwIfAborted(signal, 'waiting for recovery');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Write a record, switch WAL segments and wait until the finished segment is archived. Returns the archived end. */
  private async archiveServing(signal?: AbortSignal): Promise<string> {
    const state = this.layout.readState();
    const client = await this.cluster.connect({ database: 'postgres' });
    try {
      // A record first, so the switch always closes a segment: with nothing
      // written since the last switch, pg_switch_wal does nothing and a target
      // at the very head would have no record after it to stop before.
      await client.query("SELECT pg_logical_emit_message(false, 'lockstep', 'archive')");
      const { rows } = await client.query<{ lsn: string; walfile: string }>(
        'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile FROM pg_switch_wal() AS lsn',
      );
      const row = rows[0]!;
      const switchedTo = parseLsn(row.lsn);
      const file = walFileName(timelineOfWalFile(row.walfile), switchedTo - 1n, state.walSegmentBytes);
      await waitForArchived(this.layout.archive, file, {
        timeoutMs: this.config.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS,
        signal,
        archiverStatus: () => archiverStatusOf(client),
        archiverError: () => archiverErrorIn(this.cluster.logTail(state.serving, 200)),
      });
      return row.lsn;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  // ---- previews, retention, pruning ---------------------------------------

  async describe(at?: PointInHistory, options: OperationOptions = {}): Promise<SchemaSummary> {
    if (!at) {
      const client = await this.cluster.connect().catch((error) => {
        throw engineDown(this.config.port, error);
      });
      try {
        return await describeDatabase(client);
      } finally {
        await client.end().catch(() => undefined);
      }
    }
    // The past is read from a throwaway copy recovered to the marker and paused
    // there (never promoted: it must not take a timeline id), on a private socket.
    const { timeline, lsn, backup } = await this.checkTarget(at, options);
    if (this.isRunning()) await this.archiveServing(options.signal);
    const name = `preview-${process.pid}-${Date.now()}`;
    const socketDir = this.privateSocketDir();
    options.onProgress?.(`Recovering a preview copy to ${formatLsn(lsn)}`);
    try {
      // A preview never takes the prepared copy: that is for the next restore.
      await this.materialise(backup, name, { socketDir, timeline, lsn, action: 'pause' }, { usePrepared: false });
      const deadline = replayDeadline(backup, lsn);
      await this.cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
      for (;;) {
        const client = await this.cluster.connectWhenReady(name, { deadline, signal: options.signal });
        try {
          const { rows } = await client.query<{ paused: boolean }>("SELECT pg_get_wal_replay_pause_state() = 'paused' AS paused");
          if (rows[0]?.paused) return await describeDatabase(client);
        } finally {
          await client.end().catch(() => undefined);
        }
        if (Date.now() > deadline) throw new LockstepError('TIMEOUT', 'the preview copy did not reach the checkpoint in time');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      await this.cluster.stop(name, 'immediate').catch(() => undefined);
      removeTree(this.layout.dataDir(name));
      fs.rmSync(socketDir, { recursive: true, force: true });
    }
  }

  async retention(): Promise<Retention> {
    const state = this.layout.readState();
    const backups = listBackups(this.layout.backups);
    // The oldest backup that still leads to the serving timeline bounds how far back a restore of "this line" goes.
    const history = historyReader(this.layout.archive);
    const usable = backups.filter((b) => chooseBackup([b], history, state.servingTimeline, parseLsn('FFFFFFFF/FFFFFFFF')));
    const oldest = usable[0];
    if (!oldest) return { summary: 'no base backup yet: nothing can be restored' };
    return {
      oldest: { timelineId: String(oldest.timeline), lsn: oldest.stopLsn, time: oldest.createdAt },
      summary: `restorable back to ${oldest.stopLsn} on timeline ${oldest.timeline} (${oldest.createdAt}); ${backups.length} base backup(s)`,
    };
  }

  /**
   * Keep what the kept positions and the serving head need: for each, the
   * newest usable base backup; the WAL from the oldest of those onwards; the
   * serving data directory. Everything else goes.
   */
  async prune(keep: readonly PointInHistory[], options: PruneOptions = {}): Promise<PruneReport> {
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, () =>
      withLock(this.layout.backupLock, { waitMs: 600_000, what: 'the base backups' }, async () => {
        const state = this.layout.readState();
        const backups = listBackups(this.layout.backups);
        const needed = new Set<string>();
        const positions: { timeline: number; lsn: bigint }[] = [];
        for (const p of keep) {
          if (Number.isInteger(Number(p.timelineId)) && isLsn(p.lsn)) positions.push({ timeline: Number(p.timelineId), lsn: parseLsn(p.lsn) });
        }
        // A server that stops while we look (a restore's cut-over) is read as stopped: its WAL is all kept.
        const head = this.cluster.runningPid(state.serving) !== undefined ? await this.head(options).catch(() => undefined) : undefined;
        positions.push({ timeline: state.servingTimeline, lsn: head ? parseLsn(head.lsn) : parseLsn('FFFFFFFF/FFFFFFFF') });
        const history = historyReader(this.layout.archive);
        for (const p of positions) {
          const b = chooseBackup(backups, history, p.timeline, p.lsn);
          if (b) needed.add(b.id);
        }
        const removed: string[] = [];
        let bytesFreed = 0;
        // The data directory that served before the last restore, kept by the background upkeep.
        const previous = options.keepPrevious
          ? Object.values(state.timelines)
              .filter((t) => t.dataDir && t.abandonedAt)
              .sort((a, b) => (a.abandonedAt! < b.abandonedAt! ? 1 : -1))[0]?.dataDir
          : undefined;
        for (const b of backups) {
          if (needed.has(b.id)) continue;
          const dir = this.layout.backupDir(b.id);
          bytesFreed += directorySize(dir);
          removeTree(dir);
          removed.push(`base backup ${b.id} (timeline ${b.timeline}, ${b.stopLsn})`);
        }
        const kept = backups.filter((b) => needed.has(b.id));
        if (kept.length > 0) {
          const oldestStart = kept.reduce((min, b) => (parseLsn(b.startLsn) < min ? parseLsn(b.startLsn) : min), parseLsn(kept[0]!.startLsn));
          const firstSegment = oldestStart / BigInt(state.walSegmentBytes);
          let segments = 0;
          for (const file of fs.readdirSync(this.layout.archive)) {
            // Segments (and .partial/.backup files) hold a segment number; history files are tiny and always kept.
            const match = /^[0-9A-F]{8}([0-9A-F]{8})([0-9A-F]{8})(\.partial|\.[0-9A-F]{8}\.backup)?$/.exec(file);
            if (!match) continue;
            const segmentsPerId = 0x100000000n / BigInt(state.walSegmentBytes);
            const segment = BigInt(`0x${match[1]}`) * segmentsPerId + BigInt(`0x${match[2]}`);
            if (segment >= firstSegment) continue;
            const full = path.join(this.layout.archive, file);
            bytesFreed += fs.statSync(full).size;
            fs.rmSync(full);
            segments++;
          }
          if (segments > 0) removed.push(`${segments} archived WAL segment(s) before ${formatLsn(oldestStart)}`);
        }
        for (const entry of fs.readdirSync(this.layout.root)) {
          if (entry.startsWith(REMOVING_PREFIX)) {
            // Left by a removal that a crash interrupted: already renamed away, so no one claims it.
            try {
              fs.rmSync(path.join(this.layout.root, entry), { recursive: true, force: true });
            } catch {
              // another remover got there first
            }
            continue;
          }
          const preparedOf = /^prepared-(.+)$/.exec(entry)?.[1];
          if (preparedOf !== undefined && !needed.has(preparedOf)) {
            const dir = path.join(this.layout.root, entry);
            bytesFreed += directorySize(dir);
            removeTree(dir);
            removed.push(`prepared copy of base backup ${preparedOf}`);
            continue;
          }
          if (!/^(data|preview)-/.test(entry) || entry === state.serving || entry === previous) continue;
          if (this.cluster.runningPid(entry) !== undefined) continue;
          // A fork between `fork` and `repoint` (another process's restore) is not ours; one an hour old was left by a crash.
          const pendingSince = state.pendingForks?.[entry];
          if (pendingSince && Date.now() - Date.parse(pendingSince) < 3_600_000) continue;
          const dir = this.layout.dataDir(entry);
          bytesFreed += directorySize(dir);
          removeTree(dir);
          removed.push(`data directory ${entry}`);
        }
        this.layout.updateState((s) => {
          for (const record of Object.values(s.timelines)) {
            if (record.dataDir && !fs.existsSync(this.layout.dataDir(record.dataDir))) delete record.dataDir;
          }
          for (const name of Object.keys(s.pendingForks ?? {})) {
            if (!fs.existsSync(this.layout.dataDir(name))) delete s.pendingForks![name];
          }
        });
        return { removed, bytesFreed };
      }),
    );
  }

  // ---- base-backup policy --------------------------------------------------

  /**
   * Whether a restore to `head` would replay more WAL than the policy allows
   * (or has no backup at all). Cheap: reads small files, never the server.
   */
  maintenanceDue(head: Position): boolean {
    const backup = this.newestBackupFor(head);
    return this.backupDue(head, backup) || (backup !== undefined && !fs.existsSync(this.layout.preparedDir(backup.id)));
  }

  private newestBackupFor(head: Position): BackupMeta | undefined {
    return chooseBackup(listBackups(this.layout.backups), historyReader(this.layout.archive), Number(head.timelineId), parseLsn(head.lsn));
  }

  private backupDue(head: Position, backup: BackupMeta | undefined): boolean {
    if (!backup) return true;
    // pg_backup_stop switches segments: the unused tail of the segment it closes is never replayed.
    const segment = BigInt(this.layout.readState().walSegmentBytes);
    const replayFrom = ((parseLsn(backup.stopLsn) + segment - 1n) / segment) * segment;
    return parseLsn(head.lsn) - replayFrom > BigInt(this.config.baseBackupWalBytes);
  }

  /** Take a base backup now (one at a time; a second caller gets BUSY). */
  async takeBaseBackup(options: OperationOptions & { waitMs?: number } = {}): Promise<BackupMeta> {
    return withLock(this.layout.backupLock, { waitMs: options.waitMs ?? 0, what: 'the base backups' }, () => this.backupNow(options));
  }

  /** The caller holds the backup lock. */
  private async backupNow(options: OperationOptions): Promise<BackupMeta> {
    const state = this.layout.readState();
    if (this.cluster.runningPid(state.serving) === undefined) {
      throw new LockstepError('ENGINE_DOWN', 'the local database is not running', { hint: 'Run `lockstep db start`.' });
    }
    return takeBaseBackup(this.cluster, this.postgresBinaries().major, state.walSegmentBytes, {
      archiveTimeoutMs: this.config.archiveTimeoutMs ?? DEFAULT_ARCHIVE_TIMEOUT_MS,
      ...options,
    });
  }

  /**
   * The upkeep the hook starts in the background: a base backup when the
   * policy says one is due (or always, with `force`), then a prepared copy of
   * the newest one, so that the next restore renames it into place instead of
   * copying (on ext4, copying 1 GB was 3 of the 4 seconds of a restore).
   */
  async maintain(options: OperationOptions & { force?: boolean } = {}): Promise<string | undefined> {
    // All of it under the backup lock, with the server up: `db stop` waits for
    // this lock, so once it returns nothing writes here until the next start.
    return withLock(this.layout.backupLock, { waitMs: options.force ? 60_000 : 0, what: 'the base backups' }, async () => {
      const done: string[] = [];
      let head = await this.head(options);
      if (options.force || this.backupDue(head, this.newestBackupFor(head))) {
        const backup = await this.backupNow(options);
        done.push(`base backup ${backup.id} (timeline ${backup.timeline}, consistent at ${backup.stopLsn}, ${Math.round(backup.bytes / 1024 / 1024)} MB)`);
        head = await this.head(options);
      }
      const prepared = await this.prepareCopy(head, options);
      if (prepared) done.push(prepared);
      return done.length > 0 ? done.join('; ') : undefined;
    });
  }

  /** Make the prepared copy of the newest backup for `head`, and drop older ones (the caller holds the backup lock). */
  private async prepareCopy(head: Position, options: OperationOptions): Promise<string | undefined> {
    {
      const backup = this.newestBackupFor(head);
      if (!backup) return undefined;
      const target = this.layout.preparedDir(backup.id);
      for (const entry of fs.readdirSync(this.layout.root)) {
        const full = path.join(this.layout.root, entry);
        // Renamed away before deletion: a restore claiming the same copy by rename gets it whole or not at all.
        if ((entry.startsWith('prepared-') && full !== target) || entry.startsWith('.prepared-')) removeTree(full);
      }
      if (fs.existsSync(target)) return undefined;
      options.onProgress?.(`Preparing a ready copy of base backup ${backup.id}`);
      const staging = path.join(this.layout.root, `.prepared-${backup.id}.${process.pid}`);
      try {
        await copyTree(path.join(this.layout.backupDir(backup.id), 'data'), staging);
        fs.chmodSync(staging, 0o700);
        chownTree(staging, this.postgresAccount());
        fs.renameSync(staging, target);
      } catch (error) {
        removeTree(staging);
        throw error;
      }
      return `a ready copy of base backup ${backup.id} for the next restore`;
    }
  }
}

interface HistoryView {
  state: LocalState;
  known: Set<number>;
  backups: BackupMeta[];
  history: HistoryReader;
}

/**
 * Whether `at` can be restored, and from which backup. `head` bounds targets
 * on the serving timeline when the server answers; abandoned timelines are
 * bounded by where their archived WAL ends.
 */
function assessTarget(view: HistoryView, at: PointInHistory, head: Position | undefined): { timeline: number; lsn: bigint; backup: BackupMeta } {
  const timeline = Number(at.timelineId);
  if (!Number.isInteger(timeline) || timeline < 1) {
    throw new LockstepError('TIMELINE_UNKNOWN', `"${at.timelineId}" is not a timeline of the local database`);
  }
  if (!isLsn(at.lsn)) throw new LockstepError('BAD_LSN', `"${at.lsn}" is not an LSN`);
  const lsn = parseLsn(at.lsn);
  if (!view.known.has(timeline)) throw new LockstepError('TIMELINE_UNKNOWN', `timeline ${timeline} is not known to the local database`);
  const end = view.state.timelines[String(timeline)]?.endLsn;
  const limit = head ? parseLsn(head.lsn) : timeline !== view.state.servingTimeline && end ? parseLsn(end) : undefined;
  if (limit !== undefined && lsn > limit) {
    const what = head ? 'the current head' : `the end of timeline ${timeline}`;
    throw new LockstepError('LSN_BEYOND_HEAD', `${at.lsn} is beyond ${what} (${formatLsn(limit)}) on timeline ${timeline}`);
  }
  const backup = chooseBackup(view.backups, view.history, timeline, lsn);
  if (!backup) {
    throw new LockstepError('EXPIRED', `${at.lsn} on timeline ${timeline} is older than every base backup kept`, {
      hint: 'Its base backup was pruned; the code side can still be restored (`--code-only`).',
    });
  }
  return { timeline, lsn, backup };
}

/** A data directory copied from a base backup has its version file and the backup's label. */
function isCompleteCopy(dir: string): boolean {
  return fs.existsSync(path.join(dir, 'PG_VERSION')) && fs.existsSync(path.join(dir, 'backup_label')) && fs.existsSync(path.join(dir, 'global', 'pg_control'));
}

async function readHead(client: Client): Promise<Position> {
  return (await readHeadAndArchiver(client)).head;
}

/** The marker and, in the same round trip, whether WAL archiving is failing (a checkpoint past the archive is not restorable yet). */
async function readHeadAndArchiver(client: Client): Promise<{ head: Position; archiver: ArchiverStatus | undefined }> {
  const { rows } = await client.query<{ lsn: string; walfile: string } & ArchiverRow>(
    `SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile, ${ARCHIVER_COLUMNS}
       FROM pg_current_wal_insert_lsn() AS lsn LEFT JOIN pg_stat_archiver a ON true`,
  );
  const row = rows[0]!;
  return { head: { timelineId: String(timelineOfWalFile(row.walfile)), lsn: row.lsn }, archiver: toArchiverStatus(row) };
}

/** One line for a person when the archiver is failing, else none. */
function archiveWarnings(status: ArchiverStatus | undefined, archive: string): string[] {
  if (!status || !archiverFailing(status)) return [];
  return [`WAL archiving is failing (${describeArchiverFailure(status)}): checkpoints from then on are not restorable until it works again; check free space and permissions of ${archive}`];
}

/** pg_stat_archiver's columns as `ArchiverStatus` reads them, for a query that selects from it as `a`. */
const ARCHIVER_COLUMNS = 'a.failed_count::text, a.last_failed_wal, a.last_failed_time::text, a.last_archived_time::text';

interface ArchiverRow {
  failed_count: string | null;
  last_failed_wal: string | null;
  last_failed_time: string | null;
  last_archived_time: string | null;
}

function toArchiverStatus(row: ArchiverRow | undefined): ArchiverStatus | undefined {
  if (!row || row.failed_count === null) return undefined;
  return { failedCount: Number(row.failed_count), lastFailedWal: row.last_failed_wal, lastFailedTime: row.last_failed_time, lastArchivedTime: row.last_archived_time };
}

async function archiverStatusOf(client: Client): Promise<ArchiverStatus | undefined> {
  const { rows } = await client.query<ArchiverRow>(`SELECT ${ARCHIVER_COLUMNS} FROM pg_stat_archiver a`);
  return toArchiverStatus(rows[0]);
}

/** When a restore may give up waiting for a copy to replay from `backup` to `lsn`: a minute, plus the WAL at a slow disk's pace. */
function replayDeadline(backup: BackupMeta, lsn: bigint): number {
  return Date.now() + 60_000 + Number((lsn - parseLsn(backup.stopLsn)) / BigInt(MIN_REPLAY_BYTES_PER_SECOND)) * 1000;
}

function engineDown(port: number, error: unknown): LockstepError {
  if (error instanceof LockstepError) return error;
  return new LockstepError('ENGINE_DOWN', `the local database on 127.0.0.1:${port} is not answering (${(error as Error).message})`, {
    hint: 'Start it with `lockstep db start` (or "Lockstep: Start Local Database").',
    cause: error,
  });
}
