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
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true })

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
})
cpSync(join(root, 'proto'), join(dist, 'proto'), { recursive: true })
removeStaleOutput(dist)

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const bundles = Object.entries(pkg.spireAzure?.bundles ?? {})
if (bundles.length > 0) {
  const { build } = await import('esbuild')
  mkdirSync(join(dist, 'bin'), { recursive: true })
  // the repo's package.json says "type": "module"; these extensionless bundles are CommonJS
  writeFileSync(join(dist, 'bin', 'package.json'), '{ "type": "commonjs" }\n')
  await Promise.all(
    bundles.map(async ([name, entry]) => {
      const source = join(root, entry)
      if (!existsSync(source)) {
        console.error(`build: bundle ${name}: ${entry} was not compiled; skipped`)
        return
      }
      const outfile = join(dist, 'bin', name)
      await build({
        entryPoints: [source],
        outfile,
        bundle: true,
        platform: 'node',
        target: 'node20',
        // CommonJS runs from an extensionless file wherever it is installed, with no package.json
        format: 'cjs',
        minifySyntax: true,
        minifyWhitespace: true,
        legalComments: 'none',
        logLevel: 'error',
        // Azure SDK modules stay lazy (dynamic import) inside the bundle, off the start-up path
        splitting: false,
      })
      chmodSync(outfile, 0o755)
    }),
  )
}

if (result.status !== 0) {
  console.error('build: tsc reported errors')
  process.exit(result.status ?? 1)
}

/** Deletes compiled files whose TypeScript source is gone, so a deleted test cannot keep running. */
function removeStaleOutput(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) {
      if (full !== join(dist, 'proto') && full !== join(dist, 'bin')) removeStaleOutput(full)
      continue
    }
    const m = /^(.*)\.js(\.map)?$/.exec(relative(dist, full))
    if (m && !existsSync(join(root, `${m[1]}.ts`))) rmSync(full, { force: true })
  }
}
