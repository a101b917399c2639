// Which shell commands can change a database in a way git cannot undo: the classifier every face asks before a command runs.
// No imports beyond the error type: `lockstep guard` loads it on every agent command.

import { LockstepError } from '../base/errors';

export interface RiskVerdict {
  risky: boolean;
  /** What matched, in words ("prisma migrate reset", "psql -f", "SQL DROP"); absent when harmless. */
  reason?: string;
}

/**
 * The default list: migration and reset commands of the common tools, the
 * Postgres client tools that write, and package scripts named like migrations.
 * Regex sources, matched case-insensitively anywhere in the command line (so
 * `cd api && npx prisma migrate reset --force` matches). Users add their own in
 * the configuration (`riskyCommands`, and the VS Code setting
 * `lockstep.agents.riskyCommands`).
 */
export const DEFAULT_RISKY_COMMANDS: readonly { name: string; pattern: string }[] = [
  { name: 'prisma migrate/db', pattern: String.raw`\bprisma\s+(migrate\s+(dev|reset|deploy|resolve)|db\s+(push|execute|seed))\b` },
  { name: 'drizzle-kit', pattern: String.raw`\bdrizzle-kit\s+(push|migrate|drop|up)\b` },
  { name: 'knex migrate/seed', pattern: String.raw`\bknex\s+(migrate:(latest|up|down|rollback)|seed:run)\b` },
  { name: 'sequelize db:*', pattern: String.raw`\bsequelize(-cli)?\s+db:(migrate|seed|drop|create)` },
  { name: 'typeorm migration/schema', pattern: String.raw`\btypeorm(-ts-node-(commonjs|esm))?\b.*\s(migration:(run|revert)|schema:(sync|drop)|query)\b` },
  { name: 'node-pg-migrate', pattern: String.raw`\bnode-pg-migrate\s+(up|down|redo)\b` },
  { name: 'supabase db', pattern: String.raw`\bsupabase\s+(db\s+(reset|push)|migration\s+(up|repair|squash))\b` },
  { name: 'rails/rake db:*', pattern: String.raw`\b(rails|rake)\s+db:[a-z_:]+` },
  { name: 'alembic', pattern: String.raw`\balembic\s+(upgrade|downgrade|stamp)\b` },
  { name: 'flyway', pattern: String.raw`\bflyway\b.*\b(migrate|clean|repair|undo|baseline)\b` },
  { name: 'liquibase', pattern: String.raw`\bliquibase\b.*\b(update|update-count|update-to-tag|rollback\S*|drop-all|dropAll)\b` },
  { name: 'django migrate', pattern: String.raw`\b(manage\.py|django-admin)\s+(migrate|flush|loaddata|sqlflush)\b` },
  { name: 'dropdb', pattern: String.raw`\bdropdb\b` },
  { name: 'pg_restore', pattern: String.raw`\bpg_restore\b` },
  { name: 'a migration script', pattern: String.raw`\b(npm|pnpm|yarn|bun)\s+(run\s+)?[\w:.-]*(migrat|db:(reset|push|drop|seed)|seed)[\w:.-]*` },
];

/** SQL that changes or removes what is there; matched anywhere in a command line or SQL text. */
const SQL_WRITES: readonly { name: string; re: RegExp }[] = [
  { name: 'SQL DROP', re: /\bdrop\s+(table|schema|database|view|materialized\s+view|index|sequence|type|function|extension|owned)\b/i },
  { name: 'SQL TRUNCATE', re: /\btruncate\b/i },
  { name: 'SQL ALTER', re: /\balter\s+(table|schema|database|view|index|sequence|type|role|user)\b/i },
  { name: 'SQL DELETE', re: /\bdelete\s+from\b/i },
  { name: 'SQL UPDATE', re: /\bupdate\s+("[^"]+"|[\w.]+)\s+(as\s+\w+\s+)?set\b/i },
];

const DEFAULTS = DEFAULT_RISKY_COMMANDS.map((d) => ({ name: d.name, re: new RegExp(d.pattern, 'i') }));

/** SQL text: does it drop, truncate, alter, delete or update? */
export function classifySql(sql: string): RiskVerdict {
  for (const write of SQL_WRITES) if (write.re.test(sql)) return { risky: true, reason: write.name };
  return { risky: false };
}

/** A psql invocation anywhere in the line: with -c/-f, or fed on stdin. */
const PSQL = /(^|[\s;&|(`])(?:\S*\/)?psql(\s|$)/;

function classifyPsql(command: string): RiskVerdict {
  const at = PSQL.exec(command);
  if (!at) return { risky: false };
  const rest = command.slice(at.index + at[0].length);
  // -f FILE / --file: SQL we cannot see.
  if (/(^|\s)(-f\s*\S|--file(=|\s))/.test(rest)) return { risky: true, reason: 'psql -f' };
  // stdin: a pipe into psql, a redirect or a here-document.
  if (/\|\s*(?:\S*\/)?psql\b/.test(command) || /(^|\s)<{1,3}\s*\S/.test(rest)) return { risky: true, reason: 'psql with SQL on stdin' };
  // -c SQL: risky unless it only reads.
  if (/(^|\s)(-c\s*\S|--command(=|\s))/.test(rest)) {
    const sql = classifySql(rest);
    if (sql.risky) return { risky: true, reason: `psql -c (${sql.reason})` };
    if (!onlyReads(rest)) return { risky: true, reason: 'psql -c' };
  }
  return { risky: false };
}

/** Every -c statement starts with a word that only reads. */
function onlyReads(psqlArguments: string): boolean {
  const commands = [...psqlArguments.matchAll(/(?:-c\s*|--command[=\s]\s*)(?:'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+))/g)].map((m) => m[1] ?? m[2] ?? m[3] ?? '');
  if (commands.length === 0) return false;
  return commands.every((sql) =>
    sql
      .split(';')
      .map((s) => s.trim())
      .filter((s) => s !== '')
      .every((s) => /^(select|show|table|values|explain(?!\s+(\(\s*)?analy[sz]e)|\\[dlz?])/i.test(s) && !/\binto\b/i.test(s)),
  );
}

/**
 * Whether a shell command line can change the database: a default pattern,
 * one of `extraPatterns` (regex sources, case-insensitive), psql with SQL that
 * writes (or SQL it cannot see), or SQL text that writes.
 */
export function classifyCommand(command: string, extraPatterns: readonly string[] = []): RiskVerdict {
  for (const d of DEFAULTS) if (d.re.test(command)) return { risky: true, reason: d.name };
  const psql = classifyPsql(command);
  if (psql.risky) return psql;
  const sql = classifySql(command);
  if (sql.risky) return sql;
  for (const source of extraPatterns) {
    const re = compile(source);
    if (re?.test(command)) return { risky: true, reason: `pattern /${source}/` };
  }
  return { risky: false };
}

const compiled = new Map<string, RegExp | undefined>();

function compile(source: string): RegExp | undefined {
  if (!compiled.has(source)) {
    try {
      compiled.set(source, new RegExp(source, 'i'));
    } catch {
      compiled.set(source, undefined);
    }
  }
  return compiled.get(source);
}

/** Validates user patterns (a list of regex sources); throws BAD_INPUT naming the first that is not one. */
export function checkRiskyPatterns(patterns: unknown): string[] {
  if (patterns === undefined || patterns === null) return [];
  if (!Array.isArray(patterns)) throw new LockstepError('BAD_INPUT', 'riskyCommands must be a list of regular expressions (strings)');
  return patterns.map((p, i) => {
    if (typeof p !== 'string' || p.trim() === '') throw new LockstepError('BAD_INPUT', `riskyCommands[${i}] must be a non-empty string`);
    if (p.length > 500) throw new LockstepError('BAD_INPUT', `riskyCommands[${i}] is longer than 500 characters`);
    try {
      new RegExp(p, 'i');
    } catch (error) {
      throw new LockstepError('BAD_INPUT', `riskyCommands[${i}] is not a regular expression: ${(error as Error).message}`);
    }
    return p;
  });
}
