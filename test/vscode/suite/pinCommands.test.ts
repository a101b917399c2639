// Extension-host tests of Pin / Unpin as the history graph calls them ({ repo, checkpointId }), their bad input, and the status bar kept quiet while a restore waits for its yes.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { PinCommandResult } from '../../../src/extension/commands/pin';
import type { LockstepInternals } from '../../../src/extension/container';
import { presentStatus } from '../../../src/extension/statusBar';
import type { RepositoryState } from '../../../src/extension/repository';
import { commit, eventually, freePort, internals, labelOf, workspaceDir } from './support';

describe('Pin and Unpin commands', function () {
  this.timeout(120_000);
  let api: LockstepInternals;
  let dir: string;
  let id: string;
  const pinsFile = (): string => path.join(dir, '.git', 'lockstep', 'pins.json');
  const pinned = (): string[] => (fs.existsSync(pinsFile()) ? (JSON.parse(fs.readFileSync(pinsFile(), 'utf8')) as { pins: { checkpointId: string }[] }).pins.map((p) => p.checkpointId) : []);

  before(async () => {
    api = await internals();
    dir = workspaceDir();
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    commit(dir, 'A commit to pin', { 'pin.txt': 'pin\n' });
    const row = await eventually('the checkpoint of "A commit to pin"', async () => (await api.checkpointRows()).find((item) => labelOf(item) === 'A commit to pin'));
    id = String(row.id).replace(/^checkpoint:/, '');
  });

  it('pins by { repo, checkpointId } (the history graph’s call), marks the row, and says so when asked again', async () => {
    const repo = dir;
    const result = await vscode.commands.executeCommand<PinCommandResult>('lockstep.pinCheckpoint', { repo, checkpointId: id, rethrow: true });
    assert.equal(result.checkpointId, id);
    assert.equal(result.already, false);
    assert.ok(result.pin?.hold.summary, 'no summary of what is kept');
    assert.ok(pinned().includes(id));
    const row = await eventually('the pinned row', async () => (await api.checkpointRows()).find((item) => item.id === `checkpoint:${id}` && /:pinned/.test(String(item.contextValue))));
    assert.match(String(row.description), /pinned/);
    assert.ok(row.tooltip instanceof vscode.MarkdownString && row.tooltip.value.includes(result.pin!.hold.summary.slice(0, 20)), 'the tooltip lacks the hold');
    const again = await vscode.commands.executeCommand<PinCommandResult>('lockstep.pinCheckpoint', { repo, checkpointId: id.slice(0, 8), rethrow: true });
    assert.equal(again.already, true);
    assert.deepEqual(pinned().filter((p) => p === id), [id]);
  });

  it('unpins, and refuses what names no checkpoint without changing anything', async () => {
    const before = fs.readFileSync(pinsFile(), 'utf8');
    await assert.rejects(async () => vscode.commands.executeCommand('lockstep.pinCheckpoint', { repo: dir, checkpointId: 'ffffffffffff', rethrow: true }), /no checkpoint ffffffffffff/);
    await assert.rejects(async () => vscode.commands.executeCommand('lockstep.unpinCheckpoint', { repo: dir, rethrow: true }), /choose a checkpoint/);
    assert.equal(fs.readFileSync(pinsFile(), 'utf8'), before);
    const result = await vscode.commands.executeCommand<PinCommandResult>('lockstep.unpinCheckpoint', { repo: dir, checkpointId: id, rethrow: true });
    assert.equal(result.already, false);
    assert.ok(!pinned().includes(id));
    await eventually('the row without its pin', async () => ((await api.checkpointRows()).find((item) => item.id === `checkpoint:${id}` && !/:pinned/.test(String(item.contextValue))) ? true : undefined));
  });
});

describe('the status bar while a restore waits for its yes', () => {
  const state = { loaded: true, config: { engine: 'local' }, configProblem: undefined, engine: { engine: 'local', state: 'running', summary: 'running' }, hook: undefined, newest: undefined } as unknown as RepositoryState;

  it('does not say Restoring… during the preview and the modal (a quiet operation), and does once it runs', () => {
    const quiet = presentStatus({ repositoryName: undefined, state, operation: { title: 'Preparing the restore to “v1”', short: 'Preparing…', quiet: true } });
    assert.equal(quiet.text, '$(database) Snapshot');
    const running = presentStatus({ repositoryName: undefined, state, operation: { title: 'Restoring “v1”', short: 'Restoring…' } });
    assert.equal(running.text, '$(loading~spin) Restoring…');
  });
});
