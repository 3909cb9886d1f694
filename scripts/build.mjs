#!/usr/bin/env node
// Compiles the TypeScript tree to dist/, copies the wire contracts beside it and marks the plugin
// entry points executable (SPIRE runs plugin_cmd directly: no PATH lookup, no interpreter argument).
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, existsSync, readFileSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
if (process.argv.includes('--clean')) rmSync(dist, { recursive: true, force: true })

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], {
  stdio: 'inherit',
})
cpSync(join(root, 'proto'), join(dist, 'proto'), { recursive: true })

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const entryPoints = [...Object.values(pkg.bin ?? {}), ...(pkg.spireAzure?.executables ?? [])]
for (const rel of entryPoints) {
  const file = join(root, rel)
  if (existsSync(file)) chmodSync(file, 0o755)
}
if (result.status !== 0) {
  console.error('build: tsc reported errors')
  process.exit(result.status ?? 1)
}
