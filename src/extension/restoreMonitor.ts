// Finds restores left unfinished by a process that died: settles one left from before the window opened, asks about one that dies while it is open.
import * as fs from 'node:fs';
import { isLockstepError } from '../base/errors';
import { processAlive } from '../base/locks';
import { offerSettleChoice, settleInterrupted } from './commands/settle';
import type { Lockstep } from './container';
import { Disposable, toDisposable } from './lifecycle';
import type { WorkspaceRepository } from './repository';

/** A restore running in a terminal is looked at this often, so that its death is noticed in seconds, not at the next 30 s poll. */
const OWNER_POLL_MS = 2_000;

/**
 * When a repository is first loaded (activation, a folder added), an
 * interrupted restore is from an earlier session and no one is watching it:
 * it is settled as every CLI command settles it — finished past the point of
 * no return, else reverted — and the result says what was done. One whose
 * process dies while the window is open was probably started by the person
 * (or their agent) in a terminal, who may want the other choice: the
 * notification names it, states the default, and offers Continue / Abort. The
 * status bar and the tree show it until it is settled, and the palette
 * commands name it too.
 */
export class InterruptedRestoreMonitor extends Disposable {
  /** Repositories whose state has been read once: the first read is the load. */
  private readonly loaded = new WeakSet<WorkspaceRepository>();
  /** The restore each repository was last told about (its operation id), so that every refresh does not ask again. */
  private readonly told = new WeakMap<WorkspaceRepository, string>();
  private ownerPoll: NodeJS.Timeout | undefined;

  constructor(private readonly ctx: Lockstep) {
    super();
    this._register(ctx.repositories.onDidChangeState((repository) => this.check(repository)));
    this._register(ctx.repositories.onDidChangeOperation(() => this.watchOwners()));
    this._register(toDisposable(() => clearInterval(this.ownerPoll)));
  }

  private check(repository: WorkspaceRepository): void {
    const firstLoad = !this.loaded.has(repository);
    this.loaded.add(repository);
    this.watchOwners();
    const restoring = repository.state.restoring;
    if (!restoring) {
      this.told.delete(repository);
      return;
    }
    // Running (in a terminal, or this window's own restore): shown as such, looked at again by the poll.
    if (restoring.ownerAlive || repository.operation) return;
    if (this.told.get(repository) === restoring.operationId) return;
    this.told.set(repository, restoring.operationId);
    if (firstLoad) {
      repository.log.warn(`a restore to ${restoring.target.id} was left interrupted at "${restoring.step}" (pid ${restoring.pid} is gone): ${restoring.defaultAction === 'continue' ? 'finishing' : 'reverting'} it`);
      void settleInterrupted(this.ctx, repository, 'auto').catch((error: unknown) => {
        // Settled meanwhile by a CLI command: nothing is left to say.
        if (isLockstepError(error, 'NOT_FOUND')) return;
        return this.ctx.errors.report(error, 'Settling an interrupted restore');
      });
    } else {
      repository.log.warn(`the restore to ${restoring.target.id} was interrupted at "${restoring.step}" (pid ${restoring.pid} is gone)`);
      void offerSettleChoice(this.ctx, repository, restoring);
    }
  }

  /** Polls while some repository's restore runs in another process; a refresh when that process is gone or the record went. */
  private watchOwners(): void {
    const running = (repository: WorkspaceRepository): boolean => Boolean(repository.state.restoring?.ownerAlive && !repository.operation);
    if (this.isDisposed || !this.ctx.repositories.all.some(running)) {
      clearInterval(this.ownerPoll);
      this.ownerPoll = undefined;
      return;
    }
    this.ownerPoll ??= setInterval(() => {
      for (const repository of this.ctx.repositories.all) {
        const restoring = repository.state.restoring;
        if (!restoring || !running(repository)) continue;
        if (!processAlive(restoring.pid) || !fs.existsSync(repository.project.paths.restoreRecord)) void repository.refresh();
      }
    }, OWNER_POLL_MS);
    this.ownerPoll.unref?.();
  }
}
