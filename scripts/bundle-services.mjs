#!/usr/bin/env node
// Part of npm run build, after tsc: our services and their dependencies bundled by esbuild into
// dist/services-bundle/, which bin/service.js runs (poc up's host processes and the services
// image alike). Node then reads and compiles a few files instead of ~700 resolved one by one:
// a service's start takes about 40 % less CPU (issue 19). Each service's main is its own chunk
// (the registry imports them on demand), code they share is in shared chunks.
// The AWS SDK stays in node_modules: pm loads it after it listens, only with an object store.
import path from 'node:path'
import {build} from 'esbuild'

const root = path.resolve(import.meta.dirname, '..')
const outdir = path.join(root, 'dist', 'services-bundle')

/**
 * Some packages find files beside themselves with __dirname (pino's workers, mercurius's
 * GraphiQL assets, ioredis's package.json). In the bundle those names are the package's own
 * folder again, computed from where the bundle lies, so it also works in the services image (/app).
 */
const ownDirname = {
  name: 'own-dirname',
  setup(build) {
    build.onLoad({filter: /[\\/]node_modules[\\/].*\.c?js$/}, async (args) => {
      const {readFile} = await import('node:fs/promises')
      const source = await readFile(args.path, 'utf8')
      if (!/\b__(dirname|filename)\b/.test(source)) return undefined
      const relative = path.relative(outdir, args.path).split(path.sep).join('/')
      const names =
        `var __filename = __pocBundlePath(${JSON.stringify(relative)}),` +
        ` __dirname = __pocBundleDirname(__filename);`
      // After a "use strict" prologue, which must stay the module's first statement (and a #! line).
      const prologue =
        /^(?:#![^\n]*\n)?(?:\s*(?:\/\/[^\n]*\n|\/\*[\s\S]*?\*\/))*\s*(['"])use strict\1;?/.exec(source)
      const hashbang = /^#![^\n]*\n/.exec(source)
      const at = prologue ? prologue[0].length : hashbang ? hashbang[0].length : 0
      return {contents: `${source.slice(0, at)}\n${names}\n${source.slice(at)}`, loader: 'js'}
    })
  },
}

const banner = [
  "import {createRequire as __pocCreateRequire} from 'node:module';",
  "import {dirname as __pocBundleDirname, join as __pocJoin} from 'node:path';",
  "import {fileURLToPath as __pocFileURLToPath} from 'node:url';",
  // CommonJS dependencies call require() for Node's modules and for files they load at run time.
  'const require = __pocCreateRequire(import.meta.url);',
  'const __pocBundlePath = (relative) => __pocJoin(__pocBundleDirname(__pocFileURLToPath(import.meta.url)), relative);',
].join('\n')

const result = await build({
  // The gateway's worker threads are entries of their own: wal.ts starts them by file name,
  // next to the module that starts them, which in the bundle is this folder.
  entryPoints: [
    path.join(root, 'dist', 'services', 'run-service.js'),
    path.join(root, 'dist', 'services', 'gateway', 'wal-worker.js'),
    path.join(root, 'dist', 'services', 'gateway', 'outbox-worker.js'),
  ],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@aws-sdk/*'],
  banner: {js: banner},
  plugins: [ownDirname],
  // The entry keeps its name (bin/service.js imports it); every file in one folder, as __dirname above assumes.
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  logLevel: 'warning',
  metafile: true,
})
const outputs = Object.entries(result.metafile.outputs)
const bytes = outputs.reduce((sum, [, o]) => sum + o.bytes, 0)
const inputs = Object.keys(result.metafile.inputs).length
console.log(
  `services bundle: ${inputs} modules in ${outputs.length} files, ${Math.round(bytes / 1024)} KiB (dist/services-bundle)`,
)
