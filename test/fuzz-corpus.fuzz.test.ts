// Replays the fuzz regression corpus (test/fixtures/fuzz-corpus/<target>/, README.md there) through
// each target: every file must still end in a result or one of the target's typed errors.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  corpusFiles,
  describeFindings,
  FUZZ_TARGET_NAMES,
  replayIsolated,
  runFuzzIsolated,
} from './support/fuzz.js'

for (const target of FUZZ_TARGET_NAMES) {
  const files = corpusFiles(target)
  test(`fuzz corpus ${target}: ${files.length} saved inputs each end in a result or a typed error`, async () => {
    const { results, findings } = await replayIsolated(target, files)
    assert.equal(findings.length, 0, describeFindings(findings))
    assert.equal(results.length, files.length)
    const bad = results.filter(
      (r) => r.outcome.kind === 'untyped' || r.outcome.kind === 'oversized',
    )
    assert.deepEqual(
      bad.map((r) => `${r.file}: ${JSON.stringify(r.outcome)}`),
      [],
    )
  })
}

// The harness itself: a parser that hangs, exhausts the heap or leaves a rejection unhandled is
// reported as a finding with the input it was running (not a stuck or crashed test run).
test('fuzz harness: a hang is a finding with its input (watchdog of 1 s without progress)', async () => {
  const report = await runFuzzIsolated(
    { target: 'der', runs: 5, seed: 1, simulate: 'hang' },
    { stallMs: 1000 },
  )
  assert.deepEqual(
    report.findings.map((f) => f.kind),
    ['hang'],
  )
  const [hang] = report.findings
  assert.equal(Buffer.from(hang!.inputBase64, 'base64').length, hang!.inputBytes)
})

test('fuzz harness: a heap blow-up is a memory finding', async () => {
  const report = await runFuzzIsolated(
    { target: 'der', runs: 5, seed: 1, simulate: 'memory' },
    { maxHeapMb: 32 },
  )
  assert.deepEqual(
    report.findings.map((f) => f.kind),
    ['memory'],
  )
})

test('fuzz harness: an unhandled rejection is a finding', async () => {
  const report = await runFuzzIsolated({
    target: 'der',
    runs: 1,
    seed: 1,
    simulate: 'unhandled-rejection',
  })
  assert.deepEqual(
    report.findings.map((f) => [f.kind, f.message]),
    [['unhandled-rejection', 'Error: simulated unhandled rejection']],
  )
})
