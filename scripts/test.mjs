#!/usr/bin/env node
// Runs every compiled test file under dist/test with node's built-in runner.
// Usage: npm test [-- <substring filter on the test file path> ...]
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const testDir = join(root, 'dist', 'test')
if (!existsSync(testDir)) {
  console.error('test: dist/test is missing; run `npm run build` first')
  process.exit(1)
}
const files = []
const walk = (dir) => {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name)
    if (entry.isDirectory()) walk(full)
    else if (entry.name.endsWith('.test.js')) files.push(full)
  }
}
walk(testDir)
const filters = process.argv.slice(2)
const selected = files
  .filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)))
  .sort()
if (selected.length === 0) {
  console.error('test: no test files selected')
  process.exit(1)
}
const reporter = process.env.TEST_REPORTER ?? 'spec'
const result = spawnSync(
  process.execPath,
  ['--test', `--test-reporter=${reporter}`, '--test-concurrency=2', ...selected],
  { stdio: 'inherit', cwd: root },
)
process.exit(result.status ?? 1)
