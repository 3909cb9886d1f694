// Go's strconv, shared by the HCL v1 port and the text/template port: unquoting (Unquote, UnquoteChar,
// and HCL v1's own copy of an older Unquote), quoting (Quote, QuoteRune, CanBackquote) and number
// parsing (ParseInt, ParseUint, ParseFloat), with Go's semantics, checked against Go 1.26.
//
// Go strings are bytes. The unquoting functions take and return "byte strings" (utf8.ts: one code
// unit per byte); a caller holding Unicode text converts with toBytes / fromBytes. The quoting
// functions take Unicode text. Errors are `undefined` (Go's ErrSyntax, or ErrRange for floats); the
// integer parsers tell syntax from range errors, as Go does.

import { decodeRune, runeToString } from './utf8.js'
import { isPrint } from './unicode.js'

const RUNE_ERROR = 0xfffd
const MAX_RUNE = 0x10ffff

const isSurrogate = (r: number): boolean => r >= 0xd800 && r <= 0xdfff

function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10
  return -1
}

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = {
  a: 7,
  b: 8,
  f: 12,
  n: 10,
  r: 13,
  t: 9,
  v: 11,
  '\\': 92,
}

/** One decoded character: Go's `(value, multibyte, tail)` with the tail as an index. */
export interface UnquotedChar {
  readonly value: number
  /** false for a raw byte (`\x`, octal, or an ASCII character): it is written as that one byte */
  readonly multibyte: boolean
  readonly next: number
}

/**
 * Which `\u` / `\U` escapes are accepted. Go's strconv takes valid runes only ('valid'); HCL v1's
 * hcl/strconv is a copy of an older strconv that only rejects values above U+10FFFF ('any'), so a
 * surrogate, or a `\U` that wraps the int32 negative, passes and is written as U+FFFD (or, when
 * negative, as its low byte).
 */
export type RuneEscapes = 'valid' | 'any'

/**
 * strconv.UnquoteChar(s[i:], quote) on a byte string; undefined where Go returns ErrSyntax. `runeEscapes`
 * is 'any' only for HCL v1's copy (hclUnquote).
 */
export function unquoteCharAt(
  s: string,
  i: number,
  quote: string,
  runeEscapes: RuneEscapes = 'valid',
): UnquotedChar | undefined {
  const c = s.charCodeAt(i)
  if (Number.isNaN(c)) return undefined
  if (s[i] === quote && (quote === "'" || quote === '"')) return undefined
  if (c >= 0x80) {
    const [r, w] = decodeRune(s, i)
    return { value: r, multibyte: true, next: i + w }
  }
  if (c !== 0x5c) return { value: c, multibyte: false, next: i + 1 }
  const e = s[i + 1]
  if (e === undefined) return undefined
  const simple = SIMPLE_ESCAPES[e]
  if (simple !== undefined) return { value: simple, multibyte: false, next: i + 2 }
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
    if (s.length - (i + 2) < n) return undefined
    let v = 0 // a Go rune is an int32: eight hex digits can wrap it negative
    for (let j = 0; j < n; j++) {
      const d = unhex(s.charCodeAt(i + 2 + j))
      if (d < 0) return undefined
      v = (v << 4) | d
    }
    const next = i + 2 + n
    if (e === 'x') return { value: v, multibyte: false, next }
    if (v > MAX_RUNE || (runeEscapes === 'valid' && (v < 0 || isSurrogate(v)))) return undefined
    return { value: v, multibyte: true, next }
  }
  if (e >= '0' && e <= '7') {
    let v = e.charCodeAt(0) - 0x30
    if (s.length - (i + 2) < 2) return undefined
    for (let j = 0; j < 2; j++) {
      const x = s.charCodeAt(i + 2 + j) - 0x30
      if (x < 0 || x > 7) return undefined
      v = v * 8 + x
    }
    if (v > 255) return undefined
    return { value: v, multibyte: false, next: i + 4 }
  }
  if (e === "'" || e === '"') {
    if (e !== quote) return undefined
    return { value: e.charCodeAt(0), multibyte: false, next: i + 2 }
  }
  return undefined
}

/** Go's utf8.AppendRune (EncodeRune) as a byte string: invalid runes become U+FFFD. */
const encodeRune = (r: number): string => {
  if (r < 0x80) return String.fromCharCode(r)
  return Buffer.from(runeToString(r), 'utf8').toString('latin1')
}

/** Appends what unquoteChar decoded, as Go's loops do (`byte(c)` keeps the low byte of a negative rune). */
const appendChar = (c: UnquotedChar): string =>
  c.value < 0x80 || !c.multibyte ? String.fromCharCode(c.value & 0xff) : encodeRune(c.value)

function validUtf8(s: string): boolean {
  for (let i = 0; i < s.length;) {
    if (s.charCodeAt(i) < 0x80) {
      i++
      continue
    }
    const [r, w] = decodeRune(s, i)
    if (r === RUNE_ERROR && w === 1) return false
    i += w
  }
  return true
}

/** strconv.Unquote on a byte string ("...", '...' or `...`); returns a byte string or undefined. */
export function unquote(s: string): string | undefined {
  if (s.length < 2) return undefined
  const q = s[0] ?? ''
  const closing = s.indexOf(q, 1)
  if (closing < 0) return undefined
  const end = closing + 1 // after the first closing quote; may be wrong when escapes are present
  if (q === '`') return end === s.length ? s.slice(1, end - 1).replaceAll('\r', '') : undefined
  if (q !== '"' && q !== "'") return undefined
  const head = s.slice(0, end)
  if (!head.includes('\\') && !head.includes('\n')) {
    const body = s.slice(1, end - 1)
    let valid: boolean
    if (q === '"') valid = validUtf8(body)
    else {
      const [r, n] = decodeRune(body, 0)
      valid = 2 + n === end && (r !== RUNE_ERROR || n !== 1)
    }
    if (valid) return end === s.length ? body : undefined
  }
  let out = ''
  let i = 1
  while (i < s.length && s[i] !== q) {
    const c = unquoteCharAt(s, i, q)
    if (s[i] === '\n' || c === undefined) return undefined
    out += appendChar(c)
    i = c.next
    if (q === "'") break // a single-quoted literal is one character
  }
  if (s[i] !== q || i + 1 !== s.length) return undefined
  return out
}

/**
 * HCL v1's hcl/strconv.Unquote (HCL-mode strings; JSON-mode strings use Go's `unquote`). It differs
 * from Go's: `${...}` sections are copied exactly as written, a newline is allowed inside one, and
 * `\u` escapes may name surrogates. Byte strings in and out, like `unquote`.
 */
export function hclUnquote(quoted: string): string | undefined {
  if (quoted.length < 2 || quoted[0] !== '"' || quoted[quoted.length - 1] !== '"') return undefined
  const s = quoted.slice(1, -1)
  if (!s.includes('$') && !s.includes('{') && s.includes('\n')) return undefined
  if (!s.includes('\\') && !s.includes('"') && !s.includes('$')) return s
  let out = ''
  let i = 0
  while (i < s.length) {
    if (s[i] === '$' && s[i + 1] === '{') {
      // copied rune by rune until the braces balance; invalid UTF-8 (or U+FFFD itself) is an error
      let braces = 1
      let j = i + 2
      while (j < s.length && braces > 0) {
        const [r, w] = decodeRune(s, j)
        if (r === RUNE_ERROR) return undefined
        if (r === 0x7b) braces++
        else if (r === 0x7d) braces--
        j += w
      }
      if (braces !== 0) return undefined
      out += s.slice(i, j)
      i = j
      continue
    }
    if (s[i] === '\n') return undefined
    const c = unquoteCharAt(s, i, '"', 'any')
    if (c === undefined) return undefined
    out += appendChar(c)
    i = c.next
  }
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

/** strconv.Quote (or QuoteToASCII) of Unicode text. */
export function quote(s: string, asciiOnly = false): string {
  let out = '"'
  for (const ch of s) out += escapeRune(ch.codePointAt(0) ?? RUNE_ERROR, 0x22, asciiOnly)
  return out + '"'
}

/** strconv.QuoteRune / QuoteRuneToASCII. */
export function quoteRune(r: number, asciiOnly = false): string {
  const valid = r >= 0 && r <= MAX_RUNE && !isSurrogate(r)
  return "'" + escapeRune(valid ? r : RUNE_ERROR, 0x27, asciiOnly) + "'"
}

/** strconv.CanBackquote. */
export function canBackquote(s: string): boolean {
  for (const ch of s) {
    const r = ch.codePointAt(0) ?? 0
    if (r === 0xfeff) return false
    if ((r < 0x20 && r !== 9) || r === 0x60 || r === 0x7f || r === RUNE_ERROR) return false
  }
  return true
}

/** Go's underscoreOK: `_` only between digits, or between a base prefix and a digit. */
function underscoreOk(text: string): boolean {
  let s = text
  if (s[0] === '-' || s[0] === '+') s = s.slice(1)
  let saw = '^'
  let i = 0
  let hex = false
  const p = (s[1] ?? '').toLowerCase()
  if (s.length >= 2 && s[0] === '0' && (p === 'b' || p === 'o' || p === 'x')) {
    i = 2
    saw = '0' // a base prefix counts as a digit
    hex = p === 'x'
  }
  for (; i < s.length; i++) {
    const c = s[i] ?? ''
    if ((c >= '0' && c <= '9') || (hex && /^[a-fA-F]$/.test(c))) {
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

/** A Go ParseInt / ParseUint result. On a range error `value` is Go's: the bound nearest the text. */
export type ParsedInt =
  | { readonly ok: true; readonly value: bigint }
  | { readonly ok: false; readonly error: 'syntax' }
  | { readonly ok: false; readonly error: 'range'; readonly value: bigint }

const MAX_UINT64 = (1n << 64n) - 1n
const INT64_LIMIT = 1n << 63n

/**
 * strconv.ParseUint(s, 0, 64): `0x` / `0o` / `0b` prefixes, a leading 0 for octal, `_` separators.
 * As in Go, an overflow is reported as soon as it happens, before any later syntax error.
 */
export function goParseUint(s: string): ParsedInt {
  if (s === '') return { ok: false, error: 'syntax' }
  let base = 10
  let i = 0
  if (s[0] === '0') {
    const p = (s[1] ?? '').toLowerCase()
    if (s.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) {
      base = p === 'b' ? 2 : p === 'o' ? 8 : 16
      i = 2
    } else {
      base = 8
      i = 1
    }
  }
  const big = BigInt(base)
  let n = 0n
  let underscores = false
  for (; i < s.length; i++) {
    const c = (s[i] ?? '').toLowerCase()
    let d: number
    if (c === '_') {
      underscores = true
      continue
    } else if (c >= '0' && c <= '9') d = c.charCodeAt(0) - 0x30
    else if (c >= 'a' && c <= 'z') d = c.charCodeAt(0) - 0x61 + 10
    else return { ok: false, error: 'syntax' }
    if (d >= base) return { ok: false, error: 'syntax' }
    n = n * big + BigInt(d)
    if (n > MAX_UINT64) return { ok: false, error: 'range', value: MAX_UINT64 }
  }
  if (underscores && !underscoreOk(s)) return { ok: false, error: 'syntax' }
  return { ok: true, value: n }
}

/** strconv.ParseInt(s, 0, 64): an optional sign, then ParseUint's syntax. */
export function goParseInt(s: string): ParsedInt {
  if (s === '') return { ok: false, error: 'syntax' }
  const neg = s[0] === '-'
  const u = goParseUint(s[0] === '+' || s[0] === '-' ? s.slice(1) : s)
  if (!u.ok && u.error === 'syntax') return u
  if (!neg && u.value >= INT64_LIMIT) return { ok: false, error: 'range', value: INT64_LIMIT - 1n }
  if (neg && u.value > INT64_LIMIT) return { ok: false, error: 'range', value: -INT64_LIMIT }
  return { ok: true, value: neg ? -u.value : u.value }
}

const DECIMAL_FLOAT = /^[+-]?([0-9_]*\.?[0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?$/
const HEX_FLOAT = /^[+-]?0[xX]([0-9a-fA-F_]*)\.?([0-9a-fA-F_]*)[pP]([+-]?[0-9][0-9_]*)$/

/**
 * strconv.ParseFloat(s, 64): decimal and hexadecimal (`0x1.8p3`) literals with `_` separators, and
 * "Inf", "Infinity", "NaN" in any case; undefined on a syntax error or beyond float64's range.
 */
export function goParseFloat(s: string): number | undefined {
  const special = /^([+-]?)(inf|infinity)$|^nan$/i.exec(s)
  if (special)
    return special[0].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity
  let value: number
  const hex = HEX_FLOAT.exec(s)
  if (hex) {
    const int = (hex[1] ?? '').replaceAll('_', '')
    const frac = (hex[2] ?? '').replaceAll('_', '')
    if (int + frac === '') return undefined
    const exp = Number((hex[3] ?? '').replaceAll('_', '')) - 4 * frac.length
    value = scaleBinary(BigInt('0x' + int + frac), exp)
  } else {
    const dec = DECIMAL_FLOAT.exec(s)
    if (!dec || !/[0-9]/.test(dec[1] ?? '')) return undefined
    value = Math.abs(Number(s.replaceAll('_', '').replace(/^[+-]/, '')))
  }
  if (s.includes('_') && !underscoreOk(s)) return undefined
  if (!Number.isFinite(value)) return undefined
  return s[0] === '-' ? -value : value
}

/** mant × 2^exp rounded to the nearest float64, ties to even (Go's atofHex); Infinity past the range. */
function scaleBinary(mant: bigint, exp: number): number {
  if (mant === 0n) return 0
  if (exp > 2000) return Infinity
  const bits = mant.toString(2).length
  const top = bits - 1 + exp // exponent of the leading bit
  const keep = top >= -1022 ? 53 : 53 - (-1022 - top) // subnormals keep fewer bits
  if (keep < 0) return 0
  let m = mant
  let e = exp
  const shift = bits - keep
  if (shift > 0) {
    const cut = BigInt(shift)
    const rem = m & ((1n << cut) - 1n)
    const half = 1n << (cut - 1n)
    m >>= cut
    if (rem > half || (rem === half && (m & 1n) === 1n)) m += 1n
    e += shift
  }
  return Number(m) * 2 ** e
}
