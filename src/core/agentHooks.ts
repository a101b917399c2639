// The agents' pre-command hooks that run `lockstep guard`: where each tool keeps them, merging ours in, and taking it out again.

import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { shellQuote } from '../git/hook';
import { LockstepError } from '../base/errors';
import { writeFileAtomic } from '../base/files';

export type AgentTool = 'claude' | 'cursor' | 'copilot';
export const AGENT_TOOLS: readonly AgentTool[] = ['claude', 'cursor', 'copilot'];

export type HookScope = 'project' | 'user';

/*
 * Where each tool reads its hooks, and the entry that runs the guard (checked against
 * the vendors' documentation, 2026-12):
 *
 * | tool    | project file                | user file                    | entry |
 * | ------- | --------------------------- | ---------------------------- | ----- |
 * | claude  | .claude/settings.json       | ~/.claude/settings.json      | hooks.PreToolUse[] = {matcher: "Bash", hooks: [{type: "command", command, timeout}]} |
 * | cursor  | .cursor/hooks.json          | ~/.cursor/hooks.json         | {version: 1, hooks.beforeShellExecution[] = {command}} |
 * | copilot | .github/hooks/lockstep.json | ~/.copilot/hooks/lockstep.json | hooks.PreToolUse[] = {type: "command", command, timeout} (VS Code reads every *.json there and ignores matchers) |
 *
 * VS Code's agent also reads .claude/settings.json (and ~/.claude/settings.json): with both
 * the claude and the copilot hook installed, its commands run the guard twice.
 */
const PROJECT_FILES: Record<AgentTool, string> = {
  claude: path.join('.claude', 'settings.json'),
  cursor: path.join('.cursor', 'hooks.json'),
  copilot: path.join('.github', 'hooks', 'lockstep.json'),
};

const USER_FILES: Record<AgentTool, string> = {
  claude: path.join('.claude', 'settings.json'),
  cursor: path.join('.cursor', 'hooks.json'),
  copilot: path.join('.copilot', 'hooks', 'lockstep.json'),
};

const EVENTS: Record<AgentTool, string> = { claude: 'PreToolUse', cursor: 'beforeShellExecution', copilot: 'PreToolUse' };

/** Seconds the tool waits for the guard before it goes on without it; the guard answers within 3 s itself. */
const HOOK_TIMEOUT_S = 10;

export interface HookTarget {
  tool: AgentTool;
  scope: HookScope;
  /** The settings file the hook goes into. */
  file: string;
  /** Where the file's bytes from before the install are kept, so that uninstall can put them back. */
  recordFile: string;
}

export interface HookTargetOptions {
  /** The work tree's top (project scope). */
  topLevel?: string;
  /** `.git/lockstep` (project scope): install records live in its `agents/`. */
  lockstepDir?: string;
  /** The user's home (user scope). */
  home?: string;
  /** Where install records of user-scope hooks live: `$XDG_STATE_HOME/lockstep/agents` (default `~/.local/state/...`). */
  userStateDir?: string;
}

export function hookTarget(tool: AgentTool, scope: HookScope, options: HookTargetOptions): HookTarget {
  let file: string;
  let records: string;
  if (scope === 'project') {
    if (!options.topLevel || !options.lockstepDir) throw new LockstepError('INTERNAL', 'a project hook needs the repository');
    file = path.join(options.topLevel, PROJECT_FILES[tool]);
    records = path.join(options.lockstepDir, 'agents');
  } else {
    if (!options.home) throw new LockstepError('BAD_INPUT', 'no home directory (HOME is not set) for a user-level hook');
    file = path.join(options.home, USER_FILES[tool]);
    records = options.userStateDir ?? path.join(options.home, '.local', 'state', 'lockstep', 'agents');
  }
  const id = createHash('sha256').update(file).digest('hex').slice(0, 12);
  return { tool, scope, file, recordFile: path.join(records, `${tool}-${scope}-${id}.json`) };
}

export interface GuardProgram {
  /** Absolute path of the program that runs the guard: Node, or VS Code's own binary. */
  nodePath: string;
  /** Absolute path of `dist/guard.js`, the guard without the rest of the CLI (the agent waits for its whole start-up). */
  guardPath: string;
  /** `nodePath` is Electron (VS Code's binary): it runs as Node only with ELECTRON_RUN_AS_NODE=1. */
  electronRunAsNode?: boolean;
}

/** The command line the tool runs: this Node and this guard by absolute path, so it works without `lockstep` on PATH. */
export function guardCommand(tool: AgentTool, program: GuardProgram, platform: NodeJS.Platform = process.platform): string {
  const quote = platform === 'win32' ? (s: string) => `"${s.replace(/"/g, '""')}"` : shellQuote;
  const env = program.electronRunAsNode && platform !== 'win32' ? 'ELECTRON_RUN_AS_NODE=1 ' : '';
  return `${env}${quote(program.nodePath)} ${quote(program.guardPath)} --agent ${tool}`;
}

/**
 * Our entries, whichever Node or path they were installed with: `…/dist/guard.js
 * --agent <tool>`, and the form of earlier versions, `…/dist/cli.js guard --agent
 * <tool>` (or `lockstep guard --agent <tool>`), which an install replaces and an
 * uninstall removes like the new one.
 */
export function isGuardCommand(command: unknown): boolean {
  if (typeof command !== 'string') return false;
  if (/[\\/]guard\.js['"]?\s+--agent\s+(claude|cursor|copilot)\s*$/.test(command)) return true;
  return /\sguard\s+--agent\s+(claude|cursor|copilot)\s*$/.test(command) && /lockstep|cli\.js/.test(command);
}

export interface InstallResult {
  action: 'installed' | 'updated' | 'unchanged';
  file: string;
  command: string;
}

export interface UninstallResult {
  /** `restored`: the file's bytes from before the install are back (or the file we created is gone); `removed`: our entry was taken out of a file changed since. */
  action: 'restored' | 'removed' | 'not-installed';
  file: string;
  notes: string[];
}

/** Kept in `recordFile` at install: enough to put the file back exactly as it was. */
interface InstallRecord {
  version: 1;
  tool: AgentTool;
  scope: HookScope;
  file: string;
  /** The file's bytes before the install (base64), or null when it did not exist. */
  original: string | null;
  /** Its mode bits, to put back with the bytes. */
  originalMode: number | null;
  /** The exact text the install wrote: unchanged since means uninstall can put `original` back. */
  installed: string;
  /** Directories the install created (deepest last), removed again when empty. */
  createdDirs: string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** How the file was written, so that what we write back looks like it. */
interface TextStyle {
  indent: string;
  eol: '\n' | '\r\n';
  finalNewline: boolean;
}

const DEFAULT_STYLE: TextStyle = { indent: '  ', eol: '\n', finalNewline: true };

function styleOf(text: string): TextStyle {
  const indent = /^[{[][^\n]*\r?\n([ \t]+)\S/.exec(text)?.[1] ?? /\n([ \t]+)"/.exec(text)?.[1] ?? DEFAULT_STYLE.indent;
  return { indent, eol: text.includes('\r\n') ? '\r\n' : '\n', finalNewline: text.length === 0 || /\n$/.test(text) };
}

function render(value: Json, style: TextStyle): string {
  const text = JSON.stringify(value, null, style.indent);
  return (style.eol === '\r\n' ? text.replace(/\n/g, '\r\n') : text) + (style.finalNewline ? style.eol : '');
}

interface SettingsFile {
  /** The real file (a symlinked settings file is written through its link). */
  path: string;
  bytes: Buffer | null;
  mode: number | null;
  value: JsonObject | null;
}

function readSettings(file: string): SettingsFile {
  let real = file;
  try {
    real = fs.realpathSync(file);
  } catch {
    // absent (or a dangling link: written in place)
  }
  let bytes: Buffer;
  let mode: number;
  try {
    bytes = fs.readFileSync(real);
    mode = fs.statSync(real).mode & 0o7777;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path: real, bytes: null, mode: null, value: null };
    throw new LockstepError('BAD_INPUT', `could not read ${file}: ${(error as Error).message}`);
  }
  const text = bytes.toString('utf8').replace(/^\uFEFF/, '');
  if (text.trim() === '') return { path: real, bytes, mode, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new LockstepError('BAD_INPUT', `${file} is not valid JSON (${(error as Error).message}); it was left as it is`, {
      hint: 'fix or remove it, then run the command again',
    });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LockstepError('BAD_INPUT', `${file} does not hold a JSON object; it was left as it is`);
  }
  return { path: real, bytes, mode, value: value as JsonObject };
}

/** The event's list of entries in `settings.hooks`, checked for shape; created when `create`. */
function eventList(settings: JsonObject, tool: AgentTool, file: string, create: boolean): Json[] | undefined {
  const hooks = settings.hooks;
  if (hooks !== undefined && (typeof hooks !== 'object' || hooks === null || Array.isArray(hooks))) {
    throw new LockstepError('BAD_INPUT', `"hooks" in ${file} is not an object; it was left as it is`);
  }
  if (hooks === undefined && !create) return undefined;
  const container = (hooks ?? (settings.hooks = {})) as JsonObject;
  const list = container[EVENTS[tool]];
  if (list !== undefined && !Array.isArray(list)) {
    throw new LockstepError('BAD_INPUT', `"hooks.${EVENTS[tool]}" in ${file} is not a list; it was left as it is`);
  }
  if (list === undefined && !create) return undefined;
  return (list ?? (container[EVENTS[tool]] = [])) as Json[];
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The hook objects in `list` that run our guard (for claude, inside the matcher groups). */
function ourHooks(tool: AgentTool, list: Json[]): JsonObject[] {
  const found: JsonObject[] = [];
  for (const entry of list) {
    if (!isObject(entry)) continue;
    if (tool === 'claude') {
      if (Array.isArray(entry.hooks)) for (const hook of entry.hooks) if (isObject(hook) && isGuardCommand(hook.command)) found.push(hook);
    } else if (isGuardCommand(entry.command)) {
      found.push(entry);
    }
  }
  return found;
}

function newEntry(tool: AgentTool, command: string): JsonObject {
  switch (tool) {
    case 'claude':
      return { matcher: 'Bash', hooks: [{ type: 'command', command, timeout: HOOK_TIMEOUT_S }] };
    case 'cursor':
      return { command };
    case 'copilot':
      return { type: 'command', command, timeout: HOOK_TIMEOUT_S };
  }
}

/** Takes our hooks out of `list` (and claude's matcher groups they leave empty); how many went. */
function removeOurs(tool: AgentTool, list: Json[]): number {
  let removed = 0;
  for (let i = list.length - 1; i >= 0; i--) {
    const entry = list[i];
    if (!isObject(entry)) continue;
    if (tool === 'claude') {
      if (!Array.isArray(entry.hooks)) continue;
      const before = entry.hooks.length;
      entry.hooks = entry.hooks.filter((hook) => !(isObject(hook) && isGuardCommand(hook.command)));
      removed += before - entry.hooks.length;
      if (before > 0 && entry.hooks.length === 0) list.splice(i, 1);
    } else if (isGuardCommand(entry.command)) {
      list.splice(i, 1);
      removed++;
    }
  }
  return removed;
}

function readRecord(target: HookTarget): InstallRecord | undefined {
  try {
    const record = JSON.parse(fs.readFileSync(target.recordFile, 'utf8')) as InstallRecord;
    return record.version === 1 && typeof record.installed === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Directories from `dir` up that do not exist yet, outermost first. */
function missingDirs(dir: string): string[] {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) {
    missing.unshift(d);
    if (path.dirname(d) === d) break;
  }
  return missing;
}

/**
 * Merges the guard's entry into the tool's settings file: every other entry and
 * key stays, in its order, written back with the file's own indentation and line
 * ends. Idempotent: the same command already there writes nothing; another
 * Node or CLI path is updated in place. A file that is not a JSON object (or
 * whose `hooks` is not one) is bad input and stays untouched. Before the first
 * write, the file's bytes are kept in `recordFile` for uninstall.
 */
export function installAgentHook(target: HookTarget, command: string): InstallResult {
  const current = readSettings(target.file);
  const settings: JsonObject = current.value ? (JSON.parse(JSON.stringify(current.value)) as JsonObject) : {};
  if (!current.value && target.tool === 'cursor') settings.version = 1;
  const list = eventList(settings, target.tool, target.file, true)!;
  const ours = ourHooks(target.tool, list);
  let action: InstallResult['action'];
  if (ours.length === 1 && ours[0]!.command === command) {
    action = 'unchanged';
  } else if (ours.length > 0) {
    // Installed before with another Node or CLI path (or twice, by hand): one entry, the new command.
    removeOurs(target.tool, list);
    list.push(newEntry(target.tool, command));
    action = 'updated';
  } else {
    list.push(newEntry(target.tool, command));
    action = 'installed';
  }
  if (action === 'unchanged') return { action, file: target.file, command };

  const style = current.bytes ? styleOf(current.bytes.toString('utf8')) : DEFAULT_STYLE;
  const text = render(settings, style);
  const known = readRecord(target);
  // The first install keeps the bytes from before it; an update keeps those of the first. Our entry
  // found without a record (installed by hand, or the record lost): no bytes to go back to, so none kept.
  const record: InstallRecord | undefined =
    ours.length > 0
      ? known && { ...known, installed: text }
      : {
          version: 1,
          tool: target.tool,
          scope: target.scope,
          file: target.file,
          original: current.bytes ? current.bytes.toString('base64') : null,
          originalMode: current.mode,
          installed: text,
          createdDirs: missingDirs(path.dirname(current.path)),
        };
  // The record first: a crash between the two leaves a record that does not match the file, and uninstall then removes our entry by hand.
  if (record) {
    fs.mkdirSync(path.dirname(target.recordFile), { recursive: true });
    writeFileAtomic(target.recordFile, `${JSON.stringify(record, null, 2)}\n`, 0o600);
  }
  fs.mkdirSync(path.dirname(current.path), { recursive: true });
  writeFileAtomic(current.path, text, current.mode ?? 0o644);
  return { action, file: target.file, command };
}

/**
 * Takes our entry out again. When the file is still exactly what the install
 * wrote, its bytes from before come back (or it is removed, with the directories
 * the install created, when it did not exist). When it changed since, only our
 * entry goes, and containers the install added that are now empty.
 */
export function uninstallAgentHook(target: HookTarget): UninstallResult {
  const record = readRecord(target);
  const current = readSettings(target.file);
  const notes: string[] = [];
  const forget = () => {
    fs.rmSync(target.recordFile, { force: true });
    try {
      fs.rmdirSync(path.dirname(target.recordFile));
    } catch {
      // other records still there (or never made)
    }
  };

  if (!current.bytes) {
    forget();
    return { action: 'not-installed', file: target.file, notes: record ? [`${target.file} is gone`] : [] };
  }
  if (record && current.bytes.toString('utf8') === record.installed) {
    putBack(current.path, record);
    forget();
    return { action: 'restored', file: target.file, notes };
  }

  const settings = current.value!;
  const list = eventList(settings, target.tool, target.file, false);
  const removed = list ? removeOurs(target.tool, list) : 0;
  if (removed === 0) {
    forget();
    return { action: 'not-installed', file: target.file, notes };
  }
  const original = record?.original ? tryParse(Buffer.from(record.original, 'base64').toString('utf8')) : undefined;
  // Containers the install added, now empty: gone again (an install with no record: only when empty).
  const container = settings.hooks as JsonObject;
  const hadEvent = isObject(original) && isObject(original.hooks) && original.hooks[EVENTS[target.tool]] !== undefined;
  const hadHooks = isObject(original) && original.hooks !== undefined;
  if (list!.length === 0 && !hadEvent) delete container[EVENTS[target.tool]];
  if (Object.keys(container).length === 0 && !hadHooks) delete settings.hooks;
  if (target.tool === 'cursor' && record && record.original === null && Object.keys(settings).length === 1 && settings.version === 1) delete settings.version;

  if (record?.original && original !== undefined && JSON.stringify(original) === JSON.stringify(settings)) {
    putBack(current.path, record);
  } else if (record && record.original === null && Object.keys(settings).length === 0) {
    putBack(current.path, record);
  } else {
    writeFileAtomic(current.path, render(settings, styleOf(current.bytes.toString('utf8'))), current.mode ?? 0o644);
    if (record) notes.push(`${target.file} changed since the install: only Lockstep's entry was taken out`);
  }
  forget();
  return { action: 'removed', file: target.file, notes };
}

function tryParse(text: string): Json | undefined {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, '')) as Json;
  } catch {
    return undefined;
  }
}

/** The bytes from before the install, or no file (and none of the directories it created) when there was none. */
function putBack(file: string, record: InstallRecord): void {
  if (record.original !== null) {
    writeFileAtomic(file, Buffer.from(record.original, 'base64'), record.originalMode ?? 0o644);
    return;
  }
  fs.rmSync(file, { force: true });
  for (const dir of [...record.createdDirs].reverse()) {
    try {
      fs.rmdirSync(dir);
    } catch {
      break; // not empty: something else lives there now
    }
  }
}
