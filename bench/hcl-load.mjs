#!/usr/bin/env node
// HCL parser candidates for shared/go/hcl (docs/hcl-config.md): the median cost of loading each one
// (`import()` in a fresh process) and how many cases of the HCL fixture corpus each gets right.
//
// Usage: npm run build && node bench/hcl-load.mjs [--runs 21] [--candidates DIR]
// The npm candidates are not project dependencies. Install them outside the repo and pass that
// folder: `mkdir /tmp/hcl-eval && cd /tmp/hcl-eval && npm init -y && npm i js-hcl-parser hcl2-parser`.
// Candidates that are not installed are skipped.
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isDeepStrictEqual, parseArgs } from 'node:util'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '21' },
    candidates: { type: 'string', default: '/tmp/hcl-eval' },
  },
})
const RUNS = Number(args.runs)
const FIXTURES = join(ROOT, 'test', 'fixtures', 'hcl')

/** Each candidate: where its module is, and a parse function giving plain trees or throwing. */
async function loadCandidates() {
  const out = []
  const own = join(ROOT, 'dist', 'shared', 'go', 'hcl', 'index.js')
  if (!existsSync(own))
    throw new Error('dist/shared/go/hcl/index.js is missing: run `npm run build`')
  const { parseHcl } = await import(pathToFileURL(own).href)
  out.push({ name: 'own parser (shared/go/hcl)', file: own, parse: (text) => parseHcl(text) })

  const requireFrom = createRequire(join(args.candidates, 'package.json'))
  const resolve = (name) => {
    try {
      return requireFrom.resolve(name)
    } catch {
      return undefined
    }
  }
  const jsHcl = resolve('js-hcl-parser')
  if (jsHcl !== undefined) {
    const lib = requireFrom('js-hcl-parser')
    out.push({
      name: 'js-hcl-parser',
      file: jsHcl,
      // GopherJS build of Go HCL v1: hcl.Unmarshal into interface{}, returned as a JSON string;
      // errors come back as a string, not thrown
      parse: (text) => {
        const result = lib.parse(text)
        if (result.startsWith('unable to ')) throw new Error(result)
        return normaliseGeneric(JSON.parse(result))
      },
    })
  }
  const hcl2 = resolve('hcl2-parser')
  if (hcl2 !== undefined) {
    const lib = requireFrom('hcl2-parser')
    out.push({
      name: 'hcl2-parser',
      file: hcl2,
      parse: (text) => {
        const [result, err] = lib.parseToObject(text)
        if (err) throw new Error(String(err))
        return normaliseGeneric(result)
      },
    })
  }
  return out
}

/**
 * Generic HCL decoders return every object or block as a list of objects and nest one list per
 * label. This applies the corpus's normalisation: such lists are merged into one object (objects
 * merge, lists concatenate, scalars: last wins). Other lists stay lists.
 */
function normaliseGeneric(value) {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every(isPlainObject)) {
      return normaliseGeneric(value.reduce((acc, obj) => mergeInto(acc, obj), {}))
    }
    return value.map(normaliseGeneric)
  }
  if (isPlainObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normaliseGeneric(v)]))
  }
  return value
}

function mergeInto(target, source) {
  for (const [k, v] of Object.entries(source)) {
    const old = target[k]
    if (Array.isArray(old) && Array.isArray(v)) target[k] = [...old, ...v]
    else if (isPlainObject(old) && isPlainObject(v)) target[k] = mergeInto({ ...old }, v)
    else target[k] = v
  }
  return target
}

function isPlainObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Each case: ok → equals decoded.json; type_error → parses to parsed.json; parse_error → throws. */
function scoreFixtures(candidate) {
  const { cases } = JSON.parse(readFileSync(join(FIXTURES, 'cases.json'), 'utf8'))
  const failures = []
  for (const c of cases) {
    const dir = join(FIXTURES, c.case)
    const text = readFileSync(join(dir, 'plugin_data.txt'), 'utf8')
    let tree
    let error
    try {
      tree = candidate.parse(text)
    } catch (err) {
      error = err instanceof Error ? err.message : String(err)
    }
    if (c.expect === 'parse_error') {
      if (error === undefined) failures.push({ case: c.case, why: 'accepted invalid text' })
      continue
    }
    const want = JSON.parse(
      readFileSync(join(dir, c.expect === 'ok' ? 'decoded.json' : 'parsed.json'), 'utf8'),
    )
    if (error !== undefined)
      failures.push({ case: c.case, why: `rejected: ${error.split('\n')[0]}` })
    else if (!isDeepStrictEqual(tree, want)) failures.push({ case: c.case, why: 'different tree' })
  }
  return { total: cases.length, passed: cases.length - failures.length, failures }
}

/** Median ms of `await import(file)` in a fresh node process, plus the RSS it adds. */
function measureLoad(file) {
  const script = `
    const before = process.memoryUsage().rss
    const t0 = performance.now()
    await import(${JSON.stringify(pathToFileURL(file).href)})
    const ms = performance.now() - t0
    console.log(JSON.stringify({ ms, rssMb: (process.memoryUsage().rss - before) / 2 ** 20 }))`
  const samples = []
  for (let i = 0; i < RUNS; i++) {
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    })
    if (child.status !== 0) throw new Error(`import of ${file} failed: ${child.stderr}`)
    samples.push(JSON.parse(child.stdout))
  }
  return { ms: median(samples.map((s) => s.ms)), rssMb: median(samples.map((s) => s.rssMb)) }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const candidates = await loadCandidates()
console.log(`node ${process.version}, ${RUNS} runs per candidate\n`)
console.log('| candidate | median import() ms | RSS added MiB | fixture cases passed |')
console.log('|---|---|---|---|')
const details = []
for (const candidate of candidates) {
  const load = measureLoad(candidate.file)
  const score = scoreFixtures(candidate)
  console.log(
    `| ${candidate.name} | ${load.ms.toFixed(1)} | ${load.rssMb.toFixed(1)} | ${score.passed}/${score.total} |`,
  )
  details.push({ name: candidate.name, failures: score.failures })
}
for (const { name, failures } of details) {
  console.log(`\n${name}: ${failures.length === 0 ? 'no failures' : `${failures.length} failures`}`)
  for (const f of failures) console.log(`- ${f.case}: ${f.why}`)
}
