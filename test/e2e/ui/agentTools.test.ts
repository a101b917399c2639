// UI tests of the language-model tools outside a chat: another extension (harness/lmToolCaller) calls them through
// vscode.lm.invokeTool, as any extension may; lockstep_restore then asks in a modal with the preview, Cancel changes
// nothing, Restore restores. (Chat itself has no language model here: no Copilot, no network.)
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { eventually, type Workbench } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const VIEW = 'Checkpoints';
const LABEL = 'before the agent deletes contacts';
const QUESTION = `Restore data only to “${LABEL}”?`;

interface ToolCall {
  name: string;
  ok: boolean;
  text?: string;
  error?: string;
}

function lockstep(workspace: GitWorkspace, ...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 120_000 });
  if (run.status !== 0) throw new Error(`lockstep ${args.join(' ')} failed (${run.status ?? run.signal}): ${run.stderr}`);
  return run.stdout.trim();
}

async function sql<T>(workspace: GitWorkspace, text: string): Promise<T[]> {
  const client = new Client({ connectionString: lockstep(workspace, 'db', 'url') });
  await client.connect();
  try {
    return (await client.query(text)).rows as T[];
  } finally {
    await client.end();
  }
}

const contacts = async (workspace: GitWorkspace): Promise<number> => Number((await sql<{ n: string }>(workspace, 'select count(*) as n from contacts'))[0]!.n);
const journalLines = (workspace: GitWorkspace): string[] =>
  fs.readFileSync(path.join(workspace.dir, '.git', 'lockstep', 'journal.jsonl'), 'utf8').split('\n').filter((line) => line.trim() !== '');

/** The calls the caller extension finished, in order (it appends each to a file in the run's folder). */
function toolCalls(): ToolCall[] {
  const file = path.join(e2e().runDir, 'lm-tool-calls.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as ToolCall);
}

/** Asks the caller extension, from the palette, to invoke `name` with `input` outside a chat. */
async function invokeTool(workbench: Workbench, name: string, input: object): Promise<void> {
  await workbench.runCommand('Lockstep e2e: Invoke a Language-Model Tool');
  await workbench.answerInput(`${name} ${JSON.stringify(input)}`);
}

/** Waits for the caller's next finished call. */
function nextCall(seen: number): Promise<ToolCall> {
  return eventually('the tool call to finish', async () => toolCalls()[seen], 120_000);
}

/** The buttons of the modal dialog on screen. */
async function dialogButtons(workbench: Workbench): Promise<string[]> {
  const buttons = workbench.dialog().locator('.dialog-buttons .monaco-button');
  await buttons.first().waitFor({ state: 'visible', timeout: 30_000 });
  return (await buttons.allInnerTexts()).map((text) => text.trim());
}

/**
 * VS Code (1.103) itself asks before a tool with a confirmation runs outside a
 * chat, in a dialog with the confirmation's title and text and its own
 * buttons; Lockstep's modal (Restore / Cancel) comes after it. Returns the
 * buttons of VS Code's dialog, or undefined when it showed none.
 */
async function passVsCodesConfirmation(workbench: Workbench, answer: 'yes' | 'cancel'): Promise<string[] | undefined> {
  const buttons = await dialogButtons(workbench);
  if (buttons.includes('Restore') || buttons.includes('Stash and Restore')) return undefined;
  assert.equal(await workbench.dialogMessage(), QUESTION);
  assert.match(await workbench.dialogDetail(), /contacts: 2 rows deleted since put back/);
  await workbench.screenshot(`vs code asks before the tool runs (${answer})`);
  assert.deepEqual([...buttons].sort(), ['Cancel', 'Yes']);
  await workbench.answerDialog(answer === 'yes' ? 'Yes' : 'Cancel');
  return buttons;
}

describe('language-model tools outside a chat', function () {
  // A local Postgres; the preview and the restore each recover a copy.
  this.timeout(180_000);
  let workspace: GitWorkspace;
  let head: string;
  let pointId: string;

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-agent-tools');
    lockstep(workspace, 'init', '--port', String(port));
    await sql(workspace, 'create table contacts (id serial primary key, name text)');
    await sql(workspace, "insert into contacts (name) values ('Ada'), ('Grace'), ('Edsger')");
    // The preview's row counts are the planner's: analysed, they are exact for a table this small.
    await sql(workspace, 'analyze contacts');
    head = workspace.commit('Contacts', { 'migrations/001_contacts.sql': 'create table contacts (id serial primary key, name text);\n' });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('takes a safety point through lockstep_snapshot, shown in the tree', async () => {
    const { workbench } = e2e();
    await workbench.openViewContainer('Lockstep');
    await workbench.resizeSidebar(460);
    const seen = toolCalls().length;
    await invokeTool(workbench, 'lockstep_snapshot', { label: LABEL });
    const call = await nextCall(seen);
    assert.ok(call.ok, call.error);
    pointId = /Safety point (\S+) taken/.exec(call.text ?? '')?.[1] ?? '';
    assert.ok(pointId, call.text);
    await eventually('the safety point in the tree', async () => ((await workbench.treeRows(VIEW)).includes(LABEL) ? true : undefined), 30_000);
    await workbench.screenshot('safety point from the language-model tool');
  });

  it('lists the Lockstep MCP server among VS Code’s MCP servers; VS Code starts it and finds its four tools', async () => {
    const { workbench } = e2e();
    await workbench.runCommand('MCP: List Servers');
    const items = await eventually('the MCP servers', async () => {
      const shown = await workbench.quickItems().catch((): string[] => []);
      return shown.includes('Lockstep') ? shown : undefined;
    }, 30_000);
    await workbench.screenshot('mcp servers');
    assert.ok(items.includes('Lockstep'), items.join(', '));
    // Typed, not clicked: the "Add Server" row's hover lies over the list.
    await workbench.answerInput('Lockstep');
    await eventually('the server’s actions', async () => ((await workbench.quickItems().catch((): string[] => [])).includes('Start Server') ? true : undefined));
    await workbench.answerInput('Start Server');
    // VS Code's own log of the server (Output: "MCP: Lockstep"): it ran the definition and listed the tools.
    await eventually('VS Code listing the server’s tools', async () => (/Discovered 4 tools/.test(await workbench.panelText().catch(() => '')) ? true : undefined), 60_000);
    await workbench.screenshot('mcp server started by vs code');
    await workbench.runCommand('MCP: List Servers');
    await workbench.answerInput('Lockstep');
    await eventually('the server’s actions', async () => ((await workbench.quickItems().catch((): string[] => [])).includes('Stop Server') ? true : undefined));
    await workbench.answerInput('Stop Server');
    await workbench.openViewContainer('Lockstep');
  });

  it('asks before lockstep_restore and changes nothing on Cancel in VS Code’s confirmation', async () => {
    const { workbench } = e2e();
    await sql(workspace, "delete from contacts where name <> 'Ada'");
    await sql(workspace, 'analyze contacts');
    const journal = journalLines(workspace);
    const seen = toolCalls().length;
    await invokeTool(workbench, 'lockstep_restore', { ref: pointId });
    const buttons = await passVsCodesConfirmation(workbench, 'cancel');
    if (!buttons) {
      // No confirmation of VS Code's own: Lockstep's modal is the first; cancel it instead.
      await workbench.answerDialog('Cancel');
    }
    const call = await nextCall(seen);
    assert.equal(call.ok, false, `the restore went on: ${call.text}`);
    assert.equal(await contacts(workspace), 1, 'the data changed');
    assert.equal(workspace.head(), head, 'HEAD moved');
    assert.deepEqual(journalLines(workspace), journal, 'the journal changed');
  });

  it('shows Lockstep’s modal with the preview; Cancel there changes nothing', async () => {
    const { workbench } = e2e();
    const journal = journalLines(workspace);
    const seen = toolCalls().length;
    await invokeTool(workbench, 'lockstep_restore', { ref: pointId });
    await passVsCodesConfirmation(workbench, 'yes');
    assert.deepEqual((await dialogButtons(workbench)).sort(), ['Cancel', 'Restore']);
    assert.equal(await workbench.dialogMessage(), QUESTION);
    const detail = await workbench.dialogDetail();
    assert.match(detail, /contacts: 2 rows deleted since put back/);
    assert.match(detail, /Code: unchanged/);
    // The preview document opens beside the modal.
    await eventually('the preview document', async () => ((await workbench.editorTabs()).some((tab) => tab.includes(LABEL)) ? true : undefined));
    await workbench.screenshot('lockstep modal with the preview');
    await workbench.answerDialog('Cancel');
    const call = await nextCall(seen);
    assert.ok(call.ok, call.error);
    assert.match(call.text ?? '', /^Not restored: the user did not confirm/);
    assert.equal(await contacts(workspace), 1, 'the data changed');
    assert.equal(workspace.head(), head, 'HEAD moved');
    assert.deepEqual(journalLines(workspace), journal, 'the journal changed');
    assert.deepEqual(await workbench.treeRows(VIEW).then((rows) => rows.filter((row) => /pre-restore|Before restoring/i.test(row))), []);
  });

  it('restores on Restore: the rows come back, HEAD stays, and the result says so', async () => {
    const { workbench } = e2e();
    const seen = toolCalls().length;
    await invokeTool(workbench, 'lockstep_restore', { ref: pointId });
    await passVsCodesConfirmation(workbench, 'yes');
    assert.equal(await workbench.dialogMessage(), QUESTION);
    await workbench.answerDialog('Restore');
    const call = await nextCall(seen);
    assert.ok(call.ok, call.error);
    assert.match(call.text ?? '', new RegExp(`^Restored data only to “${LABEL}”`));
    assert.match(call.text ?? '', /The undo point is \S+/);
    assert.equal(await contacts(workspace), 3, 'the rows did not come back');
    assert.equal(workspace.head(), head, 'HEAD moved');
    await workbench.notification(/Restored data only/).waitFor({ state: 'visible', timeout: 30_000 });
    await workbench.screenshot('restored through the language-model tool');
  });
});
