// A full disk under the local engine's cluster (a tmpfs the test mounts as root, filled up by a file): a restore whose copy of the base
// backup, or whose WAL replay, runs out of space fails with the real cause, and leaves the database serving every
// acknowledged row on the same port, HEAD and branch as they were, no record and no fork behind; once space is freed,
// the same restore succeeds and its undo brings every acknowledged row back.

import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseLsn } from '../../src/base/lsn';
import { historyReader } from '../../src/engines/local/archive';
import { chooseBackup, listBackups } from '../../src/engines/local/baseBackup';
import { runningAsRoot } from '../../src/engines/local/osUser';
import { explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

/** The cluster grows to ~660 MB over the test's seven restores (each kept data directory ~110 MB, 16 MB WAL segments per timeline); the filler takes the rest. */
const TMPFS_MB = 1024;
const MB = 1024 * 1024;

interface StatusReport {
  engine: { state: string; head?: { timelineId: string } };
  restoreInProgress: unknown;
  operations: { op: string; phase: string }[];
}

describe('restore: a full disk under the local database (root only: the test mounts a tmpfs)', function () {
  this.timeout(300_000);
  let repo: LockstepRepo | undefined;
  /** `.git/lockstep/local`: the engine's whole cluster, on its own small tmpfs. */
  let dataRoot = '';
  let mounted = false;
  let target: { id: string; sha: string; data: Fingerprint };
  const acked: number[] = [];

  before(async function () {
    if (!runningAsRoot()) {
      // Mounting a tmpfs needs root (CI runs as root); reported as pending, never as passed.
      this.skip();
    }
    repo = await initRepo({
      prefix: 'lockstep-full-disk-',
      beforeInit: (r) => {
        dataRoot = path.join(r.dir, '.git', 'lockstep', 'local');
        fs.mkdirSync(dataRoot, { recursive: true, mode: 0o755 });
        // 0711: Postgres runs as `lockstep-postgres` and must traverse it (`lockstep init` sets the same mode).
        execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_MB}m,mode=0711`, 'tmpfs', dataRoot]);
        mounted = true;
      },
    });
    await sql(repo.url, "CREATE TABLE acked (id int PRIMARY KEY); CREATE TABLE t (v text); INSERT INTO t VALUES ('target')");
    repo.write('app.txt', 'target\n');
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', 'target');
    // Snapshots, not the commit hook's markers: the hook gives up after 1.5 s, which a loaded machine can exceed.
    target = { id: await snapshot(repo, 'target'), sha: repo.head(), data: await fingerprint(repo.url) };
    await sql(repo.url, "UPDATE t SET v = 'before'");
    repo.write('app.txt', 'before\n');
    repo.git('commit', '--quiet', '-am', 'before');
    // Serve a later timeline first: a restore to a checkpoint on the serving timeline archives the WAL before it
    // forks, and on a full disk that archiving is what fails (ARCHIVE_STUCK), before any copy or replay.
    const moved = await repo.lockstep('restore', await snapshot(repo, 'before'), '--yes');
    assert.equal(moved.code, 0, explain(moved));
  });

  afterEach(() => {
    // A failed case must not leave the next one a full disk.
    if (dataRoot) fs.rmSync(path.join(dataRoot, 'filler'), { force: true });
  });

  after(async () => {
    if (repo) {
      await repo.waitForUpkeep().catch(() => undefined);
      await repo.lockstep('db', 'stop');
      await stopPostgresUnder(dataRoot);
    }
    if (mounted) {
      try {
        execFileSync('umount', [dataRoot], { stdio: 'pipe' });
      } catch {
        execFileSync('umount', ['--lazy', dataRoot], { stdio: 'pipe' }); // something still holds it: detach it anyway
      }
    }
    await repo?.cleanup();
  });

  /**
   * The whole story for one way of running out of space: `leave` is how many bytes stay free when the restore
   * starts (with the prepared copy gone, so the restore copies the base backup); `cause` what the failure must name.
   */
  async function restoreOnFullDisk(leave: (backupBytes: number) => number, cause: RegExp): Promise<void> {
    const r = repo!;
    await r.waitForUpkeep();
    // Acknowledged writes just before the restore: each INSERT returned, so each must survive whatever happens.
    for (let i = 0; i < 3; i++) {
      const id = acked.length + 1;
      await sql(r.url, 'INSERT INTO acked VALUES ($1)', [id]);
      acked.push(id);
    }
    const beforeData = await fingerprint(r.url);
    const beforeHead = r.head();
    const beforeBranch = r.git('branch', '--show-current');
    const beforeStatus = await statusReport(r);
    const beforeDirs = clusterEntries();

    // As when the background upkeep has not made the prepared copy yet (or could not, for want of space).
    for (const entry of fs.readdirSync(dataRoot)) if (entry.startsWith('prepared-')) fs.rmSync(path.join(dataRoot, entry), { recursive: true });
    const backup = backupFor(await targetPosition(r, target.id));
    const backupBytes = spaceTaken(path.join(dataRoot, 'backups', backup, 'data'));
    const filler = path.join(dataRoot, 'filler');
    const free = freeBytes(dataRoot);
    const keep = leave(backupBytes);
    assert.ok(free > keep + 16 * MB, `the tmpfs has ${free} bytes free, not enough to fill to ${keep}`);
    execFileSync('fallocate', ['-l', String(Math.floor((free - keep) / 4096) * 4096), filler]);

    const failed = await r.lockstep('restore', target.id, '--yes');
    assert.equal(failed.code, 1, explain(failed));
    assert.match(failed.stderr, cause, `the failure names what ran out of space:\n${explain(failed)}`);
    assert.match(failed.stderr, /No space left on device/, explain(failed));
    assert.match(failed.stderr, /Everything was put back as it was \(checked\)/, explain(failed));

    // The previous state, every acknowledged row included, on the same port (repo.url did not change).
    assert.deepEqual(await fingerprint(r.url), beforeData, 'the data of before');
    assert.deepEqual(
      (await sql(r.url, 'SELECT id FROM acked ORDER BY id')).map((row) => row.id),
      acked,
      'every acknowledged row',
    );
    assert.equal(r.head(), beforeHead, 'HEAD unchanged');
    assert.equal(r.git('branch', '--show-current'), beforeBranch, 'branch unchanged');
    assert.equal(fs.existsSync(path.join(r.lockstepDir, 'restore-in-progress.json')), false, 'no restore record left');
    assert.equal(fs.existsSync(path.join(r.lockstepDir, 'restore.lock')), false, 'the restore lock is free');
    assert.deepEqual(clusterEntries(), beforeDirs, 'no fork data directory (nor half of one) left on the disk');
    const state = JSON.parse(fs.readFileSync(path.join(dataRoot, 'state.json'), 'utf8')) as { pendingForks?: Record<string, string> };
    assert.deepEqual(Object.keys(state.pendingForks ?? {}), [], 'no fork pending');
    const afterStatus = await statusReport(r);
    assert.equal(afterStatus.engine.state, 'running');
    assert.equal(afterStatus.engine.head?.timelineId, beforeStatus.engine.head?.timelineId, 'the same timeline serves');
    assert.equal(afterStatus.restoreInProgress, null);
    assert.equal(afterStatus.operations.find((o) => o.op === 'restore')?.phase, 'compensated', 'the audit trail says the failed restore was put back');

    // Space freed, the same restore succeeds; its undo brings every acknowledged row back.
    fs.rmSync(filler);
    const restored = await r.lockstep('restore', target.id, '--yes');
    assert.equal(restored.code, 0, explain(restored));
    assert.deepEqual(await fingerprint(r.url), target.data, 'the data of the target');
    assert.equal(r.head(), target.sha, 'the code of the target');
    const undoId = /undo: lockstep restore (\S+)/.exec(restored.stdout + restored.stderr)?.[1];
    assert.ok(undoId, `the restore names its undo point: ${explain(restored)}`);
    await r.waitForUpkeep();
    const undo = await r.lockstep('restore', undoId, '--yes');
    assert.equal(undo.code, 0, explain(undo));
    assert.deepEqual(await fingerprint(r.url), beforeData, 'undo: the data of before, every acknowledged row included');
    assert.equal(r.head(), beforeHead);
  }

  it('the copy of the base backup runs out of space: the copy is named, and the database serves on', async () => {
    // A few MB free: less than the base backup, more than the engine's small files (state, logs) need.
    await restoreOnFullDisk(() => 8 * MB, /^lockstep: could not copy \S+\/backups\/[^/\s]+\/data\/\S+ to \S+\/data-\d+\/\S+: No space left on device$/m);
  });

  it('WAL replay runs out of space (restore_command cannot copy a segment): Postgres\' own reason, not "could not locate required checkpoint record" alone', async () => {
    // Room for the copy of the base backup, not for a 16 MB WAL segment beside it.
    await restoreOnFullDisk(
      (backupBytes) => backupBytes + 6 * MB,
      // The copy was made (replay started); then cp, restore_command, could not copy a segment; Postgres' consequence after.
      /Replaying WAL[^\n]*\n(.*\n)*lockstep: recovery to \S+ failed: cp: [^\n]*'\S+\/archive\/[0-9A-F]{24}'[^\n]*: No space left on device; then Postgres stopped: could not locate required checkpoint record$/m,
    );
  });

  /** The entries of the cluster's root (data directories, backups, archive…), the filler and prepared copies aside. */
  function clusterEntries(): string[] {
    return fs
      .readdirSync(dataRoot)
      .filter((e) => e !== 'filler' && !e.startsWith('prepared-') && !e.startsWith('.prepared-'))
      .sort();
  }

  /** The base backup a restore of `at` copies: the engine's own choice. */
  function backupFor(at: { timeline: number; lsn: bigint }): string {
    const backups = listBackups(path.join(dataRoot, 'backups'));
    const chosen = chooseBackup(backups, historyReader(path.join(dataRoot, 'archive')), at.timeline, at.lsn);
    assert.ok(chosen, 'a base backup for the target');
    return chosen.id;
  }
});

/** `lockstep snapshot -m LABEL`: the new checkpoint's id. */
async function snapshot(repo: LockstepRepo, label: string): Promise<string> {
  const result = await repo.lockstep('snapshot', '-m', label);
  assert.equal(result.code, 0, explain(result));
  return /^(\S+) /.exec(result.stdout)![1]!;
}

async function targetPosition(repo: LockstepRepo, id: string): Promise<{ timeline: number; lsn: bigint }> {
  const checkpoint = (await repo.list()).find((c) => c.id === id)!;
  return { timeline: Number(checkpoint.timelineId), lsn: parseLsn(checkpoint.lsn ?? assert.fail(`checkpoint ${id} is time-based`)) };
}

async function statusReport(repo: LockstepRepo): Promise<StatusReport> {
  const status = await repo.lockstep('status', '--json');
  assert.equal(status.code, 0, explain(status));
  return JSON.parse(status.stdout) as StatusReport;
}

function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** What a tree occupies on the disk (allocated blocks, which on tmpfs are whole pages), not the sum of file sizes. */
function spaceTaken(dir: string): number {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += spaceTaken(full);
    else total += fs.lstatSync(full).blocks * 512;
  }
  return total;
}

/** A failed test may leave a fork's server running on the tmpfs: stop every postmaster under it, so it can be unmounted. */
async function stopPostgresUnder(root: string): Promise<void> {
  if (!root || !fs.existsSync(root)) return;
  for (const entry of fs.readdirSync(root)) {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(path.join(root, entry, 'postmaster.pid'), 'utf8').split('\n')[0]);
      if (fs.realpathSync(`/proc/${pid}/cwd`) !== fs.realpathSync(path.join(root, entry))) continue;
      process.kill(pid, 'SIGQUIT');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
  }
}
