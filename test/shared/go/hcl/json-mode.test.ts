// HCL v1's JSON mode (text whose first non-space character is '{'), lenient quirks included.
// Expected values and messages were checked against Go's hashicorp/hcl v1.0.1-vault-7.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { HclSyntaxError, parseHcl } from '../../../../shared/go/hcl/index.js'

describe('JSON mode: values', () => {
  const cases: readonly { name: string; text: string; want: unknown }[] = [
    {
      name: 'nested objects are plain objects',
      text: '{"tenants": {"A": {"app_id": "x"}}, "n": 3, "f": 1.5, "b": true}',
      want: { tenants: { A: { app_id: 'x' } }, n: 3, f: 1.5, b: true },
    },
    {
      name: 'escapes as Go strconv.Unquote reads them',
      text: String.raw`{"a": "caf\u00e9 \"q\" b\\s"}`,
      want: { a: 'café "q" b\\s' },
    },
    { name: '${...} is not special', text: '{"a": "${x}\\t"}', want: { a: '${x}\t' } },
    { name: 'null reads as ""', text: '{"a": null}', want: { a: '' } },
    { name: 'leading whitespace, CRLF', text: '\r\n  {\r\n"a": 1\r\n}\r\n', want: { a: 1 } },
    {
      name: 'several keys before the colon are labels',
      text: '{"a" "b": 1}',
      want: { a: { b: 1 } },
    },
    {
      name: 'arrays of objects stay lists',
      text: '{"a": [{"b": 1}, {"b": 2}]}',
      want: { a: [{ b: 1 }, { b: 2 }] },
    },
  ]
  for (const c of cases) test(c.name, () => assert.deepEqual(parseHcl(c.text), c.want))
})

describe('JSON mode: lenient quirks kept for parity', () => {
  const cases: readonly { name: string; text: string; want: unknown }[] = [
    {
      name: 'trailing commas are accepted',
      text: '{"a": [1, 2,], "b": {"c": 1,},}',
      want: { a: [1, 2], b: { c: 1 } },
    },
    {
      name: 'a member without a comma stops parsing silently',
      text: '{"a": 1 "b": 2}',
      want: { a: 1 },
    },
    {
      name: 'and so does one in a nested object, for the rest of the text',
      text: '{"a": {"b": 1 "c": 2}, "d": 3}',
      want: { a: { b: 1 } },
    },
    { name: 'a missing final } is ignored', text: '{"a": 1', want: { a: 1 } },
    { name: 'trailing garbage is ignored', text: '{"a": 1}}}garbage', want: { a: 1 } },
    { name: 'a lone { is an empty object', text: '{', want: {} },
    { name: 'a key without a value at the end is dropped', text: '{"a":', want: {} },
    {
      name: 'booleans inside lists are dropped',
      text: '{"a": [1, true, "x"]}',
      want: { a: [1, 'x'] },
    },
  ]
  for (const c of cases) test(c.name, () => assert.deepEqual(parseHcl(c.text), c.want))
})

describe('JSON mode: errors', () => {
  const cases: readonly { name: string; text: string; message: string; reason?: string }[] = [
    {
      name: 'single-quoted string (Go wording, no "At")',
      text: `{"a": 'x'}`,
      message: "1:7: illegal char: '",
    },
    {
      name: 'number with a leading zero',
      text: '{"a": 012}',
      message: '1:9: numbers cannot start with 0',
    },
    { name: 'unknown word', text: '{"a": tru}', message: '1:9: illegal char' },
    {
      name: '\\/ is not a Go escape',
      text: String.raw`{"a": "\/"}`,
      message: '1:9: illegal char escape',
    },
    {
      name: 'a space Go JSON does not skip',
      text: '\u00a0{"a": 1}',
      message: '1:1: illegal char: \u00a0',
    },
    {
      name: 'missing colon (position added)',
      text: '{"a" 1}',
      message: 'At 1:6: expected: STRING got: NUMBER',
    },
    {
      name: 'a trailing comma before ]',
      text: '{"a": 1, ]',
      message: 'At 1:10: expected: STRING got: RBRACK',
    },
    {
      name: 'null inside a list',
      text: '{"a": [1, null]}',
      message: 'At 1:11: unexpected token while parsing list: NULL',
    },
    {
      name: 'a surrogate-pair escape (Go panics)',
      text: String.raw`{"a": "\ud83d\ude00"}`,
      message: String.raw`At 1:7: invalid string literal: "\ud83d\ude00"`,
      reason: 'invalid-literal',
    },
  ]
  for (const c of cases) {
    test(c.name, () => {
      assert.throws(
        () => parseHcl(c.text),
        (err: unknown) =>
          err instanceof HclSyntaxError &&
          err.message === c.message &&
          err.reason === (c.reason ?? 'syntax'),
      )
    })
  }
})
