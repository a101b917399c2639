// A real git repository in a temp dir for tests to open in VS Code and to commit to "from a terminal", as a user or an agent would.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Keeps the user's and the machine's git configuration (hooks, signing, templates) out of the tests. */
const isolatedGitEnv: NodeJS.ProcessEnv = {
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
};

export class GitWorkspace {
  private constructor(readonly dir: string) {}

  /** Makes `dir` (which must not exist yet) a repository on branch `main` with one commit. */
  static create(dir: string): GitWorkspace {
    fs.mkdirSync(dir, { recursive: true });
    const workspace = new GitWorkspace(dir);
    workspace.git('init', '--quiet', '--initial-branch=main');
    // Local identity, because the extension host and hooks run without the developer's global config.
    workspace.git('config', 'user.name', 'Lockstep Tests');
    workspace.git('config', 'user.email', 'tests@lockstep.invalid');
    workspace.git('config', 'commit.gpgsign', 'false');
    workspace.commit('Initial commit', { 'README.md': '# A workspace made by the Lockstep tests\n' });
    return workspace;
  }

  get name(): string {
    return path.basename(this.dir);
  }

  /** Runs git in the workspace and returns its trimmed stdout; throws with git's stderr on failure. */
  git(...args: string[]): string {
    try {
      return execFileSync('git', args, {
        cwd: this.dir,
        encoding: 'utf8',
        env: { ...process.env, ...isolatedGitEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      }).trim();
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`git ${args.join(' ')} failed in ${this.dir}: ${stderr.trim() || String(error)}`);
    }
  }

  /** Writes the files (paths relative to the workspace), commits them all and returns the new commit's sha. */
  commit(message: string, files: Record<string, string> = {}): string {
    for (const [relative, contents] of Object.entries(files)) {
      const file = path.join(this.dir, relative);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, contents);
    }
    this.git('add', '--all');
    this.git('commit', '--quiet', '--allow-empty', '--message', message);
    return this.head();
  }

  head(): string {
    return this.git('rev-parse', 'HEAD');
  }
}
