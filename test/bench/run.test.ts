// `npm run bench` writes its figures as JSON and leaves every tracked file alone unless asked.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../support/paths.js'

const dir = mkdtempSync(join(tmpdir(), 'bench-test-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const digest = (file: string): string =>
  createHash('sha256').update(readFileSync(file)).digest('hex')

test('npm run bench writes JSON results and does not rewrite docs/performance.md', () => {
  const doc = join(REPO_ROOT, 'docs', 'performance.md')
  const before = digest(doc)
  const out = join(dir, 'bench.json')
  const r = spawnSync(
    'npm',
    ['run', '--silent', 'bench', '--', '--runs', '1', '--attest-runs', '2', '--out', out],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 },
  )
  assert.equal(r.status, 0, r.stderr)
  assert.equal(digest(doc), before, 'docs/performance.md is only written with --write-docs')
  const json = JSON.parse(readFileSync(out, 'utf8')) as {
    command: string
    machine: { cpus: number; node: string }
    runs: number
    startup: { plugin: string; cpuMsMedian: number }[]
    attest: { runs: number; results: { label: string }[] }
  }
  assert.equal(json.runs, 1)
  assert.equal(json.machine.node, process.version)
  assert.equal(json.startup.length, 6)
  assert.ok(json.startup.every((s) => s.cpuMsMedian > 0))
  assert.equal(json.attest.runs, 2)
  assert.ok(json.attest.results.length >= 2)
  assert.match(r.stdout, /\| plugin \| cold start wall/)
  assert.match(r.stderr, /bench: results written to /)
})
