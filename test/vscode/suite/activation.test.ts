// Extension-host tests: Lockstep is installed in the running VS Code, activates, and sees the git workspace the harness made.
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

const EXTENSION_ID = 'lockstep.lockstep';

function lockstep(): vscode.Extension<unknown> {
  const extension = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not installed in this VS Code`);
  return extension;
}

describe('activation', () => {
  it('is the extension under development', () => {
    const extension = lockstep();
    // Both runners load the working tree, never an installed copy, so tests see the code just built.
    const root = path.resolve(__dirname, '../../../..');
    assert.equal(fs.realpathSync(extension.extensionPath), fs.realpathSync(root));
  });

  it('activates', async () => {
    const extension = lockstep();
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  it('registers every command it contributes', async () => {
    const contributed = (lockstep().packageJSON as { contributes?: { commands?: { command: string }[] } }).contributes?.commands ?? [];
    assert.ok(contributed.length > 0, 'package.json contributes no commands');
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.map((entry) => entry.command).filter((command) => !registered.has(command));
    assert.deepEqual(missing, []);
  });

  it('runs in the git repository the harness made for this run', () => {
    const runDir = process.env.LOCKSTEP_TEST_RUN_DIR;
    assert.ok(runDir, 'LOCKSTEP_TEST_RUN_DIR did not reach the extension host');
    const folders = vscode.workspace.workspaceFolders ?? [];
    assert.equal(folders.length, 1);
    const folder = folders[0]!.uri.fsPath;
    assert.ok(fs.realpathSync(folder).startsWith(fs.realpathSync(runDir) + path.sep), `${folder} is not inside ${runDir}`);
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: folder, encoding: 'utf8' }).trim();
    assert.match(head, /^[0-9a-f]{40}$/);
  });
});
