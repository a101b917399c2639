// Reading a stopped cluster's pg_control: where its timeline ends (the shutdown checkpoint), without pg_controldata (the npm binaries lack it).

import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The head of ControlFileData, unchanged from Postgres 9.x to 18 (little-endian here):
 *   0  uint64 system_identifier
 *   8  uint32 pg_control_version
 *  12  uint32 catalog_version_no
 *  16  int32  state (DBState)
 *  24  int64  time
 *  32  uint64 checkPoint            ← "Latest checkpoint location"
 *  40  uint64 checkPointCopy.redo
 *  48  uint32 checkPointCopy.ThisTimeLineID
 */
const DB_STATES = ['starting up', 'shut down', 'shut down in recovery', 'shutting down', 'in crash recovery', 'in archive recovery', 'in production'] as const;

export type ClusterState = (typeof DB_STATES)[number] | 'unknown';

export interface ControlFile {
  systemIdentifier: string;
  state: ClusterState;
  /** Start of the latest checkpoint record: after a clean stop, the shutdown checkpoint, after every acknowledged commit. */
  checkpointLsn: bigint;
  timeline: number;
}

export function readControlFile(dataDir: string): ControlFile {
  const buffer = fs.readFileSync(path.join(dataDir, 'global', 'pg_control'));
  if (buffer.length < 52) throw new Error(`${dataDir}/global/pg_control is too short`);
  return {
    systemIdentifier: buffer.readBigUInt64LE(0).toString(),
    state: DB_STATES[buffer.readInt32LE(16)] ?? 'unknown',
    checkpointLsn: buffer.readBigUInt64LE(32),
    timeline: buffer.readUInt32LE(48),
  };
}
