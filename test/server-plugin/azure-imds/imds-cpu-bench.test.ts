// bench/imds-cpu.ts keeps running: its in-process mode, a few calls, writes the JSON it documents.
// (No timing is asserted; the figures belong to bench/results and the performance docs.)
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { REPO_ROOT } from '../../support/paths.js'

const dir = mkdtempSync(join(tmpdir(), 'imds-cpu-bench-'))
after(() => rmSync(dir, { recursive: true, force: true }))

test('bench/imds-cpu.js inproc runs the attestor and writes its JSON', () => {
  const out = join(dir, 'inproc.json')
  const r = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'dist/bench/imds-cpu.js'),
      'inproc',
      '--count',
      '5',
      '--warmup',
      '1',
      '--out',
      out,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8', timeout: 120_000 },
  )
  assert.equal(r.status, 0, r.stderr)
  const json = JSON.parse(readFileSync(out, 'utf8')) as {
    mode: string
    machine: { node: string }
    result: { count: number; cpuMsPerAttestation: number; cryptoFloorMs: number }
  }
  assert.equal(json.mode, 'inproc')
  assert.equal(json.machine.node, process.version)
  assert.equal(json.result.count, 5)
  assert.ok(json.result.cpuMsPerAttestation > 0)
  assert.ok(json.result.cryptoFloorMs > 0)
})
