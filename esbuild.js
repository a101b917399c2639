// Bundles the two faces of Lockstep: dist/extension.js (VS Code) and dist/cli.js (the CLI and git hook), dist/guard.js (the agents'
// pre-command hook), plus vendor bundles they load on demand.
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

/**
 * pg decides at module load whether it runs inside Cloudflare Workers by
 * constructing a `Response`, which makes Node 20 load its internal undici: about
 * 15 ms on every CLI start, paid by every git commit through the hook. We only
 * ever run on Node, so we pin pg to its Node stream functions. If pg changes the
 * line, the build fails instead of silently losing the fix.
 */
const pgNodeStreamsOnly = {
  name: 'pg-node-streams-only',
  setup(build) {
    build.onLoad({ filter: /[\\/]pg[\\/]lib[\\/]stream\.js$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      const from = 'const { getStream, getSecureStream } = getStreamFuncs()';
      if (!source.includes(from)) {
        throw new Error(`pg/lib/stream.js changed; update the pg-node-streams-only plugin (${args.path})`);
      }
      return { contents: source.replace(from, 'const { getStream, getSecureStream } = getNodejsStreamFuncs()'), loader: 'js' };
    });
  },
};

/**
 * undici (1.2 MB) and simple-git are needed only by the cloud engines and by
 * restores, never by the commit hook. They are built as bundles of their own
 * and required on first use, so `lockstep record` does not parse them. (esbuild
 * splits code only for ESM, and an ESM entry costs Node more start-up than the
 * parsing it saves.) Vendor code carries no classes of ours, so a separate copy
 * is harmless.
 */
const VENDORED = ['undici', 'simple-git'];

/**
 * Vendor bundles made from a file of ours that re-exports what a command uses
 * of a large package: the MCP SDK (with zod and ajv, ~0.5 MB) only `lockstep
 * mcp` loads. An import of that file becomes a require of its bundle.
 */
const VENDORED_FILES = { 'mcp-sdk': 'src/cli/mcp/sdk.ts' };
/** What must never be in dist/cli.js or dist/extension.js: each is in a vendor bundle. */
const KEPT_OUT = /node_modules[\\/](undici|simple-git|@modelcontextprotocol|zod|ajv)[\\/]/;

const requireVendored = {
  name: 'require-vendored',
  setup(build) {
    const filter = new RegExp(`^(${VENDORED.join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: `./vendor/${args.path}.js`, external: true }));
    const files = new Map(Object.entries(VENDORED_FILES).map(([name, file]) => [path.resolve(file), name]));
    build.onResolve({ filter: /^\./ }, (args) => {
      const name = files.get(path.resolve(args.resolveDir, args.path).replace(/(\.ts)?$/, '.ts'));
      return name ? { path: `./vendor/${name}.js`, external: true } : undefined;
    });
  },
};

/**
 * dist/guard.js runs before every command an agent runs, and the agent waits for
 * the whole process: it holds only the payload, the classifier, the
 * configuration and the quick safety point (the journal, a reading over the
 * private socket). The engines, pg and the project's full path are
 * dist/guard-full.js, required when the quick path cannot serve. Only plain
 * data crosses between the two, so their separate copies of our modules are harmless.
 */
const GUARD_FULL = path.resolve('src/cli/guard/full.ts');
/** What dist/guard.js must not hold: parsing it would cost every agent command. */
const GUARD_KEPT_OUT = /node_modules[\\/](pg|pg-[a-z-]+|pgpass|undici|simple-git|@modelcontextprotocol)[\\/]|src[\\/](engines|extension)[\\/]/;

const requireGuardFull = {
  name: 'require-guard-full',
  setup(build) {
    build.onResolve({ filter: /^\./ }, (args) =>
      path.resolve(args.resolveDir, args.path).replace(/(\.ts)?$/, '.ts') === GUARD_FULL ? { path: './guard-full.js', external: true } : undefined,
    );
  },
};

/**
 * Loading node:child_process costs a Node start-up about a tenth more, and the
 * guard needs it only when git must be asked (rarely: HEAD is read from git's
 * files). In guard.js it is loaded on first call. Only the functions listed
 * here can be imported: another one fails the build, never the guard.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(build) {
    build.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.namespace === 'lazy-builtin' ? { path: 'node:child_process', external: true } : { path: 'child_process', namespace: 'lazy-builtin' },
    );
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, () => ({
      contents: ['execFile', 'spawn']
        .map((name) => `export function ${name}(...args) { return require('node:child_process').${name}(...args); }`)
        .join('\n'),
      loader: 'js',
    }));
  },
};

/** @type {import('esbuild').BuildOptions} */
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: production ? false : 'linked',
  minify: production,
  legalComments: 'linked',
  logLevel: 'warning',
  // pg-native is an optional native binding pg only loads on request.
  external: ['vscode', 'pg-native'],
  plugins: [pgNodeStreamsOnly, requireVendored],
  define: { LOCKSTEP_VERSION: JSON.stringify(require('./package.json').version) },
};

async function main() {
  const builds = [
    { ...common, entryPoints: { extension: 'src/extension/main.ts' }, outdir: 'dist' },
    // Minified: less for Node to parse on every commit. LOCKSTEP_NO_MINIFY=1 keeps names readable in CPU profiles.
    { ...common, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' }, minify: !process.env.LOCKSTEP_NO_MINIFY },
    { ...common, entryPoints: { guard: 'src/cli/guard/main.ts' }, outdir: 'dist', plugins: [...common.plugins, requireGuardFull, lazyChildProcess], minify: !process.env.LOCKSTEP_NO_MINIFY },
    { ...common, entryPoints: { 'guard-full': GUARD_FULL }, outdir: 'dist', minify: !process.env.LOCKSTEP_NO_MINIFY },
    ...[...VENDORED.map((name) => [name, name]), ...Object.entries(VENDORED_FILES)].map(([name, entry]) => ({
      ...common,
      plugins: [pgNodeStreamsOnly],
      entryPoints: { [name]: entry },
      outdir: 'dist/vendor',
      sourcemap: false,
      minify: true,
    })),
  ];
  if (watch) {
    for (const options of builds) await (await esbuild.context(options)).watch();
    return;
  }
  const results = await Promise.all(builds.map((options) => esbuild.build({ ...options, metafile: true })));
  // A vendor package pulled into a face's bundle by a stray import would be parsed by every `lockstep record`.
  for (const [i, result] of results.slice(0, 4).entries()) {
    const strays = Object.keys(result.metafile.inputs).filter((input) => KEPT_OUT.test(input));
    if (strays.length > 0) throw new Error(`${Object.keys(builds[i].entryPoints)[0]} bundles vendor code it must load on demand: ${strays.slice(0, 5).join(', ')}`);
  }
  // Inputs esbuild read but left out of the output (tree-shaken) cost nothing: only what the file holds counts.
  const guardHolds = Object.values(results[2].metafile.outputs).flatMap((output) => Object.entries(output.inputs).filter(([, use]) => use.bytesInOutput > 0).map(([input]) => input));
  const heavy = guardHolds.filter((input) => GUARD_KEPT_OUT.test(input));
  if (heavy.length > 0) throw new Error(`guard.js bundles what only guard-full.js may hold: ${heavy.slice(0, 5).join(', ')}`);
  fs.chmodSync('dist/cli.js', 0o755);
  // The hooks' bodies, scripts git runs, shipped beside the bundle (src/git/hook.ts reads them at install).
  fs.copyFileSync('src/git/post-commit.sh', 'dist/post-commit.sh');
  fs.copyFileSync('src/git/pre-push.sh', 'dist/pre-push.sh');
  // Left by earlier builds that split the CLI into ES modules.
  fs.rmSync('dist/chunks', { recursive: true, force: true });
  fs.rmSync('dist/cli.mjs', { force: true });
  fs.rmSync('dist/cli.mjs.map', { force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
