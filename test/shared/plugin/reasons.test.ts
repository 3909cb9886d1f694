// One spelling for failure reasons: the closed set, the docs table, and SPIRE's label sanitizer.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { FAILURE_REASONS, isFailureReason } from '../../../shared/plugin/index.js'
import { REPO_ROOT } from '../../support/paths.js'

const REASONS = Object.keys(FAILURE_REASONS)

test('every reason survives SPIRE’s label sanitizer unchanged (\\W+_? → _)', () => {
  for (const r of REASONS) assert.equal(r.replace(/\W+_?/g, '_'), r)
})

test('docs/failure-reasons.md lists exactly the set', () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'failure-reasons.md'), 'utf8')
  const listed = [...doc.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1])
  assert.deepEqual(listed.sort(), [...REASONS].sort())
})

test('every reason named in a plugin page is in the set', () => {
  for (const page of [
    'plugin_server_nodeattestor_azure_msi.md',
    'plugin_server_nodeattestor_azure_imds.md',
  ]) {
    const doc = readFileSync(join(REPO_ROOT, 'docs', page), 'utf8')
    const metricsRows = doc.split('\n').filter((l) => l.includes('.attest`'))
    for (const row of metricsRows) {
      for (const m of row.matchAll(/`([a-z]+(?:[_-][a-z0-9]+)+)`/g)) {
        if (m[1] === 'elapsed_ms') continue
        assert.ok(isFailureReason(m[1]!), `${page}: ${m[1]}`)
      }
    }
  }
})
