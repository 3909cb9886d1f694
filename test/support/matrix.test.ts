import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { CONFIG_FORMS } from './config-forms.js'
import {
  MATRIX_ATTESTORS,
  MATRIX_PAIRINGS,
  SCENARIO_SUBDIR,
  SCENARIO_TABLES,
  writeCellResult,
  type ScenarioCellResult,
} from './matrix.js'
import { REPO_ROOT } from './paths.js'
import { TESTED_SPIRE_VERSIONS } from './spire-versions.js'

/**
 * The cells behind docs/compatibility.md: recordCells writes each scenario cell from node:test's own
 * verdict on its test (a fixture suite run by `node --test`), and scripts/compatibility.mjs renders
 * every table and, with --check, fails while a cell has no result.
 */
const MATRIX_JS = join(fileURLToPath(new URL('.', import.meta.url)), 'matrix.js')
const SCRIPT = join(REPO_ROOT, 'scripts', 'compatibility.mjs')

describe('compatibility cells', () => {
  const work = mkdtempSync(join(tmpdir(), 'compat-cells-'))
  after(() => rmSync(work, { recursive: true, force: true }))

  const cellsIn = (dir: string): Map<string, ScenarioCellResult> =>
    new Map(
      readdirSync(join(dir, SCENARIO_SUBDIR)).map((n) => {
        const c = JSON.parse(
          readFileSync(join(dir, SCENARIO_SUBDIR, n), 'utf8'),
        ) as ScenarioCellResult
        return [c.row, c]
      }),
    )

  test('recordCells: pass only when the test passed, its failure, one that never ran; a skipped suite', () => {
    const results = join(work, 'fixture-results')
    const fixture = join(work, 'fixture.test.mjs')
    writeFileSync(
      fixture,
      `import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { cellsOf, recordCells, recordSkippedCells } from ${JSON.stringify(`file://${MATRIX_JS}`)}
const base = { table: 'ha', file: 'fixture.test.ts', version: '9.9.9' }
describe('suite', () => {
  recordCells(cellsOf(base, [
    ['passes', 'result', 'passes: '],
    ['fails', 'result', /^fails/],
    ['times-out', 'result', 'times out'],
  ]))
  test('passes: and says what it measured', (t) => { t.diagnostic('3 of 3') })
  test('fails on an assertion', () => { assert.equal(1, 2) })
  test('times out', { timeout: 50 }, () => new Promise((r) => setTimeout(r, 500)))
  test('is no cell', () => {})
})
describe('a suite whose hook fails', () => {
  recordCells(cellsOf(base, [['never-ran', 'result', 'never runs']]))
  before(() => { throw new Error('no server') })
  test('never runs', () => {})
})
recordSkippedCells(cellsOf(base, [['skipped', 'result', 'anything']]), {
  suite: 'skipped suite',
  reason: 'PostgreSQL is not installed',
})
describe('skipped suite', { skip: 'PostgreSQL is not installed' }, () => {})
`,
    )
    // without the runner's NODE_TEST_CONTEXT, which would make this run report to ours
    const { NODE_TEST_CONTEXT: _, ...env } = process.env
    const run = spawnSync(process.execPath, ['--test', fixture], {
      env: { ...env, SPIRE_AZURE_COMPAT_RESULTS: results },
      encoding: 'utf8',
    })
    assert.equal(run.status, 1, run.stdout) // two tests fail (and one is cancelled)
    const cells = cellsIn(results)
    assert.deepEqual([...cells.keys()].sort(), [
      'fails',
      'never-ran',
      'passes',
      'skipped',
      'times-out',
    ])
    const passes = cells.get('passes')!
    assert.equal(passes.status, 'pass')
    assert.equal(passes.test, 'suite > passes: and says what it measured')
    assert.equal(passes.detail, '3 of 3')
    assert.deepEqual(
      [passes.kind, passes.table, passes.column, passes.version, passes.file],
      ['scenario', 'ha', 'result', '9.9.9', 'fixture.test.ts'],
    )
    assert.equal(passes.reason, undefined)
    const fails = cells.get('fails')!
    assert.equal(fails.status, 'fail')
    assert.equal(fails.test, 'suite > fails on an assertion')
    assert.match(fails.reason!, /^Expected values to be strictly equal/)
    assert.equal(cells.get('times-out')!.status, 'fail')
    assert.match(cells.get('times-out')!.reason!, /timed out/)
    assert.equal(cells.get('never-ran')!.status, 'fail')
    assert.match(cells.get('never-ran')!.reason!, /did not run/)
    const skipped = cells.get('skipped')!
    assert.deepEqual(
      [skipped.status, skipped.test, skipped.reason],
      ['skip', 'skipped suite', 'PostgreSQL is not installed'],
    )
  })

  test('compatibility.mjs renders every table; --check fails while a cell has no result', () => {
    const results = join(work, 'all')
    const out = join(work, 'compatibility.md')
    const base = { file: 'test/e2e/x.test.ts', test: 'x', ranAt: '2026-12-02T00:00:00.000Z' }
    for (const r of TESTED_SPIRE_VERSIONS)
      for (const attestor of MATRIX_ATTESTORS)
        for (const p of MATRIX_PAIRINGS)
          for (const form of CONFIG_FORMS)
            writeCellResult(
              {
                ...base,
                version: r.version,
                attestor,
                pairing: p.pairing,
                form,
                status: 'pass',
                serverBuild: 'release',
              },
              results,
            )
    for (const t of SCENARIO_TABLES)
      for (const row of t.rows)
        for (const col of t.columns)
          writeCellResult(
            {
              ...base,
              kind: 'scenario',
              table: t.table,
              row: row.id,
              column: col.id,
              version: '1.15.3',
              status: row.id === 'race' ? 'fail' : 'pass',
              ...(row.id === 'race' ? { reason: 'a datastore error' } : {}),
            },
            results,
          )
    const script = (...args: string[]) =>
      spawnSync(process.execPath, [SCRIPT, '--results', results, '--out', out, ...args], {
        encoding: 'utf8',
      })
    const wrote = script()
    assert.equal(wrote.status, 0, wrote.stderr)
    const doc = readFileSync(out, 'utf8')
    for (const t of SCENARIO_TABLES) assert.ok(doc.includes(`\n## ${t.title}\n`), t.title)
    assert.ok(!doc.includes('no result in this run'))
    assert.match(
      doc,
      /\| note: one identity .* \| ❌ FAILS on v1\.15\.3 \[\(\d+\)\]\(#why-\d+\) \|/,
    )
    assert.match(doc, /<a id="why-\d+"><\/a>\*\*\(\d+\)\*\* a datastore error\./)
    assert.match(doc, /\| reload by SIGUSR1 \| n\/a: SIGUSR1 re-reads only `plugin_data_file`/)
    assert.equal(script('--check').status, 0)

    rmSync(join(results, SCENARIO_SUBDIR, 'scenario_node_24_cli.json'))
    const check = script('--check')
    assert.equal(check.status, 1)
    assert.match(check.stderr, /1 cells have no result \(node: Node 24 × `spire-azure` validate/)
  })
})
