// Go's unicode predicates and simple (one rune to one rune) case mappings.

const LETTER = /^\p{L}$/u
const DIGIT = /^\p{Nd}$/u
const NUMBER = /^\p{N}$/u
const UPPER = /^\p{Lu}$/u
const LOWER = /^\p{Ll}$/u
const TITLE = /^\p{Lt}$/u
const PUNCT = /^\p{P}$/u
const WHITE_SPACE = /^\p{White_Space}$/u
const GRAPHIC = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u

const test = (re: RegExp, r: number): boolean =>
  r >= 0 && r <= 0x10ffff && re.test(String.fromCodePoint(r))

export const isLetter = (r: number): boolean => test(LETTER, r)
export const isDigit = (r: number): boolean => test(DIGIT, r)
export const isNumber = (r: number): boolean => test(NUMBER, r)
export const isUpper = (r: number): boolean => test(UPPER, r)
export const isLower = (r: number): boolean => test(LOWER, r)
export const isTitle = (r: number): boolean => test(TITLE, r)
export const isPunct = (r: number): boolean => test(PUNCT, r)

/** unicode.IsSpace: the Latin-1 set Go lists explicitly, White_Space above it. */
export function isSpace(r: number): boolean {
  if (r <= 0xff) {
    return r === 0x20 || (r >= 0x09 && r <= 0x0d) || r === 0x85 || r === 0xa0
  }
  return test(WHITE_SPACE, r)
}

/** unicode.IsPrint: letters, marks, numbers, punctuation, symbols and U+0020 only. */
export const isPrint = (r: number): boolean => r === 0x20 || test(GRAPHIC, r)

// JS case mapping is the full (SpecialCasing) one; Go's is the simple one. Where JS yields several code
// points Go keeps the rune unchanged, except U+0130 whose simple lowercase is 'i'.
function simpleMap(r: number, mapped: string): number {
  const cps = [...mapped]
  if (cps.length !== 1) return r === 0x130 && mapped.startsWith('i') ? 0x69 : r
  return cps[0]?.codePointAt(0) ?? r
}

export function toUpper(r: number): number {
  if (r < 0x80) return r >= 0x61 && r <= 0x7a ? r - 32 : r
  if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return r
  return simpleMap(r, String.fromCodePoint(r).toUpperCase())
}

export function toLower(r: number): number {
  if (r < 0x80) return r >= 0x41 && r <= 0x5a ? r + 32 : r
  if (r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return r
  return simpleMap(r, String.fromCodePoint(r).toLowerCase())
}

// Title case differs from upper case only for the Latin digraphs.
const TITLE_DIGRAPHS = new Map<number, number>([
  [0x1c4, 0x1c5],
  [0x1c5, 0x1c5],
  [0x1c6, 0x1c5],
  [0x1c7, 0x1c8],
  [0x1c8, 0x1c8],
  [0x1c9, 0x1c8],
  [0x1ca, 0x1cb],
  [0x1cb, 0x1cb],
  [0x1cc, 0x1cb],
  [0x1f1, 0x1f2],
  [0x1f2, 0x1f2],
  [0x1f3, 0x1f2],
])

export const toTitle = (r: number): number => TITLE_DIGRAPHS.get(r) ?? toUpper(r)

/** Maps each rune of `s`. */
export function mapRunes(s: string, f: (r: number) => number): string {
  let out = ''
  for (const ch of s) out += String.fromCodePoint(f(ch.codePointAt(0) ?? 0xfffd))
  return out
}
