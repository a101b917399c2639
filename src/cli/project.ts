// Opening the repository's Lockstep project from the CLI, with the CLI's log and secrets.

import { Project } from '../core/project';
import { LockstepPaths } from '../core/paths';
import { findRepository } from '../git/repository';
import { cliLog, type CliIo } from './io';
import { CliSecrets } from './secrets';

export async function openProject(io: CliIo): Promise<{ project: Project; secrets: CliSecrets }> {
  const repo = await findRepository(io.cwd);
  const secrets = new CliSecrets(new LockstepPaths(repo.commonDir).credentials, io.env);
  return { project: new Project(repo, { log: cliLog(io), secrets }), secrets };
}
