// Adversarial inputs: each must fail (or pass) with a clear error, never hang or overflow. "Quickly"
// is a count here, not a stopwatch: the parser's bounds (input bytes, nesting depth) are checked as it
// reads, so every input below ends at one of them on any machine.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  HclSyntaxError,
  MAX_INPUT_BYTES,
  MAX_NESTING_DEPTH,
  parseHcl,
} from '../../../../shared/go/hcl/index.js'

function rejects(text: string, reason: HclSyntaxError['reason'], pattern: RegExp): void {
  assert.throws(
    () => parseHcl(text),
    (err: unknown) =>
      err instanceof HclSyntaxError && err.reason === reason && pattern.test(err.message),
  )
}

const nest = (depth: number, open: string, close: string, inner: string): string =>
  open.repeat(depth) + inner + close.repeat(depth)

describe('nesting depth', () => {
  test(`${MAX_NESTING_DEPTH} levels of blocks parse`, () => {
    const text = nest(MAX_NESTING_DEPTH, 'a {', '}', 'x = 1')
    assert.ok(typeof parseHcl(text) === 'object')
  })

  test('one level more is an error at the opening brace', () => {
    const text = nest(MAX_NESTING_DEPTH + 1, 'a {', '}', '')
    assert.throws(
      () => parseHcl(text),
      (err: unknown) =>
        err instanceof HclSyntaxError &&
        err.reason === 'nesting-too-deep' &&
        err.message === `At 1:${3 * MAX_NESTING_DEPTH + 3}: nesting is deeper than 64 levels` &&
        err.line === 1 &&
        err.column === 3 * MAX_NESTING_DEPTH + 3,
    )
  })

  const deep: readonly { name: string; text: string }[] = [
    { name: 'objects', text: nest(100_000, 'a = {', '}', '') },
    { name: 'lists', text: `a = ${nest(100_000, '[', ']', '')}` },
    { name: 'objects in lists', text: `a = ${nest(100_000, '[{b = ', '}]', '')}` },
    { name: 'block labels', text: `a ${'"l" '.repeat(100_000)}{}` },
    { name: 'JSON objects', text: nest(100_000, '{"a": ', '}', '1') },
    { name: 'JSON labels', text: `{${'"a" '.repeat(100_000)}: 1}` },
    { name: 'unclosed objects', text: 'a {'.repeat(100_000) },
  ]
  for (const c of deep) {
    test(`100,000 levels of ${c.name}: error, no stack overflow`, () => {
      rejects(c.text, 'nesting-too-deep', /nesting is deeper than 64 levels/)
    })
  }

  test('the bound is an option', () => {
    assert.throws(() => parseHcl('a { b { } }', { maxDepth: 1 }), { reason: 'nesting-too-deep' })
    assert.deepEqual(parseHcl('a { b { } }', { maxDepth: 2 }), { a: { b: {} } })
    assert.throws(() => parseHcl('', { maxDepth: 0 }), TypeError)
  })
})

describe('input size', () => {
  test('the limit counts UTF-8 bytes', () => {
    const atLimit = `a = "${'x'.repeat(MAX_INPUT_BYTES - 6)}"`
    assert.equal(Buffer.byteLength(atLimit), MAX_INPUT_BYTES)
    assert.equal(parseHcl(atLimit).a?.toString().length, MAX_INPUT_BYTES - 6)
    const multiByte = `a = "${'é'.repeat(MAX_INPUT_BYTES / 2)}"`
    rejects(multiByte, 'input-too-large', /^input exceeds the limit of 1048576 bytes$/)
  })

  test('a huge input is refused before it is read', () => {
    rejects(' '.repeat(64 * MAX_INPUT_BYTES), 'input-too-large', /limit/)
  })

  test('the limit is an option', () => {
    assert.throws(() => parseHcl('a = 1', { maxInputBytes: 4 }), { reason: 'input-too-large' })
    assert.throws(() => parseHcl('', { maxInputBytes: 1.5 }), TypeError)
  })
})

describe('unterminated everything, at the size limit', () => {
  const filler = (prefix: string, unit: string): string =>
    prefix + unit.repeat(Math.floor((MAX_INPUT_BYTES - prefix.length - 8) / unit.length))
  const cases: readonly { name: string; text: string; message: RegExp }[] = [
    { name: 'string', text: filler('a = "', 'x'), message: /literal not terminated/ },
    { name: 'string inside ${', text: filler('a = "${', '{'), message: /literal not terminated/ },
    { name: 'block comment', text: filler('/*', '*'), message: /comment not terminated/ },
    { name: 'heredoc', text: filler('a = <<EOT\n', 'x\n'), message: /heredoc not terminated/ },
    {
      name: 'heredoc whose anchor ends in \\r, with long lines',
      text: filler('a = <<-\r\r\n', `${'\t'.repeat(200)}\ry\n`),
      message: /heredoc not terminated/,
    },
    {
      name: 'list',
      text: filler('a = [', '1,'),
      message: /unexpected token while parsing list: EOF/,
    },
    {
      name: 'object',
      text: filler('a {', 'b = 1\n'),
      message: /object expected closing RBRACE got: EOF/,
    },
    {
      name: 'labels (the message, quoting them all, is cut short)',
      text: filler('a', ' b'),
      message: /^At 1:\d+: key 'a b b[ b]*… \(truncated\)$/,
    },
    { name: 'JSON string', text: filler('{"a": "', 'x'), message: /literal not terminated/ },
    // upstream parity: the last of many scanner errors is the one reported
    { name: 'bad escapes', text: filler('a = "', '\\q'), message: /literal not terminated/ },
  ]
  for (const c of cases) {
    test(c.name, () => rejects(c.text, 'syntax', c.message))
  }

  test('many small errors still report one, quickly', () => {
    rejects(filler('', '\u0000'), 'syntax', /unexpected null character/)
  })

  test('a wide flat document parses quickly', () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => `k${i} = "${i}"`).join('\n')
    const tree = parseHcl(lines)
    assert.equal(Object.keys(tree).length, 30_000)
  })

  test('one key given 170,000 times, then merged again', () => {
    const text = `x {\n${'a = 1\n'.repeat(170_000)}}\nx {}\n`
    assert.deepEqual(parseHcl(text), { x: { a: 1 } })
  })

  test('many repeated blocks merge quickly', () => {
    const lines = Array.from({ length: 30_000 }, (_, i) => `t "A" { tags = ["${i}"] }`).join('\n')
    const tree = parseHcl(lines)
    assert.equal(JSON.stringify(tree).length > 0, true)
  })
})
