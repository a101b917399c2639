// Connecting a Neon project: check the key, project, branch, database and role through the API, and fill in the engine configuration.

import type { NeonEngineConfig } from '../../core/config';
import type { EngineContext } from '../../core/engine';
import type { NeonProjectChoice } from '../../core/setup';
import { LockstepError } from '../../base/errors';
import { scopedLog } from '../../base/log';
import type { RetryPolicy } from '../../core/http';
import { NEON_API_KEY_SECRET, NeonApi, neonApiUrl } from './api';

export type { NeonProjectChoice };

export const DEFAULT_NEON_DATABASE = 'neondb';
export const DEFAULT_NEON_ROLE = 'neondb_owner';

const NEON_ID = /^[a-z0-9-]{1,60}$/;

/**
 * Validates the choice against Neon (the API key from `ctx.secrets`, the
 * project, the branch, the database and role) and returns the configuration to
 * save. Nothing secret is in it: the key stays with the face's secret store.
 */
export async function connectNeonProject(
  choice: NeonProjectChoice,
  ctx: EngineContext,
  options: { env?: Record<string, string | undefined>; retry?: Partial<RetryPolicy>; signal?: AbortSignal } = {},
): Promise<NeonEngineConfig> {
  for (const [field, value] of [
    ['project id', choice.projectId],
    ['branch id', choice.branchId],
  ] as const) {
    if (value !== undefined && !NEON_ID.test(value)) {
      throw new LockstepError('BAD_INPUT', `"${value}" is not a Neon ${field}`, { hint: 'Neon ids look like "damp-sun-12345678" or "br-wild-fog-a1b2c3d4".' });
    }
  }
  const log = scopedLog(ctx.log, 'neon');
  const api = new NeonApi(neonApiUrl(choice, options.env), choice.projectId, () => ctx.secrets.get(NEON_API_KEY_SECRET), log, {
    ...(options.retry ? { retry: options.retry } : {}),
  });
  try {
    const project = await api.getProject({
      signal: options.signal,
      onNotFound: () =>
        new LockstepError('NOT_FOUND', `Neon has no project ${choice.projectId}, or the API key cannot see it`, {
          hint: 'Copy the project id from the Neon console (Settings → General), and check that the key belongs to its organisation.',
        }),
    });
    let branch;
    if (choice.branchId) {
      const branchId = choice.branchId;
      branch = await api.getBranch(branchId, {
        signal: options.signal,
        onNotFound: () => new LockstepError('NOT_FOUND', `Neon project ${project.id} has no branch ${branchId}`, { hint: 'Copy the branch id from the Neon console (Branches).' }),
      });
    } else {
      branch = (await api.listBranches({ signal: options.signal })).find((b) => b.default);
      if (!branch) throw new LockstepError('NOT_FOUND', `Neon project ${project.id} has no default branch`, { hint: 'Pass the branch id to use.' });
    }
    const databaseName = choice.databaseName ?? DEFAULT_NEON_DATABASE;
    const roleName = choice.roleName ?? DEFAULT_NEON_ROLE;
    const branchId = branch.id;
    // Asking for the connection string proves the database and role exist on the branch; the string itself is not kept.
    await api.connectionUri(
      { branchId, databaseName, roleName },
      {
        signal: options.signal,
        onNotFound: () =>
          new LockstepError('NOT_FOUND', `Neon branch ${branchId} has no database ${databaseName} with role ${roleName}`, {
            hint: 'Pick the database and role your application uses (Neon console → Connect).',
          }),
      },
    );
    log.info(`connected to Neon project ${project.name} (${project.id}), branch ${branch.name} (${branchId}); history kept ${project.history_retention_seconds} s`);
    const config: NeonEngineConfig = { projectId: project.id, branchId, databaseName, roleName };
    if (choice.apiUrl) config.apiUrl = choice.apiUrl;
    if (choice.keepPreservedBranches !== undefined) config.keepPreservedBranches = choice.keepPreservedBranches;
    return config;
  } finally {
    await api.close();
  }
}
