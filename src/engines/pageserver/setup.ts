// Connecting a self-hosted pageserver: check the tenant and timeline through its API, and fill in the engine configuration.

import type { PageserverEngineConfig } from '../../core/config';
import type { EngineContext } from '../../core/engine';
import type { PageserverChoice } from '../../core/setup';
import { LockstepError } from '../../base/errors';
import type { RetryPolicy } from '../../core/http';
import { scopedLog } from '../../base/log';
import { PAGESERVER_TOKEN_SECRET, PageserverApi } from './api';

export type { PageserverChoice };

/**
 * Validates the URLs, that the pageserver answers, and that the tenant has the
 * timeline; returns the configuration to save. A password in the connection
 * string is refused: it belongs in the secret store (`pageserver.password`).
 */
export async function connectPageserver(
  choice: PageserverChoice,
  ctx: EngineContext,
  options: { retry?: Partial<RetryPolicy>; signal?: AbortSignal } = {},
): Promise<PageserverEngineConfig> {
  for (const [field, value] of [
    ['API URL', choice.apiUrl],
    ['repoint URL', choice.repointUrl],
  ] as const) {
    if (!/^https?:\/\//.test(value) || !URL.canParse(value)) {
      throw new LockstepError('BAD_INPUT', `the ${field} "${value}" is not an http(s) URL`);
    }
  }
  if (!/^[0-9a-f]{32}$/i.test(choice.timelineId)) {
    throw new LockstepError('BAD_INPUT', `"${choice.timelineId}" is not a timeline id`, { hint: 'Timeline ids are 32 hex digits.' });
  }
  if (choice.connectionString) {
    if (!URL.canParse(choice.connectionString)) throw new LockstepError('BAD_INPUT', 'the connection string is not a postgres:// URL');
    if (new URL(choice.connectionString).password) {
      throw new LockstepError('BAD_INPUT', 'the connection string contains a password', {
        hint: 'Leave it out of the configuration; Lockstep reads it from the pageserver.password secret.',
      });
    }
  }
  const log = scopedLog(ctx.log, 'pageserver');
  const api = new PageserverApi(choice.apiUrl, choice.tenantId, () => ctx.secrets.get(PAGESERVER_TOKEN_SECRET), log, options.retry ? { retry: options.retry } : {});
  try {
    await api.health({ signal: options.signal });
    const info = await api.getTimeline(choice.timelineId, {
      signal: options.signal,
      onNotFound: () => new LockstepError('NOT_FOUND', `the pageserver has no timeline ${choice.timelineId} in tenant ${choice.tenantId}`),
    });
    log.info(`connected to pageserver ${choice.apiUrl}, tenant ${choice.tenantId}, timeline ${info.timeline_id} at ${info.last_record_lsn}`);
  } finally {
    await api.close();
  }
  const config: PageserverEngineConfig = {
    apiUrl: choice.apiUrl,
    tenantId: choice.tenantId,
    timelineId: choice.timelineId.toLowerCase(),
    repointUrl: choice.repointUrl,
  };
  if (choice.connectionString) config.connectionString = choice.connectionString;
  if (choice.leaseSeconds !== undefined) config.leaseSeconds = choice.leaseSeconds;
  return config;
}
