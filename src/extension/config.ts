// The extension's settings, typed and read in one place. The repository's .git/lockstep/config.json stays the source of truth.
import * as vscode from 'vscode';
import type { CheckoutMode } from '../core/config';
import { DEFAULT_KEEP } from '../core/config';

/** Engines the extension can set up by itself; the pageserver engine is set up with `lockstep init`. */
export type SetupEngine = 'local' | 'neon';

/**
 * What the settings say for one folder. They seed "Initialize in This
 * Repository"; once a repository is set up, its config.json (shared with the
 * CLI and the commit hook) wins, and a changed setting reaches it only when the
 * person applies it (see settingsSync.ts).
 */
export interface Settings {
  engine: SetupEngine;
  /** null: the first free port from 55432. */
  localPort: number | null;
  checkpointsKept: number;
  checkoutMode: CheckoutMode;
  /** Pin tagged commits' checkpoints before a prune (config.json `pinTags`); `settings()` always says, absent reads as false. */
  pinTags?: boolean;
}

export const SECTION = 'lockstep';

/** Setting names under `lockstep.`, as package.json declares them. */
export const Setting = {
  engine: 'engine',
  localPort: 'local.port',
  checkpointsKept: 'checkpointsKept',
  checkoutMode: 'checkoutMode',
  pinTags: 'pinTags',
} as const;

/** The settings that a set-up repository keeps a copy of. */
export const REPOSITORY_SETTINGS = [Setting.localPort, Setting.checkpointsKept, Setting.checkoutMode, Setting.pinTags] as const;

export class Config {
  /** `folder` scopes the read: each folder of a multi-root workspace may say something else. */
  settings(folder?: vscode.Uri): Settings {
    const read = vscode.workspace.getConfiguration(SECTION, folder);
    const port = read.get<number | null>(Setting.localPort, null);
    const kept = read.get<number>(Setting.checkpointsKept, DEFAULT_KEEP);
    return {
      engine: read.get<string>(Setting.engine) === 'neon' ? 'neon' : 'local',
      localPort: typeof port === 'number' && Number.isInteger(port) && port >= 1024 && port <= 65535 ? port : null,
      checkpointsKept: Number.isInteger(kept) && kept >= 1 ? kept : DEFAULT_KEEP,
      checkoutMode: read.get<string>(Setting.checkoutMode) === 'detached' ? 'detached' : 'branch',
      pinTags: read.get<boolean>(Setting.pinTags, false) === true,
    };
  }

  /** Whether `event` changed `setting` (for `folder`, when given). */
  static affects(event: vscode.ConfigurationChangeEvent, setting: string, folder?: vscode.Uri): boolean {
    return event.affectsConfiguration(`${SECTION}.${setting}`, folder);
  }
}
