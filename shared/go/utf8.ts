// Go strings are byte strings. The lexer and the byte-oriented functions (len, index, slice, trunc,
// substr, ...) work on "byte strings": JS strings whose code units are all < 256, one per UTF-8 byte.

const RUNE_ERROR = 0xfffd

/** UTF-8 bytes of `s` as a byte string. */
export function toBytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1')
}

/** Decodes a byte string as UTF-8; invalid sequences become U+FFFD (Go keeps the raw bytes). */
export function fromBytes(b: string): string {
  return Buffer.from(b, 'latin1').toString('utf8')
}

/** Number of UTF-8 bytes in `s` (Go's `len` of a string). */
export function byteLength(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}

/** Go's utf8.DecodeRuneInString on a byte string: `[rune, width]`, `[RUNE_ERROR, 1]` when invalid. */
export function decodeRune(b: string, pos: number): [number, number] {
  const c0 = b.charCodeAt(pos)
  if (Number.isNaN(c0)) return [RUNE_ERROR, 0]
  if (c0 < 0x80) return [c0, 1]
  const need = c0 >= 0xf0 && c0 < 0xf5 ? 3 : c0 >= 0xe0 ? 2 : c0 >= 0xc2 && c0 < 0xe0 ? 1 : -1
  if (need < 0 || c0 >= 0xf5) return [RUNE_ERROR, 1]
  let r = c0 & (0x3f >> need)
  for (let i = 1; i <= need; i++) {
    const c = b.charCodeAt(pos + i)
    if (Number.isNaN(c) || (c & 0xc0) !== 0x80) return [RUNE_ERROR, 1]
    if (i === 1) {
      // Reject overlong forms and surrogates exactly as Go does.
      if (c0 === 0xe0 && c < 0xa0) return [RUNE_ERROR, 1]
      if (c0 === 0xed && c > 0x9f) return [RUNE_ERROR, 1]
      if (c0 === 0xf0 && c < 0x90) return [RUNE_ERROR, 1]
      if (c0 === 0xf4 && c > 0x8f) return [RUNE_ERROR, 1]
    }
    r = (r << 6) | (c & 0x3f)
  }
  return [r, need + 1]
}

/** Go's utf8.DecodeLastRuneInString on a byte string. */
export function decodeLastRune(b: string, end: number): [number, number] {
  if (end <= 0) return [RUNE_ERROR, 0]
  let start = end - 1
  const lim = Math.max(0, end - 4)
  while (start > lim && (b.charCodeAt(start) & 0xc0) === 0x80) start--
  const [r, w] = decodeRune(b, start)
  if (start + w !== end) return [RUNE_ERROR, 1]
  return [r, w]
}

/** The code points of a JS string (Go's `[]rune(s)` after a UTF-8 round trip). */
export function runesOf(s: string): number[] {
  const out: number[] = []
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? RUNE_ERROR
    out.push(cp >= 0xd800 && cp <= 0xdfff ? RUNE_ERROR : cp)
  }
  return out
}

export function runeToString(r: number): string {
  if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return '\ufffd'
  return String.fromCodePoint(r)
}

export function runeCount(s: string): number {
  let n = 0
  for (const _ of s) n++
  return n
}
