// Extension-host tests of Install / Uninstall Push Hook: the pre-push hook the extension installs runs its bundled CLI on a real `git push`, and a push checkpoint appears.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { HookInstallResult, HookUninstallResult } from '../../../src/git/hook';
import { commit, freePort, git, workspaceDir } from './support';

describe('Install and Uninstall Push Hook', function () {
  this.timeout(120_000);
  let dir: string;
  let bare: string;
  const remote = 'lockstep-push-test';
  const hookFile = (): string => path.join(dir, '.git', 'hooks', 'pre-push');
  const journal = (): { kind: string; commitSha: string | null; label: string | null }[] => {
    const file = path.join(dir, '.git', 'lockstep', 'journal.jsonl');
    return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { kind: string; commitSha: string | null; label: string | null }) : [];
  };

  before(async () => {
    dir = workspaceDir();
    if (fs.existsSync(path.join(dir, '.git', 'lockstep', 'config.json'))) await vscode.commands.executeCommand('lockstep.startDatabase', { rethrow: true });
    else await vscode.commands.executeCommand('lockstep.initialize', { port: await freePort(), rethrow: true });
    bare = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lockstep-push-remote-')), 'remote.git');
    git(path.dirname(bare), 'init', '--quiet', '--bare', bare);
    git(dir, 'remote', 'add', remote, bare);
  });
  after(async () => {
    await vscode.commands.executeCommand('lockstep.uninstallPushHook', { rethrow: true }).then(undefined, () => undefined);
    try {
      git(dir, 'remote', 'remove', remote);
    } catch {
      // already gone
    }
    fs.rmSync(path.dirname(bare), { recursive: true, force: true });
  });

  it('installs a pre-push hook that runs the bundled CLI; a push then records a push checkpoint', async () => {
    const result = await vscode.commands.executeCommand<HookInstallResult>('lockstep.installPushHook', { rethrow: true });
    assert.equal(result.status.state, 'installed', JSON.stringify(result.status.problems));
    assert.match(fs.readFileSync(hookFile(), 'utf8'), /# Lockstep pre-push hook/);
    const sha = commit(dir, 'A commit to push', { 'push.txt': 'push\n' });
    const branch = git(dir, 'branch', '--show-current') || 'HEAD';
    git(dir, 'push', '--quiet', remote, `${branch === 'HEAD' ? sha : branch}:refs/heads/pushed`);
    assert.equal(git(bare, 'rev-parse', 'refs/heads/pushed'), sha);
    const pushed = journal().filter((c) => c.kind === 'push').at(-1);
    assert.equal(pushed?.commitSha, sha, JSON.stringify(journal().slice(-3)));
    assert.match(pushed?.label ?? '', new RegExp(`^pushed .* to ${remote}/pushed$`));
  });

  it('uninstalls it and leaves the commit hook as it was', async () => {
    const postCommit = path.join(dir, '.git', 'hooks', 'post-commit');
    const before = fs.existsSync(postCommit) ? fs.readFileSync(postCommit, 'utf8') : null;
    const result = await vscode.commands.executeCommand<HookUninstallResult>('lockstep.uninstallPushHook', { rethrow: true });
    assert.equal(result.removed, true);
    assert.equal(fs.existsSync(hookFile()), false);
    assert.equal(fs.existsSync(postCommit) ? fs.readFileSync(postCommit, 'utf8') : null, before);
  });
});
