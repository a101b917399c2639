// Quoting for postgresql.conf and sh, timeline histories, and which base backup a target restores from.

import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isLockstepError } from '../../src/base/errors';
import { parseLsn } from '../../src/base/lsn';
import { archivedTimelines, archiverErrorIn, confQuote, historyReader, isOnAncestry, readHistory, restoreCommand, shellQuote } from '../../src/engines/local/archive';
import { chooseBackup, type BackupMeta } from '../../src/engines/local/baseBackup';

describe('local engine: archive and backups', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-arch-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('quotes paths with spaces, quotes and backslashes for sh', () => {
    const nasty = path.join(dir, `it's a "dir" \\ $HOME`);
    fs.mkdirSync(nasty);
    fs.writeFileSync(path.join(nasty, 'f'), 'ok');
    assert.equal(execFileSync('sh', ['-c', `cat ${shellQuote(nasty)}/f`], { encoding: 'utf8' }), 'ok');
    assert.equal(confQuote(`a'b\\c`), `'a''b\\\\c'`);
    assert.match(restoreCommand(nasty), /%f %p$/);
    // Postgres substitutes %f, %p, %r and %% in the command: a path's own % must reach cp as it is.
    assert.equal(restoreCommand('/r/100%free %p'), "cp '/r/100%%free %%p'/%f %p");
  });

  it("finds the archiver's own error in a server log, not its later \"failed too many times\"", () => {
    const log = [
      '2026-12-01 22:22:08.441 UTC [812] ERROR:  could not create file "/x/archive/archtemp000000010000000000000003": Permission denied',
      '2026-12-01 22:22:09.442 UTC [812] WARNING:  archiving write-ahead log file "000000010000000000000003" failed too many times, will try again later',
      '2026-12-01 22:22:10.001 UTC [800] LOG:  checkpoint starting: time',
    ].join('\n');
    assert.equal(archiverErrorIn(log), 'could not create file "/x/archive/archtemp000000010000000000000003": Permission denied');
    assert.equal(archiverErrorIn(log.split('\n').slice(1).join('\n')), undefined, 'a retry notice alone gives no reason');
  });

  it('reads timeline histories and ancestry', () => {
    fs.writeFileSync(path.join(dir, '00000002.history'), '1\t0/3000060\tbefore 2000-01-01\n');
    fs.writeFileSync(path.join(dir, '00000003.history'), '1\t0/3000060\tno reason\n2\t0/5000000\tno reason\n');
    assert.deepEqual(archivedTimelines(dir), [1, 2, 3]);
    assert.deepEqual(readHistory(dir, 3), [
      { timeline: 1, switchLsn: parseLsn('0/3000060') },
      { timeline: 2, switchLsn: parseLsn('0/5000000') },
    ]);
    assert.equal(isOnAncestry(historyReader(dir), 3, 1, parseLsn('0/3000000')), true);
    assert.equal(isOnAncestry(historyReader(dir), 3, 1, parseLsn('0/4000000')), false, 'past the branch point, timeline 1 is a sibling');
    assert.equal(isOnAncestry(historyReader(dir), 2, 2, parseLsn('9/0')), true);
    assert.throws(() => readHistory(dir, 7), (e: unknown) => isLockstepError(e, 'TIMELINE_UNKNOWN'));
  });

  it('chooses the newest backup on the target ancestry that is consistent before the target', () => {
    fs.writeFileSync(path.join(dir, '00000002.history'), '1\t0/6000000\tno reason\n');
    const backup = (id: string, timeline: number, stop: string): BackupMeta => ({ id, timeline, startLsn: stop, stopLsn: stop, createdAt: '', bytes: 0, pgMajor: 15 });
    const backups = [backup('a', 1, '0/2000000'), backup('b', 1, '0/5000000'), backup('c', 1, '0/7000000'), backup('d', 2, '0/8000000')];
    assert.equal(chooseBackup(backups, historyReader(dir), 1, parseLsn('0/7500000'))?.id, 'c');
    assert.equal(chooseBackup(backups, historyReader(dir), 1, parseLsn('0/5500000'))?.id, 'b');
    // Timeline 2 left timeline 1 at 0/6000000: backup c (on 1, after the branch) is a sibling's.
    assert.equal(chooseBackup(backups, historyReader(dir), 2, parseLsn('0/7500000'))?.id, 'b');
    assert.equal(chooseBackup(backups, historyReader(dir), 2, parseLsn('0/9000000'))?.id, 'd');
    assert.equal(chooseBackup(backups, historyReader(dir), 1, parseLsn('0/1000000')), undefined, 'older than every backup');
  });
});

describe('local engine: the generated password verifier', () => {
  it('is a SCRAM-SHA-256 verifier Postgres accepts, with the documented iteration count', async () => {
    const { scramVerifier, GENERATED_PASSWORD_ITERATIONS } = await import('../../src/engines/local/scram');
    const v = scramVerifier('pa55word');
    assert.match(v, new RegExp(`^SCRAM-SHA-256\\$${GENERATED_PASSWORD_ITERATIONS}:[A-Za-z0-9+/=]{24}\\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$`));
    assert.notEqual(scramVerifier('pa55word'), v, 'a fresh salt each time');
  });
});
