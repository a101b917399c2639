// `lockstep agent install|uninstall claude|cursor|copilot [--user]` through the real CLI: the files each tool reads, idempotence, byte-for-byte uninstall, bad input.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, explain, lockstep, type CliResult } from '../support/cli';
import { createRepo, makeTempDir, removeTempDirs, type TestRepo } from '../support/git';

const FILES = { claude: '.claude/settings.json', cursor: '.cursor/hooks.json', copilot: '.github/hooks/lockstep.json' } as const;
type Tool = keyof typeof FILES;

function ok(result: CliResult): CliResult {
  assert.equal(result.code, 0, explain(result));
  return result;
}

/** What the installed hooks run: the guard without the rest of the CLI, beside it. */
const GUARD = path.join(path.dirname(CLI), 'guard.js');

/** The commands of our entries in a tool's file, wherever that tool keeps them. */
function guardCommands(tool: Tool, file: string): string[] {
  const settings = JSON.parse(fs.readFileSync(file, 'utf8')) as { hooks?: Record<string, { command?: string; hooks?: { command: string }[] }[]> };
  const list = settings.hooks?.[tool === 'cursor' ? 'beforeShellExecution' : 'PreToolUse'] ?? [];
  return list.flatMap((e) => (tool === 'claude' ? (e.hooks ?? []).map((h) => h.command) : [e.command ?? ''])).filter((c) => / --agent (claude|cursor|copilot)$/.test(c));
}

describe('cli: lockstep agent install / uninstall', function () {
  let repo: TestRepo;
  beforeEach(() => {
    repo = createRepo();
  });
  after(() => removeTempDirs());

  for (const tool of Object.keys(FILES) as Tool[]) {
    it(`${tool}: creates ${FILES[tool]} with the guard (this Node, dist/guard.js), again changes nothing, uninstall leaves no trace`, async () => {
      const file = repo.path(FILES[tool]);
      const first = ok(await lockstep(repo.dir, ['agent', 'install', tool]));
      assert.match(first.stdout, new RegExp(`${tool} hook installed: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      const commands = guardCommands(tool, file);
      assert.deepEqual(commands, [`'${process.execPath}' '${fs.realpathSync(GUARD)}' --agent ${tool}`]);
      const bytes = fs.readFileSync(file);
      const again = ok(await lockstep(repo.dir, ['agent', 'install', tool]));
      assert.match(again.stdout, /hook unchanged/);
      assert.ok(fs.readFileSync(file).equals(bytes));

      assert.match(ok(await lockstep(repo.dir, ['agent', 'uninstall', tool])).stdout, /back as it was before the install/);
      assert.ok(!fs.existsSync(repo.path(FILES[tool].split('/')[0]!)), `${FILES[tool]} and the folders the install made are gone`);
      assert.equal(repo.git('status', '--porcelain'), '', 'the work tree as it was');
      assert.ok(!fs.existsSync(path.join(repo.dir, '.git', 'lockstep')), 'and .git/lockstep, made for the record in a repository not set up, is gone');
      assert.match(ok(await lockstep(repo.dir, ['agent', 'uninstall', tool])).stdout, /no Lockstep .* hook/);
    });
  }

  it('keeps every other entry of an existing file, and uninstall puts its bytes back exactly', async () => {
    const original = '{\n\t"version": 1,\n\t"hooks": {\n\t\t"beforeShellExecution": [\n\t\t\t{ "command": "./hooks/audit.sh" }\n\t\t],\n\t\t"stop": [{ "command": "but cursor stop" }]\n\t}\n}';
    repo.write('.cursor/hooks.json', original);
    ok(await lockstep(repo.dir, ['agent', 'install', 'cursor']));
    const installed = fs.readFileSync(repo.path('.cursor/hooks.json'), 'utf8');
    assert.match(installed, /^\{\n\t"version": 1,\n\t"hooks"/, 'its tab indentation');
    const settings = JSON.parse(installed) as { hooks: { beforeShellExecution: { command: string }[]; stop: unknown } };
    assert.equal(settings.hooks.beforeShellExecution[0]!.command, './hooks/audit.sh', 'the existing hook first, still there');
    assert.equal(settings.hooks.beforeShellExecution.length, 2);
    assert.deepEqual(settings.hooks.stop, [{ command: 'but cursor stop' }]);
    ok(await lockstep(repo.dir, ['agent', 'uninstall', 'cursor']));
    assert.equal(fs.readFileSync(repo.path('.cursor/hooks.json'), 'utf8'), original);
  });

  it('a malformed settings file: exit 2, and the file and the repository exactly as they were', async () => {
    const bad = '{ "hooks": { "PreToolUse": [ // a comment\n] } }\n';
    repo.write('.claude/settings.json', bad);
    const before = fs.statSync(repo.path('.claude/settings.json'));
    const result = await lockstep(repo.dir, ['agent', 'install', 'claude']);
    assert.equal(result.code, 2, explain(result));
    assert.match(result.stderr, /\.claude\/settings\.json is not valid JSON .*left as it is/);
    assert.equal(fs.readFileSync(repo.path('.claude/settings.json'), 'utf8'), bad);
    assert.equal(fs.statSync(repo.path('.claude/settings.json')).mtimeMs, before.mtimeMs);
    const agents = path.join(repo.dir, '.git', 'lockstep', 'agents');
    assert.ok(!fs.existsSync(agents) || fs.readdirSync(agents).length === 0, 'no install record');
    assert.equal((await lockstep(repo.dir, ['agent', 'uninstall', 'claude'])).code, 2);
    assert.equal(fs.readFileSync(repo.path('.claude/settings.json'), 'utf8'), bad);
  });

  it('an entry of an earlier version (`cli.js guard --agent`): install replaces it with the guard, uninstall takes either out', async () => {
    const old = `'${process.execPath}' '${fs.realpathSync(CLI)}' guard --agent claude`;
    const original = `${JSON.stringify({ hooks: { PreToolUse: [{ matcher: 'Bash', hooks: [{ type: 'command', command: old, timeout: 10 }] }] } }, null, 2)}\n`;
    repo.write('.claude/settings.json', original);
    const file = repo.path('.claude/settings.json');
    assert.match(ok(await lockstep(repo.dir, ['agent', 'install', 'claude'])).stdout, /claude hook updated/);
    assert.deepEqual(guardCommands('claude', file), [`'${process.execPath}' '${fs.realpathSync(GUARD)}' --agent claude`], 'one entry, the new form');
    ok(await lockstep(repo.dir, ['agent', 'uninstall', 'claude']));
    assert.deepEqual(guardCommands('claude', file), []);
    // An old entry alone (installed before this version, never updated) is recognised by uninstall too.
    repo.write('.claude/settings.json', original);
    assert.match(ok(await lockstep(repo.dir, ['agent', 'uninstall', 'claude'])).stdout, /claude hook removed/);
    assert.deepEqual(guardCommands('claude', file), []);
  });

  it('--user: the files under HOME, records outside the repository, and back to nothing', async () => {
    const home = makeTempDir('lockstep-home-');
    fs.mkdirSync(path.join(home, '.claude'));
    const original = '{\n  "model": "opus",\n  "hooks": {\n    "PreToolUse": []\n  }\n}\n';
    fs.writeFileSync(path.join(home, '.claude', 'settings.json'), original);
    const env = { HOME: home, XDG_STATE_HOME: undefined };
    for (const tool of Object.keys(FILES) as Tool[]) ok(await lockstep(repo.dir, ['agent', 'install', tool, '--user'], { env }));
    assert.equal(guardCommands('claude', path.join(home, '.claude', 'settings.json')).length, 1);
    assert.equal(guardCommands('cursor', path.join(home, '.cursor', 'hooks.json')).length, 1);
    assert.equal(guardCommands('copilot', path.join(home, '.copilot', 'hooks', 'lockstep.json')).length, 1);
    assert.ok(fs.readdirSync(path.join(home, '.local', 'state', 'lockstep', 'agents')).length === 3);
    assert.ok(!fs.existsSync(repo.path('.claude')), 'nothing in the repository');
    for (const tool of Object.keys(FILES) as Tool[]) ok(await lockstep(repo.dir, ['agent', 'uninstall', tool, '--user'], { env }));
    assert.equal(fs.readFileSync(path.join(home, '.claude', 'settings.json'), 'utf8'), original);
    assert.ok(!fs.existsSync(path.join(home, '.cursor')));
    assert.ok(!fs.existsSync(path.join(home, '.copilot')));
    // --user works outside any repository too.
    const nowhere = makeTempDir('lockstep-nowhere-');
    ok(await lockstep(nowhere, ['agent', 'install', 'cursor', '--user'], { env }));
    ok(await lockstep(nowhere, ['agent', 'uninstall', 'cursor', '--user'], { env }));
    assert.ok(!fs.existsSync(path.join(home, '.cursor')));
  });

  it('bad input: exit 2 and nothing written', async () => {
    for (const args of [['agent'], ['agent', 'install'], ['agent', 'install', 'vim'], ['agent', 'enable', 'claude'], ['agent', 'install', 'claude', 'extra'], ['agent', 'install', 'claude', '--global']]) {
      const result = await lockstep(repo.dir, args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${explain(result)}`);
    }
    assert.equal(repo.git('status', '--porcelain', '--ignored'), '');
  });
});
