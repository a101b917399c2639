// A person's yes for a restore: asked through the MCP client (elicitation) with what would change, or, when the client cannot ask, what the user can run or click instead.

import * as path from 'node:path';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Checkpoint } from '../../core/checkpoint';
import { LockstepError } from '../../base/errors';
import { displayText, displayTitle } from '../../core/journalText';
import type { Project } from '../../core/project';
import { withSchemaChanges, type RestorePlan } from '../../core/restore';
import { renderPlan } from '../format';

/** 'no': the form was accepted without the box ticked. */
export type HumanAnswer = 'yes' | 'no' | 'decline' | 'cancel';

/** A person reads a preview and decides: long enough for that, bounded so that a forgotten question does not hold the restore lock for ever. */
const ANSWER_WITHIN_MS = 15 * 60_000;

export interface AskOptions {
  signal?: AbortSignal;
  onProgress?: (step: string) => void;
  /** The tool call the question belongs to. */
  relatedRequestId?: RequestId;
}

/**
 * Shows the user what the restore would change (tables, columns, rows, the
 * commit and files) and asks for a yes: a form with one box, unticked.
 * Called by `restore()` once everything is checked and before anything changes.
 */
export async function askForYes(server: Server, project: Project, plan: RestorePlan, options: AskOptions): Promise<HumanAnswer> {
  const preview = await withSchemaChanges(project, plan, options);
  const message = [
    `An agent asks to restore ${displayText(path.basename(project.repo.topLevel))} to a Lockstep checkpoint.`,
    '',
    ...renderPlan(preview),
    '',
    "Restoring replaces the database's current data with the checkpoint's (an undo point of now is kept: `lockstep restore <undo id>` brings it back).",
  ].join('\n');
  let reply;
  try {
    reply = await server.elicitInput(
      {
        mode: 'form',
        message,
        requestedSchema: {
          type: 'object',
          properties: {
            confirm: { type: 'boolean', title: `Restore ${plan.target.id}`, description: 'Tick to restore; leave it unticked (or decline) to change nothing.', default: false },
          },
          required: ['confirm'],
        },
      },
      { signal: options.signal, timeout: ANSWER_WITHIN_MS, relatedRequestId: options.relatedRequestId },
    );
  } catch (error) {
    if (options.signal?.aborted) throw new LockstepError('CANCELLED', 'the tool call was cancelled while the user was asked; nothing was changed');
    throw new LockstepError('CANCELLED', `the user could not be asked (${(error as Error).message}); nothing was changed`, { cause: error });
  }
  if (reply.action !== 'accept') return reply.action;
  return reply.content?.confirm === true ? 'yes' : 'no';
}

/** Why the agent may not restore on its own, and exactly what the user can run or click. */
export function refusal(project: Project, target: Checkpoint, whyNotOwn: string): string[] {
  return [
    `Not restored: restoring ${target.id} ("${displayTitle(target)}") needs the user's yes, and this MCP client cannot ask them (it does not support elicitation). Nothing was changed.`,
    `(Without a person, an agent may restore only to a safety point it took in this session with nothing done since; here ${whyNotOwn}.)`,
    'Tell the user they can restore it themselves, after reading what it changes:',
    `  in a terminal in ${project.repo.topLevel}: lockstep restore ${target.id}   (it shows what changes and asks)`,
    `  in VS Code: the command "Lockstep: Restore Checkpoint…" and pick ${target.id}, or Restore on its row in the Lockstep Checkpoints view.`,
    `lockstep_preview with ref ${target.id} shows you what it would change.`,
  ];
}
