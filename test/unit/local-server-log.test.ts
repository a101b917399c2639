// Why Postgres stopped, read from its server log: real excerpts of recoveries that ran out of disk space (Postgres 15,
// captured by test/integration/restore-full-disk.test.ts), where the FATAL alone names a consequence, not the cause.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { copyTree } from '../../src/engines/local/copyTree';
import { firstFatal } from '../../src/engines/local/cluster';

/** restore_command (cp) could not copy the segment holding the backup's checkpoint. */
const CHECKPOINT_SEGMENT_NOT_COPIED = `2026-12-01 21:12:10.905 UTC [6026] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
2026-12-01 21:12:10.906 UTC [6026] LOG:  listening on Unix socket "/tmp/lockstep-D4SdTu/.s.PGSQL.46037"
2026-12-01 21:12:10.926 UTC [6029] LOG:  database system was interrupted; last known up at 2026-12-01 21:11:54 UTC
2026-12-01 21:12:10.946 UTC [6029] LOG:  starting point-in-time recovery to WAL location (LSN) "0/3028AF8"
2026-12-01 21:12:10.946 UTC [6029] LOG:  starting backup recovery with redo LSN 0/2000028, checkpoint LSN 0/2000060, on timeline ID 1
cp: error copying '/tmp/lockstep-full-disk-HQht5I/.git/lockstep/local/archive/000000010000000000000002' to 'pg_wal/RECOVERYXLOG': No space left on device
2026-12-01 21:12:10.964 UTC [6029] LOG:  invalid checkpoint record
2026-12-01 21:12:10.965 UTC [6029] FATAL:  could not locate required checkpoint record
2026-12-01 21:12:10.965 UTC [6029] HINT:  If you are restoring from a backup, touch "/tmp/lockstep-full-disk-HQht5I/.git/lockstep/local/data-4/recovery.signal" and add required recovery options.
	If you are not restoring from a backup, try removing the file "/tmp/lockstep-full-disk-HQht5I/.git/lockstep/local/data-4/backup_label".
	Be careful: removing "/tmp/lockstep-full-disk-HQht5I/.git/lockstep/local/data-4/backup_label" will result in a corrupt cluster if restoring from a backup.
2026-12-01 21:12:10.984 UTC [6026] LOG:  startup process (PID 6029) exited with exit code 1
2026-12-01 21:12:10.984 UTC [6026] LOG:  terminating any other active server processes
2026-12-01 21:12:10.987 UTC [6026] LOG:  shutting down due to startup process failure
2026-12-01 21:12:10.989 UTC [6026] LOG:  database system is shut down
`;

/** Replay started, then cp could not copy the next segment: recovery ended short of the target. */
const LATER_SEGMENT_NOT_COPIED = `2026-12-01 21:13:14.970 UTC [8454] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
2026-12-01 21:13:14.979 UTC [8454] LOG:  listening on Unix socket "/tmp/lockstep-ktN9UE/.s.PGSQL.34029"
2026-12-01 21:13:15.022 UTC [8459] LOG:  database system was interrupted; last known up at 2026-12-01 21:12:54 UTC
2026-12-01 21:13:15.055 UTC [8459] LOG:  starting point-in-time recovery to WAL location (LSN) "0/3028AF8"
2026-12-01 21:13:15.057 UTC [8459] LOG:  starting backup recovery with redo LSN 0/2000028, checkpoint LSN 0/2000060, on timeline ID 1
2026-12-01 21:13:15.089 UTC [8459] LOG:  restored log file "000000010000000000000002" from archive
2026-12-01 21:13:15.091 UTC [8459] LOG:  redo starts at 0/2000028
cp: error copying '/tmp/lockstep-full-disk-G3BwHe/.git/lockstep/local/archive/000000010000000000000003' to 'pg_wal/RECOVERYXLOG': No space left on device
2026-12-01 21:13:15.128 UTC [8459] LOG:  completed backup recovery with redo LSN 0/2000028 and end LSN 0/2000100
2026-12-01 21:13:15.128 UTC [8459] LOG:  consistent recovery state reached at 0/2000100
2026-12-01 21:13:15.132 UTC [8454] LOG:  database system is ready to accept read-only connections
cp: error copying '/tmp/lockstep-full-disk-G3BwHe/.git/lockstep/local/archive/000000010000000000000003' to 'pg_wal/RECOVERYXLOG': No space left on device
2026-12-01 21:13:15.169 UTC [8459] LOG:  redo done at 0/2000100 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.07 s
2026-12-01 21:13:15.169 UTC [8459] FATAL:  recovery ended before configured recovery target was reached
2026-12-01 21:13:15.233 UTC [8454] LOG:  startup process (PID 8459) exited with exit code 1
2026-12-01 21:13:15.233 UTC [8454] LOG:  terminating any other active server processes
2026-12-01 21:13:15.247 UTC [8454] LOG:  shutting down due to startup process failure
2026-12-01 21:13:15.254 UTC [8454] LOG:  database system is shut down
`;

/** Replay itself could not extend a relation; a backend connecting meanwhile failed too, after the startup process. */
const REPLAY_COULD_NOT_EXTEND = `2026-12-01 21:13:49.970 UTC [9507] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
2026-12-01 21:13:49.981 UTC [9507] LOG:  listening on Unix socket "/tmp/lockstep-aCE4uy/.s.PGSQL.33297"
2026-12-01 21:13:50.042 UTC [9520] LOG:  database system was interrupted; last known up at 2026-12-01 21:13:31 UTC
2026-12-01 21:13:50.102 UTC [9520] LOG:  starting point-in-time recovery to WAL location (LSN) "0/3028AF8"
2026-12-01 21:13:50.102 UTC [9520] LOG:  starting backup recovery with redo LSN 0/2000028, checkpoint LSN 0/2000060, on timeline ID 1
2026-12-01 21:13:50.162 UTC [9520] LOG:  restored log file "000000010000000000000002" from archive
2026-12-01 21:13:50.169 UTC [9520] LOG:  redo starts at 0/2000028
2026-12-01 21:13:50.309 UTC [9520] LOG:  restored log file "000000010000000000000003" from archive
2026-12-01 21:13:50.310 UTC [9520] LOG:  completed backup recovery with redo LSN 0/2000028 and end LSN 0/2000100
2026-12-01 21:13:50.310 UTC [9520] LOG:  consistent recovery state reached at 0/2000100
2026-12-01 21:13:50.313 UTC [9507] LOG:  database system is ready to accept read-only connections
cp: error copying '/tmp/lockstep-full-disk-TG0F4H/.git/lockstep/local/archive/000000010000000000000004' to 'pg_wal/RECOVERYXLOG': No space left on device
2026-12-01 21:13:50.414 UTC [9520] FATAL:  could not extend file "base/16384/1249": No space left on device
2026-12-01 21:13:50.414 UTC [9520] HINT:  Check free disk space.
2026-12-01 21:13:50.414 UTC [9520] CONTEXT:  WAL redo at 0/3027538 for Heap2/MULTI_INSERT+INIT: 2 tuples flags 0x02; blkref #0: rel 1663/16384/1249, blk 56
2026-12-01 21:13:50.444 UTC [9535] FATAL:  could not write init file
2026-12-01 21:13:50.470 UTC [9507] LOG:  startup process (PID 9520) exited with exit code 1
2026-12-01 21:13:50.470 UTC [9507] LOG:  terminating any other active server processes
2026-12-01 21:13:50.481 UTC [9507] LOG:  shutting down due to startup process failure
2026-12-01 21:13:50.485 UTC [9507] LOG:  database system is shut down
`;

/** Put together from real lines: an older start that ran out of space, then a start whose cp found no such file (routine probing) before its FATAL. */
const ROUTINE_PROBES_THEN_ANOTHER_START = `2026-12-01 21:00:00.000 UTC [100] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
cp: error copying '/old/archive/000000010000000000000002' to 'pg_wal/RECOVERYXLOG': No space left on device
2026-12-01 21:00:01.000 UTC [100] LOG:  database system is shut down
2026-12-01 21:05:00.000 UTC [200] LOG:  starting PostgreSQL 15.18 (Debian 15.18-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit
cp: cannot stat '/repo/.git/lockstep/local/archive/00000002.history': No such file or directory
2026-12-01 21:05:00.100 UTC [201] LOG:  restored log file "000000010000000000000002" from archive
cp: cannot stat '/repo/.git/lockstep/local/archive/000000010000000000000003': No such file or directory
2026-12-01 21:05:00.200 UTC [201] LOG:  redo done at 0/2000100 system usage: CPU: user: 0.00 s, system: 0.00 s, elapsed: 0.07 s
2026-12-01 21:05:00.200 UTC [201] FATAL:  recovery ended before configured recovery target was reached
`;

describe('local engine: why Postgres stopped, from its server log', () => {
  it('names restore_command\'s failure to copy a segment before the FATAL it leads to', () => {
    assert.equal(
      firstFatal(CHECKPOINT_SEGMENT_NOT_COPIED),
      "cp: error copying '/tmp/lockstep-full-disk-HQht5I/.git/lockstep/local/archive/000000010000000000000002' to 'pg_wal/RECOVERYXLOG': No space left on device; then Postgres stopped: could not locate required checkpoint record",
    );
    assert.equal(
      firstFatal(LATER_SEGMENT_NOT_COPIED),
      "cp: error copying '/tmp/lockstep-full-disk-G3BwHe/.git/lockstep/local/archive/000000010000000000000003' to 'pg_wal/RECOVERYXLOG': No space left on device; then Postgres stopped: recovery ended before configured recovery target was reached",
    );
  });

  it('keeps a FATAL that names the refused write itself, the startup process\'s rather than a backend\'s', () => {
    assert.equal(firstFatal(REPLAY_COULD_NOT_EXTEND), 'could not extend file "base/16384/1249": No space left on device');
  });

  it('reads only the last start, and takes the archive\'s routine "No such file" for no cause', () => {
    assert.equal(firstFatal(ROUTINE_PROBES_THEN_ANOTHER_START), 'recovery ended before configured recovery target was reached');
  });

  it('is what it was for a plain FATAL, and nothing without one or a cause', () => {
    assert.equal(firstFatal('2026-12-01 21:00:00.000 UTC [1] FATAL:  lock file "postmaster.pid" already exists\n'), 'lock file "postmaster.pid" already exists');
    assert.equal(firstFatal('2026-12-01 21:00:00.000 UTC [1] LOG:  database system is ready to accept connections\n'), undefined);
    assert.equal(firstFatal(''), undefined);
  });
});

describe('local engine: copying a tree onto a full disk', () => {
  const realCopyFile = fs.promises.copyFile;
  afterEach(() => {
    fs.promises.copyFile = realCopyFile;
  });

  it('names the file and "No space left on device", once every copy under way has settled', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-copy-'));
    try {
      const source = path.join(dir, 'source');
      fs.mkdirSync(source);
      for (let i = 0; i < 40; i++) fs.writeFileSync(path.join(source, `f${String(i).padStart(2, '0')}`), 'x');
      const target = path.join(dir, 'target');
      // The disk fills at the tenth file, as Node reports it; the copies under way beside it finish later.
      let running = 0;
      let started = 0;
      fs.promises.copyFile = async (src, dst, mode) => {
        running++;
        started++;
        try {
          await new Promise((r) => setTimeout(r, 5));
          if (path.basename(String(src)) === 'f09') {
            throw Object.assign(new Error(`ENOSPC: no space left on device, copyfile '${String(src)}' -> '${String(dst)}'`), { code: 'ENOSPC', errno: -28 });
          }
          await new Promise((r) => setTimeout(r, 20));
          return await realCopyFile(src, dst, mode);
        } finally {
          running--;
        }
      };
      await assert.rejects(copyTree(source, target), (error: NodeJS.ErrnoException) => {
        assert.equal(error.message, `could not copy ${path.join(source, 'f09')} to ${path.join(target, 'f09')}: No space left on device`);
        assert.equal(error.code, 'ENOSPC');
        assert.equal(running, 0, 'no copy still writes into the target');
        return true;
      });
      assert.ok(started < 40, `no new copy starts after the failure (${started} started)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
