// Installing the hook from the CLI: the hook runs this very CLI with this very Node.

import * as fs from 'node:fs';
import type { HookInstallResult, HookName } from '../../git/hook';
import type { Repository } from '../../git/repository';

export async function installHookForThisCli(repo: Repository, hook: HookName = 'post-commit'): Promise<HookInstallResult> {
  const { installHook } = await import('../../git/hook');
  return installHook(repo, {
    nodePath: process.execPath,
    // The script node was started with: dist/cli.js.
    cliPath: fs.realpathSync(process.argv[1] ?? ''),
    electronRunAsNode: Boolean(process.versions.electron),
    hook,
  });
}
