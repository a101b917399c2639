// The MCP tools' names, titles and descriptions, written for the model that reads them: when to call each, and what needs a person.

export const SNAPSHOT_TOOL = {
  name: 'lockstep_snapshot',
  title: 'Take a safety point (Lockstep)',
  description: [
    "Records a safety point of this repository's Postgres database and git HEAD, so that the data can be put back if the next step goes wrong.",
    'Call it BEFORE any step that changes the database in a way git cannot undo: running, resetting or pushing migrations (prisma migrate / db push, drizzle-kit, rails db:migrate, supabase db reset, alembic, django migrate…), seeding, bulk UPDATE or DELETE, DROP / TRUNCATE / ALTER, loading a dump.',
    'It is cheap (a marker, not a copy: milliseconds whatever the database size) and changes nothing, so take one freely, with a label saying what comes next.',
    "Returns the checkpoint's id. If the step goes wrong, lockstep_restore with that id undoes it.",
  ].join(' '),
  label: 'What comes next, e.g. "before prisma migrate reset". One line, at most 200 characters.',
} as const;

export const LIST_TOOL = {
  name: 'lockstep_list',
  title: 'List checkpoints (Lockstep)',
  description: [
    "Lists this repository's checkpoints, newest first: commits (recorded by the git hook), snapshots, safety points (with the command and the agent that took them) and pre-restore undo points.",
    'Each has an id to pass to lockstep_preview or lockstep_restore, its commit, its time, and whether its data can still be restored. Read-only.',
  ].join(' '),
  limit: 'How many checkpoints, newest first (default 20).',
} as const;

export const PREVIEW_TOOL = {
  name: 'lockstep_preview',
  title: 'Preview a restore (Lockstep)',
  description: [
    'Shows what restoring a checkpoint would change, and changes nothing: tables that would appear or disappear, columns, the rows inserted, deleted and changed since (exact, per table, by primary key), the commit that would be checked out and the files that differ.',
    'Use it to show the user what a restore means before suggesting one.',
  ].join(' '),
} as const;

export const RESTORE_TOOL = {
  name: 'lockstep_restore',
  title: 'Restore code and data to a checkpoint (Lockstep)',
  description: [
    "Puts this repository's database back to a checkpoint, and checks out its commit when HEAD is elsewhere. Destructive: whatever was written to the database since is replaced (the restore keeps an undo point).",
    'It needs a person\'s yes: the user is asked through this client when the client can ask; otherwise nothing is restored and you get the exact command the user can run.',
    'Without asking, it restores only to a safety point you took in this same session (lockstep_snapshot), while nothing was committed, restored or checkpointed since: that is how you undo your own step at once.',
    'Never retry a refused or declined restore: tell the user.',
  ].join(' '),
} as const;

export const REF_DESCRIPTION = 'The checkpoint: its id (or a unique prefix), a commit sha, or an ISO time (the newest checkpoint at or before it). lockstep_list shows the ids.';
