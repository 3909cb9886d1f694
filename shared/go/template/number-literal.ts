// Number literals (Go's parse.newNumber): what a number, or a character constant, can be used as.

import type { Item } from './lexer.js'
import type { NumberNode } from './nodes.js'
import { goParseFloat, goParseInt, goParseUint, quote, unquoteCharAt } from '../strconv.js'
import { fromBytes } from '../utf8.js'

/** The NumberNode for a number, char constant or complex item, or Go's error text. */
export function parseNumberLiteral(t: Item): NumberNode | string {
  const text = fromBytes(t.val)
  const base = { type: 'number', pos: t.pos, text } as const
  if (t.typ === 'charConstant') {
    const c = unquoteCharAt(t.val, 1, t.val[0] ?? '')
    if (c === undefined) return 'invalid syntax'
    if (t.val.slice(c.next) !== "'") return `malformed character constant: ${text}`
    const r = c.value
    const v = BigInt(r)
    return { ...base, isInt: true, isUint: true, isFloat: true, int64: v, uint64: v, float64: r }
  }

  // deviation: complex constants (1+2i, 3i) are rejected (docs/agent-path-template.md)
  if (t.typ === 'complex' || text.endsWith('i'))
    return `complex constants are not supported: ${text}`
  const u = goParseUint(text)
  const i = goParseInt(text)
  let isUint = u.ok
  let isInt = i.ok
  let uint64 = u.ok ? u.value : 0n
  let int64 = i.ok ? i.value : 0n
  if (isInt && int64 === 0n) {
    isUint = true // -0
    uint64 = 0n
  }
  let isFloat = false
  let float64 = 0
  if (isInt) {
    isFloat = true
    float64 = Number(int64)
  } else if (isUint) {
    isFloat = true
    float64 = Number(uint64)
  } else {
    const f = goParseFloat(text)
    if (f !== undefined) {
      // A float that looks like an integer is an integer too large for int64.
      if (!/[.eEpP]/.test(text)) return `integer overflow: ${quote(text)}`
      isFloat = true
      float64 = f
      if (Number.isInteger(f) && f >= -(2 ** 63) && f < 2 ** 63) {
        isInt = true
        int64 = BigInt(f)
      }
      if (Number.isInteger(f) && f >= 0 && f < 2 ** 64) {
        isUint = true
        uint64 = BigInt(f)
      }
    }
  }
  if (!isInt && !isUint && !isFloat) return `illegal number syntax: ${quote(text)}`
  return { ...base, isInt, isUint, isFloat, int64, uint64, float64 }
}
