/**
 * The compatibility matrix's vocabulary, shared by its driver (test/support/matrix-driver.ts, which
 * runs inside Azure in a box), its test (test/e2e/matrix.test.ts) and scripts/compatibility.mjs
 * (which turns the per-cell result files into docs/compatibility.md).
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ConfigForm } from './config-forms.js'
import { REPO_ROOT } from './paths.js'

export type MatrixAttestor = 'azure_msi' | 'azure_imds'
export const MATRIX_ATTESTORS: readonly MatrixAttestor[] = ['azure_msi', 'azure_imds']

/**
 * Who runs each side: `ours` is our plugin loaded by that SPIRE release, `upstream` the release's own
 * built-in plugin. `upstream-upstream` is a control (upstream's own pair on the same servers), run
 * for azure_imds only, to tell a refusal by upstream's server apart from one caused by our agent.
 */
export type MatrixPairing = 'ours-ours' | 'upstream-agent' | 'upstream-server' | 'upstream-upstream'

export const MATRIX_PAIRINGS: readonly {
  pairing: MatrixPairing
  agent: 'ours' | 'upstream'
  server: 'ours' | 'upstream'
  label: string
}[] = [
  { pairing: 'ours-ours', agent: 'ours', server: 'ours', label: 'our agent → our server' },
  {
    pairing: 'upstream-agent',
    agent: 'upstream',
    server: 'ours',
    label: 'upstream’s agent → our server',
  },
  {
    pairing: 'upstream-server',
    agent: 'ours',
    server: 'upstream',
    label: 'our agent → upstream’s server',
  },
  {
    pairing: 'upstream-upstream',
    agent: 'upstream',
    server: 'upstream',
    label: 'control: upstream’s agent → upstream’s server',
  },
]

export interface MatrixCellKey {
  version: string
  attestor: MatrixAttestor
  pairing: MatrixPairing
  form: ConfigForm
}

/** What the driver saw for one cell (one agent attesting to one server). */
export interface MatrixOutcome extends MatrixCellKey {
  ok: boolean
  spiffeId?: string
  selectors?: string[]
  /** The agent's error when the server refused it. */
  refusal?: string
  /** A harness failure (timeout, crash before any verdict). */
  error?: string
}

/** One cell as recorded for docs/compatibility.md. */
export interface MatrixCellResult extends MatrixCellKey {
  /** `pass`; `limited`: proven up to a step the release refuses for a reason given; `fail`; `skip`. */
  status: 'pass' | 'limited' | 'fail' | 'skip'
  /** The test file and the full name of the test that proves the cell. */
  file: string
  test: string
  /** Why the cell is skipped or limited, or the failure. */
  reason?: string
  /** Release-wide remark (e.g. a missing upstream fix). */
  note?: string
  /** The spire-server build the cell ran (`release`, or the TEST-ONLY `test-roots` build). */
  serverBuild: 'release' | 'test-roots'
  spiffeId?: string
  /** When the cell was recorded (docs/compatibility.md says which run it shows). */
  ranAt?: string
}

export const cellId = (k: MatrixCellKey): string =>
  `${k.version}_${k.attestor}_${k.pairing}_${k.form}`

/** Where the cells' JSON files go: SPIRE_AZURE_COMPAT_RESULTS, else .tmp/compat (git-ignored). */
export function matrixResultsDir(): string {
  return process.env.SPIRE_AZURE_COMPAT_RESULTS ?? join(REPO_ROOT, '.tmp', 'compat')
}

export function writeCellResult(r: MatrixCellResult, dir = matrixResultsDir()): void {
  mkdirSync(dir, { recursive: true })
  const cell = { ...r, ranAt: r.ranAt ?? new Date().toISOString() }
  writeFileSync(join(dir, `${cellId(r)}.json`), `${JSON.stringify(cell, null, 2)}\n`)
}
