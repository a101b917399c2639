// The restore walk against an in-memory engine double: the order of the steps, where the undo point lands,
// and what compensation does and says when a step fails — checked, never assumed. (Git is a real temp repository.)

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { Checkpoint } from '../../src/core/checkpoint';
import { defaultLocalConfig, saveConfig } from '../../src/core/config';
import type { Engine, EngineStatus, PointInHistory, Position, RepointOptions, Restorability, TimelineHandle } from '../../src/core/engine';
import { isLockstepError } from '../../src/base/errors';
import { silentLog } from '../../src/base/log';
import { Project } from '../../src/core/project';
import { ENGINES } from '../../src/engines';
import { restore, settleInterruptedRestore } from '../../src/core/restore';
import { createRepo, removeTempDirs } from '../support/git';

type Step = 'head' | 'serving' | 'fork' | 'repoint' | 'discard' | 'abandonForks';

/** Timelines as numbers, a head per timeline; fork/repoint move between them. Fails where told to. */
class MemoryEngine implements Engine {
  readonly kind = 'local' as const;
  readonly calls: string[] = [];
  serving_ = '1';
  lsn = 0x3000000;
  nextTimeline = 2;
  failAt?: Step;
  /** When repoint fails: leave the data on the new timeline (a compensation that does not work). */
  stuckOnFork = false;
  private stuckOn?: string;

  constructor(readonly reportsCutOverEnd: boolean) {}

  private step(name: Step, detail = ''): void {
    this.calls.push(detail ? `${name} ${detail}` : name);
    if (this.failAt === name) throw new Error(`${name} failed (test)`);
  }

  private position(): Position {
    return { timelineId: this.serving_, lsn: `0/${this.lsn.toString(16).toUpperCase()}` };
  }

  async head(): Promise<Position> {
    this.step('head');
    return this.position();
  }

  async serving(): Promise<TimelineHandle> {
    this.step('serving');
    return { engine: 'local', role: 'serving', timelineId: this.serving_, ref: {} };
  }

  async fork(at: PointInHistory): Promise<TimelineHandle> {
    this.step('fork', `${at.timelineId}@${at.lsn ?? at.createdAt}`);
    return { engine: 'local', role: 'fork', timelineId: String(this.nextTimeline++), ...(at.lsn === null ? {} : { at: { timelineId: at.timelineId, lsn: at.lsn } }), ref: {} };
  }

  async repoint(target: TimelineHandle, options: RepointOptions = {}): Promise<Position> {
    const before = this.position();
    this.lsn += 0x100; // writes acknowledged until the old server stops
    const end = this.position();
    this.serving_ = target.timelineId;
    if (this.failAt === 'repoint') {
      this.calls.push(`repoint ${target.timelineId}`);
      // Stuck: whatever is asked, the data stays on the first fork's timeline.
      this.serving_ = this.stuckOnFork ? (this.stuckOn ??= target.timelineId) : before.timelineId;
      throw new Error('repoint failed (test)');
    }
    this.step('repoint', target.timelineId);
    if (target.role === 'fork') await options.onCutOver?.(end);
    return this.position();
  }

  async discard(handle: TimelineHandle): Promise<void> {
    this.step('discard', handle.timelineId);
  }

  async abandonForks(): Promise<string[]> {
    this.step('abandonForks');
    return [];
  }

  async restorability(): Promise<Restorability> {
    return { restorable: true };
  }

  async status(): Promise<EngineStatus> {
    return { engine: 'local', state: 'running', summary: 'in memory' };
  }

  async retention() {
    return { summary: 'all of it' };
  }

  async describe() {
    return { tables: [] };
  }

  async prune() {
    return { removed: [], bytesFreed: 0 };
  }

  async close(): Promise<void> {}

  async start(): Promise<Position> {
    return this.position();
  }
}

async function setUp(engine: MemoryEngine): Promise<{ project: Project; target: Checkpoint }> {
  const repo = createRepo();
  const project = await Project.open(repo.dir, { log: silentLog, secrets: { get: async () => undefined }, engines: ENGINES });
  fs.mkdirSync(project.paths.root, { recursive: true });
  saveConfig(project.paths, { version: 1, engine: 'local', keep: 50, checkout: 'branch', local: defaultLocalConfig(55999) });
  project.engine = async () => engine;
  const target: Checkpoint = {
    id: 'aaaaaaaaaaaa',
    kind: 'snapshot',
    commitSha: repo.head(),
    branch: 'main',
    subject: null,
    author: null,
    filesChanged: null,
    label: 'target',
    createdAt: new Date(Date.now() - 60_000).toISOString(),
    engine: 'local',
    timelineId: '1',
    lsn: '0/2000000',
  };
  await project.journal.append(target);
  return { project, target };
}

describe('restore orchestration (in-memory engine)', () => {
  after(removeTempDirs);

  it('walks undo point → serving → fork → cut-over, and places the undo point where the old timeline ended', async () => {
    const engine = new MemoryEngine(true);
    const { project, target } = await setUp(engine);
    const result = await restore(project, { ref: target.id, mode: 'data-only' });
    assert.deepEqual(engine.calls, ['head', 'head', 'serving', `fork 1@0/2000000`, 'repoint 2']);
    assert.ok(result.undo);
    assert.deepEqual([result.undo.timelineId, result.undo.lsn], ['1', '0/3000100'], 'the end the engine reported, after the writes the provisional marker missed');
    assert.equal(project.journal.list().filter((c) => c.kind === 'pre-restore').length, 1, 'one undo point in the journal');
    assert.equal(fs.existsSync(project.paths.restoreRecord), false, 'no record left');
    assert.deepEqual(project.audit.list().map((e) => e.phase), ['finished', 'started']);
  });

  it('journals the marker read before the restore when the engine cannot tell where the old timeline ended', async () => {
    const engine = new MemoryEngine(false);
    const { project, target } = await setUp(engine);
    const result = await restore(project, { ref: target.id, mode: 'data-only' });
    assert.deepEqual([result.undo?.timelineId, result.undo?.lsn], ['1', '0/3000000']);
  });

  it('a failed fork changes nothing: the fork is dropped, the data checked, no undo point left, and it says so', async () => {
    const engine = new MemoryEngine(true);
    engine.failAt = 'fork';
    const { project, target } = await setUp(engine);
    await assert.rejects(restore(project, { ref: target.id, mode: 'data-only' }), (error: unknown) => {
      assert.ok(isLockstepError(error) || error instanceof Error);
      return true;
    });
    assert.ok(!engine.calls.some((c) => c.startsWith('repoint')), 'never cut over');
    assert.ok(engine.calls.includes('abandonForks'));
    assert.equal(engine.calls.filter((c) => c === 'head').length, 3, 'the data is checked after the failure');
    assert.equal(project.journal.list().filter((c) => c.kind === 'pre-restore').length, 0);
    assert.equal(project.audit.list()[0]?.phase, 'compensated');
    assert.match(project.audit.list()[0]?.detail ?? '', /Everything was put back as it was \(checked\): database serving timeline 1 as before/);
    assert.equal(fs.existsSync(project.paths.restoreRecord), false);
  });

  it('never says "put back" when the data is not back: it names what is not, with the command, and leaves the record for the next command', async () => {
    const engine = new MemoryEngine(true);
    engine.failAt = 'repoint';
    engine.stuckOnFork = true;
    const { project, target } = await setUp(engine);
    await assert.rejects(restore(project, { ref: target.id, mode: 'data-only' }), (error: unknown) => {
      assert.ok(isLockstepError(error), String(error));
      assert.match(error.message, /NOT everything is back: the database serves timeline 2, not 1.*run `lockstep db start`/s);
      assert.doesNotMatch(error.message, /Everything was put back/);
      return true;
    });
    assert.equal(project.audit.list()[0]?.phase, 'compensation-failed');
    assert.ok(fs.existsSync(project.paths.restoreRecord), 'the record stays: the job is not done');

    // The next command reverts it once the engine cooperates, and checks again.
    engine.failAt = undefined;
    const outcome = await settleInterruptedRestore(project, 'auto');
    assert.ok(outcome?.ok, outcome?.summary);
    assert.equal(outcome.action, 'abort');
    assert.equal(engine.serving_, '1');
    assert.equal(fs.existsSync(project.paths.restoreRecord), false);
  });
});
