// Creating a project's local database: binaries, account, cluster, archive, password, first base backup.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Client } from 'pg';
import { DEFAULT_LOCAL_PORT, defaultLocalConfig, type LocalEngineConfig } from '../../core/config';
import type { EngineContext, OperationOptions } from '../../core/engine';
import type { LocalChoice } from '../../core/setup';
import { LockstepError } from '../../base/errors';
import { findPostgresBinaries, type PostgresBinaries } from './binaries';
import { ADMIN_ROLE, LocalCluster } from './cluster';
import { copyTree } from './copyTree';
import { LocalEngine, localAdminAccess, localRoot } from './engine';
import { LocalLayout, type LocalState } from './layout';
import { canTraverse, chownTree, clusterAccountName, resolvePostgresAccount, runningAsRoot, type PostgresAccount } from './osUser';
import { portInUse, portTakenError } from './ports';
import { runAs } from './processes';
import { scramVerifier } from './scram';
import { quoteIdent } from '../../core/postgresSchema';

/** What the person chose (core/setup.ts `LocalChoice`: port, binaries, account, data root) and how to report progress. */
export interface LocalSetupOptions extends LocalChoice, OperationOptions {}

/** Where a root-run Lockstep keeps clusters whose repository the Postgres account cannot reach (e.g. under /root). */
const SYSTEM_DATA_ROOT = '/var/lib/lockstep';

/**
 * Set up (or, when it exists, reconfigure) the local database. Idempotent; on
 * failure everything this call created is removed, so it can simply be re-run.
 */
export async function setUpLocalDatabase(
  ctx: EngineContext,
  existing: LocalEngineConfig | undefined,
  options: LocalSetupOptions = {},
): Promise<LocalEngineConfig> {
  if (existing && fs.existsSync(new LocalLayout(localRoot(existing, ctx.lockstepDir)).state)) {
    return reconfigure(ctx, existing, options);
  }
  const progress = options.onProgress ?? (() => undefined);
  progress('Finding Postgres');
  let binaries = findPostgresBinaries({ configured: options.pgBin, only: options.pgSource });
  // As root: an account of this cluster's own, unless one is named (option, LOCKSTEP_PG_USER).
  const account = resolvePostgresAccount(options.osUser || (runningAsRoot() && !process.env.LOCKSTEP_PG_USER ? clusterAccountName(ctx.lockstepDir) : undefined));
  let root = options.dataRoot ?? localRoot(defaultLocalConfig(), ctx.lockstepDir);
  if (!canTraverse(root, account)) {
    if (options.dataRoot) {
      throw new LockstepError('OS_USER', `the Postgres account "${account.name}" cannot reach ${root}`, {
        hint: 'Choose a data root every user can traverse (chmod o+x on its parents).',
      });
    }
    // Postgres must not run as root, and its account cannot enter this repository (e.g. it is under /root).
    root = path.join(SYSTEM_DATA_ROOT, `${path.basename(path.dirname(path.dirname(ctx.lockstepDir)))}-${createHash('sha256').update(ctx.lockstepDir).digest('hex').slice(0, 8)}`);
    ctx.log.info(`the Postgres account cannot reach the repository; keeping the cluster in ${root}`);
  }
  if (!canTraverse(binaries.bin, account)) binaries = await shareBinaries(binaries, account);

  const port = options.port ?? (await firstFreePort(DEFAULT_LOCAL_PORT));
  const config: LocalEngineConfig = {
    ...defaultLocalConfig(port),
    ...(options.pgBin || binaries.source !== 'system' ? { pgBin: binaries.bin } : {}),
    ...(root !== localRoot(defaultLocalConfig(), ctx.lockstepDir) ? { dataRoot: root } : {}),
    ...(runningAsRoot() ? { osUser: account.name } : {}),
  };
  const createdRoot = !fs.existsSync(root);
  const layout = new LocalLayout(root);
  const cluster = new LocalCluster({
    layout,
    account: () => account,
    port,
    user: config.user,
    database: config.database,
    log: ctx.log,
    binaries: () => binaries,
  });
  try {
    if (fs.existsSync(path.join(root, 'data-1'))) {
      throw new LockstepError('ALREADY_INITIALISED', `${root} already holds a database but no Lockstep state`, {
        hint: `Move ${root} away, then run \`lockstep init\` again.`,
      });
    }
    if (await portInUse(port)) throw portTakenError(port, 'Choose another with `lockstep init --port N`.');
    // 0711 when Postgres runs as another account: it must traverse, not list.
    fs.mkdirSync(root, { recursive: true, mode: account.uid === undefined ? 0o700 : 0o711 });
    if (account.uid !== undefined) fs.chmodSync(root, 0o711);
    for (const dir of [layout.archive, layout.logs]) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownTree(dir, account);
    }
    fs.mkdirSync(layout.backups, { recursive: true, mode: 0o700 });
    // Two roles: the app's (`lockstep`, the password behind the connection string, not a superuser) and
    // Lockstep's own superuser (initdb's bootstrap role, reachable over the private socket only).
    const password = randomBytes(18).toString('base64url');
    fs.writeFileSync(layout.password, password + '\n', { mode: 0o600 });
    const adminPassword = randomBytes(18).toString('base64url');
    fs.writeFileSync(layout.adminPassword, adminPassword + '\n', { mode: 0o600 });

    progress(`Creating the cluster (Postgres ${binaries.version}, ${binaries.source})`);
    // initdb runs as the Postgres account, which may not write to the root: give it an empty directory.
    fs.mkdirSync(layout.dataDir('data-1'), { mode: 0o700 });
    chownTree(layout.dataDir('data-1'), account);
    const pwfile = path.join(root, `.pwfile-${process.pid}`);
    fs.writeFileSync(pwfile, adminPassword + '\n', { mode: 0o600 });
    chownTree(pwfile, account);
    try {
      const result = await runAs(
        account,
        path.join(binaries.bin, 'initdb'),
        ['-D', layout.dataDir('data-1'), '-U', ADMIN_ROLE, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C'],
        { cwd: root, timeoutMs: 180_000 },
      );
      if (result.code !== 0) {
        throw new LockstepError('ENGINE_DOWN', `initdb failed: ${(result.stderr || result.stdout).trim().split('\n').slice(-3).join(' ')}`);
      }
    } finally {
      fs.rmSync(pwfile, { force: true });
    }
    const state: LocalState = {
      version: 1,
      serving: 'data-1',
      servingTimeline: 1,
      timelines: { '1': { dataDir: 'data-1' } },
      walSegmentBytes: 16 * 1024 * 1024,
      nextDataDir: 2,
      bin: binaries.bin,
    };
    layout.writeState(state);
    cluster.writeConf('data-1');

    progress('Starting Postgres');
    await cluster.start('data-1');
    const client = await cluster.connect({ database: 'postgres' });
    try {
      await createAppRole(cluster, client, config.user, config.database, password);
      await client.query(`ALTER ROLE ${ADMIN_ROLE} PASSWORD '${scramVerifier(adminPassword)}'`);
      localAdminAccess(config, ctx.lockstepDir); // the password file for psql over the socket
      const { rows } = await client.query<{ system: string; segment: string }>(
        "SELECT system_identifier::text AS system, current_setting('wal_segment_size') AS segment FROM pg_control_system()",
      );
      state.systemIdentifier = rows[0]!.system;
      state.walSegmentBytes = parseSize(rows[0]!.segment);
      layout.writeState(state);
    } finally {
      await client.end().catch(() => undefined);
    }

    progress('Taking the first base backup');
    const engine = new LocalEngine(config, ctx);
    try {
      await engine.takeBaseBackup({ waitMs: 60_000 });
      await engine.maintain(); // the prepared copy for the first restore
    } finally {
      await engine.close();
    }
    return config;
  } catch (error) {
    if (createdRoot) {
      await cluster.stop('data-1', 'immediate').catch(() => undefined);
      fs.rmSync(root, { recursive: true, force: true });
    }
    throw error;
  }
}

/** An existing database: apply a new port (the connection string changes once), and make sure it runs. */
async function reconfigure(ctx: EngineContext, existing: LocalEngineConfig, options: LocalSetupOptions): Promise<LocalEngineConfig> {
  if (options.port === undefined || options.port === existing.port) {
    // `init` leaves the database running, whatever state it found it in.
    const engine = new LocalEngine(existing, ctx);
    try {
      if (!engine.isRunning()) await engine.start(options);
    } finally {
      await engine.close();
    }
    return existing;
  }
  const engine = new LocalEngine(existing, ctx);
  const moved: LocalEngineConfig = { ...existing, port: options.port };
  const target = new LocalEngine(moved, ctx);
  if (await portInUse(options.port)) throw portTakenError(options.port, 'Nothing was changed. Choose another port, or stop that program.');
  const wasRunning = engine.isRunning();
  await engine.stop(options);
  await engine.close();
  target.cluster.writeConf(target.layout.readState().serving);
  if (wasRunning) await target.start(options);
  await target.close();
  return moved;
}

/**
 * The app's role: it owns the app's database (so migrations create, alter and
 * drop what they need, and CREATE EXTENSION works for trusted extensions), may
 * create databases (test and shadow databases of migration tools) and force a
 * WAL switch (to make a checkpoint restorable at once). Not a superuser: no
 * `COPY … TO PROGRAM`, no server files, no other role's objects.
 */
async function createAppRole(cluster: LocalCluster, client: Client, user: string, database: string, password: string): Promise<void> {
  const role = quoteIdent(user);
  await client.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER CREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '${scramVerifier(password)}'`);
  await client.query(`CREATE DATABASE ${quoteIdent(database)} OWNER ${role}`);
  // Function privileges belong to each database: granted where the app works.
  const app = await cluster.connect({ database });
  try {
    await app.query(`GRANT EXECUTE ON FUNCTION pg_switch_wal() TO ${role}`);
  } finally {
    await app.end().catch(() => undefined);
  }
}

function parseSize(setting: string): number {
  const match = /^(\d+)\s*(B|kB|MB|GB)?$/.exec(setting.trim());
  if (!match) return 16 * 1024 * 1024;
  const unit = { B: 1, kB: 1024, MB: 1024 * 1024, GB: 1024 * 1024 * 1024 }[match[2] ?? 'B'] ?? 1;
  return Number(match[1]) * unit;
}

async function firstFreePort(from: number): Promise<number> {
  for (let port = from; port < from + 200; port++) if (!(await portInUse(port))) return port;
  throw new LockstepError('PORT_TAKEN', `no free port between ${from} and ${from + 199}`, { hint: 'Pass one with `lockstep init --port N`.' });
}

/**
 * The embedded binaries live inside node_modules, which the Postgres account
 * may not be able to reach when we run as root from /root. Copy them once to a
 * shared, root-owned, world-readable place.
 */
async function shareBinaries(binaries: PostgresBinaries, account: PostgresAccount): Promise<PostgresBinaries> {
  const native = path.dirname(binaries.bin);
  const target = path.join(SYSTEM_DATA_ROOT, `postgres-${binaries.version}-${process.platform}-${process.arch}`);
  if (!fs.existsSync(path.join(target, 'bin', 'postgres'))) {
    const staging = `${target}.${process.pid}.tmp`;
    fs.mkdirSync(SYSTEM_DATA_ROOT, { recursive: true, mode: 0o755 });
    await copyTree(native, staging);
    const open = (p: string) => {
      const stat = fs.lstatSync(p);
      if (stat.isSymbolicLink()) return;
      fs.chmodSync(p, stat.isDirectory() || (stat.mode & 0o100) !== 0 ? 0o755 : 0o644);
      if (stat.isDirectory()) for (const name of fs.readdirSync(p)) open(path.join(p, name));
    };
    open(staging);
    fs.renameSync(staging, target);
  }
  const shared = { ...binaries, bin: path.join(target, 'bin') };
  if (!canTraverse(shared.bin, account)) {
    throw new LockstepError('OS_USER', `the Postgres account "${account.name}" cannot reach ${shared.bin}`);
  }
  return shared;
}
