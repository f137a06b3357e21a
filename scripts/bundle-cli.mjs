// Bundles the CLI into dist/cli/ (run by `npm run build` after tsc). Node's module loaders cost
// about a millisecond per file at start; the unbundled CLI loads ~40 of ours and its pure-JS
// dependencies for `qvacd status`. Here our code and those dependencies become one entry file plus
// one chunk per lazily imported command (code splitting keeps `start`, `bench`, … out of `--help`).
// What stays external: the optional peer dependencies (loaded only by the commands that need them,
// and the embedding project's own copies), packages with native addons (they find their binaries
// from their own directory) and the rest of the Holepunch stack (hyperdht, hypercore-crypto, …: one
// copy, shared with the peers). The bundled ones are pure JS and keep no state across copies;
// protomux, which the peers also load, finds a stream's existing mux by its `isProtomux` flag, not
// by class, so a bundled and an external copy share one mux per connection.
import fs from 'node:fs'
import path from 'node:path'
import { build } from 'esbuild'

const root = path.join(import.meta.dirname, '..')
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))

/** Bundled: the pure-JS dependencies the light commands load (status, ps, list, …). */
const BUNDLED = new Set([
  'commander',
  'compact-encoding',
  'protomux-rpc',
  'protomux',
  'framed-stream',
  'ready-resource',
  'b4a',
  'safety-catch',
  'queue-tick',
  'bare-events',
  'streamx',
  'fast-fifo',
  'text-decoder',
  'events-universal',
  'hypercore-id-encoding',
  'z32',
  'unslab',
  'compact-encoding-bitfield',
  'bits-to-bytes'
])

/** Everything in node_modules is external unless listed above. */
const externalize = {
  name: 'externalize',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:')) return { external: true }
      const name = args.path.startsWith('@') ? args.path.split('/').slice(0, 2).join('/') : args.path.split('/')[0]
      if (BUNDLED.has(name) && !(name in (pkg.peerDependencies ?? {}))) return undefined
      return { external: true }
    })
  }
}

const outdir = path.join(root, 'dist', 'cli')
fs.rmSync(outdir, { recursive: true, force: true })
const result = await build({
  entryPoints: { qvacd: path.join(root, 'bin', 'qvacd.ts') },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  // Bundled CommonJS modules call require() for Node built-ins; ESM output has no require of its own.
  banner: { js: "import { createRequire as __qvacdRequire } from 'node:module'; const require = __qvacdRequire(import.meta.url);" },
  plugins: [externalize]
})
const files = Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js'))
const inputs = Object.keys(result.metafile.inputs).length
console.log(`bundle-cli: ${inputs} modules into ${files.length} files in dist/cli`)
