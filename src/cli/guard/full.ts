// The guard's full path: the project and its engine, as every other command opens them. In dist/guard.js this file is a
// bundle of its own (dist/guard-full.js), loaded only when the quick path cannot serve: only plain data crosses its edge.

import { describeError } from '../../base/errors';
import type { AgentIdentity } from '../../core/checkpoint';
import { LockstepPaths } from '../../core/paths';
import { Project } from '../../core/project';
import { takeSafetyPoint } from '../../core/safety';
import { ENGINES } from '../../engines';
import type { Repository } from '../../git/repository';
import { cliLog, type CliIo } from '../io';
import { CliSecrets } from '../secrets';

export type FullOutcome = { id: string; warnings: string[] } | { failed: string };

/** takeSafetyPoint through the engine (any engine; folds the hook's spool first); never throws. */
export async function fullSafetyPoint(repo: Repository, command: string, agent: AgentIdentity, io: CliIo): Promise<FullOutcome> {
  const project = new Project(repo, { log: cliLog(io), secrets: new CliSecrets(new LockstepPaths(repo.commonDir).credentials, io.env), engines: ENGINES });
  try {
    const checkpoint = await takeSafetyPoint(project, { command, agent });
    const warnings = (await project.engine()).warnings?.() ?? [];
    return { id: checkpoint.id, warnings };
  } catch (error) {
    return { failed: describeError(error).split('\n')[0] ?? 'unknown error' };
  } finally {
    await project.close().catch(() => undefined);
  }
}
