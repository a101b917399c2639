// `lockstep hook install|uninstall|status [--pre-push]`: the post-commit hook that records a checkpoint for every commit, and the optional pre-push hook.

import { LockstepError } from '../../base/errors';
import { hookStatus, uninstallHook, type HookName } from '../../git/hook';
import { noPositionals, parse } from '../args';
import type { CliIo } from '../io';
import { openProject } from '../project';
import { installHookForThisCli } from './hookCommon';

const USAGE = `Usage: lockstep hook install|uninstall|status [--pre-push] [--json]

install    add a post-commit hook that runs \`lockstep record\` (bounded to 2 s,
           never fails a commit). An existing post-commit hook is kept and runs
           first; core.hooksPath (husky) is honoured.
uninstall  remove it and put back exactly what was there before
status     installed, stale or missing, and what it runs

--pre-push the same for the optional pre-push hook: before each push it takes a
           "push" checkpoint for every pushed ref (the data state the push ships
           with; \`lockstep restore --to push\` brings it back). It never fails
           or stalls a push (bounded to 4 s); an existing pre-push hook runs
           first, and when that one fails the push is refused, as git does.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ json?: boolean; 'pre-push'?: boolean }>(args, { json: { type: 'boolean' }, 'pre-push': { type: 'boolean' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  const [action, ...extra] = positionals;
  noPositionals(extra, USAGE);
  const name: HookName = values['pre-push'] ? 'pre-push' : 'post-commit';
  if (action !== 'install' && action !== 'uninstall' && action !== 'status') {
    throw new LockstepError('BAD_INPUT', action ? `unknown hook action "${action}"` : 'which hook action?', { hint: USAGE.split('\n')[0] });
  }
  const { project } = await openProject(io);
  try {
    switch (action) {
      case 'install': {
        const result = await installHookForThisCli(project.repo, name);
        io.out(`${name === 'pre-push' ? 'pre-push hook' : 'hook'} ${result.action}: ${result.status.hookFile}${result.chainedHook ? `\n  your existing hook is kept and runs first: ${result.chainedHook}` : ''}`);
        for (const note of result.status.notes) io.err(`note: ${note}`);
        return 0;
      }
      case 'uninstall': {
        const result = await uninstallHook(project.repo, name);
        io.out(result.removed ? `${name === 'pre-push' ? 'pre-push hook' : 'hook'} removed${result.restored ? `; your earlier hook is back: ${result.restored}` : ''}` : `no Lockstep ${name === 'pre-push' ? 'pre-push hook' : 'hook'} was installed`);
        for (const note of result.notes) io.err(`note: ${note}`);
        return 0;
      }
      case 'status': {
        const status = await hookStatus(project.repo, name);
        if (values.json) {
          io.out(JSON.stringify(status, null, 2));
        } else {
          io.out(`${name === 'pre-push' ? 'pre-push hook' : 'hook'}: ${status.state} (${status.hookFile})`);
          if (status.config) io.out(`  runs: ${status.config.nodePath} ${status.config.cliPath} record${name === 'pre-push' ? ' --push' : ''}`);
          if (status.chainedHook) io.out(`  chained (runs first): ${status.chainedHook}`);
          if (status.otherHook) io.out(`  another ${name} hook is in the way: ${status.otherHook}`);
          for (const p of status.problems) io.out(`  problem: ${p}`);
          for (const n of status.notes) io.out(`  note: ${n}`);
        }
        return status.state === 'installed' ? 0 : 1;
      }
    }
  } finally {
    await project.close();
  }
}
