// Extension-host tests: real VS Code terminals with shell integration; a risky command gets a safety point before its writes, and the terminal gets DATABASE_URL and `lockstep`.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import * as vscode from 'vscode';
import type { Checkpoint } from '../../../src/core/checkpoint';
import type { RestoreResult } from '../../../src/core/restore';
import type { WriteEnvResult } from '../../../src/extension/appWiring';
import type { LockstepInternals } from '../../../src/extension/container';
import { SETTLED_MS, type TerminalSafetyPoint } from '../../../src/extension/terminalSafety';
import { eventually, freePort, git, internals, workspaceDir } from './support';

/** The system's psql (Debian's postgresql-client); the local engine's own binaries may have none. */
const PSQL = ['/usr/lib/postgresql/15/bin/psql', '/usr/bin/psql'].find((file) => fs.existsSync(file)) ?? 'psql';

describe('terminal safety points and environment', function () {
  // A local Postgres; each restore is a point-in-time recovery.
  this.timeout(180_000);
  let api: LockstepInternals;
  let dir: string;
  let terminal: vscode.Terminal;
  const taken: TerminalSafetyPoint[] = [];
  let listener: vscode.Disposable | undefined;

  async function databaseUrl(): Promise<string> {
    await vscode.commands.executeCommand('lockstep.copyConnectionString', { rethrow: true });
    return vscode.env.clipboard.readText();
  }

  async function query<T>(sql: string): Promise<T[]> {
    const client = new Client({ connectionString: await databaseUrl() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  function journal(): Checkpoint[] {
    const file = path.join(dir, '.git', 'lockstep', 'journal.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Checkpoint)
      .filter((c) => typeof c.id === 'string' && typeof c.kind === 'string');
  }

  const safetyPoints = (): Checkpoint[] => journal().filter((c) => c.kind === 'safety' && c.agent?.name === 'vscode-terminal');

  /** A new terminal in the workspace whose shell integration is active. */
  async function openTerminal(name: string): Promise<vscode.Terminal> {
    const created = vscode.window.createTerminal({ name, cwd: dir, shellPath: '/bin/bash' });
    created.show(true);
    await eventually(`shell integration in the terminal "${name}"`, () => created.shellIntegration, 30_000);
    return created;
  }

  /** A person reads the prompt before typing: longer than SETTLED_MS, so the reading taken there counts. */
  const pauseAtPrompt = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, SETTLED_MS + 600));

  /** Runs `command` through shell integration and waits for it to end; returns its exit code. */
  async function run(target: vscode.Terminal, command: string): Promise<number | undefined> {
    const integration = target.shellIntegration;
    assert.ok(integration, 'no shell integration');
    const ended = new Promise<number | undefined>((resolve) => {
      const done = vscode.window.onDidEndTerminalShellExecution((event) => {
        if (event.execution !== execution) return;
        done.dispose();
        resolve(event.exitCode);
      });
    });
    const execution = integration.executeCommand(command);
    return ended;
  }

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    // Alone (--grep) the repository is not set up yet; after the other suites its database is stopped.
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    await query('drop table if exists contacts');
    await query('create table contacts (id serial primary key, name text)');
    await query("insert into contacts (name) values ('Ada'), ('Grace'), ('Edsger')");
    listener = api.onDidTakeTerminalSafetyPoint((point) => taken.push(point));
    await api.whenTerminalEnvironmentUpdated();
    // Opened after the set-up, so the terminal starts with the environment Lockstep gives it.
    terminal = await openTerminal('lockstep-tests');
  });

  after(async () => {
    listener?.dispose();
    terminal?.dispose();
    await vscode.workspace.getConfiguration('lockstep').update('agents.terminalSafetyPoints', undefined, vscode.ConfigurationTarget.Global);
    await vscode.commands.executeCommand('lockstep.stopDatabase', { rethrow: false });
  });

  it('gives the terminal DATABASE_URL and a lockstep command that runs this extension’s CLI', async () => {
    const out = path.join(process.env.LOCKSTEP_TEST_RUN_DIR ?? dir, `terminal-env-${process.pid}`);
    fs.mkdirSync(out, { recursive: true });
    assert.equal(await run(terminal, `printf '%s' "$DATABASE_URL" > '${out}/url'; command -v lockstep > '${out}/which'; lockstep list --json > '${out}/list.json'`), 0);
    assert.equal(fs.readFileSync(path.join(out, 'url'), 'utf8'), await databaseUrl());
    const shim = fs.readFileSync(path.join(out, 'which'), 'utf8').trim();
    assert.ok(shim.endsWith('/bin/lockstep'), `lockstep resolves to ${shim}`);
    assert.ok(fs.readFileSync(shim, 'utf8').includes(path.join('dist', 'cli.js')), 'the shim does not run the bundled CLI');
    const listed = JSON.parse(fs.readFileSync(path.join(out, 'list.json'), 'utf8')) as unknown;
    assert.ok(Array.isArray(listed), 'lockstep list --json from the terminal printed no list');
  });

  it('takes no safety point before a command that only reads', async () => {
    const before = safetyPoints().length;
    assert.equal(await run(terminal, `${PSQL} "$DATABASE_URL" -Atc 'select count(*) from contacts'`), 0);
    // The next risky command's point is the first one taken since: the read got none.
    assert.equal(await run(terminal, `${PSQL} "$DATABASE_URL" -c "insert into contacts (name) values ('Barbara')"`), 0);
    await eventually('the safety point before the insert', () => (safetyPoints().length > before ? true : undefined));
    const added = safetyPoints().slice(before);
    assert.equal(added.length, 1, `safety points taken: ${added.map((c) => c.command).join(' | ')}`);
    assert.match(added[0]!.command ?? '', /insert into contacts/);
  });

  it('takes a safety point before `psql -c drop table` that comes before the drop, and Undo This Command brings the table back', async () => {
    const count = Number((await query<{ n: string }>('select count(*) as n from contacts'))[0]!.n);
    const command = `${PSQL} "$DATABASE_URL" -c 'drop table contacts'`;
    const seen = taken.length;
    await pauseAtPrompt();
    assert.equal(await run(terminal, command), 0);
    const point = await eventually('the safety point before the drop', () => taken.slice(seen).find((p) => p.checkpoint.command === command));
    assert.equal(point.checkpoint.kind, 'safety');
    assert.deepEqual(point.checkpoint.agent, { name: 'vscode-terminal' });
    assert.equal(point.checkpoint.label, `before: ${command}`);
    assert.notEqual(point.basis, 'late', 'the position was read after the command started');
    assert.equal((await query<{ t: string | null }>("select to_regclass('contacts')::text as t"))[0]!.t, null, 'the drop did not run');

    // The tree row: the command and who took it.
    const row = await eventually('the safety point in the tree', async () => (await api.checkpointRows()).find((item) => item.id === `checkpoint:${point.checkpoint.id}`));
    assert.match(String(row.description), /^vscode-terminal · /);
    assert.match(String(row.contextValue), /^checkpoint:restorable:.*:safety$/);
    assert.ok(row.tooltip instanceof vscode.MarkdownString && row.tooltip.value.includes('drop table contacts'), 'the tooltip does not name the command');

    const result = await vscode.commands.executeCommand<RestoreResult>('lockstep.undoCommand', { ref: point.checkpoint.id, answer: 'Restore', rethrow: true });
    assert.equal(result.mode, 'data-only', 'HEAD did not move: the data alone is restored');
    assert.equal(Number((await query<{ n: string }>('select count(*) as n from contacts'))[0]!.n), count, 'the table did not come back with its rows');
  });

  it('puts the safety point of a command typed ahead before the command before it too, and names both', async () => {
    await query('drop table if exists typed_ahead');
    await query('create table typed_ahead (id int primary key)');
    await query('insert into typed_ahead select generate_series(1, 100)');
    // A prompt after the set-up writes, read in time.
    assert.equal(await run(terminal, 'true'), 0);
    await pauseAtPrompt();
    const first = `${PSQL} "$DATABASE_URL" -Atc 'select 1'`;
    const second = `${PSQL} "$DATABASE_URL" -c 'drop table typed_ahead'`;
    const seen = taken.length;
    const ended = new Promise<void>((resolve) => {
      const done = vscode.window.onDidEndTerminalShellExecution((event) => {
        if (event.terminal !== terminal || event.execution.commandLine.value !== second) return;
        done.dispose();
        resolve();
      });
    });
    // Both lines reach the shell at once: the second starts the moment the first ends, before any prompt reading can answer.
    terminal.sendText(`${first}\n${second}`);
    await ended;
    const point = await eventually('the safety point before the typed-ahead drop', () => taken.slice(seen).find((p) => p.checkpoint.command === second));
    // Its prompt's reading was asked for as the first command ended, the moment the second started: it cannot count.
    assert.equal(point.basis, 'earlier');
    assert.equal(point.checkpoint.label, `before: ${first} ; ${second}`);
    assert.equal((await query<{ t: string | null }>("select to_regclass('typed_ahead')::text as t"))[0]!.t, null, 'the drop did not run');
    await vscode.commands.executeCommand<RestoreResult>('lockstep.undoCommand', { ref: point.checkpoint.id, answer: 'Restore', rethrow: true });
    assert.equal(Number((await query<{ n: string }>('select count(*) as n from typed_ahead'))[0]!.n), 100, 'the safety point came after the drop');
  });

  it('takes none while the setting is off', async () => {
    await vscode.workspace.getConfiguration('lockstep').update('agents.terminalSafetyPoints', false, vscode.ConfigurationTarget.Global);
    const before = safetyPoints().length;
    try {
      assert.equal(await run(terminal, `${PSQL} "$DATABASE_URL" -c "delete from contacts where name = 'Ada'"`), 0);
    } finally {
      await vscode.workspace.getConfiguration('lockstep').update('agents.terminalSafetyPoints', undefined, vscode.ConfigurationTarget.Global);
    }
    // Back on: the next risky command is the first with a point.
    assert.equal(await run(terminal, `${PSQL} "$DATABASE_URL" -c "delete from contacts where name = 'Grace'"`), 0);
    await eventually('the safety point before the second delete', () => (safetyPoints().length > before ? true : undefined));
    const added = safetyPoints().slice(before);
    assert.deepEqual(added.map((c) => c.command), [`${PSQL} "$DATABASE_URL" -c "delete from contacts where name = 'Grace'"`]);
  });

  it('writes DATABASE_URL into .env only as asked: an existing line replaced on a yes, a tracked file left alone on a no', async () => {
    const envFile = path.join(dir, '.env');
    const url = await databaseUrl();
    const original = 'A=1\r\nDATABASE_URL=postgres://me@db.example:5432/prod\r\n# keep me\r\n';
    fs.writeFileSync(envFile, original);
    try {
      const declined = await vscode.commands.executeCommand<WriteEnvResult>('lockstep.writeEnvFile', { replaceAnswer: 'Cancel', gitignoreAnswer: 'No', rethrow: true });
      assert.equal(declined.action, 'declined');
      assert.equal(fs.readFileSync(envFile, 'utf8'), original, 'a declined replace changed the file');
      const replaced = await vscode.commands.executeCommand<WriteEnvResult>('lockstep.writeEnvFile', { replaceAnswer: 'Replace', gitignoreAnswer: 'No', rethrow: true });
      assert.equal(replaced.action, 'replaced');
      assert.equal(fs.readFileSync(envFile, 'utf8'), `A=1\r\nDATABASE_URL=${url}\r\n# keep me\r\n`);
      const again = await vscode.commands.executeCommand<WriteEnvResult>('lockstep.writeEnvFile', { gitignoreAnswer: 'No', rethrow: true });
      assert.equal(again.action, 'unchanged');

      fs.writeFileSync(envFile, 'A=1\n');
      git(dir, 'add', '--force', '.env');
      const tracked = await vscode.commands.executeCommand<WriteEnvResult>('lockstep.writeEnvFile', { trackedAnswer: 'Cancel', rethrow: true });
      assert.equal(tracked.action, 'declined');
      assert.equal(fs.readFileSync(envFile, 'utf8'), 'A=1\n', 'a tracked file was written without a yes');
    } finally {
      git(dir, 'rm', '--cached', '--quiet', '--ignore-unmatch', '.env');
      fs.rmSync(envFile, { force: true });
    }
  });

  it('refuses Undo This Command on a checkpoint that is not a safety point', async () => {
    if (!journal().some((c) => c.kind !== 'safety')) await vscode.commands.executeCommand('lockstep.takeSnapshot', { label: 'not a safety point', rethrow: true });
    const target = journal().find((c) => c.kind !== 'safety')!;
    await assert.rejects(Promise.resolve(vscode.commands.executeCommand('lockstep.undoCommand', { ref: target.id, answer: 'Restore', rethrow: true })), /not a safety point/);
  });
});
