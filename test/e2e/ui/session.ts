// What a UI test works with: the workbench page, the git workspace it has open, and a way to open a fresh one.
import type { GitWorkspace } from '../harness/gitWorkspace';
import type { Workbench } from './page';

export interface UiSession {
  workbench: Workbench;
  /** The git repository the workbench has open now; commit to it "from a terminal" with workspace.commit(). */
  workspace: GitWorkspace;
  /** The run's temp folder: scratch space that the extension host can see too (LOCKSTEP_TEST_RUN_DIR). */
  runDir: string;
  /** Makes a new git repository in the run's folder and reloads the workbench on it; later calls to e2e() see it. */
  openNewWorkspace(name: string, options?: NewWorkspaceOptions): Promise<GitWorkspace>;
  /**
   * Makes a multi-root workspace (`NAME/NAME.code-workspace`) of new git
   * repositories and plain folders, and reloads the workbench on it; returns
   * the repositories. `workspace` stays what it was.
   */
  openMultiRootWorkspace(name: string, folders: MultiRootFolders): Promise<GitWorkspace[]>;
}

export interface NewWorkspaceOptions {
  /**
   * Workspace settings (`.vscode/settings.json`), written before the workbench
   * loads and kept out of git (.git/info/exclude), so the work tree stays clean.
   */
  settings?: Record<string, unknown>;
}

export interface MultiRootFolders {
  /** Folder names that become git repositories (with one commit each). */
  repositories: string[];
  /** Folder names that stay plain folders (no git). */
  plain?: string[];
}

// The harness owns the session for the length of the UI phase; tests only read it, from inside hooks and tests.
let current: UiSession | undefined;

export function e2e(): UiSession {
  if (!current) throw new Error('no UI session: UI tests run inside test/e2e/run.mjs, which opens the workbench first');
  return current;
}

export function beginUiSession(session: UiSession): void {
  current = session;
}

export function endUiSession(): void {
  current = undefined;
}
