// Translates Go's RE2 regexp syntax into an equivalent JavaScript RegExp (u flag), reporting syntax
// errors with Go's messages (`error parsing regexp: missing closing ): `(a``). Anchors, `.`, `\s` and
// flag groups are rewritten so that their Go meaning survives; what cannot be expressed is rejected.

export class RegexpError extends Error {}

export interface CompiledRegexp {
  readonly expr: string
  readonly re: RegExp // global + unicode; use lastIndex to search from a position
  readonly names: readonly string[] // capture group names by index ('' when unnamed); [0] is the match
}

interface Flags {
  dotNL: boolean
  multiLine: boolean
  nonGreedy: boolean
}

function fail(code: string, expr: string): never {
  throw new RegexpError(`error parsing regexp: ${code}: \`${expr}\``)
}

const POSIX: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7f', blank: '\\t ', cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~', space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
}
const GO_SPACE = '\\t\\n\\f\\r '
const PERL_CLASS: Record<string, string> = { d: '0-9', w: '0-9A-Za-z_', s: GO_SPACE }
const hexCp = (cp: number): string => `\\u{${cp.toString(16)}}`
const isAlnum = (c: string): boolean => /^[0-9A-Za-z]$/.test(c)

function unicodeClass(name: string, negate: boolean, text: string): string {
  const body = name === 'Any' ? 'Any' : /^[A-Z][a-z]?$/.test(name) ? name : `Script=${name}`
  try {
    new RegExp(`\\p{${body}}`, 'u')
  } catch {
    fail('invalid character class range', text)
  }
  return `${negate ? '\\P' : '\\p'}{${body}}`
}

class Translator {
  private i = 0
  private out = ''
  private readonly names: string[] = ['']
  private ignoreCase = false

  constructor(private readonly s: string) {}

  private peek(k = 0): string {
    return this.s[this.i + k] ?? ''
  }

  private cp(): string {
    const c = this.s.codePointAt(this.i)
    return c === undefined ? '' : String.fromCodePoint(c)
  }

  compile(): CompiledRegexp {
    const stack: { flags: Flags; start: number }[] = []
    let flags: Flags = { dotNL: false, multiLine: false, nonGreedy: false }
    let canRepeat = false
    let lastRepeat = -1
    while (this.i < this.s.length) {
      const c = this.peek()
      const start = this.i
      if (c === '*' || c === '+' || c === '?' || (c === '{' && this.repeatAt() !== undefined)) {
        let op = c
        if (c === '{') {
          const [min, max, len] = this.repeatAt() ?? [0, 0, 1]
          if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && min > max)) fail('invalid repeat count', this.s.slice(start, start + len))
          this.i += len
          op = this.s.slice(start, this.i)
        } else this.i++
        let lazy = flags.nonGreedy
        if (this.peek() === '?') {
          this.i++
          lazy = !lazy
        }
        if (!canRepeat) fail('missing argument to repetition operator', this.s.slice(start, this.i))
        if (lastRepeat >= 0) fail('invalid nested repetition operator', this.s.slice(lastRepeat, this.i))
        this.out += op + (lazy ? '?' : '')
        lastRepeat = start
        continue
      }
      lastRepeat = -1
      canRepeat = true
      if (c === '(') {
        if (this.peek(1) === '?') {
          const groupFlags = this.perlGroup(flags)
          if (groupFlags.kind === 'set') {
            flags = groupFlags.flags
            canRepeat = false
            continue
          }
          stack.push({ flags, start })
          flags = groupFlags.flags
          this.out += groupFlags.kind === 'named' ? '(' : '(?:'
        } else {
          this.i++
          stack.push({ flags, start })
          this.names.push('')
          this.out += '('
        }
        canRepeat = false
      } else if (c === ')') {
        const top = stack.pop()
        if (top === undefined) fail('unexpected )', this.s)
        flags = top.flags
        this.i++
        this.out += ')'
      } else if (c === '|') {
        this.i++
        this.out += '|'
        canRepeat = false
      } else if (c === '[') {
        this.out += this.parseClass()
      } else if (c === '.') {
        this.i++
        this.out += flags.dotNL ? '[\\s\\S]' : '[^\\n]'
      } else if (c === '^') {
        this.i++
        this.out += flags.multiLine ? '(?:(?<![^\\n]))' : '(?:(?<![\\s\\S]))'
      } else if (c === '$') {
        this.i++
        this.out += flags.multiLine ? '(?:(?![^\\n]))' : '(?:(?![\\s\\S]))'
      } else if (c === '\\') {
        this.out += this.parseEscapeOutside()
      } else {
        const ch = this.cp()
        this.i += ch.length
        this.out += isAlnum(ch) || ch === ' ' ? ch : hexCp(ch.codePointAt(0) ?? 0)
      }
    }
    if (stack.length > 0) fail('missing closing )', this.s)
    let re: RegExp
    try {
      re = new RegExp(this.out, this.ignoreCase ? 'giu' : 'gu')
    } catch {
      fail('invalid or unsupported Perl syntax', this.s)
    }
    return { expr: this.s, re, names: this.names }
  }

  /** `{n}`, `{n,}` or `{n,m}` at the cursor: [min, max (-1: none), length], or undefined if literal. */
  private repeatAt(): [number, number, number] | undefined {
    const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(this.s.slice(this.i))
    if (!m) return undefined
    const num = (t: string): number | undefined => (t.length >= 2 && t[0] === '0' ? undefined : t.length > 8 ? -1 : Number(t))
    const min = num(m[1] ?? '')
    if (min === undefined) return undefined
    let max = min
    if (m[2] !== undefined) {
      if (m[3] === '') max = -1
      else {
        const x = num(m[3] ?? '')
        if (x === undefined) return undefined
        max = x
      }
    }
    return [min, max, m[0].length]
  }

  private perlGroup(flags: Flags): { kind: 'set' | 'group' | 'named'; flags: Flags } {
    const rest = this.s.slice(this.i)
    const named = /^\(\?P?<([^>]*)>/.exec(rest)
    if (named || rest.startsWith('(?P<') || (rest.startsWith('(?<') && rest.length > 3)) {
      if (!named) fail('invalid named capture', rest)
      const name = named?.[1] ?? ''
      if (!/^[0-9A-Za-z_]+$/.test(name)) fail('invalid named capture', named?.[0] ?? rest)
      this.i += named?.[0].length ?? 0
      this.names.push(name)
      return { kind: 'named', flags }
    }
    const atStart = this.i === 0
    let j = 2
    const f = { ...flags }
    let negate = false
    let sawFlag = false
    let caseFlag: boolean | undefined
    for (; j < rest.length; j++) {
      const c = rest[j]
      if (c === 'i' || c === 'm' || c === 's' || c === 'U') {
        sawFlag = true
        if (c === 'i') caseFlag = !negate
        else if (c === 'm') f.multiLine = !negate
        else if (c === 's') f.dotNL = !negate
        else f.nonGreedy = !negate
      } else if (c === '-' && !negate) {
        negate = true
        sawFlag = false
      } else if ((c === ':' || c === ')') && !(negate && !sawFlag)) {
        // deviation: JavaScript cannot scope case folding, so (?i) is accepted only at the very start.
        if (caseFlag !== undefined) {
          if (!(caseFlag && atStart && c === ')')) fail('invalid or unsupported Perl syntax', rest.slice(0, j + 1))
          this.ignoreCase = true
        }
        this.i += j + 1
        return { kind: c === ':' ? 'group' : 'set', flags: f }
      } else break
    }
    return fail('invalid or unsupported Perl syntax', rest.slice(0, Math.min(j + 1, rest.length)))
  }

  private parseEscapeOutside(): string {
    const start = this.i
    const c = this.peek(1)
    switch (c) {
      case 'A':
        this.i += 2
        return '(?:(?<![\\s\\S]))'
      case 'z':
        this.i += 2
        return '(?:(?![\\s\\S]))'
      case 'b':
      case 'B':
        this.i += 2
        return `(?:\\${c})`
      case 'Q': {
        const end = this.s.indexOf('\\E', this.i + 2)
        const lit = this.s.slice(this.i + 2, end < 0 ? undefined : end)
        this.i = end < 0 ? this.s.length : end + 2
        return [...lit].map((ch) => (isAlnum(ch) ? ch : hexCp(ch.codePointAt(0) ?? 0))).join('')
      }
      case 'd':
      case 'w':
        this.i += 2
        return `[${PERL_CLASS[c]}]`
      case 'D':
      case 'W':
      case 'S':
        this.i += 2
        return `[^${PERL_CLASS[c.toLowerCase()]}]`
      case 's':
        this.i += 2
        return `[${GO_SPACE}]`
      case 'p':
      case 'P':
        return this.parseUnicodeEscape()
    }
    const cp = this.parseEscape(start)
    return hexCp(cp)
  }

  private parseUnicodeEscape(): string {
    const start = this.i
    let negate = this.peek(1) === 'P'
    this.i += 2
    let name: string
    if (this.peek() === '{') {
      const end = this.s.indexOf('}', this.i)
      if (end < 0) fail('invalid character class range', this.s.slice(start))
      name = this.s.slice(this.i + 1, end)
      this.i = end + 1
    } else {
      name = this.cp()
      if (name === '') fail('invalid character class range', this.s.slice(start))
      this.i += name.length
    }
    if (name.startsWith('^')) {
      negate = !negate
      name = name.slice(1)
    }
    return unicodeClass(name, negate, this.s.slice(start, this.i))
  }

  /** Go's parseEscape for a single character; returns its code point. */
  private parseEscape(start: number): number {
    this.i++ // backslash
    const c = this.cp()
    if (c === '') fail('trailing backslash at end of expression', '')
    this.i += c.length
    const simple: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 }
    if (simple[c] !== undefined) return simple[c]
    if (c.length === 1 && c < '\x80' && !isAlnum(c)) return c.charCodeAt(0)
    if ((c >= '1' && c <= '7' && /[0-7]/.test(this.peek())) || c === '0') {
      let r = c.charCodeAt(0) - 48
      for (let k = 1; k < 3 && /[0-7]/.test(this.peek()); k++) r = r * 8 + (this.s.charCodeAt(this.i++) - 48)
      return r
    }
    if (c === 'x') {
      if (this.peek() === '{') {
        const m = /^\{([0-9A-Fa-f]+)\}/.exec(this.s.slice(this.i))
        const v = m ? parseInt(m[1] ?? '', 16) : NaN
        if (m && v <= 0x10ffff) {
          this.i += m[0].length
          return v
        }
      } else if (/^[0-9A-Fa-f]{2}/.test(this.s.slice(this.i))) {
        this.i += 2
        return parseInt(this.s.slice(this.i - 2, this.i), 16)
      }
      const after = this.s.slice(this.i)
      this.i += after.startsWith('{') ? Math.max(after.indexOf('}') + 1, 1) : Math.min(2, after.length)
    }
    return fail('invalid escape sequence', this.s.slice(start, this.i))
  }

  private parseClass(): string {
    const start = this.i
    this.i++
    let out = '['
    if (this.peek() === '^') {
      out += '^'
      this.i++
    }
    let first = true
    for (;;) {
      if (this.i >= this.s.length) fail('missing closing ]', this.s.slice(start))
      if (this.peek() === ']' && !first) break
      first = false
      const rest = this.s.slice(this.i)
      const posix = /^\[:(\^?)([a-z]*):\]/.exec(rest)
      if (posix) {
        const set = POSIX[posix[2] ?? '']
        if (set === undefined) fail('invalid character class range', posix[0])
        if (posix[1] === '^') fail('invalid or unsupported Perl syntax', posix[0]) // deviation: negated POSIX classes
        out += set
        this.i += posix[0].length
        continue
      }
      if (this.peek() === '\\' && /[dswDSWpP]/.test(this.peek(1))) {
        const e = this.peek(1)
        if (e === 'p' || e === 'P') out += this.parseUnicodeEscape()
        else {
          this.i += 2
          out += e === 's' ? GO_SPACE : e === 'S' ? '\\S' : `\\${e}`
        }
        continue
      }
      const rangeStart = this.i
      const lo = this.classChar(start)
      let hi = lo
      if (this.peek() === '-' && this.peek(1) !== ']' && this.i + 1 < this.s.length) {
        this.i++
        hi = this.classChar(start)
        if (hi < lo) fail('invalid character class range', this.s.slice(rangeStart, this.i))
      }
      out += hi === lo ? hexCp(lo) : `${hexCp(lo)}-${hexCp(hi)}`
    }
    this.i++
    return out + ']'
  }

  private classChar(classStart: number): number {
    if (this.i >= this.s.length) fail('missing closing ]', this.s.slice(classStart))
    if (this.peek() === '\\') return this.parseEscape(this.i)
    const ch = this.cp()
    this.i += ch.length
    return ch.codePointAt(0) ?? 0
  }
}

/** regexp.Compile. Throws RegexpError with Go's message. */
export function compileRe2(expr: string): CompiledRegexp {
  return new Translator(expr).compile()
}

/** regexp.QuoteMeta. */
export const quoteMeta = (s: string): string => s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')
