// RE2 syntax shared by the parser and the VM: the regexp tree, character predicates (POSIX, Perl,
// Unicode classes) and case folding.

/** A regexp syntax error (Go's text), or with `limit` set, one of our size bounds. */
export class RegexpError extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message)
  }
}

export type Assertion = 'bot' | 'eot' | 'bol' | 'eol' | 'wb' | 'nwb'

export type Re =
  | { readonly op: 'empty' }
  | { readonly op: 'char'; readonly test: (cp: number) => boolean }
  | { readonly op: 'assert'; readonly kind: Assertion }
  | { readonly op: 'cat' | 'alt'; readonly subs: readonly Re[] }
  | { readonly op: 'cap'; readonly index: number; readonly sub: Re }
  | {
      readonly op: 'rep'
      readonly min: number
      readonly max: number
      readonly greedy: boolean
      readonly counted: boolean // written as {n,m} (Go's OpRepeat), not * + ?
      readonly sub: Re
    }

export interface ParsedRegexp {
  readonly re: Re
  readonly names: readonly string[] // by capture index; [0] is the whole match
}
export type Pred = (cp: number) => boolean
export function fail(code: string, expr: string): never {
  throw new RegexpError(`error parsing regexp: ${code}: \`${expr}\``)
}

export const between =
  (lo: number, hi: number): Pred =>
  (c) =>
    c >= lo && c <= hi
export const anyOf =
  (...ps: Pred[]): Pred =>
  (c) =>
    ps.some((p) => p(c))
export const not =
  (p: Pred): Pred =>
  (c) =>
    !p(c)

export const DIGIT = between(0x30, 0x39)
const UPPER_ASCII = between(0x41, 0x5a)
const LOWER_ASCII = between(0x61, 0x7a)
export const WORD = anyOf(DIGIT, UPPER_ASCII, LOWER_ASCII, (c) => c === 0x5f)
export const SPACE: Pred = (c) => c === 9 || c === 10 || c === 12 || c === 13 || c === 32
export const isWordChar = WORD

export const POSIX: Record<string, Pred> = {
  alnum: anyOf(DIGIT, UPPER_ASCII, LOWER_ASCII),
  alpha: anyOf(UPPER_ASCII, LOWER_ASCII),
  ascii: between(0, 0x7f),
  blank: (c) => c === 9 || c === 32,
  cntrl: (c) => c <= 0x1f || c === 0x7f,
  digit: DIGIT,
  graph: between(0x21, 0x7e),
  lower: LOWER_ASCII,
  print: between(0x20, 0x7e),
  punct: (c) =>
    (c >= 0x21 && c <= 0x2f) ||
    (c >= 0x3a && c <= 0x40) ||
    (c >= 0x5b && c <= 0x60) ||
    (c >= 0x7b && c <= 0x7e),
  space: (c) => SPACE(c) || c === 11,
  upper: UPPER_ASCII,
  word: WORD,
  xdigit: anyOf(DIGIT, between(0x41, 0x46), between(0x61, 0x66)),
}
export const PERL: Record<string, Pred> = { d: DIGIT, w: WORD, s: SPACE }

export function unicodePred(name: string): Pred | undefined {
  if (name === 'Any') return () => true
  const body = /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`
  let re: RegExp
  try {
    re = new RegExp(`^\\p{${body}}$`, 'u')
  } catch {
    return undefined
  }
  return (c) =>
    c >= 0 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff) && re.test(String.fromCodePoint(c))
}

// Simple case folding orbits beyond lower/upper (RE2 folds with Unicode's CaseFolding orbits).
const EXTRA_FOLDS: ReadonlyMap<number, readonly number[]> = new Map([
  [0x6b, [0x212a]],
  [0x4b, [0x212a]],
  [0x212a, [0x6b, 0x4b]],
  [0x73, [0x17f]],
  [0x53, [0x17f]],
  [0x17f, [0x73, 0x53]],
  [0xe5, [0x212b]],
  [0xc5, [0x212b]],
  [0x212b, [0xe5, 0xc5]],
  [0x3c9, [0x2126]],
  [0x3a9, [0x2126]],
  [0x2126, [0x3c9, 0x3a9]],
])

/** The runes that match `c` under case folding. */
export function foldOrbit(c: number): number[] {
  const out = new Set<number>([c])
  if (c >= 0 && c <= 0x10ffff && !(c >= 0xd800 && c <= 0xdfff)) {
    const s = String.fromCodePoint(c)
    for (const t of [s.toLowerCase(), s.toUpperCase()]) {
      const cps = [...t]
      if (cps.length === 1) out.add(cps[0]?.codePointAt(0) ?? c)
    }
  }
  for (const x of EXTRA_FOLDS.get(c) ?? []) out.add(x)
  return [...out]
}

export const folded =
  (p: Pred): Pred =>
  (c) =>
    foldOrbit(c).some(p)

/** Go's repeatIsValid: nested {n,m} repetitions may not multiply beyond `n` copies. */
export function repeatIsValid(re: Re, n: number): boolean {
  let budget = n
  if (re.op === 'rep' && re.counted) {
    let m = re.max
    if (m === 0) return true
    if (m < 0) m = re.min
    if (m > budget) return false
    if (m > 0) budget = Math.floor(budget / m)
  }
  switch (re.op) {
    case 'rep':
    case 'cap':
      return repeatIsValid(re.sub, budget)
    case 'cat':
    case 'alt':
      return re.subs.every((s) => repeatIsValid(s, budget))
    default:
      return true
  }
}
