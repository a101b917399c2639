// `lockstep pin` / `unpin` through the real CLI on a real local Postgres: a pinned checkpoint's base backup and WAL survive a prune that removes everything else, it restores afterwards, expiry warnings, tagged commits.

import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CheckpointListing } from '../../src/core/checkpoint';
import { expectOk, explain, initRepo, type LockstepRepo } from '../support/cli';
import { fingerprint, sql, type Fingerprint } from '../support/fingerprint';

interface Version {
  sha: string;
  id: string;
  data: Fingerprint;
}

describe('cli: pin and unpin (local engine)', function () {
  this.timeout(900_000);
  let repo: LockstepRepo;
  const versions: Version[] = [];
  /** Base backups by the step that made them: init's, then one per `db backup`. */
  const backupOf: string[] = [];
  let backupsDir: string;
  let stateFile: string;

  const backups = (): string[] =>
    fs
      .readdirSync(backupsDir)
      .filter((n) => !n.startsWith('.'))
      .sort();
  const pinsFile = (): string => path.join(repo.lockstepDir, 'pins.json');
  const readPins = (): string | undefined => (fs.existsSync(pinsFile()) ? fs.readFileSync(pinsFile(), 'utf8') : undefined);
  const statePins = (): Record<string, unknown> | undefined => (JSON.parse(fs.readFileSync(stateFile, 'utf8')) as { pins?: Record<string, unknown> }).pins;
  const setConfig = (change: Record<string, unknown>): void => {
    const file = path.join(repo.lockstepDir, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ ...(JSON.parse(fs.readFileSync(file, 'utf8')) as object), ...change }, null, 2));
  };

  /** `list --json` with the field pins added to the contract. */
  const listed = async (): Promise<(CheckpointListing & { pinned: boolean })[]> => (await repo.list()) as (CheckpointListing & { pinned: boolean })[];

  async function commit(n: number, statement: string): Promise<Version> {
    await sql(repo.url, statement);
    repo.write('app.txt', `version ${n}\n`);
    repo.git('add', '.');
    repo.git('commit', '--quiet', '-m', `v${n}`);
    const sha = repo.head();
    const checkpoint = (await repo.list()).find((c) => c.kind === 'commit' && c.commitSha === sha);
    assert.ok(checkpoint, `the hook recorded v${n}`);
    return { sha, id: checkpoint.id, data: await fingerprint(repo.url) };
  }

  async function backupNow(): Promise<string> {
    const result = expectOk(await repo.lockstep('db', 'backup'), 'lockstep db backup');
    const id = /taken: base backup (\S+) /.exec(result.stdout)?.[1];
    assert.ok(id, result.stdout);
    return id;
  }

  before(async () => {
    repo = await initRepo({ prefix: 'lockstep-pin-' });
    backupsDir = path.join(repo.lockstepDir, 'local', 'backups');
    stateFile = path.join(repo.lockstepDir, 'local', 'state.json');
    backupOf.push(...backups());
    assert.equal(backupOf.length, 1, 'init takes one base backup');
    // v1 and v2 each follow a base backup of their own, so that pruning without pins would take v1's (and v2's) backup.
    versions.push(await commit(1, "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'one-' || g FROM generate_series(1, 500) g"));
    await repo.waitForUpkeep();
    backupOf.push(await backupNow());
    versions.push(await commit(2, "UPDATE items SET name = 'two-' || id WHERE id % 2 = 0; INSERT INTO items SELECT g, 'two' FROM generate_series(501, 800) g"));
    await repo.waitForUpkeep();
    backupOf.push(await backupNow());
    versions.push(await commit(3, 'DELETE FROM items WHERE id > 700'));
    versions.push(await commit(4, "CREATE TABLE notes (id int); INSERT INTO notes VALUES (1), (2); UPDATE items SET name = 'four'"));
    await repo.waitForUpkeep();
    for (let i = 1; i < versions.length; i++) assert.notDeepEqual(versions[i]!.data, versions[i - 1]!.data);
  });

  after(async () => {
    await repo?.cleanup();
  });

  it('bad input changes nothing: an unknown REF, no REF, and a checkpoint that can no longer be restored (exit 2)', async () => {
    const unknown = await repo.lockstep('pin', 'nope-not-a-ref');
    assert.equal(unknown.code, 2, explain(unknown));
    assert.match(unknown.stderr, /no checkpoint matches "nope-not-a-ref"/);
    const none = await repo.lockstep('pin');
    assert.equal(none.code, 2, explain(none));
    const unpinUnknown = await repo.lockstep('unpin', 'nope-not-a-ref');
    assert.equal(unpinUnknown.code, 2, explain(unpinUnknown));

    // v1's only base backup out of sight (listBackups skips hidden names, as for one being taken): v1 is expired.
    const hidden = path.join(backupsDir, `.away-${backupOf[0]}`);
    fs.renameSync(path.join(backupsDir, backupOf[0]!), hidden);
    try {
      assert.equal((await repo.list()).find((c) => c.id === versions[0]!.id)?.restorable, false, 'listed as expired meanwhile');
      const expired = await repo.lockstep('pin', versions[0]!.id);
      assert.equal(expired.code, 2, explain(expired));
      assert.match(expired.stderr, /cannot be restored: older than every base backup kept/);
    } finally {
      fs.renameSync(hidden, path.join(backupsDir, backupOf[0]!));
    }
    assert.equal(readPins(), undefined, 'no pins.json written');
    assert.equal(statePins(), undefined, 'the engine recorded no pin');
    assert.ok(!repo.audit().some((e) => e.op === 'pin'), 'no pin in the audit trail');
  });

  it('pin prints what the engine keeps and its disk cost; pinning again changes nothing', async () => {
    const v1 = versions[0]!;
    const result = expectOk(await repo.lockstep('pin', v1.id));
    const shown = new RegExp(
      `^pinned ${v1.id} "v1": base backup ${backupOf[0]} \\((\\d+(\\.\\d)?) MB\\) and (\\d+(\\.\\d)?) MB of WAL from its start to the checkpoint \\((\\d+) segment\\(s\\)\\) stay; prune will not remove them$`,
      'm',
    );
    const match = shown.exec(result.stdout);
    assert.ok(match, result.stdout);
    assert.ok(Number(match[1]) > 1, 'a base backup of a real cluster is MBs');
    assert.ok(Number(match[5]) >= 1, 'at least the segment the backup starts in');
    const pins = readPins();
    assert.ok(pins);
    const pin = (JSON.parse(pins) as { pins: { checkpointId: string; engine: string; hold: { ref: { backupId: string }; bytes: number } }[] }).pins;
    assert.deepEqual(
      pin.map((p) => [p.checkpointId, p.engine, p.hold.ref.backupId]),
      [[v1.id, 'local', backupOf[0]]],
    );
    assert.ok(pin[0]!.hold.bytes > Number(match[1]) * 1024 * 1024 * 0.9, 'bytes count the backup and the WAL');
    assert.deepEqual(Object.keys(statePins() ?? {}), [v1.id], 'the engine keeps the point itself');
    assert.ok(repo.audit().some((e) => e.op === 'pin' && e.phase === 'finished' && e.checkpointId === v1.id));

    const again = expectOk(await repo.lockstep('pin', v1.id));
    assert.match(again.stdout, new RegExp(`^${v1.id} "v1" is pinned already \\(since `));
    assert.equal(readPins(), pins, 'pins.json is unchanged');

    // By commit sha, as `restore` takes REF; JSON for tools.
    const json = JSON.parse(expectOk(await repo.lockstep('pin', versions[1]!.sha, '--json')).stdout) as { checkpointId: string; already: boolean; hold: { ref: { backupId: string } } };
    assert.deepEqual([json.checkpointId, json.already, json.hold.ref.backupId], [versions[1]!.id, false, backupOf[1]]);
  });

  it('list marks pinned checkpoints (text and JSON) and says which are about to go; status warns', async () => {
    // Keep 3: of v4, v3, v2 (pinned), v1 (pinned) and init's, v3 is in the oldest two places of the window.
    setConfig({ keep: 3 });
    const rows = await listed();
    const byId = new Map(rows.map((c) => [c.id, c]));
    assert.equal(byId.get(versions[0]!.id)?.pinned, true);
    assert.equal(byId.get(versions[1]!.id)?.pinned, true);
    assert.equal(byId.get(versions[3]!.id)?.pinned, false);
    for (const c of rows) assert.equal(typeof c.pinned, 'boolean', 'every row says');

    const text = expectOk(await repo.lockstep('list'));
    const row = (id: string) => text.stdout.split('\n').find((l) => l.includes(id)) ?? '';
    assert.match(row(versions[0]!.id), /v1 {2}\[pinned\]$/);
    assert.match(row(versions[2]!.id), /v3 {2}\[expires after 2 more checkpoints\]$/);
    assert.doesNotMatch(row(versions[3]!.id), /\[/, 'the newest is not near its end');

    const status = expectOk(await repo.lockstep('status'));
    assert.match(status.stdout, /checkpoints: \d+ \(keeping 3, 2 pinned\)/);
    assert.match(status.stdout, /warning: \d checkpoints? expires? soon \(oldest: '[^']+' after \d more checkpoints?\): `lockstep pin REF` keeps one/);
    const statusJson = JSON.parse(expectOk(await repo.lockstep('status', '--json')).stdout) as { checkpoints: { pinned: number; expiringSoon: { id: string }[] } };
    assert.equal(statusJson.checkpoints.pinned, 2);
    assert.ok(statusJson.checkpoints.expiringSoon.some((c) => c.id === versions[2]!.id));
    setConfig({ keep: 50 });
  });

  it('prune --keep 1 removes everything else, but the pinned checkpoints, their base backups and WAL stay; so does the upkeep’s prune', async () => {
    const result = expectOk(await repo.lockstep('prune', '--keep', '1'));
    assert.match(result.stdout, /checkpoints: removed \d+, kept 3 \(2 pinned\)/);
    const ids = (await repo.list()).map((c) => c.id).sort();
    assert.deepEqual(ids, [versions[0]!.id, versions[1]!.id, versions[3]!.id].sort(), 'v3 and init’s checkpoint went');
    for (const c of await repo.list()) assert.equal(c.restorable, true, `${c.id} restorable`);
    const left = backups();
    assert.ok(left.includes(backupOf[0]!) && left.includes(backupOf[1]!), `the pinned ones' backups stay: ${left.join(', ')}`);

    // The background upkeep's prune (after a forced backup) keeps them too.
    await backupNow();
    const afterUpkeep = backups();
    assert.ok(afterUpkeep.includes(backupOf[0]!) && afterUpkeep.includes(backupOf[1]!), afterUpkeep.join(', '));
  });

  it('the engine keeps its own record of a pin: a journal that lost the checkpoint does not make prune take its base backup', async () => {
    const v2 = versions[1]!;
    const saved = fs.readFileSync(repo.journalFile, 'utf8');
    fs.writeFileSync(
      repo.journalFile,
      saved
        .split('\n')
        .filter((l) => !l.includes(`"${v2.id}"`))
        .join('\n'),
    );
    try {
      assert.ok(!(await repo.list()).some((c) => c.id === v2.id), 'the journal no longer has v2');
      expectOk(await repo.lockstep('prune', '--keep', '1'));
      assert.ok(backups().includes(backupOf[1]!), `state.json's pin kept v2's base backup: ${backups().join(', ')}`);
    } finally {
      fs.writeFileSync(repo.journalFile, saved);
    }
  });

  it('unpin lets go: the next prune removes the checkpoint and the base backup only it needed', async () => {
    const v2 = versions[1]!;
    const result = expectOk(await repo.lockstep('unpin', v2.id));
    assert.match(result.stdout, new RegExp(`^unpinned ${v2.id}: released base backup ${backupOf[1]} `));
    assert.deepEqual(Object.keys(statePins() ?? {}), [versions[0]!.id]);
    const again = expectOk(await repo.lockstep('unpin', v2.id));
    assert.match(again.stdout, /was not pinned: nothing changed/);

    expectOk(await repo.lockstep('prune', '--keep', '1'));
    const ids = (await repo.list()).map((c) => c.id);
    assert.ok(!ids.includes(v2.id), 'v2 went');
    assert.ok(ids.includes(versions[0]!.id), 'v1 stays pinned');
    const left = backups();
    assert.ok(!left.includes(backupOf[1]!), `v2's base backup went: ${left.join(', ')}`);
    assert.ok(left.includes(backupOf[0]!), 'v1’s stays');
  });

  it('restore PINNED brings back its data and code after all that pruning', async () => {
    const v1 = versions[0]!;
    assert.notDeepEqual(await fingerprint(repo.url), v1.data);
    const result = expectOk(await repo.lockstep('restore', v1.id, '--yes'));
    assert.match(result.stdout, /Restored code and data/);
    assert.deepEqual(await fingerprint(repo.url), v1.data);
    assert.equal(repo.git('rev-parse', 'HEAD'), v1.sha);
    await repo.waitForUpkeep();
  });

  it('pinTags: prune pins tagged commits’ checkpoints first (lightweight and annotated), and list names the tag', async () => {
    // Two new commits, one tagged of each kind, and one untagged between them.
    const tagged = await commit(5, 'INSERT INTO items VALUES (9001, $$five$$)');
    repo.git('tag', 'release-5');
    const untagged = await commit(6, 'INSERT INTO items VALUES (9002, $$six$$)');
    const annotated = await commit(7, 'INSERT INTO items VALUES (9003, $$seven$$)');
    repo.git('tag', '-a', '-m', 'seven', 'release-7');
    const newest = await commit(8, 'INSERT INTO items VALUES (9004, $$eight$$)');
    await repo.waitForUpkeep();

    // Off (the default): a prune pins nothing.
    expectOk(await repo.lockstep('prune', '--keep', '10'));
    assert.equal((await listed()).find((c) => c.id === tagged.id)?.pinned, false);

    setConfig({ pinTags: true });
    const result = expectOk(await repo.lockstep('prune', '--keep', '1'));
    assert.match(result.stdout, new RegExp(`^pinned ${tagged.id} \\(tag release-5\\): base backup `, 'm'));
    assert.match(result.stdout, new RegExp(`^pinned ${annotated.id} \\(tag release-7\\): `, 'm'));
    const ids = (await listed()).map((c) => c.id);
    assert.ok(ids.includes(tagged.id) && ids.includes(annotated.id), 'the tagged ones stay');
    assert.ok(!ids.includes(untagged.id), 'the untagged one between them went');
    const text = expectOk(await repo.lockstep('list'));
    assert.match(text.stdout.split('\n').find((l) => l.includes(tagged.id)) ?? '', /\[pinned: tag release-5\]$/);

    // A second prune pins nothing new.
    const second = expectOk(await repo.lockstep('prune', '--keep', '1'));
    assert.doesNotMatch(second.stdout, /^pinned /m);
    setConfig({ pinTags: false });

    // By hand, whatever the setting: `pin --tags`.
    repo.git('tag', 'release-8');
    const byHand = expectOk(await repo.lockstep('pin', '--tags'));
    assert.match(byHand.stdout, new RegExp(`^pinned ${newest.id} \\(tag release-8\\): `, 'm'));
    assert.doesNotMatch(byHand.stdout, new RegExp(tagged.id), 'the ones pinned already are not pinned again');
    const pins = JSON.parse(expectOk(await repo.lockstep('pin', '--list', '--json')).stdout) as { checkpointId: string; tag?: string }[];
    assert.deepEqual(
      pins.filter((p) => p.tag).map((p) => p.tag).sort(),
      ['release-5', 'release-7', 'release-8'],
    );
  });

  it('pinTags: the count prune that a new checkpoint starts pins a tagged commit first, before the next prune or upkeep', async () => {
    const keepBefore = (JSON.parse(fs.readFileSync(path.join(repo.lockstepDir, 'config.json'), 'utf8')) as { keep: number }).keep;
    const tagged = await commit(9, 'INSERT INTO items VALUES (9005, $$nine$$)');
    repo.git('tag', 'release-9');
    await repo.waitForUpkeep();
    setConfig({ pinTags: true, keep: 2 });
    try {
      // Snapshots push the count over `keep`: each one prunes the journal by count as it is taken.
      for (const label of ['s1', 's2', 's3']) expectOk(await repo.lockstep('snapshot', '-m', label));
      const after = await listed();
      const row = after.find((c) => c.id === tagged.id);
      assert.ok(row, 'the tagged commit\'s checkpoint is still listed');
      assert.equal(row.pinned, true, 'and pinned by its tag');
      assert.ok(!after.some((c) => c.label === 's1'), 'while the count prune did drop an untagged, unpinned one');
      const pins = JSON.parse(expectOk(await repo.lockstep('pin', '--list', '--json')).stdout) as { checkpointId: string; tag?: string }[];
      assert.equal(pins.find((p) => p.checkpointId === tagged.id)?.tag, 'release-9');
    } finally {
      setConfig({ pinTags: false, keep: keepBefore });
    }
  });

  it('a bad pinTags value in config.json is a clear configuration error', async () => {
    setConfig({ pinTags: 'yes' });
    try {
      const result = await repo.lockstep('list');
      assert.equal(result.code, 1, explain(result));
      assert.match(result.stderr, /pinTags must be true or false/);
    } finally {
      setConfig({ pinTags: false });
    }
  });
});
