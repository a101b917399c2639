// Extension-host tests: the language-model tools through vscode.lm.tools and vscode.lm.invokeTool (as an agent calls
// them, outside a chat here), lockstep_restore's confirmation, and the MCP server the provider offers, started for real.
// (Named to run after checkpoints.test.ts, which sets the repository up from scratch.)
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { Client } from 'pg';
import * as vscode from 'vscode';
import type { Checkpoint } from '../../../src/core/checkpoint';
import type { LockstepInternals } from '../../../src/extension/container';
import { eventually, freePort, git, internals, lockstep, workspaceDir } from './support';

const TOOLS = ['lockstep_snapshot', 'lockstep_list', 'lockstep_preview', 'lockstep_restore'];

interface Schema {
  type: string;
  properties: Record<string, { type: string }>;
  required?: string[];
}

function invoke(name: string, input: object): Promise<string> {
  return Promise.resolve(vscode.lm.invokeTool(name, { input, toolInvocationToken: undefined })).then((result) =>
    result.content.map((part) => (part instanceof vscode.LanguageModelTextPart ? part.value : '')).join('\n'),
  );
}

describe('language-model tools and the MCP server provider', function () {
  // A local Postgres; a preview recovers a throwaway copy.
  this.timeout(180_000);
  let api: LockstepInternals;
  let dir: string;

  async function query<T>(sql: string): Promise<T[]> {
    await vscode.commands.executeCommand('lockstep.copyConnectionString', { rethrow: true });
    const client = new Client({ connectionString: await vscode.env.clipboard.readText() });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  const count = async (): Promise<number> => Number((await query<{ n: string }>('select count(*) as n from lm_contacts'))[0]!.n);

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

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    // Alone (--grep) the repository is not set up yet; after the other suites its database is stopped.
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    await query('drop table if exists lm_contacts');
    await query('create table lm_contacts (id serial primary key, name text)');
    await query("insert into lm_contacts (name) values ('Ada'), ('Grace'), ('Edsger')");
    // The preview's row counts are the planner's: analysed, they are exact for a table this small.
    await query('analyze lm_contacts');
  });

  after(async () => {
    await vscode.commands.executeCommand('lockstep.stopDatabase', { rethrow: false });
  });

  it('lists the four tools in vscode.lm.tools with the schemas package.json declares', () => {
    const listed = vscode.lm.tools.filter((tool) => tool.name.startsWith('lockstep_'));
    assert.deepEqual(listed.map((tool) => tool.name).sort(), [...TOOLS].sort());
    const schema = (name: string): Schema => listed.find((tool) => tool.name === name)!.inputSchema as Schema;
    assert.equal(schema('lockstep_snapshot').properties.label?.type, 'string');
    assert.equal(schema('lockstep_snapshot').required, undefined, 'the label is optional');
    assert.equal(schema('lockstep_list').properties.limit?.type, 'integer');
    for (const name of ['lockstep_preview', 'lockstep_restore']) {
      assert.equal(schema(name).properties.ref?.type, 'string', `${name} takes a ref`);
      assert.deepEqual(schema(name).required, ['ref'], `${name} needs its ref`);
    }
    for (const tool of listed) assert.ok(tool.description.length > 100, `${tool.name} tells the model little: ${tool.description}`);
    assert.match(listed.find((tool) => tool.name === 'lockstep_restore')!.description, /user's yes/);
  });

  it('lockstep_snapshot adds a safety point recorded as asked by vscode-lm, and it shows in the tree', async () => {
    const before = journal().length;
    const text = await invoke('lockstep_snapshot', { label: 'before the agent deletes contacts' });
    const added = journal().slice(before);
    assert.equal(added.length, 1, `checkpoints added: ${JSON.stringify(added)}`);
    const point = added[0]!;
    assert.equal(point.kind, 'safety');
    assert.equal(point.label, 'before the agent deletes contacts');
    assert.deepEqual(point.agent, { name: 'vscode-lm' });
    assert.equal(point.commitSha, git(dir, 'rev-parse', 'HEAD'));
    assert.match(text, new RegExp(`Safety point ${point.id} taken`));
    assert.match(text, new RegExp(`lockstep_restore with ref ${point.id}`));
    await eventually('the safety point in the tree', async () => (await api.checkpointRows()).find((item) => item.id === `checkpoint:${point.id}`));
  });

  it('lockstep_list names the safety point first, with its kind and agent', async () => {
    const newest = journal().at(-1)!;
    const text = await invoke('lockstep_list', { limit: 3 });
    const rows = text.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { id: string; kind: string; agent: string | null; restorable: boolean });
    assert.ok(rows.length >= 1 && rows.length <= 3, text);
    assert.equal(rows[0]!.id, newest.id);
    assert.equal(rows[0]!.kind, 'safety');
    assert.equal(rows[0]!.agent, 'vscode-lm');
    assert.equal(rows[0]!.restorable, true);
  });

  it('lockstep_preview says what a restore would change and changes nothing', async () => {
    const point = journal().at(-1)!;
    await query("delete from lm_contacts where name <> 'Ada'");
    await query('analyze lm_contacts');
    const head = git(dir, 'rev-parse', 'HEAD');
    const text = await invoke('lockstep_preview', { ref: point.id });
    assert.match(text, /^\(preview: nothing was changed\)/);
    // Exact, by key (Markdown-escaped text read without its backslashes): the rows the restore puts back.
    assert.match(text.replace(/\\/g, ''), /lm_contacts \| 2 deleted \(by id\) \| 2 rows deleted since put back \| 1 \| 3 \|/, `no row change for lm_contacts in:\n${text}`);
    assert.match(text, new RegExp(`lockstep_restore with ref ${point.id} would do this`));
    assert.equal(await count(), 1, 'the preview changed the data');
    assert.equal(git(dir, 'rev-parse', 'HEAD'), head, 'the preview moved HEAD');
  });

  it('lockstep_restore’s confirmation carries the preview, and preparing it changes nothing', async () => {
    const point = journal().at(-1)!;
    const prepared = await api.agentTools.prepareRestore({ ref: point.id });
    const confirmation = prepared.confirmationMessages;
    assert.ok(confirmation, 'no confirmationMessages: the chat would not ask');
    assert.equal(confirmation.title, 'Restore data only to “before the agent deletes contacts”?');
    // Markdown-escaped text: read without its backslashes.
    const message = (typeof confirmation.message === 'string' ? confirmation.message : confirmation.message.value).replace(/\\/g, '');
    assert.match(message, /lm_contacts: 2 rows deleted since put back/, `the row change is not in the confirmation:\n${message}`);
    assert.match(message, /Undo Restore puts code and data back/);
    assert.equal(await count(), 1, 'preparing the confirmation changed the data');
  });

  it('refuses a ref that names nothing, clearly, and changes nothing', async () => {
    const before = journal().length;
    await assert.rejects(invoke('lockstep_preview', { ref: 'no-such-checkpoint' }), /no-such-checkpoint/);
    await assert.rejects(invoke('lockstep_snapshot', { label: 'two\nlines' }), /label/i);
    assert.equal(journal().length, before);
    assert.equal(await count(), 1);
  });

  it('offers `lockstep mcp` for the repository, run by VS Code’s own runtime, and that server answers a real MCP client', async () => {
    // VS Code keeps the definitions it collects to itself: this is what the registered provider hands it.
    const definitions = await api.mcpServerDefinitions();
    assert.equal(definitions.length, 1);
    const server = definitions[0]!;
    assert.ok(server instanceof vscode.McpStdioServerDefinition);
    assert.equal(server.label, 'Lockstep');
    assert.equal(server.command, process.execPath);
    assert.deepEqual(server.args, [path.join(lockstep().extensionPath, 'dist', 'cli.js'), 'mcp']);
    assert.equal(server.cwd && fs.realpathSync(server.cwd.fsPath), dir);
    assert.deepEqual(server.env, process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {});

    // Started as VS Code starts a stdio server: the command, its arguments, the extension host's environment plus env, in cwd.
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...process.env, ...server.env })) if (typeof value === 'string') env[name] = value;
    const transport = new StdioClientTransport({ command: server.command, args: server.args, env, cwd: server.cwd!.fsPath, stderr: 'pipe' });
    const client = new McpClient({ name: 'lockstep-host-test', version: '1.0.0' });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      assert.deepEqual(tools.map((tool) => tool.name).sort(), [...TOOLS].sort());
      const listed = await client.callTool({ name: 'lockstep_list', arguments: { limit: 1 } });
      assert.ok(!listed.isError, JSON.stringify(listed));
      assert.match(JSON.stringify(listed.content), new RegExp(journal().at(-1)!.id));
    } finally {
      await client.close();
    }
  });
});
