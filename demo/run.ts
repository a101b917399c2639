// `npm run demo`: the contacts app through three versions and a bad UPDATE, restored and undone with the real CLI, verified at each step.

import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';

const CLI = path.resolve(__dirname, '..', 'dist', 'cli.js');
const keep = process.argv.includes('--keep');
const started = Date.now();
let failures = 0;

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function step(title: string): void {
  say(`\n── ${title} ${'─'.repeat(Math.max(0, 66 - title.length))} +${((Date.now() - started) / 1000).toFixed(1)} s`);
}

function check(what: string, ok: boolean, detail = ''): void {
  if (!ok) failures++;
  say(`  ${ok ? '✔' : '✘'} ${what}${detail ? ` — ${detail}` : ''}`);
}

function run(cwd: string, file: string, args: string[], show = true): string {
  const t = Date.now();
  const result = spawnSync(file, args, { cwd, encoding: 'utf8', env: { ...process.env, LOCKSTEP_HOOK: '' } });
  const ms = Date.now() - t;
  if (show) {
    say(`$ ${file === process.execPath ? 'lockstep' : file} ${args.filter((a) => a !== CLI).join(' ')}   (${ms} ms)`);
    for (const line of `${result.stdout}${result.stderr}`.trimEnd().split('\n')) if (line) say(`  ${line}`);
  }
  if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return result.stdout;
}

const lockstep = (cwd: string, ...args: string[]) => run(cwd, process.execPath, [CLI, ...args]);
const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

async function sql(url: string, text: string): Promise<Record<string, unknown>[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query(text);
    return (Array.isArray(result) ? result[result.length - 1] : result).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/** What the app's data looks like: its columns and every row, in order. */
async function snapshotOfData(url: string): Promise<{ columns: string[]; rows: string }> {
  const columns = (await sql(url, "SELECT column_name FROM information_schema.columns WHERE table_name = 'contacts' ORDER BY ordinal_position")).map((r) => String(r.column_name));
  const rows = JSON.stringify(await sql(url, 'SELECT * FROM contacts ORDER BY id'));
  return { columns, rows };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const VERSIONS = [
  {
    version: 'v1',
    subject: 'v1: contacts with name and email',
    migration: `CREATE TABLE contacts (id serial PRIMARY KEY, name text NOT NULL, email text);
      INSERT INTO contacts (name, email) VALUES ('Ada Lovelace', 'ada@example.com'), ('Alan Turing', 'alan@example.com'), ('Grace Hopper', 'grace@example.com');`,
    code: `export const fields = ['name', 'email'];\n`,
  },
  {
    version: 'v2',
    subject: 'v2: role and company',
    migration: `ALTER TABLE contacts ADD COLUMN role text, ADD COLUMN company text;
      UPDATE contacts SET role = 'engineer', company = 'Analytical Engines' WHERE name = 'Ada Lovelace';
      UPDATE contacts SET role = 'researcher', company = 'Bletchley Park' WHERE name = 'Alan Turing';
      INSERT INTO contacts (name, email, role, company) VALUES ('Katherine Johnson', 'kj@example.com', 'mathematician', 'NASA');`,
    code: `export const fields = ['name', 'email', 'role', 'company'];\n`,
  },
  {
    version: 'v3',
    subject: 'v3: tags',
    migration: `ALTER TABLE contacts ADD COLUMN tags text[] NOT NULL DEFAULT '{}';
      UPDATE contacts SET tags = '{pioneer}' WHERE id <= 2;
      INSERT INTO contacts (name, email, role, company, tags) VALUES ('Margaret Hamilton', 'mh@example.com', 'engineer', 'MIT', '{apollo,software}');`,
    code: `export const fields = ['name', 'email', 'role', 'company', 'tags'];\n`,
  },
];

async function main(): Promise<void> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first`);
  // 0755 so that, when run as root, the unprivileged Postgres account can reach it.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-demo-'));
  fs.chmodSync(dir, 0o755);
  say(`Lockstep demo in ${dir}`);
  let initialised = false;
  try {
    step('A repository and Lockstep on the embedded default (local Postgres, no account)');
    git(dir, 'init', '-q', '-b', 'main');
    git(dir, 'config', 'user.name', 'Demo');
    git(dir, 'config', 'user.email', 'demo@example.com');
    fs.mkdirSync(path.join(dir, 'migrations'));
    fs.writeFileSync(path.join(dir, 'README.md'), '# Contacts\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-q', '-m', 'Empty app');
    lockstep(dir, 'init', '--port', String(await freePort()));
    initialised = true;
    const url = run(dir, process.execPath, [CLI, 'db', 'url'], false).trim();

    const expected: Record<string, { sha: string; data: { columns: string[]; rows: string }; code: string }> = {};
    for (const v of VERSIONS) {
      step(`${v.version}: migration, rows and code, committed (the hook records a checkpoint)`);
      const file = `migrations/${v.version}.sql`;
      fs.writeFileSync(path.join(dir, file), `${v.migration.replace(/\n\s+/g, '\n')}\n`);
      fs.writeFileSync(path.join(dir, 'contacts.js'), v.code);
      await sql(url, v.migration);
      git(dir, 'add', '.');
      const t = Date.now();
      git(dir, 'commit', '-q', '-m', v.subject);
      const sha = git(dir, 'rev-parse', 'HEAD');
      say(`$ git commit -m "${v.subject}"   (${Date.now() - t} ms, hook included) → ${sha.slice(0, 7)}`);
      expected[v.version] = { sha, data: await snapshotOfData(url), code: v.code };
      say(`  contacts: ${expected[v.version]!.data.columns.join(', ')} — ${(JSON.parse(expected[v.version]!.data.rows) as unknown[]).length} rows`);
    }

    step('The mistake: an UPDATE without WHERE, which git cannot undo');
    await sql(url, "UPDATE contacts SET email = NULL, name = 'REDACTED'");
    say(`  ${JSON.stringify(await sql(url, 'SELECT count(*)::int AS rows, count(email)::int AS emails FROM contacts'))}`);

    step('The checkpoints');
    lockstep(dir, 'list');
    const checkpoints = JSON.parse(run(dir, process.execPath, [CLI, 'list', '--json'], false)) as { id: string; commitSha: string; kind: string }[];
    check('one checkpoint per commit, taken by the hook', VERSIONS.every((v) => checkpoints.some((c) => c.kind === 'commit' && c.commitSha === expected[v.version]!.sha)));

    step('Restore v1 — first, what would change (dry run)');
    lockstep(dir, 'restore', expected.v1!.sha.slice(0, 7), '--dry-run');
    check('a dry run changes nothing', (await snapshotOfData(url)).rows.includes('REDACTED') && git(dir, 'rev-parse', 'HEAD') === expected.v3!.sha);

    step('Restore v1');
    const r1 = lockstep(dir, 'restore', expected.v1!.sha.slice(0, 7), '--yes');
    const undoOfV1 = /undo: lockstep restore ([0-9a-f]+)/.exec(r1)?.[1];
    const afterV1 = await snapshotOfData(url);
    check('data is v1: columns', JSON.stringify(afterV1.columns) === JSON.stringify(expected.v1!.data.columns), afterV1.columns.join(', '));
    check('data is v1: every row', afterV1.rows === expected.v1!.data.rows);
    check('code is v1', git(dir, 'rev-parse', 'HEAD') === expected.v1!.sha && fs.readFileSync(path.join(dir, 'contacts.js'), 'utf8') === expected.v1!.code, git(dir, 'branch', '--show-current'));

    step('Restore v3 — its checkpoint is on the timeline v1 was restored away from');
    lockstep(dir, 'restore', expected.v3!.sha.slice(0, 7), '--yes');
    const afterV3 = await snapshotOfData(url);
    check('data is v3, from before the bad UPDATE: columns', JSON.stringify(afterV3.columns) === JSON.stringify(expected.v3!.data.columns), afterV3.columns.join(', '));
    check('data is v3: every row', afterV3.rows === expected.v3!.data.rows);
    check('code is v3', git(dir, 'rev-parse', 'HEAD') === expected.v3!.sha && fs.readFileSync(path.join(dir, 'contacts.js'), 'utf8') === expected.v3!.code);

    step('Undo that restore: restore its pre-restore checkpoint');
    const auditUndo = JSON.parse(run(dir, process.execPath, [CLI, 'status', '--json'], false)) as { operations: { op: string; phase: string; undoCheckpointId?: string }[] };
    const undoId = auditUndo.operations.find((o) => o.op === 'restore' && o.phase === 'finished')?.undoCheckpointId;
    check('the restore left an undo point', Boolean(undoId) && undoId !== undoOfV1, undoId);
    lockstep(dir, 'restore', undoId!, '--yes');
    const undone = await snapshotOfData(url);
    check('data is back to v1 (what served before the undone restore)', undone.rows === expected.v1!.data.rows && JSON.stringify(undone.columns) === JSON.stringify(expected.v1!.data.columns));
    check('code is back to v1', git(dir, 'rev-parse', 'HEAD') === expected.v1!.sha);

    step('Status');
    lockstep(dir, 'status');
  } finally {
    if (initialised && !keep) {
      try {
        run(dir, process.execPath, [CLI, 'db', 'stop'], false);
      } catch (error) {
        say(`  (could not stop the demo database: ${(error as Error).message})`);
      }
    }
    if (!keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`\nKept ${dir} (--keep); stop its database with: cd ${dir} && node ${CLI} db stop`);
  }
  say(`\n${failures === 0 ? 'All checks passed' : `${failures} check(s) FAILED`} in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  process.exitCode = failures === 0 ? 0 : 1;
}

main().catch((error: unknown) => {
  say(`\nDemo failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
