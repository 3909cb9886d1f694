// The parts of Go's strconv that templates need: literal unquoting, quoting (%q, sprig quote) and
// Go's integer and float literal syntax. Unquoting works on byte strings (see utf8.ts).

import { decodeRune, runeToString } from './utf8.js'
import { isPrint } from './unicode.js'

export class StrconvSyntaxError extends Error {
  constructor() {
    super('invalid syntax')
  }
}

const hexVal = (c: string): number => {
  const n = c.charCodeAt(0)
  if (n >= 0x30 && n <= 0x39) return n - 0x30
  if (n >= 0x61 && n <= 0x66) return n - 0x61 + 10
  if (n >= 0x41 && n <= 0x46) return n - 0x41 + 10
  return -1
}

const SIMPLE_ESCAPES: Record<string, number> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  '\\': 92,
}

/**
 * strconv.UnquoteChar on a byte string: `[value, isRune, tail]`. A `\x` or octal escape yields a raw
 * byte (`isRune` false); anything else a rune.
 */
export function unquoteChar(s: string, quote: string): [number, boolean, string] {
  const c = s[0]
  if (c === undefined) throw new StrconvSyntaxError()
  if (c === quote && (quote === "'" || quote === '"')) throw new StrconvSyntaxError()
  if (c.charCodeAt(0) >= 0x80) {
    const [r, w] = decodeRune(s, 0)
    return [r, true, s.slice(w)]
  }
  if (c !== '\\') return [c.charCodeAt(0), true, s.slice(1)]
  if (s.length <= 1) throw new StrconvSyntaxError()
  const e = s[1] ?? ''
  const rest = s.slice(2)
  const simple = SIMPLE_ESCAPES[e]
  if (simple !== undefined) return [simple, true, rest]
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
    if (rest.length < n) throw new StrconvSyntaxError()
    let v = 0
    for (let i = 0; i < n; i++) {
      const d = hexVal(rest[i] ?? '')
      if (d < 0) throw new StrconvSyntaxError()
      v = v * 16 + d
    }
    if (e === 'x') return [v, false, rest.slice(n)]
    if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) throw new StrconvSyntaxError()
    return [v, true, rest.slice(n)]
  }
  if (e >= '0' && e <= '7') {
    const digits = s.slice(1, 4)
    if (!/^[0-7]{3}$/.test(digits)) throw new StrconvSyntaxError()
    const v = parseInt(digits, 8)
    if (v > 255) throw new StrconvSyntaxError()
    return [v, false, s.slice(4)]
  }
  if (e === "'" || e === '"') {
    if (e !== quote) throw new StrconvSyntaxError()
    return [e.charCodeAt(0), true, rest]
  }
  throw new StrconvSyntaxError()
}

const utf8Bytes = (r: number): string => Buffer.from(runeToString(r), 'utf8').toString('latin1')

/** strconv.Unquote on a byte string ("...", `...` or '...'); returns a byte string. */
export function unquote(s: string): string {
  const q = s[0]
  if (s.length < 2 || q !== s[s.length - 1]) throw new StrconvSyntaxError()
  const body = s.slice(1, -1)
  if (q === '`') {
    if (body.includes('`')) throw new StrconvSyntaxError()
    return body.replaceAll('\r', '')
  }
  if (q !== '"' && q !== "'") throw new StrconvSyntaxError()
  if (body.includes('\n')) throw new StrconvSyntaxError()
  let rest = body
  let out = ''
  while (rest.length > 0) {
    const [v, isRune, tail] = unquoteChar(rest, q)
    out += isRune ? utf8Bytes(v) : String.fromCharCode(v)
    rest = tail
    if (q === "'" && rest.length > 0) throw new StrconvSyntaxError()
  }
  if (q === "'" && out.length === 0) throw new StrconvSyntaxError()
  return out
}

function escapeRune(r: number, quote: number, asciiOnly: boolean): string {
  if (r === quote || r === 0x5c) return '\\' + String.fromCharCode(r)
  if (asciiOnly ? r < 0x80 && isPrint(r) : isPrint(r)) return runeToString(r)
  switch (r) {
    case 7:
      return '\\a'
    case 8:
      return '\\b'
    case 12:
      return '\\f'
    case 10:
      return '\\n'
    case 13:
      return '\\r'
    case 9:
      return '\\t'
    case 11:
      return '\\v'
  }
  if (r < 0x20 || r === 0x7f) return '\\x' + r.toString(16).padStart(2, '0')
  if (r > 0xffff) return '\\U' + r.toString(16).padStart(8, '0')
  return '\\u' + r.toString(16).padStart(4, '0')
}

/** strconv.Quote (or QuoteToASCII) of a JS string. */
export function quote(s: string, asciiOnly = false): string {
  let out = '"'
  for (const ch of s) out += escapeRune(ch.codePointAt(0) ?? 0xfffd, 0x22, asciiOnly)
  return out + '"'
}

/** strconv.QuoteRune / QuoteRuneToASCII. */
export function quoteRune(r: number, asciiOnly = false): string {
  const valid = r >= 0 && r <= 0x10ffff && !(r >= 0xd800 && r <= 0xdfff)
  return "'" + escapeRune(valid ? r : 0xfffd, 0x27, asciiOnly) + "'"
}

/** strconv.CanBackquote. */
export function canBackquote(s: string): boolean {
  for (const ch of s) {
    const r = ch.codePointAt(0) ?? 0
    if (r === 0xfeff) return false
    if ((r < 0x20 && r !== 9) || r === 0x60 || r === 0x7f || r === 0xfffd) return false
  }
  return true
}

function underscoreOK(s0: string): boolean {
  let s = s0
  let saw = '^'
  let i = 0
  if (s[0] === '-' || s[0] === '+') s = s.slice(1)
  let hex = false
  const p = (s[1] ?? '').toLowerCase()
  if (s.length >= 2 && s[0] === '0' && (p === 'b' || p === 'o' || p === 'x')) {
    i = 2
    saw = '0'
    hex = p === 'x'
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? ''
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) {
      saw = '0'
      continue
    }
    if (c === '_') {
      if (saw !== '0') return false
      saw = '_'
      continue
    }
    if (saw === '_') return false
    saw = '!'
  }
  return saw !== '_'
}

const MAX_UINT64 = (1n << 64n) - 1n

/** strconv.ParseUint(s, 0, 64); undefined on any error. */
export function parseUint64(s0: string): bigint | undefined {
  if (s0 === '') return undefined
  let s = s0
  let base = 10n
  if (s[0] === '0') {
    const p = (s[1] ?? '').toLowerCase()
    if (s.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) {
      base = p === 'b' ? 2n : p === 'o' ? 8n : 16n
      s = s.slice(2)
    } else {
      base = 8n
      s = s.slice(1)
    }
  }
  let n = 0n
  let underscores = false
  for (const c of s) {
    if (c === '_') {
      underscores = true
      continue
    }
    const d = hexVal(c)
    if (d < 0 || BigInt(d) >= base) return undefined
    n = n * base + BigInt(d)
    if (n > MAX_UINT64) return undefined
  }
  if (underscores && !underscoreOK(s0)) return undefined
  return n
}

/** strconv.ParseInt(s, 0, 64); undefined on any error. */
export function parseInt64(s: string): bigint | undefined {
  const neg = s[0] === '-'
  const body = s[0] === '-' || s[0] === '+' ? s.slice(1) : s
  const u = parseUint64(body)
  if (u === undefined) return undefined
  const v = neg ? -u : u
  if (v > (1n << 63n) - 1n || v < -(1n << 63n)) return undefined
  return v
}

/** strconv.ParseFloat(s, 64) for Go's literal syntax; undefined on syntax or range errors. */
export function parseFloat64(s: string): number | undefined {
  if (
    !/^[+-]?(0[xX][0-9a-fA-F_]*\.?[0-9a-fA-F_]*([pP][+-]?[0-9_]+)?|[0-9_]*\.?[0-9_]*([eE][+-]?[0-9_]+)?)$/.test(
      s,
    )
  ) {
    return undefined
  }
  if (s.includes('_') && !underscoreOK(s)) return undefined
  const t = s.replaceAll('_', '')
  const neg = t[0] === '-'
  const body = t[0] === '-' || t[0] === '+' ? t.slice(1) : t
  let v: number
  if (/^0[xX]/.test(body)) {
    const m = /^0[xX]([0-9a-fA-F]*)\.?([0-9a-fA-F]*)[pP]([+-]?[0-9]+)$/.exec(body)
    if (!m || (m[1] === '' && m[2] === '')) return undefined
    const frac = m[2] ?? ''
    const mant = BigInt('0x' + ((m[1] ?? '') + frac || '0'))
    v = Number(mant) * 2 ** (Number(m[3]) - 4 * frac.length)
  } else {
    if (!/[0-9]/.test(body)) return undefined
    v = Number(body)
  }
  if (!Number.isFinite(v)) return undefined
  return neg ? -v : v
}
