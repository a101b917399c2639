// Bundles the two faces of Lockstep: dist/extension.js (VS Code) and dist/cli.js (the CLI and git hook), plus vendor bundles they load on demand.
const esbuild = require('esbuild');
const fs = require('node:fs');

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

const requireVendored = {
  name: 'require-vendored',
  setup(build) {
    const filter = new RegExp(`^(${VENDORED.join('|')})$`);
    build.onResolve({ filter }, (args) => ({ path: `./vendor/${args.path}.js`, external: true }));
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
    ...VENDORED.map((name) => ({
      ...common,
      plugins: [pgNodeStreamsOnly],
      entryPoints: { [name]: name },
      outdir: 'dist/vendor',
      sourcemap: false,
      minify: true,
    })),
  ];
  if (watch) {
    for (const options of builds) await (await esbuild.context(options)).watch();
    return;
  }
  await Promise.all(builds.map((options) => esbuild.build(options)));
  fs.chmodSync('dist/cli.js', 0o755);
  // The hook's body, a script git runs, shipped beside the bundle (src/git/hook.ts reads it at install).
  fs.copyFileSync('src/git/post-commit.sh', 'dist/post-commit.sh');
  // Left by earlier builds that split the CLI into ES modules.
  fs.rmSync('dist/chunks', { recursive: true, force: true });
  fs.rmSync('dist/cli.mjs', { force: true });
  fs.rmSync('dist/cli.mjs.map', { force: true });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
