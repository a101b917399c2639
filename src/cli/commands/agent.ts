// `lockstep agent install|uninstall claude|cursor|copilot [--user]`: the agents' pre-command hook that runs `lockstep guard`.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AGENT_TOOLS, guardCommand, hookTarget, installAgentHook, uninstallAgentHook, type AgentTool } from '../../core/agentHooks';
import { LockstepError } from '../../base/errors';
import { LockstepPaths } from '../../core/paths';
import { findRepository } from '../../git/repository';
import { noPositionals, oneOf, parse } from '../args';
import type { CliIo } from '../io';

const USAGE = `Usage: lockstep agent install|uninstall claude|cursor|copilot [--user]

install    add a pre-command hook that runs \`lockstep guard --agent <tool>\`: a
           safety point before each risky command the agent runs (a migration,
           a reset, psql that writes). Merged into the tool's settings file,
           every other entry kept:
             claude   .claude/settings.json        (--user: ~/.claude/settings.json)
             cursor   .cursor/hooks.json           (--user: ~/.cursor/hooks.json)
             copilot  .github/hooks/lockstep.json  (--user: ~/.copilot/hooks/lockstep.json)
                      (VS Code's agent hooks, Preview)
           Running it again changes nothing; the hook runs this Node and this
           CLI's guard (dist/guard.js, \`lockstep guard\` without the rest of
           the CLI to load) by absolute path.
uninstall  take it out again: the file as it was before the install, byte for
           byte, when nothing else changed it since; else only our entry goes.

--user     the user's settings (every repository) instead of this repository's.`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<{ user?: boolean }>(args, { user: { type: 'boolean' } }, USAGE);
  if (help) {
    io.out(USAGE);
    return 0;
  }
  const [action, toolName, ...extra] = positionals;
  noPositionals(extra, USAGE);
  if (action !== 'install' && action !== 'uninstall') {
    throw new LockstepError('BAD_INPUT', action ? `unknown agent action "${action}"` : 'install or uninstall?', { hint: USAGE.split('\n')[0] });
  }
  if (toolName === undefined) throw new LockstepError('BAD_INPUT', 'which agent? claude, cursor or copilot', { hint: USAGE.split('\n')[0] });
  const tool = oneOf(toolName, 'the agent', AGENT_TOOLS) as AgentTool;

  const scope = values.user ? 'user' : 'project';
  let initialised = true;
  let lockstepDir: string | undefined;
  let target;
  if (scope === 'project') {
    const repo = await findRepository(io.cwd);
    const paths = new LockstepPaths(repo.commonDir);
    initialised = fs.existsSync(paths.config);
    lockstepDir = paths.root;
    target = hookTarget(tool, scope, { topLevel: repo.topLevel, lockstepDir: paths.root });
  } else {
    const home = io.env.HOME || os.homedir();
    const state = io.env.XDG_STATE_HOME && path.isAbsolute(io.env.XDG_STATE_HOME) ? path.join(io.env.XDG_STATE_HOME, 'lockstep', 'agents') : undefined;
    target = hookTarget(tool, scope, { home, userStateDir: state });
  }

  if (action === 'install') {
    // Beside the script node was started with (dist/cli.js): the agent waits for its whole start-up before every command.
    const guardPath = path.join(path.dirname(fs.realpathSync(process.argv[1] ?? '')), 'guard.js');
    if (!fs.existsSync(guardPath)) throw new LockstepError('INTERNAL', `${guardPath} is missing beside the CLI`, { hint: 'reinstall Lockstep (or, in a checkout, run `npm run build`)' });
    const command = guardCommand(tool, { nodePath: process.execPath, guardPath, electronRunAsNode: Boolean(process.versions.electron) });
    const result = installAgentHook(target, command);
    io.out(`${tool} hook ${result.action}: ${result.file}`);
    io.err(`  runs: ${result.command}`);
    if (scope === 'project' && !initialised) io.err('note: Lockstep is not set up in this repository yet: until `lockstep init`, the hook takes no safety points (and says so)');
    if (tool === 'copilot') io.err('note: VS Code\'s agent hooks are a Preview feature; VS Code also runs hooks from .claude/settings.json, so install one of claude and copilot for VS Code, not both');
    if (scope === 'project' && result.action !== 'unchanged') io.err(`note: the hook names this machine's Node and Lockstep by absolute path: if ${path.relative(io.cwd, result.file) || result.file} is committed, each person runs \`lockstep agent install ${tool}\` on their machine`);
    return 0;
  }
  const result = uninstallAgentHook(target);
  // The install made .git/lockstep for its record in a repository not set up: gone again with it.
  if (lockstepDir && !initialised) {
    try {
      fs.rmdirSync(lockstepDir);
    } catch {
      // not empty: something else of Lockstep's is there
    }
  }
  io.out(
    result.action === 'restored'
      ? `${tool} hook removed: ${result.file} is back as it was before the install`
      : result.action === 'removed'
        ? `${tool} hook removed from ${result.file}`
        : `no Lockstep ${tool} hook in ${result.file}`,
  );
  for (const note of result.notes) io.err(`note: ${note}`);
  return 0;
}
