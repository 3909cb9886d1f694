// Literal values the way Go's HCL v1 computes them (hcl/token Token.Value): HCL string unquoting,
// Go strconv.Unquote for JSON strings, heredoc unindenting, and strconv.ParseInt / ParseFloat.
// Each returns undefined where Go returns an error (or panics); callers decide what that means.

const MAX_RUNE = 0x10ffff
const REPLACEMENT = '\ufffd'
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** Collects decoded text; `\x` and octal escapes add raw bytes, decoded as UTF-8 when flushed. */
class TextBuilder {
  private text = ''
  private bytes: number[] = []

  addText(s: string): void {
    this.flush()
    this.text += s
  }

  addByte(b: number): void {
    this.bytes.push(b)
  }

  addRune(r: number): void {
    // Go's utf8.EncodeRune writes U+FFFD for surrogates and values past U+10FFFF.
    const invalid = (r >= 0xd800 && r <= 0xdfff) || r > MAX_RUNE
    this.addText(invalid ? REPLACEMENT : String.fromCodePoint(r))
  }

  result(): string {
    this.flush()
    return this.text
  }

  private flush(): void {
    if (this.bytes.length === 0) return
    this.text += Buffer.from(this.bytes).toString('utf8')
    this.bytes = []
  }
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  '\\': '\\',
  '"': '"',
}

/**
 * One escape or character of a double-quoted string, as Go's unquoteChar reads it. `strictRunes`
 * is Go's strconv (JSON strings): `\u` and `\U` must then name a valid rune, not a surrogate.
 * Returns the index after it, or -1 on an invalid escape.
 */
function unquoteChar(s: string, i: number, out: TextBuilder, strictRunes: boolean): number {
  const c = s[i]
  if (c === '"') return -1
  if (c !== '\\') {
    const cp = s.codePointAt(i) ?? 0
    out.addRune(cp)
    return i + (cp > 0xffff ? 2 : 1)
  }
  const e = s[i + 1]
  if (e === undefined) return -1
  const simple = SIMPLE_ESCAPES[e]
  if (simple !== undefined) {
    out.addText(simple)
    return i + 2
  }
  if (e === 'x' || e === 'u' || e === 'U') {
    const n = e === 'x' ? 2 : e === 'u' ? 4 : 8
    const digits = s.slice(i + 2, i + 2 + n)
    if (!/^[0-9a-fA-F]+$/.test(digits) || digits.length !== n) return -1
    const v = Number.parseInt(digits, 16)
    if (e === 'x') out.addByte(v)
    else if (v > MAX_RUNE || (strictRunes && v >= 0xd800 && v <= 0xdfff)) return -1
    else if (v < 0x80) out.addByte(v)
    else out.addRune(v)
    return i + 2 + n
  }
  if (e >= '0' && e <= '7') {
    const digits = s.slice(i + 1, i + 4)
    if (!/^[0-7]{3}$/.test(digits)) return -1
    const v = Number.parseInt(digits, 8)
    if (v > 255) return -1
    out.addByte(v)
    return i + 4
  }
  return -1
}

/** HCL v1's hcl/strconv.Unquote: Go escapes, and `${...}` sections copied exactly as written. */
export function unquoteHcl(quoted: string): string | undefined {
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined
  const s = quoted.slice(1, -1)
  if (!s.includes('$') && !s.includes('{') && s.includes('\n')) return undefined
  if (!s.includes('\\') && !s.includes('"') && !s.includes('$')) return s
  const out = new TextBuilder()
  let i = 0
  while (i < s.length) {
    if (s[i] === '$' && s[i + 1] === '{') {
      let braces = 1
      let j = i + 2
      while (j < s.length && braces > 0) {
        const cp = s.codePointAt(j) ?? 0
        if (cp === 0xfffd || (cp >= 0xd800 && cp <= 0xdfff)) return undefined
        if (cp === 0x7b) braces++
        else if (cp === 0x7d) braces--
        j += cp > 0xffff ? 2 : 1
      }
      if (braces !== 0) return undefined
      out.addText(s.slice(i, j))
      i = j
      continue
    }
    if (s[i] === '\n') return undefined
    i = unquoteChar(s, i, out, false)
    if (i < 0) return undefined
  }
  return out.result()
}

/** Go's strconv.Unquote for a double-quoted string (HCL v1 uses it for JSON-mode strings). */
export function unquoteGo(quoted: string): string | undefined {
  if (quoted.length < 2 || !quoted.startsWith('"') || !quoted.endsWith('"')) return undefined
  const s = quoted.slice(1, -1)
  if (s.includes('\n')) return undefined
  const out = new TextBuilder()
  let i = 0
  while (i < s.length) {
    i = unquoteChar(s, i, out, true)
    if (i < 0) return undefined
  }
  return out.result()
}

/**
 * HCL v1's unindentHeredoc. The index arithmetic is Go's on purpose: `<<EOT` strips exactly the
 * anchor from the last line (an indented terminator leaves its indentation in the value), and
 * `<<-EOT` removes the terminator's indentation from every line when all lines carry it.
 */
export function unindentHeredoc(heredoc: string): string {
  const idx = heredoc.indexOf('\n')
  if (heredoc[2] !== '-') return heredoc.slice(idx + 1, heredoc.length - idx + 1)
  const lines = heredoc.slice(idx + 1, heredoc.length - idx + 2).split('\n')
  const prefix = lines[lines.length - 1] ?? ''
  if (!lines.every((line) => line.startsWith(prefix))) {
    return heredoc.slice(idx + 1, heredoc.length - idx + 1).replace(/[ \t]+$/, '')
  }
  return lines
    .map((line, k) => (k === lines.length - 1 ? '' : line.slice(prefix.length)))
    .join('\n')
}

/** `range` keeps the unbounded value: Go's typed decode can still read such a literal as text. */
export type ParsedInt =
  | { ok: true; value: bigint }
  | { ok: false; error: 'range'; value: bigint }
  | { ok: false; error: 'syntax' }

/** Go's strconv.ParseInt(text, 0, 64): sign, 0x / 0o / 0b prefixes, leading 0 = octal, `_`. */
export function goParseInt(text: string): ParsedInt {
  // fast path for the common case: plain decimal that fits a double exactly
  if (/^-?(0|[1-9]\d{0,14})$/.test(text)) return { ok: true, value: BigInt(text) }
  let s = text
  let negative = false
  if (s.startsWith('+') || s.startsWith('-')) {
    negative = s.startsWith('-')
    s = s.slice(1)
  }
  if (s === '') return { ok: false, error: 'syntax' }
  const unsigned = s
  let base = 10n
  if (s.startsWith('0')) {
    const p = s[1]?.toLowerCase()
    if (s.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) {
      base = p === 'b' ? 2n : p === 'o' ? 8n : 16n
      s = s.slice(2)
    } else {
      base = 8n
      s = s.slice(1)
    }
  }
  let value = 0n
  let underscores = false
  for (const ch of s) {
    if (ch === '_') {
      underscores = true
      continue
    }
    if (!/^[0-9a-zA-Z]$/.test(ch)) return { ok: false, error: 'syntax' }
    const d = BigInt(Number.parseInt(ch, 36))
    if (d >= base) return { ok: false, error: 'syntax' }
    value = value * base + d
  }
  if (underscores && !underscoreOk(unsigned)) return { ok: false, error: 'syntax' }
  const signed = negative ? -value : value
  if (signed < INT64_MIN || signed > INT64_MAX) return { ok: false, error: 'range', value: signed }
  return { ok: true, value: signed }
}

// Go's strconv.underscoreOK: underscores only between digits, or right after a base prefix.
function underscoreOk(s: string): boolean {
  let saw = '^'
  let i = 0
  let hex = false
  const p = s[1]?.toLowerCase()
  if (s.length >= 2 && s[0] === '0' && (p === 'b' || p === 'o' || p === 'x')) {
    i = 2
    saw = '0'
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

/**
 * Go's strconv.ParseFloat(text, 64) for the number texts HCL's scanners produce (decimal digits,
 * a fraction, an exponent); a hex integer text such as `0x1F` is a syntax error there, as in Go.
 */
export function goParseFloat(text: string): number | undefined {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) return undefined
  const value = Number(text)
  return Number.isFinite(value) ? value : undefined
}
