// The `lockstep mcp` server: four tools over one project kept open (a warm engine), and a restore only behind a person's yes.

import { randomUUID } from 'node:crypto';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { CallToolResult, ServerNotification, ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import type { AgentIdentity, Checkpoint } from '../../core/checkpoint';
import { describeError, isLockstepError, LockstepError } from '../../base/errors';
import { displayText } from '../../core/journalText';
import { listCheckpoints, type ListedCheckpoint } from '../../core/listing';
import type { Log } from '../../base/log';
import { foldPending } from '../../core/markers';
import type { Project } from '../../core/project';
import { resolveRef } from '../../core/refs';
import { previewRestore, restore, type RestoreRequest } from '../../core/restore';
import { mayRestoreWithoutHuman, takeSafetyPoint } from '../../core/safety';
import { readHeadRef } from '../../git/repository';
import { renderPlan, renderResult } from '../format';
import { askForYes, refusal, type HumanAnswer } from './consent';
import { McpServer, z, type StdioServerTransport } from './sdk';
import { LIST_TOOL, PREVIEW_TOOL, REF_DESCRIPTION, RESTORE_TOOL, SNAPSHOT_TOOL } from './tools';

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

const INSTRUCTIONS = [
  "Lockstep keeps an undo for this repository's Postgres data beside git.",
  'Before any step that changes the database in a way git cannot undo (migrations, resets, seeds, bulk UPDATE/DELETE, DROP/TRUNCATE/ALTER), call lockstep_snapshot.',
  'If that step goes wrong, lockstep_restore to your own safety point undoes it while nothing else happened since; any other restore is the user\'s decision and is asked of them.',
].join(' ');

const checkpointShape = {
  id: z.string(),
  kind: z.enum(['commit', 'snapshot', 'safety', 'pre-restore']),
  label: z.string().nullable(),
  command: z.string().nullable(),
  agent: z.object({ name: z.string(), session: z.string().optional(), client: z.string().optional() }).nullable(),
  commit: z.string().nullable().describe('The commit it is paired with (12 hex digits), null before the first commit'),
  time: z.string().describe('ISO 8601'),
};

export class LockstepMcpServer {
  /** This server process's session: its safety points are the ones it may restore without a person. */
  readonly session = randomUUID();
  readonly mcp: McpServer;
  private readonly running = new Set<Promise<unknown>>();

  constructor(
    private readonly project: Project,
    private readonly log: Log,
    version: string,
  ) {
    this.mcp = new McpServer({ name: 'lockstep', title: 'Lockstep', version }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
    this.registerTools();
  }

  async connect(transport: InstanceType<typeof StdioServerTransport>): Promise<void> {
    await this.mcp.connect(transport);
    // The engine and its connection are made now, so that the agent's first snapshot costs what the others do.
    if (this.project.initialised) {
      void this.project
        .engine()
        .then((engine) => engine.head())
        .catch((error: unknown) => this.log.debug(`[mcp] warming the engine: ${describeError(error)}`));
    }
  }

  /** Waits for the tool calls still running (a restore is left to finish), then closes the project. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.running]);
    await this.mcp.close().catch(() => undefined);
    await this.project.close();
  }

  /** Who asks, as the journal records it: this server, its session, and the client's own name. */
  private agent(): AgentIdentity {
    const client = this.mcp.server.getClientVersion()?.name;
    return { name: 'mcp', session: this.session, ...(client ? { client } : {}) };
  }

  private registerTools(): void {
    this.mcp.registerTool(
      SNAPSHOT_TOOL.name,
      {
        title: SNAPSHOT_TOOL.title,
        description: SNAPSHOT_TOOL.description,
        inputSchema: { label: z.string().optional().describe(SNAPSHOT_TOOL.label) },
        outputSchema: { ...checkpointShape, timelineId: z.string(), lsn: z.string().nullable() },
        annotations: { title: SNAPSHOT_TOOL.title, readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
      },
      (args, extra) => this.track(SNAPSHOT_TOOL.name, () => this.snapshot(args.label, extra)),
    );
    this.mcp.registerTool(
      LIST_TOOL.name,
      {
        title: LIST_TOOL.title,
        description: LIST_TOOL.description,
        inputSchema: { limit: z.number().int().min(1).max(1000).optional().describe(LIST_TOOL.limit) },
        outputSchema: {
          checkpoints: z.array(
            z.object({
              ...checkpointShape,
              subject: z.string().nullable().describe("The commit's subject line"),
              restorable: z.boolean().describe('Whether its data can still be restored'),
              why: z.string().nullable().describe('Why not, when it cannot'),
              thisSession: z.boolean().describe('A safety point this session took'),
            }),
          ),
        },
        annotations: { title: LIST_TOOL.title, readOnlyHint: true, openWorldHint: false },
      },
      (args) => this.track(LIST_TOOL.name, () => this.list(args.limit ?? 20)),
    );
    this.mcp.registerTool(
      PREVIEW_TOOL.name,
      {
        title: PREVIEW_TOOL.title,
        description: PREVIEW_TOOL.description,
        inputSchema: { ref: z.string().min(1).describe(REF_DESCRIPTION) },
        annotations: { title: PREVIEW_TOOL.title, readOnlyHint: true, openWorldHint: false },
      },
      (args, extra) => this.track(PREVIEW_TOOL.name, () => this.preview(args.ref, extra)),
    );
    this.mcp.registerTool(
      RESTORE_TOOL.name,
      {
        title: RESTORE_TOOL.title,
        description: RESTORE_TOOL.description,
        inputSchema: { ref: z.string().min(1).describe(REF_DESCRIPTION) },
        annotations: { title: RESTORE_TOOL.title, readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
      },
      (args, extra) => this.track(RESTORE_TOOL.name, () => this.restore(args.ref, extra)),
    );
  }

  /** Every call ends in a result: a failure is a tool error with Lockstep's message and hint, never a crash. */
  private async track(name: string, work: () => Promise<CallToolResult>): Promise<CallToolResult> {
    const started = performance.now();
    const call = work().catch((error: unknown): CallToolResult => {
      if (!(error instanceof LockstepError)) this.log.error(`[mcp] ${name}: ${error instanceof Error && error.stack ? error.stack : String(error)}`);
      return failure(describeError(error));
    });
    this.running.add(call);
    try {
      return await call;
    } finally {
      this.running.delete(call);
      this.log.debug(`[mcp] ${name} ${(performance.now() - started).toFixed(1)} ms`);
    }
  }

  private async snapshot(label: string | undefined, extra: Extra): Promise<CallToolResult> {
    const take = () => takeSafetyPoint(this.project, { label: label ?? null, agent: this.agent(), signal: extra.signal });
    const checkpoint = await afterReconnect(take);
    const warnings = (await this.project.engine()).warnings?.() ?? [];
    const lines = [
      `Safety point ${checkpoint.id} taken: timeline ${checkpoint.timelineId} @ ${checkpoint.lsn}, ${checkpoint.commitSha ? `commit ${checkpoint.commitSha.slice(0, 7)}` : 'no commit yet'}${checkpoint.label ? `, "${displayText(checkpoint.label)}"` : ''}.`,
      `If the next step goes wrong, lockstep_restore with ref ${checkpoint.id} undoes it without asking the user, as long as nothing is committed, restored or checkpointed by anyone else meanwhile.`,
      ...warnings.map((w) => `warning: ${displayText(w, 1000)}`),
    ];
    return {
      content: [{ type: 'text', text: lines.join('\n') }],
      structuredContent: { ...describeCheckpoint(checkpoint), timelineId: checkpoint.timelineId, lsn: checkpoint.lsn },
    };
  }

  private async list(limit: number): Promise<CallToolResult> {
    const checkpoints = await afterReconnect(() => listCheckpoints(this.project, { limit }));
    const rows = checkpoints.map((c) => this.listRow(c));
    const text = rows.length === 0 ? 'No checkpoints yet: commits record them (with the hook), or take one with lockstep_snapshot.' : rows.map((r) => JSON.stringify(r)).join('\n');
    return { content: [{ type: 'text', text }], structuredContent: { checkpoints: rows } };
  }

  private listRow(c: ListedCheckpoint) {
    return {
      ...describeCheckpoint(c),
      subject: c.subject,
      restorable: c.restorable,
      why: c.restorable ? null : (c.unrestorable?.message ?? null),
      thisSession: c.kind === 'safety' && c.agent?.session === this.session,
    };
  }

  private async preview(ref: string, extra: Extra): Promise<CallToolResult> {
    const { request } = await afterReconnect(() => this.restoreRequest(ref));
    const preview = await previewRestore(this.project, request, { signal: extra.signal, onProgress: progressOf(extra) });
    const lines = ['(preview: nothing was changed)', ...renderPlan(preview)];
    if (preview.blockers.length === 0) lines.push(`lockstep_restore with ref ${preview.target.id} would do this${this.canAsk() ? ' after the user says yes' : ''}.`);
    return { content: [{ type: 'text', text: lines.join('\n') }] };
  }

  /**
   * A person says yes through the client (elicitation), or the target is this
   * session's own safety point with nothing else done since; else nothing is
   * restored and the agent is told what the user can run or click.
   */
  private async restore(ref: string, extra: Extra): Promise<CallToolResult> {
    const { target, request } = await afterReconnect(() => this.restoreRequest(ref));
    const own = await mayRestoreWithoutHuman(this.project, target, this.session);
    if (!own.allowed && !this.canAsk()) return failure(refusal(this.project, target, own.reason).join('\n'));

    const options = { signal: extra.signal, onProgress: progressOf(extra) };
    let answer: HumanAnswer | undefined;
    try {
      const result = await restore(this.project, request, {
        ...options,
        confirm: own.allowed
          ? async (plan) => {
              // Checked again under the restore lock, with the hook's spool folded in: nothing may have happened meanwhile.
              const still = await mayRestoreWithoutHuman(this.project, plan.target, this.session);
              if (!still.allowed) throw new LockstepError('CONFLICT', `not restored: ${still.reason}; nothing was changed`, { hint: 'Restoring now needs the user: call lockstep_restore again to ask them.' });
              return true;
            }
          : async (plan) => {
              answer = await askForYes(this.mcp.server, this.project, plan, { ...options, relatedRequestId: extra.requestId });
              return answer === 'yes';
            },
      });
      const how = own.allowed ? `without asking: ${own.reason}` : 'the user said yes';
      return { content: [{ type: 'text', text: [...renderResult(result), `(${how})`].join('\n') }] };
    } catch (error) {
      if (answer !== undefined && answer !== 'yes' && isLockstepError(error, 'CANCELLED')) {
        const said = answer === 'decline' ? 'declined' : answer === 'no' ? 'did not confirm' : 'cancelled';
        return { content: [{ type: 'text', text: `Not restored: the user ${said} the restore to ${target.id}. Nothing was changed. Do not ask again unless the user asks you to.` }] };
      }
      throw error;
    }
  }

  /**
   * The request both preview and restore make. When HEAD is already at the
   * checkpoint's commit the code has nothing to restore, so only the data is
   * asked for: the agent's uncommitted edits do not block undoing its step.
   */
  private async restoreRequest(ref: string): Promise<{ target: Checkpoint; request: RestoreRequest }> {
    this.project.config();
    await foldPending(this.project);
    const target = await resolveRef(this.project.repo, ref, this.project.journal.list());
    const head = await readHeadRef(this.project.repo);
    const mode = target.commitSha !== null && head.sha === target.commitSha ? 'data-only' : 'both';
    // Probe the engine's connection: one made before a restart (another process restored or restarted the database) is gone.
    await (await this.project.engine()).head().catch(() => undefined);
    return { target, request: { ref: target.id, mode } };
  }

  private canAsk(): boolean {
    return Boolean(this.mcp.server.getClientCapabilities()?.elicitation?.form);
  }
}

function describeCheckpoint(c: Checkpoint) {
  return {
    id: c.id,
    kind: c.kind,
    label: c.label,
    command: c.command ?? null,
    agent: c.agent ?? null,
    commit: c.commitSha?.slice(0, 12) ?? null,
    time: c.createdAt,
  };
}

function failure(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

/**
 * The engine's connection is kept across calls; the database may have been
 * restarted since (a restore or `lockstep db stop/start` in another process).
 * A call that found it gone is made once more on a new connection: each of
 * these calls reads the position before it writes anything.
 */
async function afterReconnect<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (!isLockstepError(error, 'ENGINE_DOWN')) throw error;
    return work();
  }
}

/** Progress of a long call (a preview's throwaway copy, a restore) as MCP progress notifications, when the client asked for them. */
function progressOf(extra: Extra): ((step: string) => void) | undefined {
  const token = extra._meta?.progressToken;
  if (token === undefined) return undefined;
  let progress = 0;
  return (step) => {
    void extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: ++progress, message: step } }).catch(() => undefined);
  };
}
