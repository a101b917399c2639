// Opening the repository's Lockstep project from the CLI, with the CLI's log, secrets and engines, and settling a restore another process left unfinished.

import * as fs from 'node:fs';
import { Project } from '../core/project';
import { LockstepPaths } from '../core/paths';
import { ENGINES } from '../engines';
import { findRepository } from '../git/repository';
import { cliLog, progress, type CliIo } from './io';
import { CliSecrets } from './secrets';

export interface OpenOptions {
  /**
   * A restore whose process is gone: `settle` finishes or reverts it first and
   * says so (every command but the hook's); `detect` only says one line (the
   * hook must stay fast); `none` leaves it to the caller (`restore`).
   */
  interrupted?: 'settle' | 'detect' | 'none';
}

export async function openProject(io: CliIo, options: OpenOptions = {}): Promise<{ project: Project; secrets: CliSecrets }> {
  const repo = await findRepository(io.cwd);
  const paths = new LockstepPaths(repo.commonDir);
  const secrets = new CliSecrets(paths.credentials, io.env);
  const project = new Project(repo, { log: cliLog(io), secrets, engines: ENGINES });
  const how = options.interrupted ?? 'settle';
  // One stat on the common path; the restore code loads only when a record is there.
  if (how !== 'none' && fs.existsSync(paths.restoreRecord)) {
    if (how === 'detect') {
      io.err('lockstep: a restore in this repository was interrupted; any other lockstep command (e.g. `lockstep status`) finishes or reverts it');
    } else {
      const { settleInterruptedRestore } = await import('../core/restore');
      const outcome = await settleInterruptedRestore(project, 'auto', { onProgress: progress(io) });
      if (outcome) io.err(`lockstep: ${outcome.summary}`);
    }
  }
  return { project, secrets };
}
