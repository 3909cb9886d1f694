// shared/go/strconv.ts against results recorded from Go 1.26.8 strconv and hashicorp/hcl
// v1.0.1-vault-7 hcl/strconv (byte strings: one code unit per byte, as the module takes them).

import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  goParseFloat,
  goParseInt,
  goParseUint,
  hclUnquote,
  unquote,
} from '../../../shared/go/strconv.js'

describe('unquoting: Go strconv.Unquote and HCL v1 hcl/strconv.Unquote', () => {
  // [quoted, strconv.Unquote, hcl/strconv.Unquote]; undefined where Go returns ErrSyntax
  const cases: [string, string | undefined, string | undefined][] = [
    [String.raw`"\x41\101\u00e9"`, 'AA\xc3\xa9', 'AA\xc3\xa9'],
    [String.raw`"\xc3\xa9"`, '\xc3\xa9', '\xc3\xa9'],
    [String.raw`"\400"`, undefined, undefined],
    // HCL's copy of an older strconv takes surrogates (written as U+FFFD) and wraps \U to an int32
    [String.raw`"\ud800"`, undefined, '\xef\xbf\xbd'],
    [String.raw`"\ud83d\ude00"`, undefined, '\xef\xbf\xbd\xef\xbf\xbd'],
    [String.raw`"\U92233720"`, undefined, ' '],
    // ${...} is copied as written by HCL, newline included
    ['"a${b\n}c"', undefined, 'a${b\n}c'],
    ['"${\\q}\\n"', undefined, '${\\q}\n'],
    // single quotes and backquotes are Go's only; '' passes Go's fast path
    ["''", '', undefined],
    ["'ab'", undefined, undefined],
    ['`a\rb`', 'ab', undefined],
  ]
  for (const [quoted, go, hcl] of cases) {
    test(JSON.stringify(quoted), () => {
      assert.equal(unquote(quoted), go)
      assert.equal(hclUnquote(quoted), hcl)
    })
  }
})

describe('number parsing: ParseInt / ParseUint (base 0, 64 bits) and ParseFloat (64 bits)', () => {
  test('integers, with the range error before a later syntax error, as in Go', () => {
    assert.deepEqual(goParseInt('0x_1F'), { ok: true, value: 31n })
    assert.deepEqual(goParseInt('017'), { ok: true, value: 15n })
    assert.deepEqual(goParseInt('-9223372036854775808'), { ok: true, value: -(2n ** 63n) })
    assert.deepEqual(goParseInt('9223372036854775808'), {
      ok: false,
      error: 'range',
      value: 2n ** 63n - 1n,
    })
    assert.deepEqual(goParseUint('9223372036854775808'), { ok: true, value: 2n ** 63n })
    assert.deepEqual(goParseInt('99999999999999999999x'), {
      ok: false,
      error: 'range',
      value: 2n ** 63n - 1n,
    })
    assert.deepEqual(goParseUint('0777777777777777777777778'), {
      ok: false,
      error: 'range',
      value: 2n ** 64n - 1n,
    })
    assert.deepEqual(goParseInt('1__0'), { ok: false, error: 'syntax' })
    assert.deepEqual(goParseUint('-1'), { ok: false, error: 'syntax' })
  })

  test('floats: decimal, hexadecimal with correct rounding, specials', () => {
    assert.equal(goParseFloat('017'), 17)
    assert.equal(goParseFloat('1_000.5'), 1000.5)
    assert.equal(goParseFloat('0x1p-1074'), 5e-324)
    assert.equal(goParseFloat('0x3p-1076'), 5e-324) // 0.75 of the smallest subnormal rounds up
    assert.equal(goParseFloat('0x1.fffffffffffff8p1023'), undefined) // rounds past the range
    assert.equal(goParseFloat('Infinity'), Infinity)
    assert.equal(goParseFloat('-inf'), -Infinity)
    assert.ok(Number.isNaN(goParseFloat('nan')))
    for (const bad of ['+nan', '0x1F', '1e', '1__0', '0x', '.', '1e400']) {
      assert.equal(goParseFloat(bad), undefined, bad)
    }
  })
})
