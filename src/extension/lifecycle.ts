// The disposable owner every part of the extension derives from: what a part creates is registered once and disposed in reverse.
import type * as vscode from 'vscode';

export abstract class Disposable implements vscode.Disposable {
  private readonly owned: vscode.Disposable[] = [];
  private disposed = false;

  protected get isDisposed(): boolean {
    return this.disposed;
  }

  /** Takes ownership of `disposable`; registering on a disposed owner disposes it at once, so nothing outlives the owner. */
  protected _register<T extends vscode.Disposable>(disposable: T): T {
    if (this.disposed) disposable.dispose();
    else this.owned.push(disposable);
    return disposable;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    // Reverse order: later parts depend on earlier ones, so they go first.
    for (const disposable of this.owned.splice(0).reverse()) {
      try {
        disposable.dispose();
      } catch {
        // One part failing to let go must not keep the others alive.
      }
    }
  }
}

/** A disposable for a plain clean-up function (timers, fs watchers). */
export function toDisposable(dispose: () => void): vscode.Disposable {
  return { dispose };
}
