// The extension's words for an interrupted restore (the notification, its buttons, the account of what settling did) and reading the record they come from.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Checkpoint } from '../../src/core/checkpoint';
import type { Project } from '../../src/core/project';
import type { RestoreRecord } from '../../src/core/restore';
import {
  ABORT_RESTORE,
  CONTINUE_RESTORE,
  interruptedNotice,
  interruptedSentence,
  readRestoreInProgress,
  settledMessage,
  type RestoreInProgress,
} from '../../src/extension/interruptedRestore';

const target: Checkpoint = {
  id: 'a1b2c3d4e5f6',
  kind: 'commit',
  commitSha: '1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d',
  branch: 'main',
  subject: 'Add users',
  author: 'Ada',
  filesChanged: 2,
  label: null,
  createdAt: '2026-06-01T12:00:00.000Z',
  engine: 'local',
  timelineId: '1',
  lsn: '0/16B3748',
};

function interrupted(partial: Partial<RestoreInProgress>): RestoreInProgress {
  return {
    operationId: 'op1',
    target,
    mode: 'both',
    step: 'checking-out',
    pid: 4242,
    startedAt: '2026-06-01T12:01:00.000Z',
    ownerAlive: false,
    reverting: false,
    canContinue: true,
    defaultAction: 'continue',
    ...partial,
  };
}

describe('interrupted restore notice', () => {
  it('past the point of no return: names the restore and the step, says finishing is the default, offers Continue then Abort', () => {
    const notice = interruptedNotice(interrupted({}));
    assert.deepEqual(notice.buttons, [CONTINUE_RESTORE, ABORT_RESTORE]);
    assert.match(notice.message, /the restore to “Add users” was interrupted while checking out the code/);
    assert.match(notice.message, /pid 4242/);
    assert.match(notice.message, /by default it is finished/);
  });

  it('before the point of no return: revert is the default and the only button', () => {
    const notice = interruptedNotice(interrupted({ step: 'recovering', canContinue: false, defaultAction: 'abort' }), 'api');
    assert.deepEqual(notice.buttons, [ABORT_RESTORE]);
    assert.match(notice.message, /the restore to “Add users” in api was interrupted while recovering the database/);
    assert.match(notice.message, /had not reached the point of no return, so it can only be reverted \(the default\)/);
  });

  it('a restore that was being put back can only be reverted, whatever its step', () => {
    const notice = interruptedNotice(interrupted({ step: 'served', reverting: true, canContinue: false, defaultAction: 'abort' }));
    assert.deepEqual(notice.buttons, [ABORT_RESTORE]);
    assert.match(notice.message, /A step had failed and it was being put back/);
  });

  it('one sentence for the status bar and the tree, running or interrupted', () => {
    assert.match(interruptedSentence(interrupted({ ownerAlive: true })), /^A restore to “Add users” is running in another process \(pid 4242\), at step “checking-out”\.$/);
    assert.match(interruptedSentence(interrupted({})), /Continue Restore finishes it \(the default\), Abort Restore reverts it\.$/);
    assert.match(interruptedSentence(interrupted({ canContinue: false })), /: Abort Restore reverts it\.$/);
  });
});

describe('settled message', () => {
  it('says it finished the restore, then the core’s checked account', () => {
    const message = settledMessage({
      target,
      action: 'continue',
      step: 'checking-out',
      ok: true,
      detail: 'the data serves a1b2c3d4e5f6; HEAD is on lockstep/restore-1a2b3c4; undo: lockstep restore 0f0f0f0f0f0f.',
    });
    assert.equal(
      message,
      'Lockstep finished the restore to “Add users”, which had been interrupted while checking out the code, after the database was switched. The data serves a1b2c3d4e5f6; HEAD is on lockstep/restore-1a2b3c4; undo: lockstep restore 0f0f0f0f0f0f.',
    );
  });

  it('says it reverted the restore, and what was put back', () => {
    const message = settledMessage({
      target,
      action: 'abort',
      step: 'recovering',
      ok: true,
      detail: 'Everything was put back as it was (checked): HEAD on main as before; database serving timeline 1 as before.',
    });
    assert.match(message, /^Lockstep reverted the restore to “Add users”, which had been interrupted while recovering the database, before it was switched\. Everything was put back as it was \(checked\)/);
  });

  it('says plainly when it could not finish or put everything back', () => {
    const finish = settledMessage({ target, action: 'continue', step: 'served', ok: false, detail: 'the database does not answer. Run `lockstep restore --continue` once that is fixed.' });
    assert.match(finish, /^Lockstep could not finish the restore to “Add users”, which had been interrupted after the database was switched, before the code was checked out\. The database does not answer\./);
    const revert = settledMessage({ target, action: 'abort', step: 'served', ok: false, detail: 'NOT everything is back: the database is not answering — run `lockstep db start`.' });
    assert.match(revert, /^Lockstep could not put everything back after the restore to “Add users”.*NOT everything is back/);
  });

  it('makes the core’s clause a sentence', () => {
    assert.match(settledMessage({ target, action: 'abort', step: 'planned', ok: true, detail: 'nothing had changed' }), /before anything changed\. Nothing had changed\.$/);
  });
});

describe('reading the restore record', () => {
  let dir: string;
  let project: Project;
  const write = (partial: Partial<RestoreRecord>): void => {
    const record: RestoreRecord = {
      version: 1,
      operationId: 'op1',
      pid: process.pid,
      startedAt: '2026-06-01T12:01:00.000Z',
      step: 'checking-out',
      target,
      mode: 'both',
      checkout: 'branch',
      code: null,
      stash: null,
      undo: null,
      undoFinal: true,
      previousServing: null,
      fork: null,
      checkoutResult: null,
      ...partial,
    };
    fs.writeFileSync(path.join(dir, 'restore-in-progress.json'), JSON.stringify(record));
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-interrupted-'));
    // Only the record's path and the log are read.
    project = { paths: { restoreRecord: path.join(dir, 'restore-in-progress.json') }, log: { warn: () => undefined } } as unknown as Project;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('finds none when there is no record', async () => {
    assert.equal(await readRestoreInProgress(project), undefined);
  });

  it('tells a running restore (its process alive) from one whose process is gone', async () => {
    write({});
    const running = await readRestoreInProgress(project);
    assert.equal(running?.ownerAlive, true);
    assert.equal(running?.canContinue, true);
    assert.equal(running?.defaultAction, 'continue');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    write({ pid: gone, step: 'recovering' });
    const dead = await readRestoreInProgress(project);
    assert.equal(dead?.ownerAlive, false);
    assert.equal(dead?.canContinue, false);
    assert.equal(dead?.defaultAction, 'abort');
  });

  it('reverts by default a restore that was being put back, even past the cut-over', async () => {
    write({ step: 'served', reverting: true });
    const record = await readRestoreInProgress(project);
    assert.equal(record?.reverting, true);
    assert.equal(record?.canContinue, false);
    assert.equal(record?.defaultAction, 'abort');
  });
});
