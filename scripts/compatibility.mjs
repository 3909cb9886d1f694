#!/usr/bin/env node
// Writes docs/compatibility.md from the tests' results: one JSON file per cell (format: CellResult in
// test/support/matrix.ts). The matrix's cells, written by test/e2e/matrix.test.ts, say per SPIRE
// release, attestor, pairing and server config form whether the cell passed; the scenario cells, in
// the results' scenarios/ folder, are written by test/e2e/node-versions.test.ts (Node.js lines),
// ha.test.ts (HA on PostgreSQL), azure-imds-reattest.test.ts (re-attestation) and config-forms.test.ts
// (validate and reload) from each test's own verdict. Every cell names the test that proves it and the
// SPIRE release it ran; a cell that could not be proven says why. Run the tests first, then this:
//
//   npm run build && npm test -- test/e2e/matrix test/e2e/node-versions test/e2e/ha.test \
//     test/e2e/azure-imds-reattest test/e2e/config-forms && npm run compatibility
//
//   --results DIR   where the cells are (default $SPIRE_AZURE_COMPAT_RESULTS, else .tmp/compat)
//   --out FILE      default docs/compatibility.md
//   --check         exit 1 if a cell has no result or FILE differs from what would be written
//                   (nothing written)
//
// The tested and untestable releases come from dist/test/support/spire-versions.js, the scenario
// tables (rows, checks, cells that are not tests) from dist/test/support/matrix.js (npm run build).
// Exit codes: 0 written (or up to date); 1 no results, a cell missing, or --check found a difference;
// 2 usage.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

function parseArgs(argv) {
  const o = {
    results: process.env.SPIRE_AZURE_COMPAT_RESULTS ?? join(ROOT, '.tmp', 'compat'),
    out: join(ROOT, 'docs', 'compatibility.md'),
    check: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--results') o.results = argv[++i]
    else if (a === '--out') o.out = argv[++i]
    else if (a === '--check') o.check = true
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node scripts/compatibility.mjs [--results DIR] [--out FILE] [--check]\n',
      )
      process.exit(0)
    } else {
      process.stderr.write(`compatibility: unknown option ${a}\n`)
      process.exit(2)
    }
  }
  if (!o.results || !o.out) {
    process.stderr.write('compatibility: --results and --out need a value\n')
    process.exit(2)
  }
  return o
}

const ATTESTORS = ['azure_msi', 'azure_imds']
const FORMS = ['hcl', 'json', 'plugin_data_file']
const FORM_LABEL = { hcl: 'HCL', json: 'JSON', plugin_data_file: '`plugin_data_file`' }
const PAIRINGS = [
  ['ours-ours', 'our agent → our server'],
  ['upstream-agent', 'upstream’s agent → our server'],
  ['upstream-server', 'our agent → upstream’s server'],
  ['upstream-upstream', 'control: upstream’s agent → upstream’s server'],
]
const MARK = { pass: '✅', limited: '⚠️', fail: '❌', skip: '⏭️' }
const WORD = { pass: 'passes', limited: 'limited', fail: 'FAILS', skip: 'not run' }

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ')

function load(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')))
}

const testOf = (c) => `\`${c.file}\` › ${esc(c.test)}`

/**
 * One section per scenario table (test/support/matrix.ts SCENARIO_TABLES): a grid of marks where the
 * table has several checks, then one line per cell naming its test and SPIRE release. Reasons are
 * numbered after the matrix's (`next`: the first free number). Returns the cells with no result.
 */
function renderScenarios(out, scenarios, tables, next) {
  const missing = []
  let n = next
  for (const spec of tables) {
    const find = (row, column) =>
      scenarios.find((c) => c.table === spec.table && c.row === row && c.column === column)
    const na = (row, column) =>
      (spec.notApplicable ?? []).find((x) => x.row === row && x.column === column)
    const notes = new Map()
    const ref = (c) => {
      if (c.status === 'pass' || !c.reason) return ''
      if (!notes.has(c.reason)) notes.set(c.reason, n++)
      const k = notes.get(c.reason)
      return ` [(${k})](#why-${k})`
    }
    // what a Node row ran on (its cells' first detail: the exact version)
    const ranOn = (row) =>
      spec.columns
        .map((col) => find(row, col.id)?.detail?.split('; ')[0])
        .find((d) => d !== undefined)
    out(`## ${spec.title}`)
    out()
    out(spec.intro)
    out()
    if (spec.columns.length > 1) {
      out(`| ${spec.rowHeader} | ${spec.columns.map((col) => col.label).join(' | ')} |`)
      out(`|---|${spec.columns.map(() => '---').join('|')}|`)
      for (const row of spec.rows) {
        const detail = spec.table === 'node' ? ranOn(row.id) : undefined
        const marks = spec.columns.map((col) => {
          if (na(row.id, col.id)) return 'n/a'
          const c = find(row.id, col.id)
          return c === undefined ? '—' : `${MARK[c.status]}${ref(c)}`
        })
        out(`| ${row.label}${detail ? ` (${detail})` : ''} | ${marks.join(' | ')} |`)
      }
      out()
    }
    const many = spec.columns.length > 1
    const measured = scenarios.some(
      (c) => c.table === spec.table && c.detail && spec.table !== 'node',
    )
    const head = [spec.rowHeader, ...(many ? ['check'] : []), 'result']
    if (measured) head.push('what the run saw')
    head.push('proven by (file › test)')
    out(`| ${head.join(' | ')} |`)
    out(`|${head.map(() => '---').join('|')}|`)
    for (const row of spec.rows) {
      for (const col of spec.columns) {
        const lead = many ? `| ${row.label} | ${col.label} |` : `| ${row.label} |`
        const skip = na(row.id, col.id)
        if (skip) {
          out(`${lead} n/a: ${esc(skip.why)} |${measured ? ' |' : ''} — |`)
          continue
        }
        const c = find(row.id, col.id)
        if (c === undefined) {
          missing.push(`${spec.table}: ${row.label} × ${col.label}`)
          out(`${lead} — |${measured ? ' |' : ''} no result in this run |`)
          continue
        }
        const seen = measured ? (c.detail ? ` ${esc(c.detail)} |` : ' |') : ''
        out(
          `${lead} ${MARK[c.status]} ${WORD[c.status]} on v${c.version}${ref(c)} |${seen} ${testOf(c)} |`,
        )
      }
    }
    out()
    for (const [reason, k] of notes) out(`- <a id="why-${k}"></a>**(${k})** ${esc(reason)}.`)
    if (notes.size > 0) out()
  }
  return missing
}

function render(all, versions, untestable, tables) {
  const cells = all.filter((c) => c.kind !== 'scenario')
  const scenarios = all.filter((c) => c.kind === 'scenario')
  const at = (v, a, p, f) =>
    cells.find((c) => c.version === v && c.attestor === a && c.pairing === p && c.form === f)
  // every distinct reason (skip, limit, failure) is written once, numbered; the cells point to it
  const notes = new Map()
  for (const c of cells) {
    if (c.status !== 'pass' && c.reason && !notes.has(c.reason)) notes.set(c.reason, notes.size + 1)
  }
  const ref = (c) =>
    notes.has(c.reason) ? ` [(${notes.get(c.reason)})](#why-${notes.get(c.reason)})` : ''
  const lines = []
  const out = (s = '') => lines.push(s)
  const ranAt = all
    .map((c) => c.ranAt)
    .filter(Boolean)
    .sort()
    .at(-1)
  out('# Compatibility: SPIRE releases, Node.js versions, HA and re-attestation')
  out()
  out(
    '<!-- Generated by scripts/compatibility.mjs (npm run compatibility) from the results of ' +
      'test/e2e/matrix.test.ts, node-versions.test.ts, ha.test.ts, azure-imds-reattest.test.ts and ' +
      'config-forms.test.ts; do not edit by hand. -->',
  )
  out()
  out(
    `Every cell of the release matrix below is a real attestation with real SPIRE binaries of that release (built from the Go ` +
      `module proxy by \`scripts/install-spire.sh\`), run by \`npm test\` inside Azure in a box ` +
      `(\`scripts/azure-in-a-box.sh\`: a private network namespace where 169.254.169.254 and Azure's ` +
      `host names are the Azure emulator, so every plugin runs on production URLs with no endpoint ` +
      `overrides). Regenerated from the run of ${ranAt === undefined ? '(unknown)' : ranAt.slice(0, 10)}.`,
  )
  out()
  out(
    '- **our agent / our server**: this project’s plugin, loaded by that release’s `spire-agent` / `spire-server`.',
  )
  out('- **upstream’s agent / server**: the release’s own built-in `azure_msi` or `azure_imds`.')
  out(
    '- **server config form**: the server’s config written as HCL, as SPIRE’s JSON form, or as HCL whose ' +
      'NodeAttestors read their data from `plugin_data_file` (the agent’s config is HCL).',
  )
  out(
    '- **upstream’s `azure_imds` server** pins Microsoft’s real document roots, which the emulator cannot ' +
      'sign with (it makes a new PKI on every start). Those cells run the same release built with one ' +
      'TEST-ONLY patch, [`scripts/patches/spire-azureimds-extra-roots.patch`](../scripts/patches/spire-azureimds-extra-roots.patch) ' +
      '(`scripts/install-spire.sh VERSION test-roots`): it adds one file that appends the PEM roots named by ' +
      '`SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS` to the pinned ones and changes no upstream line, so the cell tests ' +
      'the wire, the payload and every other upstream check rather than the roots. Each release’s upstream ' +
      'server runs both built-ins from that one build (its `azure_msi` is as released). The control row ' +
      '(upstream’s own agent to that build) shows what the release itself does with the emulator’s documents.',
  )
  out()
  out(
    '✅ passes · ⚠️ proven up to a step the release refuses, for the reason given · ❌ fails · ⏭️ not run (reason given)',
  )
  out()
  out(
    `Further down: ${tables.map((t) => `[${t.title}](#${anchor(t.title)})`).join(', ')}. ` +
      'Those run real SPIRE binaries (of the release each cell names) against the Azure emulator on ' +
      'loopback (the plugins’ ' +
      'endpoint settings point at it), and each of their cells is one test’s own verdict ' +
      '(`recordCells` in test/support/matrix.ts): it passes only when that test’s assertions passed.',
  )
  out()

  out('## Summary')
  out()
  out(`| SPIRE | attestor | pairing | ${FORMS.map((f) => FORM_LABEL[f]).join(' | ')} |`)
  out(`|---|---|---|${FORMS.map(() => '---').join('|')}|`)
  for (const r of versions) {
    for (const a of ATTESTORS) {
      for (const [p, label] of PAIRINGS) {
        if (p === 'upstream-upstream' && a !== 'azure_imds') continue
        const marks = FORMS.map((f) => {
          const c = at(r.version, a, p, f)
          return c === undefined ? '—' : `${MARK[c.status]}${ref(c)}`
        })
        out(`| v${r.version} | \`${a}\` | ${label} | ${marks.join(' | ')} |`)
      }
    }
  }
  for (const u of untestable) {
    out(`| v${u.version} | — | not testable (below) | ${FORMS.map(() => '—').join(' | ')} |`)
  }
  out()
  for (const r of versions.filter((v) => v.note)) out(`- **v${r.version}**: ${r.note}.`)
  for (const [reason, n] of notes) out(`- <a id="why-${n}"></a>**(${n})** ${esc(reason)}.`)
  out()

  for (const r of versions) {
    out(`## SPIRE v${r.version}`)
    out()
    if (r.note) {
      out(`> **Note.** v${r.version}: ${r.note}.`)
      out()
    }
    out('| attestor | pairing | server config | result | proven by (test/e2e/matrix.test.ts) |')
    out('|---|---|---|---|---|')
    for (const a of ATTESTORS) {
      for (const [p, label] of PAIRINGS) {
        if (p === 'upstream-upstream' && a !== 'azure_imds') continue
        for (const f of FORMS) {
          const c = at(r.version, a, p, f)
          if (c === undefined) {
            out(`| \`${a}\` | ${label} | ${FORM_LABEL[f]} | — | no result in this run |`)
            continue
          }
          const build = c.serverBuild === 'test-roots' ? ' (server: test-roots build)' : ''
          out(
            `| \`${a}\` | ${label} | ${FORM_LABEL[f]} | ${MARK[c.status]} ${WORD[c.status]} on v${c.version}${build}${ref(c)} | ${esc(c.test)} |`,
          )
        }
      }
    }
    out()
  }

  const missing = renderScenarios(out, scenarios, tables, notes.size + 1)

  if (untestable.length > 0) {
    out('## Releases that cannot be tested')
    out()
    for (const u of untestable) out(`- **v${u.version}**: ${u.why}`)
    out()
  }
  out('## Adding a release')
  out()
  out(
    'Add one line to `TESTED_SPIRE_VERSIONS` in `test/support/spire-versions.ts`, then run ' +
      '`npm run build && npm test -- test/e2e/matrix && npm run compatibility`. The first run builds the ' +
      'release and its test-roots `spire-server` (one Go build at a time; measured on 2 cores: a release ' +
      'whose dependencies are not yet in the Go build cache about 14 minutes, a test-roots build of a built ' +
      'release or a rebuild with a warm cache 1–2 minutes).',
  )
  out()
  return { text: `${lines.join('\n')}\n`, missingScenarios: missing }
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
const anchor = (title) =>
  title
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-')

async function main() {
  const o = parseArgs(process.argv.slice(2))
  const versionsJs = join(ROOT, 'dist', 'test', 'support', 'spire-versions.js')
  if (!existsSync(versionsJs)) {
    process.stderr.write('compatibility: dist/ is missing; run npm run build\n')
    process.exit(1)
  }
  const { TESTED_SPIRE_VERSIONS, UNTESTABLE_SPIRE_VERSIONS } = await import(
    pathToFileURL(versionsJs).href
  )
  const { SCENARIO_TABLES, SCENARIO_SUBDIR } = await import(
    pathToFileURL(join(ROOT, 'dist', 'test', 'support', 'matrix.js')).href
  )
  if (SCENARIO_TABLES === undefined) {
    process.stderr.write('compatibility: dist/ is out of date; run npm run build\n')
    process.exit(1)
  }
  const cells = [...load(o.results), ...load(join(o.results, SCENARIO_SUBDIR))]
  if (cells.length === 0) {
    process.stderr.write(
      `compatibility: no results in ${relative(ROOT, o.results) || o.results}; run npm test -- test/e2e/matrix\n`,
    )
    process.exit(1)
  }
  const { text, missingScenarios } = render(
    cells,
    TESTED_SPIRE_VERSIONS,
    UNTESTABLE_SPIRE_VERSIONS,
    SCENARIO_TABLES,
  )
  const missing = text.split('\n').filter((l) => l.includes('no result in this run')).length
  if (o.check) {
    if (missing > 0) {
      process.stderr.write(
        `compatibility: ${missing} cells have no result` +
          (missingScenarios.length > 0 ? ` (${missingScenarios.join('; ')})` : '') +
          '\n',
      )
      process.exit(1)
    }
    const now = existsSync(o.out) ? readFileSync(o.out, 'utf8') : ''
    if (now !== text) {
      process.stderr.write(`compatibility: ${relative(ROOT, o.out)} is out of date\n`)
      process.exit(1)
    }
    return
  }
  writeFileSync(o.out, text)
  const count = (s) => cells.filter((c) => c.status === s).length
  process.stdout.write(
    `compatibility: wrote ${relative(ROOT, o.out)}: ${cells.length} cells (${count('pass')} pass, ` +
      `${count('limited')} limited, ${count('fail')} fail, ${count('skip')} skipped)\n`,
  )
  if (missing > 0) {
    process.stderr.write(`compatibility: ${missing} cells have no result\n`)
    process.exit(1)
  }
}

await main()
