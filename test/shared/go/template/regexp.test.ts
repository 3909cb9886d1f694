// The adapter between the Sprig regexp functions and re2js (shared/go/template/regexp.ts): loading on
// first use, Go's behaviour where re2js differs, and the bounds it adds.

import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { describe, test } from 'node:test'
import { RE2JS } from 're2js'
import { LimitError } from '../../../../shared/go/template/errors.js'
import { AGENT_PATH_FUNCS, parseTemplate } from '../../../../shared/go/template/index.js'
import {
  MAX_PROGRAM_SIZE,
  compileRegexp,
  scanPattern,
} from '../../../../shared/go/template/regexp.js'

const template = (text: string) =>
  parseTemplate('agent-path', text, { funcs: AGENT_PATH_FUNCS, missingKey: 'error' })

describe('loading', () => {
  test('re2js is loaded by the first regexp call, not by parsing a template that has one', () => {
    // this file runs in its own process; the ES import above is a separate (ESM) instance
    const cache = createRequire(import.meta.url).cache
    const loaded = (): boolean => Object.keys(cache).some((k) => k.includes('re2js'))
    const t = template('{{ regexMatch "^a+$" "aaa" }}')
    assert.equal(loaded(), false)
    assert.equal(t.execute({}), 'true')
    assert.equal(loaded(), true)
  })
})

describe('Go behaviour re2js lacks', () => {
  test('several groups may share a name; ${name} is the first (Go 1.26)', () => {
    const t = template('{{ regexReplaceAll "(?P<n>a)(?P<n>b)" "ab" "${n}|$2" }}')
    assert.equal(t.execute({}), 'a|b')
  })
  test('errors show the pattern as written, shared names included', () => {
    assert.throws(() => template('{{ mustRegexMatch "(?P<n>a)(?P<n>b" "x" }}').execute({}), {
      message:
        /error calling mustRegexMatch: error parsing regexp: missing closing \): `\(\?P<n>a\)\(\?P<n>b`$/,
    })
  })
  test('Go names the expression in "nests too deeply" and nothing after a trailing backslash', () => {
    const deep = '('.repeat(1001) + ')'.repeat(1001)
    assert.throws(() => compileRegexp(deep, () => {}), {
      message: `error parsing regexp: expression nests too deeply: \`${deep}\``,
    })
    assert.throws(() => compileRegexp('x\\', () => {}), {
      message: 'error parsing regexp: trailing backslash at end of expression: ``',
    })
  })
})

describe('program size', () => {
  test('the estimate is never below the compiled size', () => {
    const atoms = ['a', '.', '\\pL', '[^ab]', '(', ')', '(?:', '(?i)', '(?P<n>', '|', '*', '+?']
    const more = ['{2}', '{0,3}', '{3,}', '{0}', '^', '\\b', '\\Q.*\\E', '\\x{1F600}', '()', '😀']
    const all = [...atoms, ...more]
    let seed = 7
    const next = (n: number): number => {
      seed = (seed * 48271) % 2147483647
      return seed % n
    }
    let compiled = 0
    for (let k = 0; k < 3000; k++) {
      let p = ''
      for (let j = 1 + next(8); j > 0; j--) p += all[next(all.length)]
      let size: number
      try {
        size = RE2JS.compile(p).programSize()
      } catch {
        continue
      }
      compiled++
      assert.ok(scanPattern(p).size >= size, `${p}: ${scanPattern(p).size} < ${size}`)
    }
    assert.ok(compiled > 500, `only ${compiled} patterns compiled`)
  })

  test('a program that is certainly too large is refused before compiling', () => {
    const expr = 'a{1000}'.repeat(1300) // re2js alone would compile its 1.3 M instructions
    assert.ok(scanPattern(expr).size > 2 * MAX_PROGRAM_SIZE)
    let charged = 0
    assert.throws(
      () => compileRegexp(expr, (n) => (charged += n)),
      (err: unknown) => err instanceof LimitError && /expression too large/.test(err.message),
    )
    assert.equal(charged, 0) // compiling would have charged its instructions
  })

  test('compiling is charged to the step budget, one step per instruction', () => {
    let charged = 0
    const c = compileRegexp('a{1000}', (n) => (charged += n))
    assert.equal(charged, c.re.programSize())
    assert.ok(charged >= 1000)
    // so a loop cannot compile a large regexp again and again
    const t = template('{{ range 3 }}{{ mustRegexMatch (repeat 60 "a{1000}") "a" }}{{ end }}')
    assert.throws(() => t.execute({}), /execution exceeded 100000 steps/)
  })
})
