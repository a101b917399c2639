// What the local engine's parts share: its settings, files, cluster and log, the calls they make back into the engine, and its two locks.

import type { LocalEngineConfig } from '../../core/config';
import type { OperationOptions, Position } from '../../core/engine';
import { withLock } from '../../base/locks';
import type { Log } from '../../base/log';
import type { ArchiverStatus } from './archive';
import type { PostgresBinaries } from './binaries';
import type { LocalCluster } from './cluster';
import type { PastCopyPolicy } from './keptCopy';
import type { LocalLayout } from './layout';
import type { PostgresAccount } from './osUser';

/** `LocalEngine` is one: each part (restorability, recovery, cut-over, upkeep, pruning) takes it as its first argument. */
export interface LocalContext {
  readonly config: LocalEngineConfig;
  readonly layout: LocalLayout;
  readonly cluster: LocalCluster;
  readonly log: Log;
  postgresAccount(): PostgresAccount;
  postgresBinaries(): PostgresBinaries;
  /** The serving server's insert position (it also reads the archiver's state, kept for `archiverSeen`). */
  head(options?: OperationOptions): Promise<Position>;
  /** What this process last read of the serving server's archiver (in `head` or `status`), if anything. */
  archiverSeen(): ArchiverStatus | undefined;
  /** Drop the engine's own connection before its server stops. */
  close(): Promise<void>;
  /** How long, and at what disk margin, a preview's copy is kept (keptCopy.ts); tests shorten it. */
  readonly pastCopyPolicy?: PastCopyPolicy;
}

export const DEFAULT_ARCHIVE_TIMEOUT_MS = 60_000;

/** Held while the cluster is started, stopped or repointed, a fork is made or dropped, and files are pruned. */
export function withClusterLock<R>(layout: LocalLayout, work: () => Promise<R>, waitMs = 120_000): Promise<R> {
  return withLock(layout.clusterLock, { waitMs, what: 'the local database' }, work);
}

/** Held while a base backup or a prepared copy is made: one at a time. */
export function withBackupLock<R>(layout: LocalLayout, waitMs: number, work: () => Promise<R>): Promise<R> {
  return withLock(layout.backupLock, { waitMs, what: 'the base backups' }, work);
}
