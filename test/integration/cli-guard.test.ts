// The guard as each agent runs it (dist/guard.js, what `lockstep agent install` writes; and `lockstep guard`): real payloads in
// Claude Code's, Cursor's and VS Code's (Copilot) documented formats, a real database, the real CLI.

import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, explain, expectOk, initRepo, lockstep, type CliResult, type JournalRecord, type LockstepRepo } from '../support/cli';
import { sql } from '../support/fingerprint';
import { createRepo, gitTestEnv, makeTempDir, removeTempDirs } from '../support/git';

type Tool = 'claude' | 'cursor' | 'copilot';

/** What the installed hooks run: the guard without the rest of the CLI. */
const GUARD = path.join(path.dirname(CLI), 'guard.js');

/** Runs `command` (argv, or a shell line with `shell`) with `input` on stdin, as the agent's hook runner does. */
function runHook(argv: readonly string[], input: string, cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), { cwd, env: gitTestEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.on('error', () => undefined);
  child.stdin.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: performance.now() - started });
    });
  });
}

function guard(tool: Tool, payload: unknown, cwd: string, env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return runHook([process.execPath, GUARD, '--agent', tool], typeof payload === 'string' ? payload : JSON.stringify(payload), cwd, env);
}

/** The same through the CLI: `lockstep guard --agent <tool>`. */
function cliGuard(tool: Tool, payload: unknown, cwd: string): Promise<CliResult> {
  return runHook([process.execPath, CLI, 'guard', '--agent', tool], JSON.stringify(payload), cwd);
}

/**
 * Runs the guard with a preload that writes, at exit, the files of ours the
 * process loaded: which path served (guard-full.js is the engine's path).
 */
async function guardTraced(tool: Tool, payload: unknown, cwd: string): Promise<{ result: CliResult; loaded: string[] }> {
  const dir = makeTempDir('lockstep-guard-trace-');
  const preload = path.join(dir, 'trace.cjs');
  const out = path.join(dir, 'loaded.txt');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(out)}, Object.keys(require.cache).join('\\n')));\n`);
  const result = await guard(tool, payload, cwd, { NODE_OPTIONS: `--require=${preload}` });
  return { result, loaded: fs.readFileSync(out, 'utf8').split('\n').filter((f) => f.startsWith(path.dirname(CLI))).map((f) => path.basename(f)) };
}

/** The payload each tool sends before a shell command, as its documentation shows it. */
function payloadFor(tool: Tool, command: string, dir: string, session: string): unknown {
  switch (tool) {
    case 'claude': // Claude Code, PreToolUse with matcher "Bash"
      return {
        session_id: session,
        transcript_path: path.join(dir, '.claude-transcript.jsonl'),
        cwd: dir,
        permission_mode: 'default',
        hook_event_name: 'PreToolUse',
        tool_name: 'Bash',
        tool_input: { command, description: 'Run the command' },
        tool_use_id: 'toolu_01ABC123',
      };
    case 'cursor': // Cursor, beforeShellExecution
      return {
        hook_event_name: 'beforeShellExecution',
        conversation_id: session,
        generation_id: 'gen-456',
        workspace_roots: [dir],
        command,
        cwd: dir,
      };
    case 'copilot': // VS Code agent hooks, PreToolUse for the terminal tool
      return {
        timestamp: new Date().toISOString(),
        cwd: dir,
        sessionId: session,
        hookEventName: 'PreToolUse',
        transcript_path: null,
        tool_name: 'run_in_terminal',
        tool_input: { command, explanation: 'Run the command', isBackground: false },
        tool_use_id: 'tool-123',
      };
  }
}

/** What each tool reads from the answer; fails unless it is the tool's format, lets the command run, and grants nothing. */
function checkAnswer(tool: Tool, result: CliResult): { message?: string; context?: string } {
  assert.equal(result.code, 0, `exit 0 lets the command run (exit 2 would block it): ${explain(result)}`);
  const out = result.stdout.trim();
  if (tool === 'claude' && out === '') return {};
  const answer = JSON.parse(out) as Record<string, unknown>;
  const specific = answer.hookSpecificOutput as Record<string, unknown> | undefined;
  if (specific) {
    assert.equal(specific.hookEventName, 'PreToolUse');
    assert.equal(specific.permissionDecision, undefined, 'no permission decision: the tool’s own approval rules apply');
  }
  assert.notEqual(answer.continue, false, 'never stops the agent');
  assert.notEqual(answer.decision, 'block');
  if (tool === 'cursor') {
    assert.equal(answer.permission, undefined, 'no permission: "allow" would skip the approvals the user configured, "ask"/"deny" would stop the agent');
    return { message: answer.user_message as string | undefined, context: answer.agent_message as string | undefined };
  }
  if (tool === 'copilot') assert.equal(answer.continue, true);
  return { message: answer.systemMessage as string | undefined, context: specific?.additionalContext as string | undefined };
}

const TOOLS: Tool[] = ['claude', 'cursor', 'copilot'];

describe('cli: lockstep guard (agent pre-command hooks)', function () {
  let repo: LockstepRepo;
  before(async () => {
    repo = await initRepo();
    await sql(repo.url, 'CREATE TABLE contacts (id int PRIMARY KEY, name text); INSERT INTO contacts SELECT g, $$c$$ || g FROM generate_series(1, 5) g');
  });
  after(async () => {
    await repo?.cleanup();
    removeTempDirs();
  });

  for (const tool of TOOLS) {
    describe(tool, () => {
      it('a harmless command: no safety point, and the tool’s plain "go on"', async () => {
        const lines = repo.journalLines().length;
        const result = await guard(tool, payloadFor(tool, 'npm test && ls -la', repo.dir, `${tool}-s1`), repo.dir);
        const { message } = checkAnswer(tool, result);
        assert.equal(message, undefined);
        assert.equal(result.stderr, '');
        if (tool === 'claude') assert.equal(result.stdout, '', 'Claude Code: no output at all');
        assert.equal(repo.journalLines().length, lines, 'nothing in the journal');
      });

      it('a risky command: exactly one safety point, with the command and the session, and its id in the answer', async () => {
        const lines = repo.journalLines().length;
        const command = `psql "$DATABASE_URL" -c 'drop table contacts'`;
        const result = await guard(tool, payloadFor(tool, command, repo.dir, `${tool}-s1`), repo.dir);
        const { message, context } = checkAnswer(tool, result);
        assert.equal(repo.journalLines().length, lines + 1, explain(result));
        const point = JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;
        assert.equal(point.kind, 'safety');
        assert.equal(point.command, command);
        assert.deepEqual(point.agent, { name: tool, session: `${tool}-s1` });
        assert.equal(point.label, `before: ${command}`);
        assert.match(message ?? '', new RegExp(`safety point ${point.id} .*lockstep restore ${point.id}`));
        assert.match(context ?? '', new RegExp(point.id));
        const listed = (await repo.list()).find((c) => c.id === point.id);
        assert.ok(listed?.restorable, 'listed, and restorable');
      });

      it('`lockstep guard` (the CLI command) answers the same way and takes the same safety point', async () => {
        const lines = repo.journalLines().length;
        const quiet = await cliGuard(tool, payloadFor(tool, 'git status', repo.dir, `${tool}-cli`), repo.dir);
        assert.equal(checkAnswer(tool, quiet).message, undefined);
        const command = 'npx prisma migrate reset --force';
        const { message } = checkAnswer(tool, await cliGuard(tool, payloadFor(tool, command, repo.dir, `${tool}-cli`), repo.dir));
        assert.equal(repo.journalLines().length, lines + 1);
        const point = JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;
        assert.deepEqual([point.kind, point.command, point.agent], ['safety', command, { name: tool, session: `${tool}-cli` }]);
        assert.match(message ?? '', new RegExp(`safety point ${point.id} `));
      });

      it('malformed JSON on stdin: the command runs, one line says why, nothing is taken', async () => {
        const lines = repo.journalLines().length;
        const result = await guard(tool, '{"tool_input": {"command": "prisma migrate reset"', repo.dir);
        const { message } = checkAnswer(tool, result);
        assert.match(message ?? '', /could not read the hook's input \(stdin is not JSON\); no safety point/);
        assert.equal(result.stderr.trim().split('\n').length, 1);
        assert.equal(repo.journalLines().length, lines);
      });
    });
  }

  it('the quick path (hook.conf: the private socket) and the engine’s path write the same safety point', async () => {
    const hookConf = path.join(repo.lockstepDir, 'hook.conf');
    assert.ok(fs.existsSync(hookConf), 'init wrote hook.conf: the Postgres binaries in use have a psql (the system’s)');
    // A commit the hook did not record: no checkpoint holds HEAD's subject, so both paths ask git for it.
    repo.git('-c', 'core.hooksPath=/nonexistent', 'commit', '--quiet', '--allow-empty', '-m', 'guarded: the subject');
    const head = repo.git('rev-parse', 'HEAD');
    const command = `psql "$DATABASE_URL" -c 'truncate contacts'`;
    const fields = (c: JournalRecord) => {
      const { id, createdAt, lsn, ...rest } = c as JournalRecord & { createdAt: string };
      assert.match(id, /^[0-9a-f]{12}$/);
      assert.ok(!Number.isNaN(Date.parse(createdAt)));
      assert.match(lsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
      return rest;
    };

    const quick = await guardTraced('copilot', payloadFor('copilot', command, repo.dir, 'paths'), repo.dir);
    checkAnswer('copilot', quick.result);
    assert.ok(quick.loaded.includes('guard.js') && !quick.loaded.includes('guard-full.js'), `the quick path served (loaded: ${quick.loaded.join(', ')})`);
    const first = JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;

    fs.renameSync(hookConf, `${hookConf}.away`);
    let full: { result: CliResult; loaded: string[] };
    try {
      full = await guardTraced('copilot', payloadFor('copilot', command, repo.dir, 'paths'), repo.dir);
    } finally {
      fs.renameSync(`${hookConf}.away`, hookConf);
    }
    checkAnswer('copilot', full.result);
    assert.ok(full.loaded.includes('guard-full.js'), `without hook.conf the engine's path served (loaded: ${full.loaded.join(', ')})`);
    const second = JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;

    assert.notEqual(first.id, second.id);
    assert.deepEqual(fields(first), fields(second), 'the same fields, from either path');
    assert.equal(first.commitSha, head);
    assert.equal((first as JournalRecord & { subject: string }).subject, 'guarded: the subject');
    assert.equal(first.kind, 'safety');
    assert.deepEqual(first.agent, { name: 'copilot', session: 'paths' });
    // Nothing was written between the two: the quick reading is not ahead of the engine's.
    const lsnValue = (lsn: string) => BigInt(`0x${lsn.split('/')[0]}`) * 2n ** 32n + BigInt(`0x${lsn.split('/')[1]}`);
    assert.ok(lsnValue(first.lsn!) <= lsnValue(second.lsn!));
    const listed = await repo.list();
    for (const id of [first.id, second.id]) assert.ok(listed.find((c) => c.id === id)?.restorable, `${id} is listed and restorable`);
  });

  it('the quick path keeps the configuration’s `keep`, as every checkpoint does (pruned, with the audit entry)', async () => {
    const configFile = path.join(repo.lockstepDir, 'config.json');
    const saved = fs.readFileSync(configFile, 'utf8');
    try {
      for (let i = 0; i < 3; i++) checkAnswer('claude', await guard('claude', payloadFor('claude', `dropdb app${i}`, repo.dir, 'keep'), repo.dir));
      fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(saved), keep: 2 }, null, 2));
      const { result, loaded } = await guardTraced('claude', payloadFor('claude', 'dropdb app', repo.dir, 'keep'), repo.dir);
      checkAnswer('claude', result);
      assert.ok(!loaded.includes('guard-full.js'), `the quick path served (loaded: ${loaded.join(', ')})`);
      const journal = repo.journalLines().map((l) => JSON.parse(l) as JournalRecord);
      assert.equal(journal.length, 2, 'the newest 2 kept');
      assert.equal(journal.at(-1)!.command, 'dropdb app');
      assert.match(repo.audit().at(-1)?.detail ?? '', /removed \d+ checkpoint\(s\) beyond the newest 2/);
    } finally {
      fs.writeFileSync(configFile, saved);
    }
  });

  it('hook.conf without psql (a machine with only the npm binaries): the guard\'s quick path still serves, the commit hook records through the CLI', async () => {
    const confFile = path.join(repo.lockstepDir, 'hook.conf');
    const saved = fs.readFileSync(confFile, 'utf8');
    try {
      // What writeHookConf writes when the engine finds no psql.
      fs.writeFileSync(confFile, saved.replace(/^psql .*\n/m, ''), { mode: 0o600 });
      const { result, loaded } = await guardTraced('claude', payloadFor('claude', 'npx prisma migrate reset --force', repo.dir, 'no-psql'), repo.dir);
      checkAnswer('claude', result);
      assert.ok(loaded.includes('guard.js') && !loaded.includes('guard-full.js'), `the quick path served (loaded: ${loaded.join(', ')})`);
      const point = repo.journalLines().map((l) => JSON.parse(l) as JournalRecord).at(-1)!;
      assert.equal(point.kind, 'safety');
      assert.equal(point.command, 'npx prisma migrate reset --force');
      assert.ok(point.lsn, 'a position, not a moment');
      // The commit hook, finding no psql in hook.conf, runs the CLI: the commit is recorded by its position all the same.
      fs.writeFileSync(confFile, saved.replace(/^psql .*\n/m, ''), { mode: 0o600 });
      repo.git('commit', '--quiet', '--allow-empty', '-m', 'recorded without psql');
      const sha = repo.git('rev-parse', 'HEAD');
      await repo.waitForUpkeep();
      const listed = (await repo.list()).find((c) => c.commitSha === sha);
      assert.ok(listed?.lsn, `the commit is recorded with a position: ${JSON.stringify(listed)}`);
    } finally {
      fs.writeFileSync(confFile, saved, { mode: 0o600 });
    }
  });

  it('a hook.conf that names anything but a private socket directory is not used: the engine’s path serves', async () => {
    const hookConf = path.join(repo.lockstepDir, 'hook.conf');
    const saved = fs.readFileSync(hookConf, 'utf8');
    try {
      // The keeper the earlier safety points started connected through the socket hook.conf named then: stopped, and
      // none started from this file (the keeper refuses it too).
      expectOk(await lockstep(repo.dir, ['keeper', '--stop']));
      fs.writeFileSync(hookConf, saved.replace(/^host .*$/m, 'host 127.0.0.1'));
      const lines = repo.journalLines().length;
      const { result, loaded } = await guardTraced('cursor', payloadFor('cursor', 'dropdb app', repo.dir, 'tcp'), repo.dir);
      checkAnswer('cursor', result);
      assert.ok(loaded.includes('guard-full.js'), loaded.join(', '));
      assert.equal(repo.journalLines().length, lines + 1);
      const keeper = await lockstep(repo.dir, ['keeper', '--idle', '5']);
      assert.equal(keeper.code, 1, explain(keeper));
      assert.match(keeper.stderr, /no private socket/);
    } finally {
      fs.writeFileSync(hookConf, saved);
    }
  });

  it('tools other than the terminal (VS Code runs the hook for every tool, Claude Code for its matcher): nothing taken', async () => {
    const lines = repo.journalLines().length;
    const edit = { ...(payloadFor('copilot', '', repo.dir, 'x') as object), tool_name: 'replace_string_in_file', tool_input: { filePath: path.join(repo.dir, 'a.sql'), oldString: 'a', newString: 'DROP TABLE contacts' } };
    checkAnswer('copilot', await guard('copilot', edit, repo.dir));
    const write = { ...(payloadFor('claude', '', repo.dir, 'x') as object), tool_name: 'Write', tool_input: { file_path: path.join(repo.dir, 'x.sql'), content: 'drop table contacts;' } };
    const result = await guard('claude', write, repo.dir);
    checkAnswer('claude', result);
    assert.equal(result.stdout, '');
    assert.equal(repo.journalLines().length, lines);
  });

  it('VS Code running the Claude Code hook from .claude/settings.json (its payload, its tool name): the safety point is still taken', async () => {
    const lines = repo.journalLines().length;
    const result = await guard('claude', payloadFor('copilot', 'npx prisma migrate reset --force', repo.dir, 'vscode-1'), repo.dir);
    checkAnswer('claude', result);
    const point = JSON.parse(repo.journalLines().at(-1)!) as JournalRecord;
    assert.equal(repo.journalLines().length, lines + 1);
    assert.deepEqual(point.agent, { name: 'claude', session: 'vscode-1' });
  });

  it('the configuration’s riskyCommands are risky too', async () => {
    const configFile = path.join(repo.lockstepDir, 'config.json');
    const saved = fs.readFileSync(configFile, 'utf8');
    try {
      fs.writeFileSync(configFile, JSON.stringify({ ...JSON.parse(saved), riskyCommands: ['\\bmake\\s+reset-db\\b'] }, null, 2));
      const lines = repo.journalLines().length;
      checkAnswer('cursor', await guard('cursor', payloadFor('cursor', 'make reset-db', repo.dir, 'c2'), repo.dir));
      assert.equal(repo.journalLines().length, lines + 1);
      checkAnswer('cursor', await guard('cursor', payloadFor('cursor', 'make test', repo.dir, 'c2'), repo.dir));
      assert.equal(repo.journalLines().length, lines + 1);
    } finally {
      fs.writeFileSync(configFile, saved);
    }
  });

  it('a wrong --agent, or none: nothing on stdout, exit 0, one line on stderr', async () => {
    const argvs = [['guard'], ['guard', '--agent', 'vim'], ['guard', '--bogus']].flatMap((args) => [[CLI, ...args], [GUARD, ...args.slice(1)]]);
    for (const argv of argvs) {
      const result = await runHook([process.execPath, ...argv], JSON.stringify(payloadFor('claude', 'dropdb app', repo.dir, 's')), repo.dir);
      assert.equal(result.code, 0, explain(result));
      assert.equal(result.stdout, '');
      assert.equal(result.stderr.trim().split('\n').length, 1, explain(result));
      assert.match(result.stderr, /no safety point was taken/);
    }
  });

  it('Lockstep not set up in the repository: a risky command runs with one line, nothing is created', async () => {
    const plain = createRepo();
    for (const tool of TOOLS) {
      const result = await guard(tool, payloadFor(tool, 'npx supabase db reset --linked', plain.dir, 's'), plain.dir);
      const { message } = checkAnswer(tool, result);
      assert.match(message ?? '', /no safety point before this command \(supabase db\): Lockstep is not set up in this repository/);
      // A harmless command says nothing at all (a user-level hook runs in every repository).
      const quiet = await guard(tool, payloadFor(tool, 'git status', plain.dir, 's'), plain.dir);
      assert.equal(checkAnswer(tool, quiet).message, undefined);
      assert.equal(quiet.stderr, '');
    }
    assert.ok(!fs.existsSync(path.join(plain.dir, '.git', 'lockstep')));
    const outside = makeTempDir('lockstep-guard-nogit-');
    const { message } = checkAnswer('claude', await guard('claude', payloadFor('claude', 'dropdb app', outside, 's'), outside));
    assert.match(message ?? '', /is not in a git repository/);
  });

  it('the database down: the command runs, the answer says why, nothing is added to the journal', async () => {
    expectOk(await lockstep(repo.dir, ['db', 'stop']), 'lockstep db stop');
    try {
      const lines = repo.journalLines().length;
      for (const tool of TOOLS) {
        const result = await guard(tool, payloadFor(tool, 'rails db:migrate', repo.dir, 's'), repo.dir);
        const { message } = checkAnswer(tool, result);
        assert.match(message ?? '', /no safety point before this command \(rails\/rake db:\*\)/, explain(result));
      }
      assert.equal(repo.journalLines().length, lines);
    } finally {
      expectOk(await lockstep(repo.dir, ['db', 'start']), 'lockstep db start');
    }
  });

  it('bounded: when Node itself starts slower than the budget, the guard still answers at once and lets the command run', async () => {
    const slow = path.join(makeTempDir('lockstep-slow-'), 'slow.cjs');
    fs.writeFileSync(slow, 'const until = Date.now() + 2700; while (Date.now() < until);\n');
    const lines = repo.journalLines().length;
    const result = await guard('copilot', payloadFor('copilot', 'alembic upgrade head', repo.dir, 's'), repo.dir, { NODE_OPTIONS: `--require=${slow}` });
    const { message } = checkAnswer('copilot', result);
    assert.match(message ?? '', /did not finish within 2\.5 s/);
    assert.equal(repo.journalLines().length, lines);
  });

  it('bounded: a hook runner that never closes stdin still gets its answer, and the guard exits', async () => {
    const child = spawn(process.execPath, [GUARD, '--agent', 'cursor'], { cwd: repo.dir, env: gitTestEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stdin.write(JSON.stringify(payloadFor('cursor', 'dropdb app', repo.dir, 's')));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => (child.kill('SIGKILL'), resolve(-1)), 30_000);
      child.once('close', (c) => (clearTimeout(timer), resolve(c)));
    });
    child.stdin.destroy();
    assert.equal(code, 0, 'exited by itself, with stdin still open');
    assert.match((JSON.parse(stdout) as { user_message?: string }).user_message ?? '', /did not finish within 2\.5 s/);
  });

  it('the hook `lockstep agent install` writes, run as the tool runs it (a shell line), takes the safety point', async () => {
    expectOk(await lockstep(repo.dir, ['agent', 'install', 'claude']));
    const settings = JSON.parse(fs.readFileSync(path.join(repo.dir, '.claude', 'settings.json'), 'utf8')) as { hooks: { PreToolUse: { matcher: string; hooks: { command: string }[] }[] } };
    const entry = settings.hooks.PreToolUse.find((g) => g.matcher === 'Bash')!;
    assert.equal(entry.hooks[0]!.command, `'${process.execPath}' '${fs.realpathSync(GUARD)}' --agent claude`);
    const lines = repo.journalLines().length;
    const result = await runHook(['/bin/sh', '-c', entry.hooks[0]!.command], JSON.stringify(payloadFor('claude', 'npx drizzle-kit push', repo.dir, 'installed')), repo.dir);
    checkAnswer('claude', result);
    assert.equal(repo.journalLines().length, lines + 1, explain(result));
    expectOk(await lockstep(repo.dir, ['agent', 'uninstall', 'claude']));
    assert.ok(!fs.existsSync(path.join(repo.dir, '.claude')));
  });
});
