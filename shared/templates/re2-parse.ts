// A parser for Go's RE2 regexp syntax (regexp/syntax), producing the tree that re2-vm.ts compiles.
// Error texts are Go's: `error parsing regexp: missing closing ): `(a``.

export class RegexpError extends Error {}

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
      readonly sub: Re
    }

export interface ParsedRegexp {
  readonly re: Re
  readonly names: readonly string[] // by capture index; [0] is the whole match
}

interface Flags {
  fold: boolean
  dotNL: boolean
  multiLine: boolean
  nonGreedy: boolean
}

type Pred = (cp: number) => boolean

const MAX_NESTING = 1000
const MAX_REPEAT = 1000

function fail(code: string, expr: string): never {
  throw new RegexpError(`error parsing regexp: ${code}: \`${expr}\``)
}

const between =
  (lo: number, hi: number): Pred =>
  (c) =>
    c >= lo && c <= hi
const anyOf =
  (...ps: Pred[]): Pred =>
  (c) =>
    ps.some((p) => p(c))
const not =
  (p: Pred): Pred =>
  (c) =>
    !p(c)

const DIGIT = between(0x30, 0x39)
const UPPER_ASCII = between(0x41, 0x5a)
const LOWER_ASCII = between(0x61, 0x7a)
const WORD = anyOf(DIGIT, UPPER_ASCII, LOWER_ASCII, (c) => c === 0x5f)
const SPACE: Pred = (c) => c === 9 || c === 10 || c === 12 || c === 13 || c === 32
export const isWordChar = WORD

const POSIX: Record<string, Pred> = {
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
const PERL: Record<string, Pred> = { d: DIGIT, w: WORD, s: SPACE }

function unicodePred(name: string): Pred | undefined {
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

const folded =
  (p: Pred): Pred =>
  (c) =>
    foldOrbit(c).some(p)

export class Re2Parser {
  private i = 0
  private numCap = 0
  private readonly names: string[] = ['']
  private flags: Flags = { fold: false, dotNL: false, multiLine: false, nonGreedy: false }
  private depth = 0

  constructor(private readonly s: string) {}

  parse(): ParsedRegexp {
    const re = this.parseAlt()
    if (this.i < this.s.length) fail('unexpected )', this.s) // only a ')' stops parseAlt early
    return { re, names: this.names }
  }

  private peek(k = 0): string {
    return this.s[this.i + k] ?? ''
  }

  private nextRune(): number {
    const c = this.s.codePointAt(this.i) ?? 0
    this.i += c > 0xffff ? 2 : 1
    return c
  }

  private parseAlt(): Re {
    const alts: Re[] = [this.parseConcat()]
    while (this.peek() === '|') {
      this.i++
      alts.push(this.parseConcat())
    }
    return alts.length === 1 ? (alts[0] ?? { op: 'empty' }) : { op: 'alt', subs: alts }
  }

  private parseConcat(): Re {
    const items: Re[] = []
    let lastRepeat = -1
    let canRepeat = false
    while (this.i < this.s.length) {
      const c = this.peek()
      if (c === '|' || c === ')') break
      const start = this.i
      const rep = this.repeatOp()
      if (rep) {
        const [min, max] = rep
        let greedy = !this.flags.nonGreedy
        if (this.peek() === '?') {
          this.i++
          greedy = !greedy
        }
        if (!canRepeat) fail('missing argument to repetition operator', this.s.slice(start, this.i))
        if (lastRepeat >= 0)
          fail('invalid nested repetition operator', this.s.slice(lastRepeat, this.i))
        const sub = items.pop() ?? { op: 'empty' }
        items.push({ op: 'rep', min, max, greedy, sub })
        lastRepeat = start
        continue
      }
      lastRepeat = -1
      const atom = this.parseAtom()
      canRepeat = atom !== undefined
      if (atom) items.push(atom)
    }
    if (items.length === 1) return items[0] ?? { op: 'empty' }
    return items.length === 0 ? { op: 'empty' } : { op: 'cat', subs: items }
  }

  /** `*`, `+`, `?` or a valid `{n,m}` at the cursor (consumed): [min, max]; max -1 means unbounded. */
  private repeatOp(): [number, number] | undefined {
    const c = this.peek()
    if (c === '*' || c === '+' || c === '?') {
      this.i++
      return c === '*' ? [0, -1] : c === '+' ? [1, -1] : [0, 1]
    }
    if (c !== '{') return undefined
    const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(this.s.slice(this.i))
    if (!m) return undefined
    const num = (t: string): number | undefined =>
      t.length >= 2 && t[0] === '0' ? undefined : t.length > 8 ? -1 : Number(t)
    const min = num(m[1] ?? '')
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : num(m[3] ?? '')
    if (min === undefined || max === undefined) return undefined
    if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max))
      fail('invalid repeat count', m[0])
    this.i += m[0].length
    return [min, max]
  }

  /** One atom; undefined for a flag group such as `(?i)`, which matches nothing. */
  private parseAtom(): Re | undefined {
    const c = this.peek()
    const f = this.flags
    switch (c) {
      case '(':
        return this.parseGroup()
      case '[':
        return this.parseClass()
      case '.':
        this.i++
        return { op: 'char', test: f.dotNL ? () => true : (x) => x !== 10 }
      case '^':
        this.i++
        return { op: 'assert', kind: f.multiLine ? 'bol' : 'bot' }
      case '$':
        this.i++
        return { op: 'assert', kind: f.multiLine ? 'eol' : 'eot' }
      case '\\':
        return this.parseEscapeAtom()
    }
    return this.literal(this.nextRune())
  }

  private literal(cp: number): Re {
    if (!this.flags.fold) return { op: 'char', test: (x) => x === cp }
    const orbit = foldOrbit(cp)
    return { op: 'char', test: (x) => orbit.includes(x) }
  }

  private parseGroup(): Re | undefined {
    const saved = this.flags
    let capIndex = -1
    if (this.peek(1) === '?') {
      const rest = this.s.slice(this.i)
      const named = /^\(\?P?<([^>]*)>/.exec(rest)
      if (named || rest.startsWith('(?P<') || (rest.startsWith('(?<') && rest.length > 3)) {
        if (!named) fail('invalid named capture', rest)
        if (!/^[0-9A-Za-z_]+$/.test(named[1] ?? '')) fail('invalid named capture', named[0])
        this.i += named[0].length
        capIndex = ++this.numCap
        this.names.push(named[1] ?? '')
      } else if (this.parseFlags()) {
        return undefined
      }
    } else {
      this.i++
      capIndex = ++this.numCap
      this.names.push('')
    }
    if (++this.depth > MAX_NESTING) fail('expression nests too deeply', this.s)
    this.flags = { ...this.flags }
    const sub = this.parseAlt()
    this.depth--
    if (this.peek() !== ')') fail('missing closing )', this.s)
    this.i++
    this.flags = saved
    return capIndex >= 0 ? { op: 'cap', index: capIndex, sub } : sub
  }

  /** `(?flags)` (returns true: flags changed for the rest of the group) or `(?flags:` (false). */
  private parseFlags(): boolean {
    const rest = this.s.slice(this.i)
    const f = { ...this.flags }
    let sign = 1
    let sawFlag = false
    for (let j = 2; j < rest.length; j++) {
      const c = rest[j]
      if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
        const on = sign > 0
        if (c === 'i') f.fold = on
        else if (c === 'm') f.multiLine = on
        else if (c === 's') f.dotNL = on
        else f.nonGreedy = on
        sawFlag = true
      } else if (c === '-' && sign > 0) {
        sign = -1
        sawFlag = false
      } else if ((c === ':' || c === ')') && !(sign < 0 && !sawFlag)) {
        // `(?flags)` changes the rest of the group; `(?flags:` opens a group starting with them.
        this.i += j + 1
        this.flags = f
        return c === ')'
      } else {
        return fail('invalid or unsupported Perl syntax', rest.slice(0, j + 1))
      }
    }
    return fail('invalid or unsupported Perl syntax', rest)
  }

  private parseEscapeAtom(): Re {
    const c = this.peek(1)
    const simpleAsserts: Record<string, Assertion> = { A: 'bot', z: 'eot', b: 'wb', B: 'nwb' }
    const a = simpleAsserts[c]
    if (a !== undefined) {
      this.i += 2
      return { op: 'assert', kind: a }
    }
    if (c === 'Q') {
      const end = this.s.indexOf('\\E', this.i + 2)
      const lit = this.s.slice(this.i + 2, end < 0 ? undefined : end)
      this.i = end < 0 ? this.s.length : end + 2
      const subs = [...lit].map((ch) => this.literal(ch.codePointAt(0) ?? 0))
      return subs.length === 1 ? (subs[0] ?? { op: 'empty' }) : { op: 'cat', subs }
    }
    const cls = this.perlOrUnicodeClass()
    if (cls) return { op: 'char', test: this.flags.fold ? folded(cls) : cls }
    return this.literal(this.parseEscape(this.i))
  }

  /** `\d \s \w \D \S \W \pX \p{X} \PX` at the cursor, consumed; undefined otherwise. */
  private perlOrUnicodeClass(): Pred | undefined {
    const c = this.peek(1)
    const perl = PERL[c.toLowerCase()]
    if (perl !== undefined && 'dswDSW'.includes(c) && c !== '') {
      this.i += 2
      return c === c.toLowerCase() ? perl : not(perl)
    }
    if (c !== 'p' && c !== 'P') return undefined
    const start = this.i
    let negate = c === 'P'
    this.i += 2
    let name: string
    if (this.peek() === '{') {
      const end = this.s.indexOf('}', this.i)
      if (end < 0) fail('invalid character class range', this.s.slice(start))
      name = this.s.slice(this.i + 1, end)
      this.i = end + 1
    } else {
      if (this.i >= this.s.length) fail('invalid character class range', this.s.slice(start))
      name = String.fromCodePoint(this.nextRune())
    }
    if (name.startsWith('^')) {
      negate = !negate
      name = name.slice(1)
    }
    const p = unicodePred(name)
    if (p === undefined) fail('invalid character class range', this.s.slice(start, this.i))
    return negate ? not(p) : p
  }

  /** Go's parseEscape: one escaped character, as a code point. */
  private parseEscape(start: number): number {
    this.i++ // backslash
    if (this.i >= this.s.length) fail('trailing backslash at end of expression', '')
    const c = String.fromCodePoint(this.nextRune())
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 }
    if (simple[c] !== undefined) return simple[c]
    if (c < '\x80' && !/[0-9A-Za-z]/.test(c)) return c.charCodeAt(0)
    if ((c >= '1' && c <= '7' && /[0-7]/.test(this.peek())) || c === '0') {
      let r = c.charCodeAt(0) - 48
      for (let k = 1; k < 3 && /[0-7]/.test(this.peek()); k++)
        r = r * 8 + (this.s.charCodeAt(this.i++) - 48)
      return r
    }
    if (c === 'x' && this.i < this.s.length) {
      const r = this.hexEscape()
      if (r !== undefined) return r
    }
    // Go reports the text it consumed before giving up.
    return fail('invalid escape sequence', this.s.slice(start, this.i))
  }

  /** After `\x`: `{hex...}` or two hex digits; undefined (having consumed what Go consumes) if bad. */
  private hexEscape(): number | undefined {
    const hex = (cp: number): number => (cp < 0x80 ? parseInt(String.fromCharCode(cp), 16) : NaN)
    const d = this.nextRune()
    if (d === 0x7b) {
      let r = 0
      let nhex = 0
      for (;;) {
        if (this.i >= this.s.length) return undefined
        const e = this.nextRune()
        if (e === 0x7d) break
        const v = hex(e)
        if (Number.isNaN(v)) return undefined
        r = r * 16 + v
        if (r > 0x10ffff) return undefined
        nhex++
      }
      return nhex === 0 ? undefined : r
    }
    const x = hex(d)
    const y = this.i < this.s.length ? hex(this.nextRune()) : NaN
    return Number.isNaN(x) || Number.isNaN(y) ? undefined : x * 16 + y
  }

  private parseClass(): Re {
    const start = this.i
    this.i++
    let negate = false
    if (this.peek() === '^') {
      negate = true
      this.i++
    }
    const preds: Pred[] = []
    let first = true
    for (;;) {
      if (this.i >= this.s.length) fail('missing closing ]', this.s.slice(start))
      if (this.peek() === ']' && !first) break
      first = false
      const end = this.s.startsWith('[:', this.i) ? this.s.indexOf(':]', this.i + 2) : -1
      if (end >= 0) {
        const inner = this.s.slice(this.i + 2, end)
        const name = inner.startsWith('^') ? inner.slice(1) : inner
        const p = Object.hasOwn(POSIX, name) ? POSIX[name] : undefined
        if (p === undefined) fail('invalid character class range', this.s.slice(this.i, end + 2))
        preds.push(inner.startsWith('^') ? not(p) : p)
        this.i = end + 2
        continue
      }
      if (this.peek() === '\\') {
        const p = this.perlOrUnicodeClass()
        if (p) {
          preds.push(p)
          continue
        }
      }
      const rangeStart = this.i
      const lo = this.classChar(start)
      let hi = lo
      if (this.peek() === '-' && this.peek(1) !== ']' && this.i + 1 < this.s.length) {
        this.i++
        hi = this.classChar(start)
        if (hi < lo) fail('invalid character class range', this.s.slice(rangeStart, this.i))
      }
      preds.push(between(lo, hi))
    }
    this.i++
    const member = anyOf(...preds)
    const test = this.flags.fold ? folded(member) : member
    return { op: 'char', test: negate ? not(test) : test }
  }

  private classChar(classStart: number): number {
    if (this.i >= this.s.length) fail('missing closing ]', this.s.slice(classStart))
    if (this.peek() === '\\') return this.parseEscape(this.i)
    return this.nextRune()
  }
}
