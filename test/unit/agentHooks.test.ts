// The agents' hook files: merging the guard's entry in (idempotent, every other entry kept, the file's style kept) and taking it out (byte for byte).
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { guardCommand, hookTarget, installAgentHook, isGuardCommand, uninstallAgentHook, type AgentTool, type HookTarget } from '../../src/core/agentHooks';
import { isLockstepError } from '../../src/base/errors';

const NODE = '/opt/node 22/bin/node';
const GUARD = "/home/o'neil/lockstep/dist/guard.js";
const OLD_CLI = '/home/me/lockstep/dist/cli.js';

function tempProject(): { top: string; lockstepDir: string; target(tool: AgentTool): HookTarget } {
  const top = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-agent-hooks-'));
  const lockstepDir = path.join(top, '.git', 'lockstep');
  fs.mkdirSync(lockstepDir, { recursive: true });
  return { top, lockstepDir, target: (tool) => hookTarget(tool, 'project', { topLevel: top, lockstepDir }) };
}

function read(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

describe('agent hooks: the guard command', () => {
  it('runs this Node and the guard (dist/guard.js) by absolute path, quoted for sh', () => {
    assert.equal(guardCommand('claude', { nodePath: NODE, guardPath: GUARD }, 'linux'), `'/opt/node 22/bin/node' '/home/o'\\''neil/lockstep/dist/guard.js' --agent claude`);
    assert.equal(guardCommand('cursor', { nodePath: '/code', guardPath: '/x/guard.js', electronRunAsNode: true }, 'darwin'), `ELECTRON_RUN_AS_NODE=1 '/code' '/x/guard.js' --agent cursor`);
  });

  it('recognises our entries whatever paths they name, and no one else’s', () => {
    assert.ok(isGuardCommand(guardCommand('copilot', { nodePath: NODE, guardPath: GUARD })));
    assert.ok(isGuardCommand(guardCommand('cursor', { nodePath: NODE, guardPath: GUARD }, 'win32')));
    // What earlier versions installed: the whole CLI's `guard` command.
    assert.ok(isGuardCommand(`'/usr/bin/node' '${OLD_CLI}' guard --agent copilot`));
    assert.ok(isGuardCommand(`ELECTRON_RUN_AS_NODE=1 '/code' '${OLD_CLI}' guard --agent cursor`));
    assert.ok(isGuardCommand('lockstep guard --agent claude'));
    assert.ok(!isGuardCommand(`'/usr/bin/node' '${GUARD}' --agent vim`));
    assert.ok(!isGuardCommand(`'/usr/bin/node' '${GUARD}' --agent claude; rm -rf /`));
    assert.ok(!isGuardCommand('./scripts/guard --agent claude'));
    assert.ok(!isGuardCommand('lockstep guard --agent claude && rm -rf /'));
    assert.ok(!isGuardCommand(42));
  });
});

describe('agent hooks: install and uninstall', () => {
  const command = guardCommand('claude', { nodePath: NODE, guardPath: GUARD });
  let dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    dirs = [];
  });
  const project = () => {
    const p = tempProject();
    dirs.push(p.top);
    return p;
  };

  it('claude: merges into an existing settings file, keeps every other entry and the file’s indentation, and is idempotent', () => {
    const p = project();
    const target = p.target('claude');
    const original =
      '{\n    "permissions": {\n        "allow": ["Bash(npm test)"]\n    },\n    "hooks": {\n        "PreToolUse": [\n            {\n                "matcher": "Edit",\n                "hooks": [{ "type": "command", "command": "./fmt.sh" }]\n            }\n        ],\n        "Stop": [{ "hooks": [{ "type": "command", "command": "say done" }] }]\n    }\n}\n';
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    fs.writeFileSync(target.file, original);

    assert.equal(installAgentHook(target, command).action, 'installed');
    const text = fs.readFileSync(target.file, 'utf8');
    assert.match(text, /^\{\n {4}"permissions"/, 'four-space indentation kept');
    const settings = read(target.file) as { permissions: unknown; hooks: { PreToolUse: { matcher: string; hooks: { command: string; type: string }[] }[]; Stop: unknown } };
    assert.deepEqual(settings.permissions, { allow: ['Bash(npm test)'] });
    assert.deepEqual(settings.hooks.Stop, [{ hooks: [{ type: 'command', command: 'say done' }] }]);
    assert.equal(settings.hooks.PreToolUse.length, 2);
    assert.equal(settings.hooks.PreToolUse[0]!.matcher, 'Edit');
    assert.equal(settings.hooks.PreToolUse[1]!.matcher, 'Bash');
    assert.equal(settings.hooks.PreToolUse[1]!.hooks[0]!.command, command);
    assert.equal(settings.hooks.PreToolUse[1]!.hooks[0]!.type, 'command');

    const mtime = fs.statSync(target.file).mtimeMs;
    assert.equal(installAgentHook(target, command).action, 'unchanged');
    assert.equal(fs.readFileSync(target.file, 'utf8'), text, 'a second install writes nothing');
    assert.equal(fs.statSync(target.file).mtimeMs, mtime);

    assert.equal(uninstallAgentHook(target).action, 'restored');
    assert.equal(fs.readFileSync(target.file, 'utf8'), original, 'byte for byte');
    assert.ok(!fs.existsSync(target.recordFile));
  });

  it('an install with another Node path updates our entry in place, and uninstall still brings back the first original', () => {
    const p = project();
    const target = p.target('cursor');
    const original = '{"version":1,"hooks":{"afterFileEdit":[{"command":"./audit.sh"}]}}';
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    fs.writeFileSync(target.file, original);
    installAgentHook(target, guardCommand('cursor', { nodePath: '/old/node', guardPath: GUARD }));
    const updated = installAgentHook(target, guardCommand('cursor', { nodePath: '/new/node', guardPath: GUARD }));
    assert.equal(updated.action, 'updated');
    const settings = read(target.file) as { version: number; hooks: { beforeShellExecution: { command: string }[]; afterFileEdit: unknown } };
    assert.equal(settings.version, 1);
    assert.deepEqual(settings.hooks.afterFileEdit, [{ command: './audit.sh' }]);
    assert.equal(settings.hooks.beforeShellExecution.length, 1);
    assert.match(settings.hooks.beforeShellExecution[0]!.command, /^'\/new\/node' /);
    assert.equal(uninstallAgentHook(target).action, 'restored');
    assert.equal(fs.readFileSync(target.file, 'utf8'), original);
  });

  it('a file the install created goes again, with the directories it made; one that existed empty-of-hooks comes back', () => {
    const p = project();
    const target = p.target('copilot');
    assert.ok(!fs.existsSync(path.join(p.top, '.github')));
    installAgentHook(target, guardCommand('copilot', { nodePath: NODE, guardPath: GUARD }));
    const settings = read(target.file) as { hooks: { PreToolUse: { type: string; command: string; timeout: number }[] } };
    assert.equal(settings.hooks.PreToolUse[0]!.type, 'command');
    assert.ok(isGuardCommand(settings.hooks.PreToolUse[0]!.command));
    assert.equal(uninstallAgentHook(target).action, 'restored');
    assert.ok(!fs.existsSync(path.join(p.top, '.github')), 'the .github/hooks directories the install made are gone');

    const cursor = p.target('cursor');
    installAgentHook(cursor, guardCommand('cursor', { nodePath: NODE, guardPath: GUARD }));
    assert.deepEqual(Object.keys(read(cursor.file) as object), ['version', 'hooks'], 'a new Cursor file says version 1');
    uninstallAgentHook(cursor);
    assert.ok(!fs.existsSync(path.join(p.top, '.cursor')));
  });

  it('a file changed since the install keeps the change; only our entry (and the containers we added) go', () => {
    const p = project();
    const target = p.target('claude');
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    fs.writeFileSync(target.file, '{\n  "model": "opus"\n}\n');
    installAgentHook(target, command);
    const changed = read(target.file) as Record<string, unknown>;
    changed.env = { FOO: '1' };
    fs.writeFileSync(target.file, `${JSON.stringify(changed, null, 2)}\n`);
    const result = uninstallAgentHook(target);
    assert.equal(result.action, 'removed');
    assert.match(result.notes.join('\n'), /changed since the install/);
    assert.equal(fs.readFileSync(target.file, 'utf8'), '{\n  "model": "opus",\n  "env": {\n    "FOO": "1"\n  }\n}\n');
  });

  it('the user removed our entry by hand and put it back as it was: uninstall restores the original bytes', () => {
    const p = project();
    const target = p.target('claude');
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    const original = '{"hooks": {"PreToolUse": []}}';
    fs.writeFileSync(target.file, original);
    installAgentHook(target, command);
    // Another tool rewrote the file with its own style, same content.
    fs.writeFileSync(target.file, JSON.stringify(read(target.file), null, '\t'));
    assert.equal(uninstallAgentHook(target).action, 'removed');
    assert.equal(fs.readFileSync(target.file, 'utf8'), original, 'the same content as before: its original bytes');
  });

  it('a malformed file is bad input and stays untouched; so is a hooks entry of the wrong shape', () => {
    const p = project();
    const target = p.target('claude');
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    for (const bad of ['{"hooks": {', '[1, 2]', '{"hooks": []}', '{"hooks": {"PreToolUse": {}}}']) {
      fs.writeFileSync(target.file, bad);
      assert.throws(
        () => installAgentHook(target, command),
        (e: unknown) => isLockstepError(e, 'BAD_INPUT') && /left as it is/.test((e as Error).message),
      );
      assert.equal(fs.readFileSync(target.file, 'utf8'), bad);
      assert.ok(!fs.existsSync(target.recordFile), 'no record either');
    }
  });

  it('a symlinked settings file is written through its link', () => {
    const p = project();
    const target = p.target('claude');
    const real = path.join(p.top, 'dotfiles-settings.json');
    fs.writeFileSync(real, '{}\n');
    fs.mkdirSync(path.dirname(target.file), { recursive: true });
    fs.symlinkSync(real, target.file);
    installAgentHook(target, command);
    assert.ok(fs.lstatSync(target.file).isSymbolicLink());
    assert.ok(isGuardCommand((read(real) as { hooks: { PreToolUse: { hooks: { command: string }[] }[] } }).hooks.PreToolUse[0]!.hooks[0]!.command));
    uninstallAgentHook(target);
    assert.ok(fs.lstatSync(target.file).isSymbolicLink());
    assert.equal(fs.readFileSync(real, 'utf8'), '{}\n');
  });

  it('user scope: under the home directory, records outside any repository', () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-home-'));
    dirs.push(home);
    assert.equal(hookTarget('claude', 'user', { home }).file, path.join(home, '.claude', 'settings.json'));
    assert.equal(hookTarget('cursor', 'user', { home }).file, path.join(home, '.cursor', 'hooks.json'));
    assert.equal(hookTarget('copilot', 'user', { home }).file, path.join(home, '.copilot', 'hooks', 'lockstep.json'));
    assert.ok(hookTarget('claude', 'user', { home }).recordFile.startsWith(path.join(home, '.local', 'state', 'lockstep', 'agents')));
  });
});
