// Engines as plug-ins: the core imports no engine, the faces' registry loads each descriptor, the descriptors check
// their own configuration, and set-up, undo and import go through whatever descriptor the registry hands over.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import { silentLog } from '../../src/base/log';
import { defaultLocalConfig, engineSection, loadConfig, saveConfig, type LocalEngineConfig, type ProjectConfig } from '../../src/core/config';
import { ENGINE_KINDS, type Engine } from '../../src/core/engine';
import { loadEngineDescriptor, type EngineDescriptor, type EngineRegistry } from '../../src/core/engineRegistry';
import { importDatabase } from '../../src/core/importDatabase';
import { Project } from '../../src/core/project';
import { initProject } from '../../src/core/setup';
import { ENGINES } from '../../src/engines';
import { createRepo, removeTempDirs } from '../support/git';

const SRC = path.resolve(__dirname, '../../src');
const noSecrets = { get: async () => undefined };

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every module a file names in an import, export … from, or import(). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

function rejectsWith(code: string, pattern?: RegExp) {
  return (error: unknown) => isLockstepError(error, code as never) && (!pattern || pattern.test(error.message));
}

/** An engine that does nothing, for a descriptor under test. */
function idleEngine(): Engine {
  const position = { timelineId: '1', lsn: '0/1000000' as never };
  return {
    kind: 'local',
    head: async () => position,
    fork: async () => assert.fail('not used'),
    serving: async () => assert.fail('not used'),
    repoint: async () => assert.fail('not used'),
    discard: async () => undefined,
    restorability: async () => ({ restorable: true }),
    status: async () => ({ engine: 'local', state: 'running', summary: 'idle' }),
    retention: async () => ({ summary: 'all' }),
    describe: async () => ({ tables: [] }),
    prune: async () => ({ removed: [], bytesFreed: 0 }),
    close: async () => undefined,
  };
}

/** A stand-in for the local engine's descriptor that records what the core asked of it. */
function recordingDescriptor(calls: string[]): EngineDescriptor<'local'> {
  return {
    kind: 'local',
    validateConfig: (raw) => raw as LocalEngineConfig,
    setUp: async (_ctx, request) => {
      calls.push(`setUp port=${request.choice?.port} existing=${request.existing ? request.existing.port : 'none'}`);
      return defaultLocalConfig(request.choice?.port ?? 55432);
    },
    undoSetUp: async (config) => void calls.push(`undoSetUp port=${config.port}`),
    create: (config) => {
      calls.push(`create port=${config.port}`);
      return idleEngine();
    },
  };
}

describe('engines as plug-ins', () => {
  after(removeTempDirs);

  it('the core, base and git import no engine (faces hand the core a registry)', () => {
    const offenders: string[] = [];
    for (const layer of ['core', 'base', 'git']) {
      for (const file of sourceFiles(path.join(SRC, layer))) {
        for (const spec of importsOf(file)) {
          if (!spec.startsWith('.')) continue;
          const target = path.relative(SRC, path.resolve(path.dirname(file), spec));
          const banned = layer === 'core' ? /^(engines|cli|extension)\b/ : /^(engines|cli|extension|core)\b/;
          if (banned.test(target)) offenders.push(`${path.relative(SRC, file)} → ${spec}`);
        }
      }
    }
    assert.deepEqual(offenders, []);
  });

  it('the registry has a descriptor for every kind, each of its own kind', async () => {
    assert.deepEqual(Object.keys(ENGINES).sort(), [...ENGINE_KINDS].sort());
    for (const kind of ENGINE_KINDS) assert.equal((await loadEngineDescriptor(ENGINES, kind)).kind, kind);
    assert.ok((await loadEngineDescriptor(ENGINES, 'local')).importer, 'the local engine imports databases');
    assert.equal((await loadEngineDescriptor(ENGINES, 'neon')).importer, undefined);
  });

  it('a kind the face does not carry is refused with the kinds it does', async () => {
    const onlyLocal: EngineRegistry = { local: ENGINES.local! };
    await assert.rejects(loadEngineDescriptor(onlyLocal, 'neon'), (e: unknown) => rejectsWith('BAD_INPUT', /unknown engine "neon"/)(e) && /local/.test((e as { hint?: string }).hint ?? ''));
  });

  it('each descriptor checks its own section; the core names the file', async () => {
    const local = await loadEngineDescriptor(ENGINES, 'local');
    const neon = await loadEngineDescriptor(ENGINES, 'neon');
    const pageserver = await loadEngineDescriptor(ENGINES, 'pageserver');
    assert.deepEqual(local.validateConfig(defaultLocalConfig(55500)), defaultLocalConfig(55500));
    assert.throws(() => local.validateConfig({ ...defaultLocalConfig(), port: 80 }), rejectsWith('CONFIG', /local\.port must be 1024–65535/));
    assert.throws(() => local.validateConfig({ ...defaultLocalConfig(), user: '' }), rejectsWith('CONFIG', /local\.database and local\.user/));
    assert.throws(() => local.validateConfig({ ...defaultLocalConfig(), baseBackupWalBytes: 0 }), rejectsWith('CONFIG', /baseBackupWalBytes/));
    assert.throws(() => local.validateConfig('55432'), rejectsWith('CONFIG', /local must be an object/));
    const neonConfig = { projectId: 'damp-sun-12345678', databaseName: 'neondb', roleName: 'neondb_owner' };
    assert.deepEqual(neon.validateConfig(neonConfig), neonConfig);
    assert.throws(() => neon.validateConfig({ ...neonConfig, projectId: undefined }), rejectsWith('CONFIG', /neon\.projectId is required/));
    assert.throws(() => neon.validateConfig({ ...neonConfig, keepPreservedBranches: -1 }), rejectsWith('CONFIG', /keepPreservedBranches/));
    const pageserverConfig = { apiUrl: 'http://127.0.0.1:9898', tenantId: 't', timelineId: 'a'.repeat(32), repointUrl: 'http://127.0.0.1:9899' };
    assert.deepEqual(pageserver.validateConfig(pageserverConfig), pageserverConfig);
    assert.throws(() => pageserver.validateConfig({ ...pageserverConfig, timelineId: 7 }), rejectsWith('CONFIG', /pageserver\.timelineId is required/));

    const config: ProjectConfig = { version: 1, engine: 'local', keep: 5, checkout: 'branch', local: { ...defaultLocalConfig(), port: 80 } };
    assert.throws(
      () => engineSection(local, config, '/repo/.git/lockstep/config.json'),
      (e: unknown) => rejectsWith('CONFIG', /^\/repo\/\.git\/lockstep\/config\.json: local\.port/)(e) && /lockstep init/.test((e as { hint?: string }).hint ?? ''),
    );
  });

  it('a bad engine section is reported when the engine is created, with the file; the rest of the configuration still reads', async () => {
    const repo = createRepo();
    const project = await Project.open(repo.dir, { log: silentLog, secrets: noSecrets, engines: ENGINES });
    fs.mkdirSync(project.paths.root, { recursive: true });
    fs.writeFileSync(project.paths.config, JSON.stringify({ version: 1, engine: 'local', keep: 5, checkout: 'branch', riskyCommands: [], local: { ...defaultLocalConfig(), port: 80 } }));
    assert.equal(loadConfig(project.paths).keep, 5, 'what the core owns (the guard reads it) is not held up by an engine field');
    await assert.rejects(project.engine(), rejectsWith('CONFIG', /config\.json: local\.port must be 1024–65535/));
    await project.close();
  });

  it('a Project opened without a registry says so plainly', async () => {
    const repo = createRepo();
    const project = await Project.open(repo.dir, { log: silentLog, secrets: noSecrets } as never);
    fs.mkdirSync(project.paths.root, { recursive: true });
    saveConfig(project.paths, { version: 1, engine: 'local', keep: 5, checkout: 'branch', local: defaultLocalConfig(55501) });
    await assert.rejects(project.engine(), /without an engine registry/);
  });

  it('set-up, the engine and the undo of a failed first set-up go through the descriptor the face registered', async () => {
    const calls: string[] = [];
    const engines: EngineRegistry = { local: async () => recordingDescriptor(calls) };
    const repo = createRepo();
    const project = await Project.open(repo.dir, { log: silentLog, secrets: noSecrets, engines });

    await assert.rejects(
      initProject(project, { engine: 'local', local: { port: 55601 }, finish: async () => assert.fail('the hook could not be installed') }),
      /the hook could not be installed/,
    );
    assert.deepEqual(calls, ['setUp port=55601 existing=none', 'undoSetUp port=55601']);
    assert.equal(fs.existsSync(project.paths.root), false, 'a first set-up that failed leaves no .git/lockstep');

    calls.length = 0;
    const result = await initProject(project, { engine: 'local', local: { port: 55602 } });
    assert.equal(result.config.local?.port, 55602);
    assert.equal(loadConfig(project.paths).local?.port, 55602);
    await project.resetEngine();
    await initProject(project, { engine: 'local', local: { port: 55603 } });
    assert.deepEqual(
      calls.filter((c) => !c.startsWith('create')),
      ['setUp port=55602 existing=none', 'setUp port=55603 existing=55602'],
      'run again, the engine is handed what it set up before',
    );
    assert.ok(calls.includes('create port=55603'), 'the engine the project uses is the registered one');
    await project.close();
  });

  it('an engine without an importer is refused before anything is created', async () => {
    const calls: string[] = [];
    const engines: EngineRegistry = { local: async () => recordingDescriptor(calls) };
    const repo = createRepo();
    const project = await Project.open(repo.dir, { log: silentLog, secrets: noSecrets, engines });
    const source = { url: 'postgresql://u@db.example.com:5432/app', host: 'db.example.com', port: 5432 };
    await assert.rejects(initProject(project, { engine: 'local', importFrom: source }), rejectsWith('BAD_INPUT', /--import/));
    assert.deepEqual(calls, [], 'nothing was set up');
    assert.equal(fs.existsSync(project.paths.config), false);
    await initProject(project, { engine: 'local' });
    await assert.rejects(importDatabase(project, { source }), rejectsWith('BAD_INPUT', /importing a database/));
    await project.close();
  });
});
