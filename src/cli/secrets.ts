// Secrets for the CLI: environment variables first, then a 0600 credentials file in the git common dir; never in config or logs.

import * as fs from 'node:fs';
import type { SecretSource } from '../core/engine';
import { readJsonFile, writeJsonFile } from '../base/files';

/** The environment variable that provides each secret. */
export const SECRET_ENV: Record<string, string> = {
  'neon.apiKey': 'NEON_API_KEY',
  'pageserver.token': 'LOCKSTEP_PAGESERVER_TOKEN',
  'pageserver.password': 'LOCKSTEP_PAGESERVER_PASSWORD',
  'pageserver.repointToken': 'LOCKSTEP_REPOINT_TOKEN',
};

export class CliSecrets implements SecretSource {
  constructor(
    private readonly credentialsFile: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  async get(name: string): Promise<string | undefined> {
    const variable = SECRET_ENV[name];
    const fromEnv = variable ? this.env[variable] : undefined;
    if (fromEnv) return fromEnv;
    return readJsonFile<Record<string, string>>(this.credentialsFile)?.[name];
  }

  /** Keep a secret for later CLI runs (mode 0600, in .git/lockstep, never committed). */
  save(name: string, value: string): void {
    const current = fs.existsSync(this.credentialsFile) ? (readJsonFile<Record<string, string>>(this.credentialsFile) ?? {}) : {};
    writeJsonFile(this.credentialsFile, { ...current, [name]: value }, 0o600);
  }
}
