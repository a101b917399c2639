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
  openNewWorkspace(name: string): Promise<GitWorkspace>;
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
