// Offers `lockstep mcp` to VS Code's agent (package.json `mcpServerDefinitionProviders`): one stdio server per
// repository that is set up, run with VS Code's own runtime the way the commit hook runs the CLI.
import * as vscode from 'vscode';
import { cliPathIn } from './commitHook';
import { Disposable } from './lifecycle';
import type { Repositories } from './repositories';

/** The provider's id in package.json's `mcpServerDefinitionProviders`. */
export const MCP_PROVIDER_ID = 'lockstep.mcp';

export class LockstepMcpServers extends Disposable implements vscode.McpServerDefinitionProvider<vscode.McpStdioServerDefinition> {
  private readonly changed = this._register(new vscode.EventEmitter<void>());
  readonly onDidChangeMcpServerDefinitions = this.changed.event;
  /** Which repositories were offered last, so a state change that sets none up or down stays quiet. */
  private offered = '';

  constructor(
    private readonly repositories: Repositories,
    private readonly extensionPath: string,
    private readonly version: string,
  ) {
    super();
    const follow = (): void => {
      const now = this.initialised().map((repository) => repository.repo.topLevel).join('\n');
      if (now === this.offered) return;
      this.offered = now;
      this.changed.fire();
    };
    this._register(repositories.onDidChangeRepositories(follow));
    this._register(repositories.onDidChangeState(follow));
    this._register(vscode.lm.registerMcpServerDefinitionProvider(MCP_PROVIDER_ID, this));
  }

  async provideMcpServerDefinitions(): Promise<vscode.McpStdioServerDefinition[]> {
    await this.repositories.whenScanned();
    const set = this.initialised();
    this.offered = set.map((repository) => repository.repo.topLevel).join('\n');
    return set.map((repository) => {
      const label = this.repositories.all.length > 1 ? `Lockstep: ${repository.name}` : 'Lockstep';
      // VS Code's runtime is an Electron binary on the desktop (Node with ELECTRON_RUN_AS_NODE=1); in a remote or web
      // extension host it is Node itself. The server runs the CLI bundled with this very extension.
      const env: Record<string, string> = process.versions.electron ? { ELECTRON_RUN_AS_NODE: '1' } : {};
      const server = new vscode.McpStdioServerDefinition(label, process.execPath, [cliPathIn(this.extensionPath), 'mcp'], env, this.version);
      server.cwd = vscode.Uri.file(repository.repo.topLevel);
      return server;
    });
  }

  private initialised() {
    return this.repositories.all.filter((repository) => repository.initialised);
  }
}
