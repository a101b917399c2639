// Bundles the two faces of Lockstep: dist/extension.js (VS Code) and dist/cli.mjs (the CLI and git hook).
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
  plugins: [pgNodeStreamsOnly],
  define: { LOCKSTEP_VERSION: JSON.stringify(require('./package.json').version) },
};

async function main() {
  const builds = [
    { ...common, entryPoints: { extension: 'src/extension/main.ts' }, outdir: 'dist' },
    {
      // The CLI runs on every commit (the hook): ESM lets esbuild split it, so
      // `lockstep record` parses its own code and pg, not undici or simple-git.
      ...common,
      entryPoints: { cli: 'src/cli/main.ts' },
      outdir: 'dist',
      format: 'esm',
      splitting: true,
      outExtension: { '.js': '.mjs' },
      chunkNames: 'chunks/[name]-[hash]',
      // Bundled CommonJS dependencies call require(); give every chunk one, and the CommonJS path globals.
      banner: {
        js: [
          '#!/usr/bin/env node',
          "import { createRequire as __lockstepCreateRequire } from 'node:module';",
          "import { fileURLToPath as __lockstepFileURLToPath } from 'node:url';",
          'const require = __lockstepCreateRequire(import.meta.url);',
          'const __filename = __lockstepFileURLToPath(import.meta.url);',
          "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
        ].join('\n'),
      },
    },
  ];
  if (watch) {
    for (const options of builds) await (await esbuild.context(options)).watch();
    return;
  }
  const results = await Promise.all(builds.map((options) => esbuild.build({ ...options, metafile: true })));
  fs.chmodSync('dist/cli.mjs', 0o755);
  // Chunk names carry content hashes: remove the ones this build did not write
  // (after the build, so that a concurrent build never loses its chunks mid-way).
  const written = new Set(results.flatMap((r) => Object.keys(r.metafile.outputs)).map((f) => require('node:path').resolve(f)));
  for (const name of fs.existsSync('dist/chunks') ? fs.readdirSync('dist/chunks') : []) {
    const file = require('node:path').resolve('dist/chunks', name);
    if (!written.has(file)) fs.rmSync(file, { force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
