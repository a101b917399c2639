// The git repositories among the workspace folders (multi-root: each its own checkpoints), and which one is active.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeError, isLockstepError, LockstepError } from '../base/errors';
import { scopedLog, type Log } from '../base/log';
import { findRepository } from '../git/repository';
import { Disposable, toDisposable } from './lifecycle';
import { WorkspaceRepository } from './repository';
import type { ExtensionSecrets } from './secrets';

export class Repositories extends Disposable {
  /** By the top of the work tree: two folders of one repository share it. */
  private readonly byTopLevel = new Map<string, WorkspaceRepository>();
  private readonly perRepository = new Map<WorkspaceRepository, vscode.Disposable>();
  private lastActive: WorkspaceRepository | undefined;
  private scanned = false;
  private scanning: Promise<void> = Promise.resolve();

  private readonly changed = this._register(new vscode.EventEmitter<void>());
  /** Repositories were added or removed. */
  readonly onDidChangeRepositories = this.changed.event;
  private readonly activeChanged = this._register(new vscode.EventEmitter<WorkspaceRepository | undefined>());
  readonly onDidChangeActive = this.activeChanged.event;
  private readonly anyStateChanged = this._register(new vscode.EventEmitter<WorkspaceRepository>());
  /** Any repository's state changed (the status bar and context keys follow the active one). */
  readonly onDidChangeState = this.anyStateChanged.event;
  private readonly anyOperationChanged = this._register(new vscode.EventEmitter<WorkspaceRepository>());
  readonly onDidChangeOperation = this.anyOperationChanged.event;
  private readonly anyCheckpointsChanged = this._register(new vscode.EventEmitter<WorkspaceRepository>());
  readonly onDidChangeCheckpoints = this.anyCheckpointsChanged.event;

  private readonly log: Log;

  constructor(
    log: Log,
    private readonly secrets: ExtensionSecrets,
  ) {
    super();
    this.log = scopedLog(log, 'repositories');
    this._register(vscode.workspace.onDidChangeWorkspaceFolders(() => this.scan()));
    this._register(vscode.window.onDidChangeActiveTextEditor(() => this.followActiveEditor()));
    this._register(toDisposable(() => {
      for (const disposable of this.perRepository.values()) disposable.dispose();
      for (const repository of this.byTopLevel.values()) repository.dispose();
      this.byTopLevel.clear();
    }));
  }

  /** Whether the first look at the workspace folders has finished. */
  get loaded(): boolean {
    return this.scanned;
  }

  get all(): WorkspaceRepository[] {
    return [...this.byTopLevel.values()].sort((a, b) => a.folder.index - b.folder.index);
  }

  /** The repository of the active editor, else the last one that was active, else the first. */
  get active(): WorkspaceRepository | undefined {
    return this.ofEditor() ?? (this.lastActive && this.byTopLevel.has(this.lastActive.repo.topLevel) ? this.lastActive : this.all[0]);
  }

  /** Resolves once the current folders have been looked at (activation does not wait for it). */
  whenScanned(): Promise<void> {
    return this.scanning;
  }

  /** Looks at the workspace folders again; runs after activation, never on its path. */
  scan(): Promise<void> {
    this.scanning = this.scanning.then(() => this.scanFolders()).catch((error: unknown) => {
      this.log.error(`looking for git repositories failed: ${describeError(error)}`);
    });
    return this.scanning;
  }

  /**
   * The repository a command is about: the one `hint` names (a tree node's, a
   * file's), else the active one; with several and no editor to tell, ask.
   */
  async pick(hint?: vscode.Uri | WorkspaceRepository | string): Promise<WorkspaceRepository> {
    await this.whenScanned();
    if (hint instanceof WorkspaceRepository) return hint;
    if (hint !== undefined) {
      const found = this.containing(typeof hint === 'string' ? hint : hint.fsPath);
      if (found) return found;
      throw new LockstepError('NOT_A_REPOSITORY', `${typeof hint === 'string' ? hint : hint.fsPath} is not in a git repository of this workspace`);
    }
    const all = this.all;
    if (all.length === 0) {
      throw new LockstepError('NOT_A_REPOSITORY', 'no git repository is open', { hint: 'Open the folder of a git repository (or run `git init` in it) first.' });
    }
    const fromEditor = this.ofEditor();
    if (all.length === 1 || fromEditor) return fromEditor ?? all[0]!;
    const picked = await vscode.window.showQuickPick(
      all.map((repository) => ({ label: repository.name, description: repository.repo.topLevel, repository })),
      { title: 'Lockstep: Which repository?', placeHolder: 'The workspace has several git repositories' },
    );
    if (!picked) throw new LockstepError('CANCELLED', 'no repository was chosen');
    this.setLastActive(picked.repository);
    return picked.repository;
  }

  /** The repository whose work tree holds `file`. */
  containing(file: string): WorkspaceRepository | undefined {
    let real: string;
    try {
      real = fs.realpathSync(file);
    } catch {
      real = path.resolve(file);
    }
    return this.all
      .filter((repository) => real === repository.repo.topLevel || real.startsWith(repository.repo.topLevel + path.sep))
      .sort((a, b) => b.repo.topLevel.length - a.repo.topLevel.length)[0];
  }

  private ofEditor(): WorkspaceRepository | undefined {
    const uri = vscode.window.activeTextEditor?.document.uri;
    return uri && (uri.scheme === 'file' || uri.scheme === 'vscode-remote') ? this.containing(uri.fsPath) : undefined;
  }

  private followActiveEditor(): void {
    const repository = this.ofEditor();
    if (repository) this.setLastActive(repository);
  }

  private setLastActive(repository: WorkspaceRepository): void {
    if (this.lastActive === repository) return;
    this.lastActive = repository;
    this.activeChanged.fire(repository);
  }

  private async scanFolders(): Promise<void> {
    const started = performance.now();
    const folders = vscode.workspace.workspaceFolders ?? [];
    const found = new Map<string, vscode.WorkspaceFolder>();
    const repos = await Promise.all(
      folders.map(async (folder) => {
        // Virtual folders (a GitHub repository in the browser) have no git to run.
        if (folder.uri.scheme !== 'file' && folder.uri.scheme !== 'vscode-remote') return undefined;
        try {
          return { folder, repo: await findRepository(folder.uri.fsPath) };
        } catch (error) {
          if (!isLockstepError(error, 'NOT_A_REPOSITORY')) this.log.warn(`${folder.name}: ${describeError(error)}`);
          return undefined;
        }
      }),
    );
    let changed = false;
    for (const entry of repos) {
      if (!entry || found.has(entry.repo.topLevel)) continue;
      found.set(entry.repo.topLevel, entry.folder);
      if (this.byTopLevel.has(entry.repo.topLevel)) continue;
      this.add(new WorkspaceRepository(entry.repo, entry.folder, this.log, this.secrets));
      changed = true;
    }
    for (const [topLevel, repository] of this.byTopLevel) {
      if (found.has(topLevel)) continue;
      this.byTopLevel.delete(topLevel);
      this.perRepository.get(repository)?.dispose();
      this.perRepository.delete(repository);
      repository.dispose();
      changed = true;
    }
    const first = !this.scanned;
    this.scanned = true;
    this.log.info(`${this.byTopLevel.size} git repositor${this.byTopLevel.size === 1 ? 'y' : 'ies'} in ${folders.length} folder(s), found in ${Math.round(performance.now() - started)} ms`);
    await Promise.all(this.all.map((repository) => (repository.state.loaded ? undefined : repository.refresh())));
    if (changed || first) this.changed.fire();
  }

  private add(repository: WorkspaceRepository): void {
    this.byTopLevel.set(repository.repo.topLevel, repository);
    this.perRepository.set(
      repository,
      vscode.Disposable.from(
        repository.onDidChangeState(() => this.anyStateChanged.fire(repository)),
        repository.onDidChangeOperation(() => this.anyOperationChanged.fire(repository)),
        repository.onDidChangeCheckpoints(() => this.anyCheckpointsChanged.fire(repository)),
      ),
    );
  }
}
