// Extension-host tests of the extension's pure parts: status bar looks, restore wording, settings differences, hook ownership.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { Checkpoint } from '../../../src/core/checkpoint';
import type { ProjectConfig } from '../../../src/core/config';
import type { RestorePreview } from '../../../src/core/restore';
import { isOtherVersionOfThisExtension } from '../../../src/extension/commitHook';
import type { RepositoryState } from '../../../src/extension/repository';
import { confirmation, previewMarkdown, STASH_AND_RESTORE } from '../../../src/extension/restoreDescription';
import { restoreChangeWords, rowsDocuments, tableChangeWords, type RowChanges, type TableChange } from '../../../src/extension/rowDiffText';
import { changesBody } from '../../../src/extension/views/changesPanel';
import { reachText } from '../../../src/extension/views/treeNodes';
import { differences } from '../../../src/extension/settingsSync';
import { presentStatus } from '../../../src/extension/statusBar';

// A fixed clock: relative times are asserted against it, never against when (or how slowly) the suite runs.
const NOW = Date.parse('2026-06-01T12:00:00.000Z');

const config: ProjectConfig = { version: 1, engine: 'local', keep: 50, checkout: 'branch', local: { port: 55432, database: 'app', user: 'lockstep', baseBackupWalBytes: 1 } };

const checkpoint: Checkpoint = {
  id: 'a1b2c3d4e5f6',
  kind: 'commit',
  commitSha: '1a2b3c4d5e6f7a8b9c0d1a2b3c4d5e6f7a8b9c0d',
  branch: 'main',
  subject: 'Add users',
  author: 'Ada',
  filesChanged: 2,
  label: null,
  createdAt: new Date(NOW - 120_000).toISOString(),
  engine: 'local',
  timelineId: '1',
  lsn: '0/16B3748',
};

function state(partial: Partial<RepositoryState>): RepositoryState {
  return { loaded: true, config, configProblem: undefined, engine: undefined, hook: undefined, newest: undefined, ...partial };
}

describe('status bar presentation', () => {
  it('hides itself where Lockstep is not set up', () => {
    assert.equal(presentStatus({ repositoryName: undefined, state: state({ config: undefined }), operation: undefined }).visible, false);
    assert.equal(presentStatus({ repositoryName: undefined, state: undefined, operation: undefined }).visible, false);
  });

  it('offers a snapshot and names engine, timeline, LSN and the last checkpoint', () => {
    const look = presentStatus({
      repositoryName: undefined,
      state: state({ engine: { engine: 'local', state: 'running', summary: 'running on 127.0.0.1:55432', head: { timelineId: '2', lsn: '0/3000028' } }, newest: checkpoint }),
      operation: undefined,
      now: NOW,
    });
    assert.equal(look.text, '$(database) Snapshot');
    assert.equal(look.command, 'lockstep.takeSnapshot');
    assert.equal(look.backgroundColor, undefined);
    const tooltip = look.tooltip!.value;
    for (const part of ['local', 'Timeline `2`', 'LSN `0/3000028`', 'Add users', '1a2b3c4', '2 minutes ago']) assert.ok(tooltip.includes(part), `the tooltip lacks ${part}:\n${tooltip}`);
  });

  it('warns when the database is stopped or does not answer', () => {
    for (const engineState of ['stopped', 'unreachable'] as const) {
      const look = presentStatus({ repositoryName: undefined, state: state({ engine: { engine: 'local', state: engineState, summary: engineState } }), operation: undefined });
      assert.deepEqual(look.backgroundColor, new vscode.ThemeColor('statusBarItem.warningBackground'));
      assert.equal(look.text, '$(database) Snapshot');
    }
  });

  it('warns, and says why, when WAL archiving is failing', () => {
    const problem = 'WAL archiving is failing (000000010000000000000003 failed 7 time(s), last at 2026-06-01 11:59:00+00)';
    const look = presentStatus({
      repositoryName: undefined,
      state: state({ engine: { engine: 'local', state: 'running', summary: 'running', head: { timelineId: '1', lsn: '0/3000028' }, warnings: [problem] } }),
      operation: undefined,
      now: NOW,
    });
    assert.equal(look.text, '$(warning) Snapshot');
    assert.deepEqual(look.backgroundColor, new vscode.ThemeColor('statusBarItem.warningBackground'));
    assert.ok(look.tooltip!.value.includes('WAL archiving is failing'), look.tooltip!.value);
    assert.match(look.accessibilityLabel, /WAL archiving is failing/);
  });

  it('spins while an operation runs', () => {
    const look = presentStatus({ repositoryName: undefined, state: state({}), operation: { title: 'Restoring a checkpoint', short: 'Restoring…' } });
    assert.equal(look.text, '$(loading~spin) Restoring…');
  });
});

describe('restore confirmation', () => {
  const preview: RestorePreview = {
    target: checkpoint,
    requestedMode: 'both',
    mode: 'both',
    checkout: 'branch',
    data: { from: { timelineId: '2', lsn: '0/3000028' }, to: { timelineId: '1', lsn: '0/16B3748' } },
    code: { from: { sha: 'f'.repeat(40), branch: 'main' }, to: checkpoint.commitSha!, diff: { files: [], insertions: 0, deletions: 0, text: '' }, unchanged: false, branch: null },
    tree: { modified: ['a.ts'], untracked: ['b.ts'], conflicted: [] },
    dirty: true,
    willStash: true,
    warnings: [],
    blockers: [],
    schema: { tablesAppearing: [], tablesDisappearing: ['orders'], columnsAppearing: [], columnsDisappearing: [], rows: [{ table: 'users', now: 12, then: 3 }] },
  };

  it('names what changes and makes the stash the button when the tree is dirty', () => {
    const ask = confirmation(preview);
    assert.equal(ask.message, 'Restore code and data to “Add users”?');
    assert.equal(ask.button, STASH_AND_RESTORE);
    assert.match(ask.detail, /table orders disappears/);
    assert.match(ask.detail, /users: ~12 → ~3/);
    assert.match(ask.detail, /checks out 1a2b3c4 on a new branch lockstep\/restore-1a2b3c4/);
    assert.match(ask.detail, /2 file\(s\) will be stashed/);
  });

  it('names the checkpoint’s own branch when the restore goes back to it', () => {
    assert.match(confirmation({ ...preview, code: { ...preview.code!, branch: 'main' } }).detail, /checks out 1a2b3c4 on its branch main/);
  });

  it('asks a plain Restore when the tree is clean', () => {
    assert.equal(confirmation({ ...preview, dirty: false, willStash: false, tree: { modified: [], untracked: [], conflicted: [] } }).button, 'Restore');
  });
});

describe('row changes in words', () => {
  const products: TableChange = { schema: 'public', name: 'products', status: 'changed', key: ['id'], inserted: 12, deleted: 3, changed: 4, thenRows: 10, nowRows: 19 };
  const rows: RowChanges = {
    tables: [products, { schema: 'public', name: 'orders', status: 'dropped', key: ['id'], inserted: 0, deleted: 3, changed: 0, thenRows: 3, nowRows: null }, { schema: 'audit', name: 'events', status: 'same', key: null, inserted: 0, deleted: 0, changed: 0, thenRows: 5, nowRows: 5 }],
    partial: false,
    ms: 42,
  };

  it('says what changed since, and what a restore would do, exactly', () => {
    assert.equal(tableChangeWords(products), '4 rows changed, 12 inserted, 3 deleted (by id)');
    assert.equal(restoreChangeWords(products), '4 changed rows set back, 12 rows inserted since removed, 3 rows deleted since put back');
    assert.equal(tableChangeWords(rows.tables[1]!), 'dropped since (3 rows then)');
    assert.equal(restoreChangeWords(rows.tables[1]!), 'comes back with 3 rows');
    assert.equal(tableChangeWords({ ...products, partial: 'the 3 s budget ran out' }), 'at least 4 rows changed, 12 inserted, 3 deleted (by id)');
    assert.equal(tableChangeWords({ ...products, key: null, changed: 0, deleted: 0 }), '12 inserted (whole rows: no primary key)');
  });

  it('puts exact counts in the confirmation and the preview instead of estimates', () => {
    const preview: RestorePreview = {
      target: checkpoint,
      requestedMode: 'data-only',
      mode: 'data-only',
      checkout: 'branch',
      data: { from: { timelineId: '1', lsn: '0/3000028' }, to: { timelineId: '1', lsn: '0/16B3748' } },
      tree: { modified: [], untracked: [], conflicted: [] },
      dirty: false,
      willStash: false,
      warnings: [],
      blockers: [],
      schema: { tablesAppearing: ['orders'], tablesDisappearing: [], columnsAppearing: [], columnsDisappearing: [], rows: [{ table: 'products', now: 19, then: 10 }] },
      rows: { ...rows, method: 'xmin', tables: rows.tables.map((t) => ({ ...t, method: 'xmin' as const, ms: 1 })) } as NonNullable<RestorePreview['rows']>,
    };
    const detail = confirmation(preview).detail;
    assert.match(detail, /products: 4 changed rows set back, 12 rows inserted since removed, 3 rows deleted since put back/);
    assert.match(detail, /orders: comes back with 3 rows/);
    assert.doesNotMatch(detail, /~/);
    const markdown = previewMarkdown(preview, NOW);
    assert.match(markdown, /\| products \| 4 rows changed, 12 inserted, 3 deleted \(by id\) \| .* \| 19 \| 10 \|/);
    assert.match(markdown, /1 other table\(s\) unchanged/);
  });

  it('writes a table’s differing rows one a line, in key order, with the same header on both sides', () => {
    const docs = rowsDocuments(
      products,
      {
        inserted: [{ id: '10', name: 'Ten', note: '' }],
        deleted: [{ id: '9', name: 'NULL', note: null }],
        changed: [{ key: { id: '2' }, then: { id: '2', name: 'Two words', note: 'a' }, now: { id: '2', name: 'Two words', note: 'b' }, columns: ['note'] }],
        truncated: false,
      },
      { then: 'at “Seed”', now: 'now' },
    );
    const then = docs.then.split('\n');
    const now = docs.now.split('\n');
    assert.deepEqual(then.slice(0, 3), now.slice(0, 3), 'the headers differ');
    assert.deepEqual(then.slice(3, -1), ['id=2  name="Two words"  note=a', 'id=9  name="NULL"  note=NULL']);
    assert.deepEqual(now.slice(3, -1), ['id=2  name="Two words"  note=b', 'id=10  name=Ten  note=""']);
  });

  it('renders the changes view with names escaped and no restore for a table that did not exist then', () => {
    const html = changesBody({
      target: { ref: 'a1b2c3', title: '“<b>Seed</b>”', detail: 'commit checkpoint a1b2c3' },
      changes: { ...rows, tables: [...rows.tables, { schema: 'public', name: '<img src=x>', status: 'new', key: null, inserted: 0, deleted: 0, changed: 0, thenRows: null, nowRows: 2 }] },
    });
    assert.ok(!html.includes('<img src=x>') && !html.includes('<b>Seed'), 'text from the database reached the page as HTML');
    assert.match(html, /&lt;img src=x&gt;/);
    assert.match(html, /data-table="public\.&lt;img src=x&gt;"[\s\S]*?<button data-action="restore" disabled/);
    assert.match(html, /Unchanged: audit\.events\./);
  });
});

describe('how far back a restore reaches', () => {
  const now = new Date(2026, 5, 1, 12, 0);
  it('names a clock time today, a day before that, or a window', () => {
    assert.equal(reachText({ oldest: { timelineId: '1', lsn: '0/3000028', time: new Date(2026, 5, 1, 9, 5).toISOString() }, summary: '' }, now), 'restorable back to 09:05');
    assert.equal(reachText({ oldest: { timelineId: '1', lsn: '0/3000028', time: new Date(2026, 4, 28, 17, 30).toISOString() }, summary: '' }, now), 'restorable back to 28 May 17:30');
    assert.equal(reachText({ windowSeconds: 7 * 86400, summary: '' }, now), 'restorable back 7 days');
    assert.equal(reachText({ summary: 'no base backup yet: nothing can be restored' }, now), 'nothing restorable yet');
    assert.equal(reachText(undefined, now), undefined);
  });
});

describe('settings against a repository', () => {
  it('lists only what differs, and never an unset port', () => {
    assert.deepEqual(differences({ engine: 'local', localPort: null, checkpointsKept: 50, checkoutMode: 'branch' }, config), []);
    assert.deepEqual(
      differences({ engine: 'local', localPort: 60000, checkpointsKept: 80, checkoutMode: 'detached' }, config).map((d) => d.what),
      ['checkpoints kept', 'checkout mode', 'local database port'],
    );
  });
});

describe('commit hook ownership', () => {
  const extensions = path.join(path.sep, 'home', 'ada', '.vscode', 'extensions');
  const current = path.join(extensions, 'lockstep.lockstep-0.2.0');

  it('recognises the CLI of another installed version of this extension', () => {
    assert.equal(isOtherVersionOfThisExtension(path.join(extensions, 'lockstep.lockstep-0.1.0', 'dist', 'cli.js'), current, 'lockstep.lockstep'), true);
  });

  it('leaves this version’s, other extensions’ and npm-installed CLIs alone', () => {
    assert.equal(isOtherVersionOfThisExtension(path.join(current, 'dist', 'cli.js'), current, 'lockstep.lockstep'), false);
    assert.equal(isOtherVersionOfThisExtension(path.join(extensions, 'someone.lockstep-fork-1.0.0', 'dist', 'cli.js'), current, 'lockstep.lockstep'), false);
    assert.equal(isOtherVersionOfThisExtension('/usr/lib/node_modules/lockstep/dist/cli.js', current, 'lockstep.lockstep'), false);
  });
});
