// The RE2 parser's cursor and its escape sequences (Go's parseEscape, \pX and Perl classes).

import { PERL, type Pred, fail, not, unicodePred } from './re2-syntax.js'

export abstract class Re2Scanner {
  protected i = 0

  constructor(protected readonly s: string) {}

  protected peek(k = 0): string {
    return this.s[this.i + k] ?? ''
  }

  protected nextRune(): number {
    const c = this.s.codePointAt(this.i) ?? 0
    this.i += c > 0xffff ? 2 : 1
    return c
  }

  /** `\d \s \w \D \S \W \pX \p{X} \PX` at the cursor, consumed; undefined otherwise. */
  protected perlOrUnicodeClass(): Pred | undefined {
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
  protected parseEscape(start: number): number {
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
  protected hexEscape(): number | undefined {
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
}
