// The local engine's files: data directories, the WAL archive, base backups, server logs and its state.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';
import { readJsonFile, writeJsonFile } from '../../base/files';
import type { PointInHistory } from '../../core/engine';

/**
 * <root>/
 *   password            generated password of the app's role, `lockstep` (0600)
 *   admin-password      generated password of Lockstep's own superuser role (0600); absent in projects made before it existed
 *   admin.pgpass        the same as a libpq password file, for `psql` over the private socket (0600)
 *   run/                the server's Unix socket (0700, the Postgres account's), when its path is short enough
 *   socket-dir          else: where the socket directory is (a private directory under /tmp or $XDG_RUNTIME_DIR)
 *   state.json          which data directory serves, what we know of each timeline
 *   data-<n>/           Postgres data directories; one serves, others are past timelines, a fork being made, or the kept preview copy
 *   archive/            the WAL archive (one per cluster lineage, shared by all timelines)
 *   backups/<id>/       base backups: data/ (the copy) and meta.json
 *   prepared-<id>/      a ready copy of the newest base backup, which a restore claims by renaming it
 *   logs/<data-n>.log   server logs
 */
export class LocalLayout {
  constructor(readonly root: string) {}

  get password(): string {
    return path.join(this.root, 'password');
  }
  get adminPassword(): string {
    return path.join(this.root, 'admin-password');
  }
  get adminPassfile(): string {
    return path.join(this.root, 'admin.pgpass');
  }
  /** The serving server's socket directory, when `<root>/run/.s.PGSQL.<port>` fits a socket address. */
  get runDir(): string {
    return path.join(this.root, 'run');
  }
  /** Names the socket directory chosen elsewhere when the root's path is too long for a socket. */
  get socketRecord(): string {
    return path.join(this.root, 'socket-dir');
  }
  get state(): string {
    return path.join(this.root, 'state.json');
  }
  get archive(): string {
    return path.join(this.root, 'archive');
  }
  get backups(): string {
    return path.join(this.root, 'backups');
  }
  get logs(): string {
    return path.join(this.root, 'logs');
  }
  /** Held while the cluster is started, stopped or repointed, and while backups are pruned. */
  get clusterLock(): string {
    return path.join(this.root, 'cluster');
  }
  /** Held while a base backup is taken: one at a time. */
  get backupLock(): string {
    return path.join(this.root, 'backup');
  }
  dataDir(name: string): string {
    return path.join(this.root, name);
  }
  serverLog(dataDirName: string): string {
    return path.join(this.logs, `${dataDirName}.log`);
  }
  backupDir(id: string): string {
    return path.join(this.backups, id);
  }
  /** A ready-to-run copy of a base backup's data directory, made in the background so a restore need not copy. */
  preparedDir(backupId: string): string {
    return path.join(this.root, `prepared-${backupId}`);
  }

  readPassword(): string {
    try {
      return fs.readFileSync(this.password, 'utf8').trim();
    } catch (error) {
      throw new LockstepError('NOT_INITIALISED', `the local database's password file is missing (${this.password})`, {
        hint: 'Run `lockstep init` to set up the local database.',
        cause: error,
      });
    }
  }

  /** Lockstep's own superuser's password; undefined in a project made before Lockstep had its own role (its `lockstep` role is the superuser). */
  readAdminPassword(): string | undefined {
    try {
      return fs.readFileSync(this.adminPassword, 'utf8').trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LockstepError('NOT_INITIALISED', `the local database's admin password file cannot be read (${this.adminPassword}): ${(error as Error).message}`, { cause: error });
    }
  }

  readState(): LocalState {
    const state = readJsonFile<LocalState>(this.state);
    if (!state) {
      throw new LockstepError('NOT_INITIALISED', `the local database is not set up (${this.state} is missing)`, {
        hint: 'Run `lockstep init`.',
      });
    }
    return state;
  }

  writeState(state: LocalState): void {
    writeJsonFile(this.state, state, 0o600);
  }

  /** Read-modify-write of the state file (callers hold the cluster lock). */
  updateState(change: (state: LocalState) => void): LocalState {
    const state = this.readState();
    change(state);
    this.writeState(state);
    return state;
  }
}

export interface TimelineRecord {
  /** Data directory that served (or serves) this timeline, if it still exists. */
  dataDir?: string;
  /** Where this timeline's WAL ends in the archive (set when it stopped serving). */
  endLsn?: string;
  /** When it stopped serving. */
  abandonedAt?: string;
}

export interface LocalState {
  version: 1;
  /** Name of the data directory that serves. */
  serving: string;
  /** Postgres timeline id of the serving directory, as last verified. */
  servingTimeline: number;
  timelines: Record<string, TimelineRecord>;
  walSegmentBytes: number;
  /** Next number for `data-<n>`. */
  nextDataDir: number;
  /** Postgres binaries in use, re-found when they move. */
  bin?: string;
  /** System identifier of the cluster lineage: every fork must share it. */
  systemIdentifier?: string;
  /** Data directories prepared by `fork` and not yet served or discarded, with when: prune leaves them alone. */
  pendingForks?: Record<string, string>;
  /** The copy a preview recovered and keeps paused at its point for the restore that follows (see preview.ts). */
  pastCopy?: PastCopyRecord;
  /** How fast the last copy of a base backup went (bytes per second): the estimate progress gives for the next. */
  copyBytesPerSecond?: number;
  /** Pinned points by checkpoint id (pins.ts): prune keeps their base backup and WAL whatever it is asked to keep. */
  pins?: Record<string, PointInHistory>;
}

/**
 * A preview's copy: recovered to a point and paused there (never promoted),
 * on a private socket. Its data directory is also in `pendingForks`, so that
 * an interrupted restore's `abandonForks` removes it like any fork.
 */
export interface PastCopyRecord {
  /** Its data directory, `data-<n>`. */
  name: string;
  /** Its private socket directory (0700, the Postgres account's). */
  socketDir: string;
  /** The point asked for (a moment stays a moment). */
  at: PointInHistory;
  /** The timeline recovery follows, and where it was asked to stop: the target `fork` compares with. */
  timeline: number;
  stop: { kind: 'lsn'; lsn: string } | { kind: 'time'; time: string };
  /** Where replay paused (`pg_last_wal_replay_lsn()`), once it has. */
  pausedAt?: string;
  backupId: string;
  /** Whether it began as the prepared copy (renamed) or as a copy of the base backup made for it. */
  fromPrepared: boolean;
  startedAt: string;
  /** False while it recovers: a record found so by a holder of the cluster lock was left by a process that died. */
  ready: boolean;
  /** When it goes: any engine call holding the cluster lock, and the upkeep, drop it after this. */
  keepUntil: string;
  /** Its size on disk once ready. */
  bytes: number;
  /** False when keeping it would leave less free disk than the margin: it goes at `release()`. */
  keep: boolean;
}
