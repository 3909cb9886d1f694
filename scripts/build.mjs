#!/usr/bin/env node
// Compiles the TypeScript tree to dist/, copies the wire contracts beside it, and bundles every plugin
// executable into one self-contained file in dist/bin/ (shebang, mode 0755). SPIRE runs plugin_cmd
// directly (no PATH lookup, no interpreter argument), and a single file is what plugin_checksum covers.
import { spawnSync } from 'node:child_process'
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { brotliCompressSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { wrapCommonJsBundle } from './bundle-wrapper.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true })

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
})
cpSync(join(root, 'proto'), join(dist, 'proto'), { recursive: true })
removeStaleOutput(dist)

/** What every esbuild output shares: one minified CommonJS file for Node. */
const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifySyntax: true,
  minifyWhitespace: true,
  legalComments: 'none',
  logLevel: 'error',
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
// dist/bin holds only what ships (package.json `bin`); test-only executables go to dist/test-bin
const bundles = [
  ...Object.entries(pkg.spireAzure?.bundles ?? {}).map(([name, entry]) => [name, entry, 'bin']),
  ...Object.entries(pkg.spireAzure?.testBundles ?? {}).map(([name, entry]) => [
    name,
    entry,
    'test-bin',
  ]),
]
const lazyPackages = pkg.spireAzure?.lazy ?? []
if (bundles.length > 0) {
  const { build } = await import('esbuild')
  const lazyPlugin = await createLazyPlugin(build, lazyPackages)
  for (const dir of ['bin', 'test-bin']) {
    rmSync(join(dist, dir), { recursive: true, force: true })
    mkdirSync(join(dist, dir), { recursive: true })
  }
  await Promise.all(
    bundles.map(async ([name, entry, dir]) => {
      const source = join(root, entry)
      if (!existsSync(source)) {
        console.error(`build: bundle ${name}: ${entry} was not compiled; skipped`)
        return
      }
      const outfile = join(dist, dir, name)
      // CommonJS inside a wrapper that also runs as an ES module (scripts/bundle-wrapper.mjs), so
      // the extensionless file runs wherever it is installed, whatever package.json is above it
      await build({ ...BUNDLE_OPTIONS, entryPoints: [source], outfile, plugins: [lazyPlugin] })
      writeFileSync(outfile, wrapCommonJsBundle(readFileSync(outfile, 'utf8')))
      chmodSync(outfile, 0o755)
    }),
  )
}

if (result.status !== 0) {
  console.error('build: tsc reported errors')
  process.exit(result.status ?? 1)
}

/**
 * Heavy packages (Azure SDKs, pkijs, …) are imported with `await import()` after the handshake, yet V8
 * still pre-parses every function of a bundle at start-up. Each listed package is therefore bundled on
 * its own and embedded in the plugin file as a string, compiled on first require: the plugin stays one
 * file (plugin_checksum covers all of it) and start-up only scans the string.
 */
async function createLazyPlugin(build, packages) {
  const chunks = new Map()
  for (const name of packages) {
    const out = await build({
      // the other lazy packages stay shared single copies (pkijs and asn1js must agree on classes)
      external: packages.filter((p) => p !== name),
      stdin: { contents: `module.exports = require(${JSON.stringify(name)})`, resolveDir: root },
      ...BUNDLE_OPTIONS,
      write: false,
      metafile: true,
    })
    const imports = Object.values(out.metafile.outputs).flatMap((o) => o.imports)
    const needs = [
      ...new Set(imports.filter((i) => i.external && packages.includes(i.path)).map((i) => i.path)),
    ]
    // brotli + base64: V8 scans a fifth of the bytes at start-up; inflating on first use is cheap
    const packed = brotliCompressSync(Buffer.from(out.outputFiles[0].text)).toString('base64')
    chunks.set(name, { packed, needs })
  }
  const filter = new RegExp(
    `^(${packages.map((p) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})$`,
  )
  return {
    name: 'lazy-chunks',
    setup(b) {
      if (packages.length === 0) return
      b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'lazy-chunk' }))
      b.onResolve({ filter: /^lazy-chunk-runtime$/ }, () => ({
        path: 'runtime',
        namespace: 'lazy-chunk-runtime',
      }))
      b.onLoad({ filter: /.*/, namespace: 'lazy-chunk-runtime' }, () => ({
        contents: lazyRuntime(),
        loader: 'js',
      }))
      b.onLoad({ filter: /.*/, namespace: 'lazy-chunk' }, (args) => {
        const chunk = chunks.get(args.path)
        // only the lazy packages this chunk really requires are pulled into the plugin file
        const cases = chunk.needs.map(
          (p) => `case ${JSON.stringify(p)}: return require(${JSON.stringify(p)})`,
        )
        return {
          contents: [
            `const load = require('lazy-chunk-runtime')`,
            `const chunkRequire = (id) => { switch (id) { ${[...cases, 'default: return require(id)'].join('; ')} } }`,
            `module.exports = load(${JSON.stringify(args.path)}, ${JSON.stringify(chunk.packed)}, chunkRequire)`,
          ].join('\n'),
          loader: 'js',
        }
      })
    },
  }
}

function lazyRuntime() {
  return `
const vm = require('node:vm')
const { brotliDecompressSync } = require('node:zlib')
module.exports = function loadChunk(name, packed, chunkRequire) {
  const source = brotliDecompressSync(Buffer.from(packed, 'base64')).toString('utf8')
  const wrapper = vm.runInThisContext(
    '(function (exports, require, module, __filename, __dirname) {' + source + '\\n})',
    { filename: __filename + ' [' + name + ']' },
  )
  const mod = { exports: {} }
  wrapper.call(mod.exports, mod.exports, chunkRequire, mod, __filename, __dirname)
  return mod.exports
}
`
}

/** Deletes compiled files whose TypeScript source is gone, so a deleted test cannot keep running. */
function removeStaleOutput(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (![join(dist, 'proto'), join(dist, 'bin'), join(dist, 'test-bin')].includes(full))
        removeStaleOutput(full)
      continue
    }
    const m = /^(.*)\.js(\.map)?$/.exec(relative(dist, full))
    if (m && !existsSync(join(root, `${m[1]}.ts`))) rmSync(full, { force: true })
  }
}
