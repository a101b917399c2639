// `lockstep init`: configuration, the database (created and started for the local engine), and the commit hook, in one go.

import { ENGINE_KINDS } from '../../core/engine';
import { LockstepError } from '../../base/errors';
import { parseImportUrl, sourceAddress } from '../../core/importDatabase';
import { displayText } from '../../core/journalText';
import { initProject, type InitRequest } from '../../core/setup';
import { integer, noPositionals, oneOf, parse, port } from '../args';
import { progress, type CliIo } from '../io';
import { openProject } from '../project';
import { installHookForThisCli } from './hookCommon';

const USAGE = `Usage: lockstep init [--engine local|neon|pageserver] [--port N] [--no-hook] [--pre-push] [--keep N] [--checkout branch|detached] [--import URL]

Sets this repository up: writes .git/lockstep/config.json, creates and starts
the database (local engine), takes its first base backup, and installs the
post-commit hook. Safe to run again: it keeps the database and checkpoints, and
applies a new --port or engine.
  --pre-push        also install the pre-push hook: a "push" checkpoint for each pushed
                    ref (\`lockstep restore --to push\`); \`lockstep hook install --pre-push\` later does the same

local (default, no account, no network):
  --port N          fixed localhost port (default: the first free from 55432)
  --pg-bin DIR      Postgres binaries (default: the system's, else the embedded npm package's)
  --import URL      copy an existing database (postgresql://user:pass@host:port/db) into the
                    local database as the first checkpoint; the original is only read (pg_dump).
                    Needs pg_dump/pg_restore as new as that server (LOCKSTEP_PG_CLIENT_BIN picks them).
                    Leave the password out to take it from PGPASSWORD or ~/.pgpass.
neon (API key in NEON_API_KEY; --save-key keeps it in .git/lockstep/credentials.json, mode 0600):
  --project-id ID   --branch-id ID (default: the project's default branch)
  --database NAME   --role NAME    --api-url URL (or LOCKSTEP_NEON_API_URL)
pageserver (self-hosted Neon):
  --api-url URL --tenant-id ID --timeline-id ID --repoint-url URL [--connection-string URL]`;

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals, help } = parse<Record<string, string | boolean | undefined>>(
    args,
    {
      engine: { type: 'string' },
      port: { type: 'string' },
      'pg-bin': { type: 'string' },
      'no-hook': { type: 'boolean' },
      'pre-push': { type: 'boolean' },
      keep: { type: 'string' },
      checkout: { type: 'string' },
      'project-id': { type: 'string' },
      'branch-id': { type: 'string' },
      database: { type: 'string' },
      role: { type: 'string' },
      'api-url': { type: 'string' },
      'save-key': { type: 'boolean' },
      'tenant-id': { type: 'string' },
      'timeline-id': { type: 'string' },
      'repoint-url': { type: 'string' },
      'connection-string': { type: 'string' },
      import: { type: 'string' },
    },
    USAGE,
  );
  if (help) {
    io.out(USAGE);
    return 0;
  }
  noPositionals(positionals, USAGE);
  const engine = oneOf(values.engine, '--engine', ENGINE_KINDS) ?? 'local';
  const str = (name: string) => (typeof values[name] === 'string' ? (values[name] as string) : undefined);
  // Every option is checked before anything is created, whichever engine it belongs to.
  const localPort = port(values.port, '--port');
  const importFrom = str('import') === undefined ? undefined : parseImportUrl(str('import')!);
  if (importFrom) {
    // The URL's password is in our argv: keep it out of process listings from here on.
    if (importFrom.password !== undefined) process.title = 'lockstep init';
    if (engine !== 'local') throw new LockstepError('BAD_INPUT', `--import copies into the local engine, not ${engine}`, { hint: 'Use --engine local (the default).' });
  }
  const request: InitRequest = {
    engine,
    keep: integer(values.keep, '--keep', 1),
    checkout: oneOf(values.checkout, '--checkout', ['branch', 'detached'] as const),
    onProgress: progress(io),
    ...(importFrom ? { importFrom } : {}),
  };
  if (engine === 'local') {
    request.local = { port: localPort, pgBin: str('pg-bin') };
  } else if (engine === 'neon') {
    const projectId = str('project-id');
    if (!projectId) throw new LockstepError('BAD_INPUT', '--project-id is required with --engine neon');
    request.neon = { projectId, branchId: str('branch-id'), databaseName: str('database'), roleName: str('role'), apiUrl: str('api-url') };
  } else {
    const [apiUrl, tenantId, timelineId, repointUrl] = ['api-url', 'tenant-id', 'timeline-id', 'repoint-url'].map(str);
    if (!apiUrl || !tenantId || !timelineId || !repointUrl) {
      throw new LockstepError('BAD_INPUT', '--engine pageserver needs --api-url, --tenant-id, --timeline-id and --repoint-url');
    }
    request.pageserver = { apiUrl, tenantId, timelineId, repointUrl, connectionString: str('connection-string') };
  }

  const { project, secrets } = await openProject(io);
  try {
    if (engine === 'neon' && values['save-key'] && !io.env.NEON_API_KEY) throw new LockstepError('BAD_INPUT', '--save-key keeps NEON_API_KEY, which is not set');
    const notes: string[] = [];
    // The hook and the saved key are part of the set-up: if either fails, a first set-up is undone whole.
    const result = await initProject(project, {
      ...request,
      finish: async () => {
        if (engine === 'neon' && values['save-key']) secrets.save('neon.apiKey', io.env.NEON_API_KEY!);
        if (!values['no-hook']) {
          const result = await installHookForThisCli(project.repo);
          notes.push(`  hook: ${result.action} at ${result.status.hookFile}${result.chainedHook ? ` (your existing hook runs first: ${result.chainedHook})` : ''}`);
          for (const note of result.status.notes) io.err(`  note: ${note}`);
        } else {
          notes.push('  hook: not installed (--no-hook); `lockstep hook install` adds it');
        }
        if (values['pre-push']) {
          const pushHook = await installHookForThisCli(project.repo, 'pre-push');
          notes.push(`  pre-push hook: ${pushHook.action} at ${pushHook.status.hookFile}${pushHook.chainedHook ? ` (your existing hook runs first: ${pushHook.chainedHook})` : ''}`);
        }
      },
    });
    const { config, changed } = result;
    io.out(`${changed ? 'Lockstep is set up' : 'Lockstep was already set up'} in ${project.repo.topLevel} (engine: ${config.engine}).`);
    if (config.local) {
      io.out(`  database: postgresql://${config.local.user}:****@127.0.0.1:${config.local.port}/${config.local.database}  (\`lockstep db url\` prints it in full)`);
      if (config.local.dataRoot) io.out(`  data: ${config.local.dataRoot} (the Postgres account cannot reach the repository)`);
    }
    if (result.imported) {
      const { imported } = result;
      io.out(`  imported: ${displayText(imported.database)} from ${displayText(sourceAddress(importFrom!))} (${imported.sourceVersion}, read only, unchanged): ${imported.tables} tables`);
      io.out(`  first checkpoint: ${imported.checkpoint.id} "${displayText(imported.checkpoint.label)}"`);
    }
    for (const line of notes) io.out(line);
    io.out(`  keeps the newest ${config.keep} checkpoints; \`lockstep snapshot\` takes one now.`);
    return 0;
  } finally {
    await project.close();
  }
}
