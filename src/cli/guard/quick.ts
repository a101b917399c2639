// The guard's quick path: a safety point from a reading over the local database's private socket, appended by the core
// without the engine. Imported only for a risky command.

import type { AgentIdentity } from '../../core/checkpoint';
import type { ProjectConfig } from '../../core/config';
import { describeError } from '../../base/errors';
import { AuditTrail, Journal } from '../../core/journal';
import { PinStore } from '../../core/pins';
import type { LockstepPaths } from '../../core/paths';
import { quickSafetyPoint } from '../../core/quickSafety';
import type { Repository } from '../../git/repository';
import { cliLog, type CliIo } from '../io';
import { ReadingTimedOut, type SocketReading } from './socketPosition';

/**
 * The safety point from `reading` (the local database read as the commit hook
 * reads it, over its private socket, started by the caller), appended by the
 * core without the engine; HEAD and the journal's tail are read while the
 * server answers. Undefined when the full path must serve instead: the socket
 * did not answer, archiving is failing (the engine words the warning), commits
 * spooled to fold in first.
 */
export async function quickPath(reading: Promise<SocketReading>, repo: Repository, paths: LockstepPaths, config: ProjectConfig, command: string, agent: AgentIdentity, io: CliIo): Promise<{ id: string } | { failed: string } | undefined> {
  let failure: unknown;
  const at = reading.then(
    (reading) => (reading.archivingFailing ? undefined : reading.position), // the engine words the warning
    (error: unknown) => {
      failure = error;
      return undefined;
    },
  );
  const log = cliLog(io);
  try {
    const checkpoint = await quickSafetyPoint({ repo, paths, config, journal: new Journal(paths, log), audit: new AuditTrail(paths, log), pins: new PinStore(paths) }, at, { command, agent });
    if (checkpoint) return { id: checkpoint.id };
  } catch (error) {
    return { failed: describeError(error).split('\n')[0] ?? 'unknown error' };
  }
  // A database that hangs would hang the full path too: say so within the budget.
  if (failure instanceof ReadingTimedOut) return { failed: `${failure.message} (it hangs, or this machine is too busy)` };
  return undefined;
}
