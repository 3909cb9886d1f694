// A parser for Go's RE2 regexp syntax (regexp/syntax), producing the tree that re2-vm.ts compiles.
// Error texts are Go's: `error parsing regexp: missing closing ): `(a``.

import { Re2Scanner } from './re2-escape.js'
import {
  repeatIsValid,
  type Assertion,
  POSIX,
  type ParsedRegexp,
  type Pred,
  type Re,
  anyOf,
  between,
  fail,
  foldOrbit,
  folded,
  not,
} from './re2-syntax.js'

export {
  RegexpError,
  type Re,
  type ParsedRegexp,
  type Assertion,
  isWordChar,
} from './re2-syntax.js'

interface Flags {
  fold: boolean
  dotNL: boolean
  multiLine: boolean
  nonGreedy: boolean
}
const MAX_NESTING = 1000
const MAX_REPEAT = 1000

export class Re2Parser extends Re2Scanner {
  private numCap = 0
  private readonly names: string[] = ['']
  private flags: Flags = { fold: false, dotNL: false, multiLine: false, nonGreedy: false }
  private depth = 0

  parse(): ParsedRegexp {
    const re = this.parseAlt()
    if (this.i < this.s.length) fail('unexpected )', this.s) // only a ')' stops parseAlt early
    return { re, names: this.names }
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
        const [min, max, counted] = rep
        let greedy = !this.flags.nonGreedy
        if (this.peek() === '?') {
          this.i++
          greedy = !greedy
        }
        if (!canRepeat) fail('missing argument to repetition operator', this.s.slice(start, this.i))
        if (lastRepeat >= 0)
          fail('invalid nested repetition operator', this.s.slice(lastRepeat, this.i))
        const sub = items.pop() ?? { op: 'empty' }
        const node: Re = { op: 'rep', min, max, greedy, counted, sub }
        if (counted && (min >= 2 || max >= 2) && !repeatIsValid(node, MAX_REPEAT)) {
          fail('invalid repeat count', this.s.slice(start, this.i))
        }
        items.push(node)
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

  /**
   * `*`, `+`, `?` or a valid `{n,m}` at the cursor (consumed): [min, max, counted]; max -1 means
   * unbounded, counted marks the `{n,m}` form.
   */
  private repeatOp(): [number, number, boolean] | undefined {
    const c = this.peek()
    if (c === '*' || c === '+' || c === '?') {
      this.i++
      return c === '*' ? [0, -1, false] : c === '+' ? [1, -1, false] : [0, 1, false]
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
    return [min, max, true]
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
