// Every case in go-parity.json was run through Go 1.26.8 text/template + Sprig v3.3.0 exactly as
// upstream SPIRE wires them; our output or error text must match Go's byte for byte, except for the
// deliberate deviations the file names (each with its reason).

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import {
  SpiffeIdError,
  buildAgentId,
  validateSpiffePath,
} from '../../../../shared/go/template/index.js'
import { REPO_ROOT } from '../../../support/paths.js'
import { imdsTemplateData, msiTemplateData, render } from './helpers.js'

type Result = { out: string } | { err: string } | { outBytes: number }

interface ParityCase {
  readonly group: string
  readonly tmpl: string
  readonly kind?: 'plain' | 'msi' | 'imds' | 'path' | 'agentid'
  readonly args?: readonly string[]
  readonly sample?: boolean
  readonly data?: unknown
  readonly go: Result
  readonly ours?: Result
  readonly deviation?: string
}

const isRecord = (x: unknown): x is Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x)
const isResult = (x: unknown): x is Result =>
  isRecord(x) &&
  (typeof x['out'] === 'string' ||
    typeof x['err'] === 'string' ||
    typeof x['outBytes'] === 'number')
const isStrings = (x: unknown): x is string[] =>
  Array.isArray(x) && x.every((s) => typeof s === 'string')

const KINDS: readonly string[] = ['plain', 'msi', 'imds', 'path', 'agentid']

function isParityCase(x: unknown): x is ParityCase {
  if (!isRecord(x)) return false
  const kind = x['kind']
  return (
    typeof x['group'] === 'string' &&
    typeof x['tmpl'] === 'string' &&
    (kind === undefined || (typeof kind === 'string' && KINDS.includes(kind))) &&
    (x['args'] === undefined || isStrings(x['args'])) &&
    isResult(x['go']) &&
    (x['ours'] === undefined || isResult(x['ours']))
  )
}

function load(): { sample: unknown; cases: ParityCase[] } {
  const doc: unknown = JSON.parse(
    readFileSync(join(REPO_ROOT, 'test/shared/go/template/go-parity.json'), 'utf8'),
  )
  if (!isRecord(doc) || !Array.isArray(doc['cases'])) throw new Error('go-parity.json: bad shape')
  const cases = doc['cases'].filter(isParityCase)
  if (cases.length !== doc['cases'].length) throw new Error('go-parity.json: malformed case')
  return { sample: doc['sample'], cases }
}

function run(c: ParityCase, sample: unknown): { out?: string; err?: string } {
  const args = c.args ?? []
  const arg = (i: number): string => args[i] ?? ''
  switch (c.kind) {
    case 'path':
      try {
        validateSpiffePath(c.tmpl)
        return { out: 'ok' }
      } catch (err) {
        return { err: err instanceof SpiffeIdError ? err.message : String(err) }
      }
    case 'agentid':
      try {
        return { out: buildAgentId(arg(0), c.tmpl) }
      } catch (err) {
        return { err: err instanceof SpiffeIdError ? err.message : String(err) }
      }
    case 'msi':
      return render(c.tmpl, msiTemplateData(arg(0), arg(1)))
    case 'imds':
      return render(c.tmpl, imdsTemplateData(arg(0), arg(1), arg(2), arg(3)))
    case 'plain':
      return render(c.tmpl, c.sample ? sample : c.data, 'plain')
    default:
      return render(c.tmpl, c.sample ? sample : c.data)
  }
}

const { sample, cases } = load()
const groups = [...new Set(cases.map((c) => c.group))]

for (const group of groups) {
  describe(`go parity: ${group}`, () => {
    for (const c of cases.filter((x) => x.group === group)) {
      test(c.tmpl.length > 90 ? c.tmpl.slice(0, 87) + '...' : c.tmpl || '(empty)', () => {
        const want = c.ours ?? c.go
        const got = run(c, sample)
        if ('outBytes' in want) assert.fail('a case with an oversized Go output must state ours')
        assert.deepEqual(got, want)
      })
    }
  })
}

describe('go parity: bookkeeping', () => {
  test('the corpus is substantial and covers every feature group', () => {
    assert.ok(cases.length > 800)
    for (const g of [
      'text',
      'fields',
      'vars',
      'pipes',
      'literals',
      'control',
      'builtins',
      'printf',
      'regex',
      'parse-errors',
      'exec-errors',
      'path',
    ]) {
      assert.ok(groups.includes(g), g)
    }
  })

  test('every difference from Go is a named deviation', () => {
    const deviations = cases.filter((c) => c.ours !== undefined)
    for (const c of deviations) assert.ok(c.deviation, c.tmpl)
    assert.deepEqual([...new Set(deviations.map((c) => c.deviation))].sort(), [
      'a formatted value is capped at 64 KiB',
      "buildAgentId takes the configured trust domain name; an empty one gets idutil.AgentID's message",
      'complex constants are rejected',
      'every list is []interface {} (Go: some Sprig results are []string)',
      'strings are Unicode text; invalid UTF-8 bytes become U+FFFD',
      'uuidv4 is not offered (random agent IDs defeat TOFU)',
      '{{template}} recursion is capped at 100 (Go: 100000)',
    ])
  })
})
