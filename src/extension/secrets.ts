// Secrets for the engines from VS Code's SecretStorage (the OS keychain on desktop), with environment variables as the fallback.
import type * as vscode from 'vscode';
import type { SecretSource } from '../core/engine';
import { readJsonFile, writeJsonFile } from '../base/files';
import type { LockstepPaths } from '../core/paths';

/** The same names and variables as the CLI (src/cli/secrets.ts), so a key set in a shell works in both. */
const SECRET_ENV: Readonly<Record<string, string>> = {
  'neon.apiKey': 'NEON_API_KEY',
  'pageserver.token': 'LOCKSTEP_PAGESERVER_TOKEN',
  'pageserver.password': 'LOCKSTEP_PAGESERVER_PASSWORD',
  'pageserver.repointToken': 'LOCKSTEP_REPOINT_TOKEN',
};

export const NEON_API_KEY = 'neon.apiKey';

/** Never settings: a secret lives in SecretStorage, else comes from the environment VS Code was started with. */
export class ExtensionSecrets implements SecretSource {
  constructor(
    private readonly storage: vscode.SecretStorage,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  async get(name: string): Promise<string | undefined> {
    const stored = await this.storage.get(storageKey(name));
    if (stored) return stored;
    const variable = SECRET_ENV[name];
    return variable ? this.env[variable] || undefined : undefined;
  }

  async has(name: string): Promise<boolean> {
    return (await this.get(name)) !== undefined;
  }

  store(name: string, value: string): Thenable<void> {
    return this.storage.store(storageKey(name), value);
  }

  /**
   * The commit hook runs the CLI outside VS Code, where SecretStorage cannot be
   * read: when the person agrees, the key is also kept where the CLI looks
   * (`.git/lockstep/credentials.json`, mode 0600, as `lockstep init --save-key` does).
   */
  async shareWithCommandLine(paths: LockstepPaths, name: string): Promise<void> {
    const value = await this.get(name);
    if (!value) return;
    const current = readJsonFile<Record<string, string>>(paths.credentials) ?? {};
    writeJsonFile(paths.credentials, { ...current, [name]: value }, 0o600);
  }
}

function storageKey(name: string): string {
  return `lockstep.${name}`;
}
