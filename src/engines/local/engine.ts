// The local engine: markers from Postgres' own WAL position, forks by point-in-time recovery onto a new timeline, on the same port.

import * as fs from 'node:fs';
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
  PruneReport,
  Restorability,
  Retention,
  SchemaSummary,
  TimelineHandle,
} from '../../core/engine';
import { LockstepError, throwIfAborted } from '../../core/errors';
import { directorySize } from '../../core/files';
import { withLock } from '../../core/locks';
import { scopedLog, type Log } from '../../core/log';
import { formatLsn, isLsn, parseLsn, timelineOfWalFile, walFileName } from '../../core/lsn';
import { describeDatabase } from '../postgresSchema';
import { archivedTimelines, confQuote, historyFileName, historyReader, restoreCommand, waitForArchived, type ArchiverStatus, type HistoryReader } from './archive';
import { chooseBackup, listBackups, takeBaseBackup, type BackupMeta } from './baseBackup';
import { findPostgresBinaries, type PostgresBinaries } from './binaries';
import { LocalCluster, RECOVERY_CONF } from './cluster';
import { copyTree } from './copyTree';
import { LocalLayout, type LocalState } from './layout';
import { chownTree, resolvePostgresAccount, type PostgresAccount } from './osUser';
import { freePort } from './ports';

const DEFAULT_ARCHIVE_TIMEOUT_MS = 60_000;
/** Replay runs at 60–175 MB/s here; allow far slower disks before calling a recovery stuck. */
const MIN_REPLAY_BYTES_PER_SECOND = 5 * 1024 * 1024;

export function localRoot(config: LocalEngineConfig, lockstepDir: string): string {
  return config.dataRoot ?? path.join(lockstepDir, 'local');
}

export class LocalEngine implements Engine {
  readonly kind = 'local' as const;
  readonly layout: LocalLayout;
  readonly cluster: LocalCluster;
  private readonly log: Log;
  private account?: PostgresAccount;
  private binaries?: PostgresBinaries;
  private headClient?: Client;

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
      return await readHead(client);
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
      const head = await readHead(client);
      const { rows } = await client.query<{ v: string }>("SELECT current_setting('server_version') AS v");
      const serverVersion = rows[0]?.v;
      return {
        engine: 'local',
        state: 'running',
        summary: `running on 127.0.0.1:${this.config.port}, timeline ${head.timelineId}, Postgres ${serverVersion}`,
        head,
        address,
        serverVersion,
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

  async fork(at: PointInHistory, options: OperationOptions = {}): Promise<TimelineHandle> {
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const { timeline, lsn, backup } = await this.checkTarget(at, options);
      const name = this.allocateDataDir();
      const ready = fs.existsSync(this.layout.preparedDir(backup.id));
      options.onProgress?.(ready ? `Taking the prepared copy of base backup ${backup.id}` : `Copying base backup ${backup.id}`);
      const prepared = await this.materialise(backup, name, { port: this.config.port, timeline, lsn, action: 'promote' }, { usePrepared: true });
      const predicted = Math.max(this.layout.readState().servingTimeline, ...archivedTimelines(this.layout.archive)) + 1;
      return {
        engine: 'local',
        role: 'fork',
        timelineId: String(predicted),
        at: { timelineId: String(timeline), lsn: formatLsn(lsn) },
        ref: { dataDir: name, backupId: backup.id, prepared },
      };
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
      await this.cluster.stop(name, 'immediate');
      fs.rmSync(this.layout.dataDir(name), { recursive: true, force: true });
      this.settleFork(name);
    });
  }

  async repoint(target: TimelineHandle, options: OperationOptions = {}): Promise<Position> {
    const name = String(target.ref.dataDir ?? '');
    if (!name || !fs.existsSync(this.layout.dataDir(name))) {
      throw new LockstepError('BAD_INPUT', `no data directory "${name}" to serve`);
    }
    return withLock(this.layout.clusterLock, { waitMs: 120_000, what: 'the local database' }, async () => {
      const state = this.layout.readState();
      const previous = state.serving;
      if (previous === name && this.cluster.runningPid(name) !== undefined) {
        return this.head(options);
      }

      // 1. Everything the old timeline wrote goes to the archive before it stops.
      let previousEnd: string | undefined;
      if (this.cluster.runningPid(previous) !== undefined) {
        options.onProgress?.('Archiving WAL');
        previousEnd = await this.archiveServing(options.signal);
        throwIfAborted(options.signal, 'the restore');
        options.onProgress?.('Stopping the current database');
        await this.close();
        await this.cluster.stop(previous, 'fast');
      }

      // 2. The target serves on the same port; done means it answers, on its timeline.
      try {
        options.onProgress?.(target.role === 'fork' ? `Replaying WAL to ${target.at?.lsn ?? ''}` : 'Starting the previous database');
        const head = target.role === 'fork' ? await this.promoteFork(state, target, options) : await this.startServing(state, name, Number(target.timelineId), options);
        this.layout.updateState((s) => {
          const oldTimeline = String(s.servingTimeline);
          s.timelines[oldTimeline] = { ...s.timelines[oldTimeline], ...(previousEnd ? { endLsn: previousEnd } : {}), abandonedAt: new Date().toISOString() };
          s.serving = name;
          s.servingTimeline = Number(head.timelineId);
          s.timelines[head.timelineId] = { dataDir: name };
          if (s.pendingForks) delete s.pendingForks[name];
        });
        return head;
      } catch (error) {
        await this.cluster.stop(name, 'immediate').catch(() => undefined);
        try {
          await this.cluster.start(previous);
          await this.verifyServing(previous, state, state.servingTimeline, Date.now() + 60_000);
          this.log.warn(`repoint to ${name} failed; ${previous} serves again`);
        } catch (compensation) {
          throw new LockstepError(
            'ENGINE_DOWN',
            `${(error as Error).message}; and the previous database (${previous}) could not be started again: ${(compensation as Error).message}`,
            { hint: `Run \`lockstep db start\`. Server logs: ${this.layout.logs}`, cause: error },
          );
        }
        throw error;
      }
    });
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
    recovery: { port: number; timeline: number; lsn: bigint; action: 'promote' | 'pause' },
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
    }
    try {
      if (!prepared) await copyTree(path.join(this.layout.backupDir(backup.id), 'data'), dir);
      const settings = [
        '# Written by Lockstep for one recovery; removed once the database is promoted.',
        `restore_command = ${confQuote(restoreCommand(this.layout.archive))}`,
        `recovery_target_lsn = '${formatLsn(recovery.lsn)}'`,
        // Never 'latest': the target names its own timeline, and history files lead there.
        `recovery_target_timeline = '${recovery.timeline}'`,
        // The marker is the insert position: the next commit's record starts exactly there.
        'recovery_target_inclusive = off',
        `recovery_target_action = '${recovery.action}'`,
        ...(recovery.port === this.config.port ? [] : [`port = ${recovery.port}`]),
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
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    return prepared;
  }

  private async promoteFork(state: LocalState, fork: TimelineHandle, options: OperationOptions): Promise<Position> {
    const name = String(fork.ref.dataDir);
    const backup = listBackups(this.layout.backups).find((b) => b.id === fork.ref.backupId);
    const replayBytes = backup && fork.at ? parseLsn(fork.at.lsn) - parseLsn(backup.stopLsn) : 0n;
    const deadline = Date.now() + 60_000 + Number(replayBytes / BigInt(MIN_REPLAY_BYTES_PER_SECOND)) * 1000;
    try {
      await this.cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
    } catch (error) {
      // The server exits when recovery fails (target not reached, WAL missing): say so, with Postgres' reason.
      if (error instanceof LockstepError && error.code === 'ENGINE_DOWN') {
        throw new LockstepError('RECOVERY_FAILED', error.message.replace(/^Postgres did not start on \S+: /, `recovery to ${fork.at?.lsn} failed: `), {
          hint: error.hint,
          cause: error,
        });
      }
      throw error;
    }
    const head = await this.verifyServing(name, state, undefined, deadline, options.signal);
    const expected = Number(fork.timelineId);
    if (Number(head.timelineId) !== expected) {
      this.log.warn(`the fork opened timeline ${head.timelineId}, not ${expected} as predicted`);
    }
    // A later restore picks its timeline id from the archived history files: two
    // forks would get the same id if this one's history were not archived yet.
    // The archiver only gets to it after its start-up; we publish the file
    // ourselves (basic_archive then finds an identical file and accepts it).
    this.publishHistory(name, Number(head.timelineId));
    fs.rmSync(path.join(this.layout.dataDir(name), RECOVERY_CONF), { force: true });
    return head;
  }

  /** Copy the new timeline's history file into the archive now, atomically, owned by the Postgres account. */
  private publishHistory(dataDirName: string, timeline: number): void {
    const file = historyFileName(timeline);
    const target = path.join(this.layout.archive, file);
    if (fs.existsSync(target)) return;
    const source = path.join(this.layout.dataDir(dataDirName), 'pg_wal', file);
    const staging = path.join(this.layout.archive, `.${file}.${process.pid}.tmp`);
    fs.copyFileSync(source, staging);
    const fd = fs.openSync(staging, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.chmodSync(staging, 0o600);
    chownTree(staging, this.postgresAccount());
    fs.renameSync(staging, target);
  }

  private async startServing(state: LocalState, name: string, timeline: number, options: OperationOptions): Promise<Position> {
    await this.cluster.start(name, { signal: options.signal });
    return this.verifyServing(name, state, timeline, Date.now() + 60_000, options.signal);
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
    // there (never promoted: it must not take a timeline id), on a spare port.
    const { timeline, lsn, backup } = await this.checkTarget(at, options);
    if (this.isRunning()) await this.archiveServing(options.signal);
    const name = `preview-${process.pid}-${Date.now()}`;
    const port = await freePort();
    options.onProgress?.(`Recovering a preview copy to ${formatLsn(lsn)}`);
    // A preview never takes the prepared copy: that is for the next restore.
    await this.materialise(backup, name, { port, timeline, lsn, action: 'pause' }, { usePrepared: false });
    try {
      const deadline = Date.now() + 60_000 + Number((lsn - parseLsn(backup.stopLsn)) / BigInt(MIN_REPLAY_BYTES_PER_SECOND)) * 1000;
      await this.cluster.start(name, { timeoutMs: deadline - Date.now(), signal: options.signal });
      for (;;) {
        const client = await this.cluster.connectWhenReady(name, { port, deadline, signal: options.signal });
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
      fs.rmSync(this.layout.dataDir(name), { recursive: true, force: true });
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
        const running = this.cluster.runningPid(state.serving) !== undefined;
        const head = running ? await this.head(options) : undefined;
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
          fs.rmSync(dir, { recursive: true, force: true });
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
          const preparedOf = /^prepared-(.+)$/.exec(entry)?.[1];
          if (preparedOf !== undefined && !needed.has(preparedOf)) {
            const dir = path.join(this.layout.root, entry);
            bytesFreed += directorySize(dir);
            fs.rmSync(dir, { recursive: true, force: true });
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
          fs.rmSync(dir, { recursive: true, force: true });
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
        if ((entry.startsWith('prepared-') && full !== target) || entry.startsWith('.prepared-')) fs.rmSync(full, { recursive: true, force: true });
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
        fs.rmSync(staging, { recursive: true, force: true });
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

async function readHead(client: Client): Promise<Position> {
  const { rows } = await client.query<{ lsn: string; walfile: string }>(
    'SELECT lsn::text AS lsn, pg_walfile_name(lsn) AS walfile FROM pg_current_wal_insert_lsn() AS lsn',
  );
  const row = rows[0]!;
  return { timelineId: String(timelineOfWalFile(row.walfile)), lsn: row.lsn };
}

async function archiverStatusOf(client: Client): Promise<ArchiverStatus | undefined> {
  const { rows } = await client.query<{ failed_count: string; last_failed_wal: string | null; last_failed_time: string | null }>(
    'SELECT failed_count::text, last_failed_wal, last_failed_time::text FROM pg_stat_archiver',
  );
  const row = rows[0];
  return row ? { failedCount: Number(row.failed_count), lastFailedWal: row.last_failed_wal, lastFailedTime: row.last_failed_time } : undefined;
}

function engineDown(port: number, error: unknown): LockstepError {
  if (error instanceof LockstepError) return error;
  return new LockstepError('ENGINE_DOWN', `the local database on 127.0.0.1:${port} is not answering (${(error as Error).message})`, {
    hint: 'Start it with `lockstep db start` (or "Lockstep: Start Local Database").',
    cause: error,
  });
}
