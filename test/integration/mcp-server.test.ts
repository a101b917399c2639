// `lockstep mcp` through real MCP clients (the SDK's Client over stdio, and the MCP Inspector's CLI) on a real local Postgres: the tools, safety points, and restores only behind a person's yes or the own-session rule.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema, type CallToolResult, type ElicitRequest, type ElicitResult } from '@modelcontextprotocol/sdk/types.js';
import { CLI, explain, initRepo, runProcess, type JournalRecord, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';
import { gitTestEnv } from '../support/git';

const ROOT = path.resolve(__dirname, '..', '..');
const INSPECTOR = path.join(ROOT, 'node_modules', '.bin', 'mcp-inspector-cli');

interface Session {
  client: Client;
  /** What the server wrote on stderr so far (for assertion messages). */
  stderr(): string;
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** A user at the client: answers each elicitation, and keeps what it was asked. */
interface User {
  asked: ElicitRequest['params'][];
  answer: (params: ElicitRequest['params']) => ElicitResult;
}

/** `lockstep mcp` in `dir`, spawned and spoken to by the SDK's own client; with `user`, the client declares elicitation. */
async function connect(dir: string, user?: User): Promise<Session> {
  const client = new Client({ name: 'lockstep-test-client', version: '1.0.0' }, { capabilities: user ? { elicitation: { form: {} } } : {} });
  if (user) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      user.asked.push(request.params);
      return user.answer(request.params);
    });
  }
  const env = Object.fromEntries(Object.entries(gitTestEnv({ LOCKSTEP_VERBOSE: '1' })).filter((e): e is [string, string] => e[1] !== undefined));
  const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp'], cwd: dir, env, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  await client.connect(transport);
  return {
    client,
    stderr: () => stderr,
    call: async (name, args = {}) => (await client.callTool({ name, arguments: args }, undefined, { timeout: 240_000 })) as CallToolResult,
    close: () => client.close(),
  };
}

function textOf(result: CallToolResult): string {
  return result.content.map((c) => (c.type === 'text' ? c.text : `[${c.type}]`)).join('\n');
}

function journal(repo: LockstepRepo): JournalRecord[] {
  return repo.journalLines().map((line) => JSON.parse(line) as JournalRecord);
}

/** Everything a restore could change: the data, HEAD, the working tree, the journal and the audit trail. */
async function world(repo: LockstepRepo): Promise<{ data: Fingerprint; head: string; branch: string; porcelain: string; journal: string[]; audit: string }> {
  return {
    data: await fingerprint(repo.url),
    head: repo.head(),
    branch: repo.git('branch', '--show-current'),
    porcelain: repo.git('status', '--porcelain', '--untracked-files=all'),
    journal: repo.journalLines(),
    audit: fs.existsSync(repo.auditFile) ? fs.readFileSync(repo.auditFile, 'utf8') : '',
  };
}

async function commitVersion(repo: LockstepRepo, migration: string, file: string, subject: string): Promise<{ sha: string; checkpointId: string; data: Fingerprint }> {
  await sql(repo.url, migration);
  repo.write(file, `${migration}\n`);
  repo.git('add', '.');
  repo.git('commit', '--quiet', '-m', subject);
  const sha = repo.head();
  const checkpoint = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === sha);
  assert.ok(checkpoint, `the hook recorded "${subject}"`);
  return { sha, checkpointId: checkpoint.id, data: await fingerprint(repo.url) };
}

describe('mcp: `lockstep mcp` through real MCP clients', function () {
  let repo: LockstepRepo;
  let v1: Awaited<ReturnType<typeof commitVersion>>;
  let v2: Awaited<ReturnType<typeof commitVersion>>;
  const sessions: Session[] = [];
  const open = async (user?: User) => {
    const session = await connect(repo.dir, user);
    sessions.push(session);
    return session;
  };

  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-mcp-' });
    v1 = await commitVersion(repo, "CREATE TABLE contacts (id serial PRIMARY KEY, name text); INSERT INTO contacts (name) VALUES ('Ada'), ('Alan'), ('Grace');", 'migrations/001.sql', 'v1: contacts');
    v2 = await commitVersion(repo, "CREATE TABLE notes (id serial PRIMARY KEY, body text); INSERT INTO notes (body) VALUES ('one'), ('two'); INSERT INTO contacts (name) VALUES ('Katherine');", 'migrations/002.sql', 'v2: notes');
  });
  afterEach(async () => {
    for (const session of sessions.splice(0)) await session.close().catch(() => undefined);
  });
  after(async () => {
    await repo?.cleanup();
  });

  it('lists the four tools with their input schemas, descriptions and annotations', async () => {
    const session = await open();
    const { tools } = await session.client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ['lockstep_list', 'lockstep_preview', 'lockstep_restore', 'lockstep_snapshot']);

    const snapshot = byName.get('lockstep_snapshot')!;
    assert.equal(snapshot.inputSchema.type, 'object');
    assert.equal((snapshot.inputSchema.properties as Record<string, { type: string }>).label?.type, 'string');
    assert.ok(!snapshot.inputSchema.required?.includes('label'), 'the label is optional');
    assert.match(snapshot.description ?? '', /BEFORE any step/);
    assert.match(snapshot.description ?? '', /migrat/);
    assert.equal(snapshot.annotations?.destructiveHint, false);

    for (const name of ['lockstep_preview', 'lockstep_restore']) {
      const tool = byName.get(name)!;
      assert.equal((tool.inputSchema.properties as Record<string, { type: string }>).ref?.type, 'string', name);
      assert.deepEqual(tool.inputSchema.required, ['ref'], name);
    }
    assert.equal(byName.get('lockstep_preview')!.annotations?.readOnlyHint, true);
    assert.equal(byName.get('lockstep_list')!.annotations?.readOnlyHint, true);
    const restoreTool = byName.get('lockstep_restore')!;
    assert.equal(restoreTool.annotations?.destructiveHint, true);
    assert.equal(restoreTool.annotations?.readOnlyHint, false);
    assert.match(restoreTool.description ?? '', /person's yes/);
    assert.ok(byName.get('lockstep_list')!.outputSchema, 'the list has an output schema');
  });

  it('lockstep_snapshot takes a safety point with the agent, its session and the client; lockstep_list shows it', async () => {
    const session = await open();
    const first = await session.call('lockstep_snapshot', { label: 'before prisma migrate reset' });
    assert.ok(!first.isError, textOf(first));
    const id = (first.structuredContent as { id: string }).id;
    assert.match(textOf(first), new RegExp(`Safety point ${id} taken`));
    const second = await session.call('lockstep_snapshot', {});
    assert.ok(!second.isError, textOf(second));

    const records = journal(repo);
    const one = records.find((r) => r.id === id);
    assert.ok(one, 'the safety point is in the journal');
    assert.equal(one.kind, 'safety');
    assert.equal(one.label, 'before prisma migrate reset');
    assert.equal(one.commitSha, v2.sha);
    assert.equal(one.agent?.name, 'mcp');
    assert.equal(one.agent?.client, 'lockstep-test-client');
    assert.match(one.agent?.session ?? '', /^[0-9a-f-]{36}$/);
    const two = records.find((r) => r.id === (second.structuredContent as { id: string }).id);
    assert.equal(two?.agent?.session, one.agent?.session, 'one server, one session');

    const listed = await session.call('lockstep_list', { limit: 5 });
    assert.ok(!listed.isError, textOf(listed));
    const rows = (listed.structuredContent as { checkpoints: { id: string; kind: string; label: string | null; thisSession: boolean; restorable: boolean; commit: string | null }[] }).checkpoints;
    const row = rows.find((r) => r.id === id);
    assert.deepEqual(
      { kind: row?.kind, label: row?.label, thisSession: row?.thisSession, restorable: row?.restorable, commit: row?.commit },
      { kind: 'safety', label: 'before prisma migrate reset', thisSession: true, restorable: true, commit: v2.sha.slice(0, 12) },
    );
    assert.ok(rows.some((r) => r.id === v1.checkpointId) || rows.length === 5);

    const other = await open();
    const third = await other.call('lockstep_snapshot', { label: 'another agent' });
    assert.notEqual(journal(repo).find((r) => r.id === (third.structuredContent as { id: string }).id)?.agent?.session, one.agent?.session, 'another server, another session');
  });

  it('bad input comes back as a tool error, and the server keeps serving', async () => {
    const session = await open();
    const before = repo.journalLines();
    const forged = await session.call('lockstep_snapshot', { label: 'two\nlines' });
    assert.equal(forged.isError, true, textOf(forged));
    const unknown = await session.call('lockstep_preview', { ref: 'ffffffffffff' });
    assert.equal(unknown.isError, true);
    assert.match(textOf(unknown), /no checkpoint matches|has no checkpoint/);
    assert.deepEqual(repo.journalLines(), before, 'nothing was recorded');
    const listed = await session.call('lockstep_list');
    assert.ok(!listed.isError, textOf(listed));
  });

  it('lockstep_preview says what a restore would change and changes nothing', async () => {
    const session = await open();
    const before = await world(repo);
    const result = await session.call('lockstep_preview', { ref: v1.checkpointId });
    assert.ok(!result.isError, textOf(result));
    const text = textOf(result);
    assert.match(text, /nothing was changed/);
    assert.match(text, new RegExp(`Restore to ${v1.checkpointId} "v1: contacts"`));
    assert.match(text, /table notes disappears/);
    // Exact rows since v1 (what the restore takes back), not estimates.
    assert.match(text, /contacts\s+\+1 inserted \(by id\)/);
    assert.match(text, new RegExp(`code: main@${v2.sha.slice(0, 7)} → branch lockstep/restore-${v1.sha.slice(0, 7)}`));
    assert.deepEqual(await world(repo), before);
  });

  it('refuses a restore when the client cannot ask the user, and says what the user can run or click', async () => {
    const session = await open();
    const before = await world(repo);
    const result = await session.call('lockstep_restore', { ref: v1.checkpointId });
    assert.equal(result.isError, true, textOf(result));
    const text = textOf(result);
    assert.match(text, /Nothing was changed/);
    assert.match(text, /cannot ask/);
    assert.ok(text.includes(`lockstep restore ${v1.checkpointId}`), text);
    assert.ok(text.includes('Lockstep: Restore Checkpoint…'), text);
    assert.match(text, /commit checkpoint, not a safety point/);
    assert.deepEqual(await world(repo), before);
  });

  describe('the own-session rule', () => {
    it('restores without asking to its own safety point when nothing happened since (uncommitted edits kept)', async () => {
      const session = await open();
      const taken = await session.call('lockstep_snapshot', { label: 'before the cleanup script' });
      const id = (taken.structuredContent as { id: string }).id;
      const good = await fingerprint(repo.url);
      // The agent's step goes wrong; it also left an edit uncommitted, as agents do between commits.
      await sql(repo.url, 'DELETE FROM contacts; DROP TABLE notes');
      repo.write('app/draft.js', 'export const draft = 1;\n');
      const head = repo.head();
      const result = await session.call('lockstep_restore', { ref: id });
      assert.ok(!result.isError, `${textOf(result)}\n${session.stderr()}`);
      assert.match(textOf(result), /Restored data to/);
      assert.match(textOf(result), /without asking/);
      assert.deepEqual(await fingerprint(repo.url), good, 'the data is back as it was at the safety point');
      assert.equal(repo.head(), head);
      assert.equal(repo.read('app/draft.js'), 'export const draft = 1;\n', 'the uncommitted edit is untouched');
      fs.rmSync(repo.path('app'), { recursive: true });

      // Once restored, the same point again is the user's call: a restore ran since.
      const again = await session.call('lockstep_restore', { ref: id });
      assert.equal(again.isError, true, textOf(again));
      assert.match(textOf(again), /a pre-restore checkpoint \([0-9a-f]{12}\) was taken since|a restore ran since/);
    });

    it('refuses its own safety point after a commit', async () => {
      const session = await open();
      const taken = await session.call('lockstep_snapshot', { label: 'before v3' });
      const id = (taken.structuredContent as { id: string }).id;
      repo.commit('docs/notes.md', 'v3\n', 'v3: docs');
      // The hook's checkpoint of that commit is in the journal.
      assert.ok((await repo.list()).some((c) => c.kind === 'commit' && c.commitSha === repo.head()));
      const before = await world(repo);
      const result = await session.call('lockstep_restore', { ref: id });
      assert.equal(result.isError, true, textOf(result));
      assert.match(textOf(result), /a commit \([0-9a-f]{12}\) was taken since/);
      assert.ok(textOf(result).includes(`lockstep restore ${id}`));
      assert.deepEqual(await world(repo), before);
    });

    it("refuses another session's safety point", async () => {
      const mine = await open();
      const theirs = await open();
      const taken = await theirs.call('lockstep_snapshot', { label: 'their point' });
      const id = (taken.structuredContent as { id: string }).id;
      const before = await world(repo);
      const result = await mine.call('lockstep_restore', { ref: id });
      assert.equal(result.isError, true, textOf(result));
      assert.match(textOf(result), /was not taken by this session/);
      assert.deepEqual(await world(repo), before);
    });
  });

  describe('with a client that can ask the user (elicitation)', () => {
    it('declined, or accepted without the box ticked: nothing changes', async () => {
      await sql(repo.url, "INSERT INTO contacts (name) VALUES ('written after v3')");
      for (const answer of [{ action: 'decline' }, { action: 'cancel' }, { action: 'accept', content: { confirm: false } }] as ElicitResult[]) {
        const user: User = { asked: [], answer: () => answer };
        const session = await open(user);
        const before = await world(repo);
        const result = await session.call('lockstep_restore', { ref: v1.checkpointId });
        assert.ok(!result.isError, textOf(result));
        assert.match(textOf(result), /Not restored: the user (declined|cancelled|did not confirm)/);
        assert.match(textOf(result), /Nothing was changed/);
        assert.equal(user.asked.length, 1, 'the user was asked once');
        const asked = user.asked[0]!;
        assert.ok('requestedSchema' in asked);
        assert.deepEqual(Object.keys(asked.requestedSchema.properties), ['confirm']);
        assert.equal(asked.requestedSchema.properties.confirm?.type, 'boolean');
        // The question carries the preview: tables, rows and the commit.
        assert.match(asked.message, new RegExp(`Restore to ${v1.checkpointId} "v1: contacts"`));
        assert.match(asked.message, /table notes disappears/);
        assert.match(asked.message, /contacts\s+\+2 inserted \(by id\)/);
        assert.match(asked.message, new RegExp(`→ branch lockstep/restore-${v1.sha.slice(0, 7)}`));
        assert.deepEqual(await world(repo), before, `${answer.action}: data, HEAD, journal and audit unchanged`);
        await session.close();
      }
    });

    it('accepted: code and data are restored', async () => {
      const user: User = { asked: [], answer: () => ({ action: 'accept', content: { confirm: true } }) };
      const session = await open(user);
      const result = await session.call('lockstep_restore', { ref: v1.checkpointId });
      assert.ok(!result.isError, `${textOf(result)}\n${session.stderr()}`);
      assert.equal(user.asked.length, 1);
      assert.match(textOf(result), new RegExp(`Restored code and data to ${v1.checkpointId}`));
      assert.match(textOf(result), /the user said yes/);
      assert.deepEqual(await fingerprint(repo.url), v1.data);
      assert.equal(repo.head(), v1.sha);
      assert.equal(repo.git('branch', '--show-current'), `lockstep/restore-${v1.sha.slice(0, 7)}`);
      assert.ok(!fs.existsSync(repo.path('migrations/002.sql')));
      // The same session keeps working on the restored database (its connection was to the server before).
      const after = await session.call('lockstep_snapshot', { label: 'after the restore' });
      assert.ok(!after.isError, textOf(after));
    });
  });

  describe('the MCP Inspector CLI as a client', () => {
    // The inspector (1.0.3) finds its own package.json by a path relative to the current directory: it runs in its
    // build directory, as it expects, and the server is pointed at the repository with --repo.
    const inspector = (args: string[]) =>
      runProcess(INSPECTOR, ['--cli', process.execPath, CLI, 'mcp', '--repo', repo.dir, ...args], path.dirname(fs.realpathSync(INSPECTOR)), { timeoutMs: 120_000 });

    it('lists the tools', async () => {
      const result = await inspector(['--method', 'tools/list']);
      assert.equal(result.code, 0, explain(result));
      const { tools } = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as { tools: { name: string; annotations?: { destructiveHint?: boolean } }[] };
      assert.deepEqual(tools.map((t) => t.name).sort(), ['lockstep_list', 'lockstep_preview', 'lockstep_restore', 'lockstep_snapshot']);
      assert.equal(tools.find((t) => t.name === 'lockstep_restore')?.annotations?.destructiveHint, true);
    });

    it('takes a snapshot with lockstep_snapshot', async () => {
      const result = await inspector(['--method', 'tools/call', '--tool-name', 'lockstep_snapshot', '--tool-arg', 'label=from the inspector']);
      assert.equal(result.code, 0, explain(result));
      const reply = JSON.parse(result.stdout.slice(result.stdout.indexOf('{'))) as CallToolResult;
      assert.ok(!reply.isError, result.stdout);
      const id = (reply.structuredContent as { id: string }).id;
      const record = journal(repo).find((r) => r.id === id);
      assert.equal(record?.kind, 'safety');
      assert.equal(record?.label, 'from the inspector');
      assert.equal(record?.agent?.name, 'mcp');
    });
  });
});
