// UI tests of Lockstep in VS Code's terminal: the .env offer after set-up, DATABASE_URL and `lockstep` in a new terminal, a safety point before `psql -c 'drop table contacts'`, and Undo This Command.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from 'pg';
import type { GitWorkspace } from '../harness/gitWorkspace';
import { freePort } from '../../support/postgres';
import { eventually, STEP_TIMEOUT_MS, type Workbench } from './page';
import { e2e } from './session';

const CLI = path.resolve(__dirname, '../../../dist/cli.js');
const VIEW = 'Checkpoints';
/** Debian's psql: the terminal's shell puts it on PATH, as a person with postgresql-client installed has it. */
const PSQL_DIR = ['/usr/lib/postgresql/15/bin', '/usr/bin'].find((dir) => fs.existsSync(path.join(dir, 'psql'))) ?? '/usr/bin';
const DROP = `psql "$DATABASE_URL" -c 'drop table contacts'`;
const LABEL = `before: ${DROP}`;

function lockstep(workspace: GitWorkspace, ...args: string[]): string {
  const run = spawnSync(process.execPath, [CLI, ...args], { cwd: workspace.dir, encoding: 'utf8', timeout: 60_000 });
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

/** Types a command line into the terminal that has focus, as a person does, and presses Enter. */
async function typeInTerminal(workbench: Workbench, line: string): Promise<void> {
  const input = workbench.page.locator('.terminal-wrapper.active .xterm-helper-textarea, .terminal .xterm-helper-textarea').last();
  await input.focus({ timeout: STEP_TIMEOUT_MS });
  await workbench.page.keyboard.type(line);
  await workbench.page.keyboard.press('Enter');
}

/** Waits for a file the terminal writes (commands there end by writing one) and returns its text. */
function fileFromTerminal(file: string, timeoutMs = 30_000): Promise<string> {
  return eventually(`the terminal to write ${path.basename(file)}`, async () => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : undefined), timeoutMs);
}

describe('Lockstep in the terminal', function () {
  this.timeout(180_000);
  let workspace: GitWorkspace;
  let out: string;

  before(async () => {
    const port = await freePort();
    workspace = await e2e().openNewWorkspace('ui-terminal', { settings: { 'lockstep.local.port': port } });
    // The app's own .env: its other lines must survive, and git does not ignore it yet.
    fs.writeFileSync(path.join(workspace.dir, '.env'), '# the app\nAPI_KEY=abc123\nexport PORT=3000\n');
    out = path.join(e2e().runDir, 'ui-terminal-out');
    fs.mkdirSync(out, { recursive: true });
  });

  after(() => {
    if (workspace && fs.existsSync(path.join(workspace.dir, '.git', 'lockstep', 'config.json'))) {
      spawnSync(process.execPath, [CLI, 'db', 'stop'], { cwd: workspace.dir, timeout: 60_000 });
    }
  });

  it('offers to write DATABASE_URL into .env after set-up, keeping its other lines, and to ignore it', async () => {
    const { workbench } = e2e();
    await workbench.openViewContainer('Lockstep');
    await workbench.resizeSidebar(520);
    await eventually('the "not set up" welcome', async () => ((await workbench.welcomeText(VIEW)).includes('not set up') ? true : undefined));
    await workbench.clickWelcomeButton(VIEW, 'Start a Local Database');
    const offer = workbench.notification(/set up in ui-terminal/);
    await offer.waitFor({ state: 'visible', timeout: 90_000 });
    await workbench.screenshot('set up with the env offer');
    await workbench.clickNotificationButton(/set up in ui-terminal/, 'Write DATABASE_URL to .env');
    const ignore = workbench.notification(/wrote DATABASE_URL to \.env/);
    await ignore.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    const shown = await ignore.innerText();
    const url = lockstep(workspace, 'db', 'url');
    const password = decodeURIComponent(new URL(url).password);
    assert.ok(!shown.includes(password), 'the message shows the password');
    assert.match(shown, /•••/);
    await workbench.screenshot('env written, gitignore offered');
    await workbench.clickNotificationButton(/wrote DATABASE_URL to \.env/, 'Add to .gitignore');
    await workbench.notification(/added \.env to \.gitignore/).waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    assert.equal(fs.readFileSync(path.join(workspace.dir, '.env'), 'utf8'), `# the app\nAPI_KEY=abc123\nexport PORT=3000\nDATABASE_URL=${url}\n`);
    assert.equal(workspace.git('check-ignore', '.env'), '.env');
    assert.equal(fs.statSync(path.join(workspace.dir, '.env')).mode & 0o777, 0o644, 'the file’s mode changed');
  });

  it('confirms Copy Connection String with the password hidden', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    await workbench.runCommand('Lockstep: Copy Connection String');
    const note = workbench.notification(/copied the connection string of ui-terminal/);
    await note.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    const text = await note.innerText();
    const url = lockstep(workspace, 'db', 'url');
    assert.ok(!text.includes(decodeURIComponent(new URL(url).password)), 'the message shows the password');
    assert.match(text, /postgresql:\/\/lockstep:•••@127\.0\.0\.1:\d+\/app/);
    await workbench.screenshot('connection string copied');
  });

  it('gives a new terminal DATABASE_URL and a lockstep command', async () => {
    const { workbench } = e2e();
    await workbench.clearNotifications();
    await workbench.runCommand('Terminal: Create New Terminal');
    await workbench.page.locator('.terminal-wrapper .xterm').first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    // Written under another name first: the test must not read it half-written.
    await typeInTerminal(workbench, `echo $DATABASE_URL; which lockstep; lockstep --version; (echo "$DATABASE_URL"; which lockstep; lockstep --version) > '${out}/env.tmp' && mv '${out}/env.tmp' '${out}/env.txt'`);
    const [databaseUrl, which, version] = (await fileFromTerminal(path.join(out, 'env.txt'))).trim().split('\n');
    assert.equal(databaseUrl, lockstep(workspace, 'db', 'url'));
    assert.match(which ?? '', /\/bin\/lockstep$/);
    assert.match(version ?? '', /\d+\.\d+\.\d+/);
    await workbench.screenshot('terminal environment');
  });

  it('takes a safety point before psql -c drop table in the terminal, labelled with the command', async () => {
    const { workbench } = e2e();
    await sql(workspace, 'create table contacts (id serial primary key, name text)');
    await sql(workspace, "insert into contacts (name) values ('Ada'), ('Grace'), ('Edsger')");
    workspace.commit('Add contacts', { 'migrations/001_contacts.sql': 'create table contacts (id serial primary key, name text);\n' });
    await eventually('the commit in the tree', async () => ((await workbench.treeRows(VIEW)).includes('Add contacts') ? true : undefined), 30_000);
    await typeInTerminal(workbench, `export PATH=${PSQL_DIR}:$PATH; touch '${out}/path-set'`);
    await fileFromTerminal(path.join(out, 'path-set'));
    // A person's pause at the prompt. Typed ahead, before the extension has read the position at this prompt, the
    // safety point would honestly go back before the export too, and be labelled with both commands.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await typeInTerminal(workbench, DROP);
    await eventually('the safety point in the tree', async () => ((await workbench.treeRows(VIEW))[0] === LABEL ? true : undefined), 30_000);
    await eventually('the table to be dropped', async () => ((await sql<{ t: string | null }>(workspace, "select to_regclass('contacts')::text as t"))[0]!.t === null ? true : undefined), 30_000);
    const descriptions = await workbench.treeRowDescriptions(VIEW);
    assert.match(descriptions[0] ?? '', /^vscode-terminal · (just now|\d+ minutes? ago)/);
    await workbench.screenshot('safety point in the tree');
    const tooltip = await workbench.hoverText(workbench.treeRow(LABEL, VIEW));
    assert.match(tooltip, /Taken before: psql "\$DATABASE_URL" -c 'drop table contacts'/);
    assert.match(tooltip, /Asked by: vscode-terminal/);
    await workbench.screenshot('safety point tooltip');
    await workbench.page.mouse.move(900, 600);
  });

  it('undoes the command from the row, through the preview and the yes, and the table is back with its rows', async () => {
    const { workbench } = e2e();
    await workbench.treeRowMenu(LABEL, 'Undo This Command', VIEW);
    const message = await workbench.dialogMessage();
    assert.match(message, /^Restore data only to “before: psql/);
    assert.match(await workbench.dialogDetail(), /contacts/);
    await workbench.screenshot('undo this command confirmation');
    await workbench.answerDialog('Restore');
    await workbench.notification(/Restored data only to “before: psql/).waitFor({ state: 'visible', timeout: 90_000 });
    const rows = await sql<{ name: string }>(workspace, 'select name from contacts order by id');
    assert.deepEqual(rows.map((r) => r.name), ['Ada', 'Grace', 'Edsger']);
    await workbench.screenshot('command undone');
  });
});
