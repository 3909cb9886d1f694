// Adversarial templates and data: each must fail fast with a clear error (or, for linear-time regexps,
// succeed fast), never hang or exhaust memory.

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  AGENT_PATH_FUNCS,
  DEFAULT_TEMPLATE_LIMITS,
  TemplateError,
  buildAgentPath,
  parseAgentPathTemplate,
  parseTemplate,
} from '../../../../shared/go/template/index.js'
import { compile } from './helpers.js'

// "Fast" is counted, not timed: every bound below is a count (steps, bytes, depth) that the engine
// checks as it goes, so a limit error proves the work stopped at that count on any machine.
function expectLimit(run: () => unknown, message: RegExp, phase: 'parse' | 'execute'): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof TemplateError, String(err))
    assert.equal(err.phase, phase)
    assert.equal(err.limit, true, err.message)
    assert.match(err.message, message)
    return true
  })
}

describe('execution bounds', () => {
  const cases = [
    {
      name: 'range over a huge int',
      text: '{{ range 1000000000000 }}{{ end }}',
      message: /execution exceeded 100000 steps$/,
    },
    {
      name: 'nested ranges',
      text: '{{ range 1000 }}{{ range 1000 }}{{ end }}{{ end }}',
      message: /exceeded 100000 steps$/,
    },
    {
      name: 'quadratic append',
      text: '{{ $l := list }}{{ range 100000 }}{{ $l = append $l 1 }}{{ end }}',
      message: /exceeded 100000 steps$/,
    },
    {
      name: 'huge repeat',
      text: '{{ repeat 1000000000 "x" }}',
      message: /error calling repeat: repeat result exceeds 65536 bytes$/,
    },
    {
      name: 'doubling a string',
      text: '{{ $x := "xx" }}{{ range 40 }}{{ $x = printf "%s%s" $x $x }}{{ end }}',
      message: /formatted value exceeds 65536 bytes$/,
    },
    {
      name: 'printf width',
      text: '{{ printf "%900000d" 1 }}',
      message: /formatted value exceeds 65536 bytes$/,
    },
    { name: 'huge seq', text: '{{ seq 100000000 }}', message: /seq result exceeds 65536 bytes$/ },
    {
      name: 'huge indent',
      text: '{{ indent 100000 (repeat 100 "\\n") }}',
      message: /indent result exceeds 65536 bytes$/,
    },
    {
      name: 'replace blow-up',
      text: '{{ replace "" (repeat 1000 "y") (repeat 1000 "x") }}',
      message: /replace result exceeds 65536 bytes$/,
    },
    {
      name: 'self recursion',
      text: '{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}',
      message: /exceeded maximum template depth \(100\)$/,
    },
    {
      name: 'mutual recursion',
      text: '{{ define "a" }}{{ template "b" }}{{ end }}{{ define "b" }}{{ template "a" }}{{ end }}{{ template "a" }}',
      message: /exceeded maximum template depth \(100\)$/,
    },
    {
      name: 'output',
      text: '{{ range 100000 }}xxxxxxxxxx{{ end }}',
      message: /output exceeds 65536 bytes$/,
    },
    {
      name: 'huge regexp program',
      text: '{{ mustRegexMatch (repeat 200 "a{1000}") "a" }}',
      message: /expression too large/,
    },
  ]
  for (const c of cases) {
    test(c.name, () => {
      const t = compile(c.text)
      expectLimit(() => t.execute({}), c.message, 'execute')
    })
  }

  test('agent paths stop at 2048 bytes of output', () => {
    const t = parseAgentPathTemplate('/{{ range 1000000000000 }}x{{ end }}')
    expectLimit(() => buildAgentPath(t, {}), /output exceeds 2048 bytes$/, 'execute')
  })

  test('limits can be tightened per template', () => {
    const t = parseTemplate('x', '{{ range 100 }}.{{ end }}', { limits: { maxSteps: 50 } })
    expectLimit(() => t.execute(null), /exceeded 50 steps$/, 'execute')
    assert.equal(DEFAULT_TEMPLATE_LIMITS.maxSteps, 100_000)
  })

  test('limits must be positive integers', () => {
    assert.throws(() => parseTemplate('x', '', { limits: { maxSteps: 0 } }), {
      name: 'TypeError',
      message: 'template limit maxSteps must be a positive integer',
    })
  })
})

describe('parse bounds', () => {
  const cases = [
    {
      name: 'deeply nested parentheses',
      text: `{{ ${'('.repeat(5000)}1${')'.repeat(5000)} }}`,
      message: /max expression depth exceeded$/,
    },
    {
      name: 'deeply nested ifs',
      text: '{{ if 1 }}'.repeat(150) + '{{ end }}'.repeat(150),
      message: /max nesting depth exceeded$/,
    },
    {
      name: 'long else-if chain',
      text: '{{ if 0 }}' + '{{ else if 0 }}'.repeat(150) + '{{ end }}',
      message: /max nesting depth exceeded$/,
    },
    {
      name: 'huge template text',
      text: 'x'.repeat(70_000),
      message: /template text exceeds 65536 bytes$/,
    },
  ]
  for (const c of cases) {
    test(c.name, () => expectLimit(() => compile(c.text), c.message, 'parse'))
  }
  test('ordinary nesting is fine', () => {
    const t = compile('{{ if 1 }}'.repeat(50) + 'ok' + '{{ end }}'.repeat(50))
    assert.equal(t.execute({}), 'ok')
  })
})

describe('hostile data', () => {
  const cyclic: Record<string, unknown> = { a: 1 }
  cyclic['self'] = cyclic
  const deep: Record<string, unknown> = {}
  let cur = deep
  for (let i = 0; i < 100; i++) {
    const next: Record<string, unknown> = {}
    cur['n'] = next
    cur = next
  }
  const limits = [
    { name: 'a cycle', data: cyclic, message: /template data is nested too deeply$/ },
    { name: 'deep nesting', data: deep, message: /template data is nested too deeply$/ },
    {
      name: 'too many values',
      data: { a: new Array(100_000).fill(1) },
      message: /template data has too many values$/,
    },
  ]
  for (const c of limits) {
    test(c.name, () => expectLimit(() => compile('{{ .a }}').execute(c.data), c.message, 'execute'))
  }
  const rejected = [
    {
      name: 'a function',
      data: { a: () => 1 },
      message: 'template: agent-path: unsupported template data of type function',
    },
    {
      name: 'a Date',
      data: { a: new Date(0) },
      message: 'template: agent-path: unsupported template data of type object',
    },
    {
      name: 'a symbol',
      data: { a: Symbol('x') },
      message: 'template: agent-path: unsupported template data of type symbol',
    },
    {
      name: 'a Map with non-string keys',
      data: new Map([[1, 'x']]),
      message: 'template: agent-path: template data map keys must be strings',
    },
    {
      name: 'an int64 overflow',
      data: { a: 1n << 70n },
      message: 'template: agent-path: template data integer 1180591620717411303424 overflows int',
    },
  ]
  for (const c of rejected) {
    test(`rejects ${c.name}`, () => {
      assert.throws(() => compile('{{ .a }}').execute(c.data), {
        name: 'TemplateError',
        message: c.message,
      })
    })
  }
  test('prototype names are ordinary missing keys', () => {
    assert.throws(() => compile('{{ .constructor }}').execute({}), {
      message:
        'template: agent-path:1:3: executing "agent-path" at <.constructor>: map has no entry for key "constructor"',
    })
    assert.equal(
      compile('{{ index . "__proto__" }} {{ hasKey . "toString" }}').execute({}),
      '<no value> false',
    )
  })
})

describe('regexps run in linear time (no catastrophic backtracking)', () => {
  const cases = [
    { text: '{{ regexMatch "(a+)+$" (printf "%sb" (repeat 20000 "a")) }}', out: 'false' },
    { text: '{{ regexMatch "(a+)+b" (printf "%sb" (repeat 20000 "a")) }}', out: 'true' },
    { text: '{{ regexMatch "^(a+)+$" (printf "%sb" (repeat 20000 "a")) }}', out: 'false' },
    { text: '{{ regexMatch "(x+x+)+y" (repeat 20000 "x") }}', out: 'false' },
    { text: '{{ len (regexFindAll "a*a*a*a*a*b" (repeat 20000 "a") -1) }}', out: '0' },
    { text: '{{ regexReplaceAll "(a|aa)+$" (repeat 5000 "a") "x" }}', out: 'x' },
  ]
  // Each regexp call charges the template's step budget with the input it may scan (from where the
  // search starts to the end) and each compile with its program size. re2js has no step hook, so
  // this counts the bound that its linear-time construction (RE2's) guarantees, not the work itself.
  // A budget of two steps per input character therefore proves linear work by count, on any machine:
  // super-linear work on these inputs would fail with "execution exceeded N steps".
  const INPUT_CHARS = 20_000
  const linearBudget = 2 * INPUT_CHARS + 1_000
  for (const c of cases) {
    test(c.text.slice(0, 60), () => {
      const t = parseTemplate('agent-path', c.text, {
        funcs: AGENT_PATH_FUNCS,
        missingKey: 'error',
        limits: { maxSteps: linearBudget },
      })
      assert.equal(t.execute({}), c.out)
    })
  }
  test('the linear budget is tight enough to catch super-linear work', () => {
    // the same work on three times the input does not fit: the budget is not merely "large"
    const t = parseTemplate(
      'agent-path',
      `{{ regexMatch "(a+)+$" (printf "%sb" (repeat ${3 * INPUT_CHARS} "a")) }}`,
      { funcs: AGENT_PATH_FUNCS, missingKey: 'error', limits: { maxSteps: linearBudget } },
    )
    assert.throws(() => t.execute({}), /execution exceeded \d+ steps/)
  })
})
