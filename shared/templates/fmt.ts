// Go's fmt.Sprint, Sprintln and Sprintf (fmt/print.go) over template values.

import { LimitError } from './errors.js'
import { type FmtFlags, fmtFloat, fmtInteger, newFlags, pad } from './fmt-number.js'
import { canBackquote, quote, quoteRune } from './strconv.js'
import { isPrint } from './unicode.js'
import { runeToString, toBytes } from './utf8.js'
import { GoNil, GoStruct, GoTypedInt, type GoValue, typeName } from './values.js'

const MAX_WIDTH = 1_000_000 // Go's tooLarge bound for widths and precisions

class Printer {
  f: FmtFlags = newFlags()
  out = ''

  constructor(private readonly maxBytes: number) {}

  write(s: string): void {
    this.out += s
    if (this.out.length > this.maxBytes)
      throw new LimitError(`formatted value exceeds ${this.maxBytes} bytes`)
  }

  /** Go keeps the verb's flags when it prints the value inside `%!verb(type=value)`. */
  badVerb(verb: string, arg: GoValue): void {
    this.write('%!' + verb + '(')
    if (arg === null) this.write('<nil>')
    else {
      this.write(typeName(arg) + '=')
      this.printArg(arg, 'v')
    }
    this.write(')')
  }

  printArg(arg: GoValue, verb: string): void {
    if (arg === null) {
      if (verb === 'T' || verb === 'v') this.write(pad(this.f, '<nil>'))
      else this.badVerb(verb, arg)
      return
    }
    if (verb === 'T') {
      this.write(pad(this.f, typeName(arg)))
      return
    }
    this.printValue(arg, verb, 0)
  }

  printValue(v: GoValue, verb: string, depth: number): void {
    if (v === null) {
      this.write(pad(this.f, '<nil>'))
      return
    }
    switch (typeof v) {
      case 'boolean':
        if (verb === 't' || verb === 'v') this.write(pad(this.f, v ? 'true' : 'false'))
        else this.badVerb(verb, v)
        return
      case 'bigint':
        this.fmtInt(v, false, verb, v)
        return
      case 'number':
        this.fmtFloatVerb(v, verb)
        return
      case 'string':
        this.fmtString(v, verb)
        return
    }
    if (v instanceof GoTypedInt) {
      this.fmtInt(v.value, v.unsigned, verb, v)
      return
    }
    if (
      this.f.sharpV &&
      (Array.isArray(v) || v instanceof Map || v instanceof GoStruct || v instanceof GoNil)
    ) {
      this.printGoSyntax(v, depth)
      return
    }
    if (Array.isArray(v)) {
      this.write('[')
      v.forEach((e, i) => {
        if (i > 0) this.write(' ')
        this.printValue(e, verb, depth + 1)
      })
      this.write(']')
      return
    }
    if (v instanceof Map) {
      this.write('map[')
      ;[...v.keys()].sort(compareStrings).forEach((k, i) => {
        if (i > 0) this.write(' ')
        this.printValue(k, verb, depth + 1)
        this.write(':')
        this.printValue(v.get(k) ?? null, verb, depth + 1)
      })
      this.write(']')
      return
    }
    if (v instanceof GoStruct) {
      this.write('{')
      let i = 0
      for (const [name, fv] of v.fields) {
        if (i++ > 0) this.write(' ')
        if (this.f.plusV) this.write(name + ':')
        this.printValue(fv, verb, depth + 1)
      }
      this.write('}')
      return
    }
    if (v instanceof GoNil) {
      if (verb === 'v') this.write(pad(this.f, '<nil>'))
      else this.badVerb(verb, v)
    }
  }

  /** %#v of composite values: Go-syntax representation. */
  printGoSyntax(v: GoValue[] | Map<string, GoValue> | GoStruct | GoNil, depth: number): void {
    const elem = (e: GoValue): void => {
      if (e === null) this.write('interface {}(nil)')
      else this.printValue(e, 'v', depth + 1)
    }
    if (v instanceof GoNil) {
      this.write(`(${v.type})(nil)`)
      return
    }
    this.write(typeName(v) + '{')
    if (Array.isArray(v)) {
      v.forEach((e, i) => {
        if (i > 0) this.write(', ')
        elem(e)
      })
    } else if (v instanceof Map) {
      ;[...v.keys()].sort(compareStrings).forEach((k, i) => {
        if (i > 0) this.write(', ')
        this.write(quote(k) + ':')
        elem(v.get(k) ?? null)
      })
    } else {
      let i = 0
      for (const [name, fv] of v.fields) {
        if (i++ > 0) this.write(', ')
        this.write(name + ':')
        elem(fv)
      }
    }
    this.write('}')
  }

  fmtInt(n: bigint, unsigned: boolean, verb: string, orig: GoValue): void {
    const f = this.f
    switch (verb) {
      case 'v':
        if (f.sharpV && unsigned) this.write(fmtInteger({ ...f, sharp: true }, n, 16, verb, false))
        else this.write(fmtInteger(f, n, 10, verb, false))
        return
      case 'd':
        this.write(fmtInteger(f, n, 10, verb, false))
        return
      case 'b':
        this.write(fmtInteger(f, n, 2, verb, false))
        return
      case 'o':
      case 'O':
        this.write(fmtInteger(f, n, 8, verb, false))
        return
      case 'x':
      case 'X':
        this.write(fmtInteger(f, n, 16, verb, verb === 'X'))
        return
      case 'c':
        this.write(pad(f, runeToString(runeOf(n))))
        return
      case 'q':
        this.write(pad(f, quoteRune(runeOf(n), f.plus)))
        return
      case 'U': {
        const u = n < 0n ? n + (1n << 64n) : n
        const prec = f.precPresent && f.prec > 4 ? f.prec : 4
        let s = 'U+' + u.toString(16).toUpperCase().padStart(prec, '0')
        if (f.sharp && u <= 0x10ffffn && isPrint(Number(u))) s += ` '${runeToString(Number(u))}'`
        this.write(padNoZero(f, s))
        return
      }
    }
    this.badVerb(verb, orig)
  }

  fmtFloatVerb(v: number, verb: string): void {
    switch (verb) {
      case 'v':
        this.write(fmtFloat(this.f, v, 'g', -1))
        return
      case 'g':
      case 'G':
      case 'b':
      case 'x':
      case 'X':
        this.write(fmtFloat(this.f, v, verb, -1))
        return
      case 'f':
      case 'F':
        this.write(fmtFloat(this.f, v, 'f', 6))
        return
      case 'e':
      case 'E':
        this.write(fmtFloat(this.f, v, verb, 6))
        return
    }
    this.badVerb(verb, v)
  }

  fmtString(s: string, verb: string): void {
    const f = this.f
    switch (verb) {
      case 'v':
        this.write(f.sharpV ? pad(f, quote(s)) : pad(f, truncate(f, s)))
        return
      case 's':
        this.write(pad(f, truncate(f, s)))
        return
      case 'q': {
        const t = truncate(f, s)
        this.write(pad(f, f.sharp && canBackquote(t) ? '`' + t + '`' : quote(t, f.plus)))
        return
      }
      case 'x':
      case 'X':
        this.write(pad(f, hexOf(f, toBytes(s), verb === 'X')))
        return
    }
    this.badVerb(verb, s)
  }
}

const padNoZero = (f: FmtFlags, s: string): string => pad({ ...f, zero: false }, s)
const isDigitAt = (s: string, i: number): boolean => s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57
const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)
const runeOf = (n: bigint): number => (n < 0n || n > 0x10ffffn ? 0xfffd : Number(n))

function truncate(f: FmtFlags, s: string): string {
  if (!f.precPresent) return s
  return [...s].slice(0, f.prec).join('')
}

function hexOf(f: FmtFlags, bytes: string, upper: boolean): string {
  const n = f.precPresent && f.prec < bytes.length ? f.prec : bytes.length
  let out = ''
  for (let i = 0; i < n; i++) {
    if (f.space && i > 0) out += ' '
    if (f.sharp && (f.space || i === 0)) out += upper ? '0X' : '0x'
    const h = bytes.charCodeAt(i).toString(16).padStart(2, '0')
    out += upper ? h.toUpperCase() : h
  }
  return out
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
export function sprint(args: readonly GoValue[], maxBytes: number): string {
  const p = new Printer(maxBytes)
  let prevString = false
  args.forEach((a, i) => {
    const isString = typeof a === 'string'
    if (i > 0 && !isString && !prevString) p.write(' ')
    p.printArg(a, 'v')
    prevString = isString
  })
  return p.out
}

/** fmt.Sprintln: spaces between all operands, then a newline. */
export function sprintln(args: readonly GoValue[], maxBytes: number): string {
  const p = new Printer(maxBytes)
  args.forEach((a, i) => {
    if (i > 0) p.write(' ')
    p.printArg(a, 'v')
  })
  p.write('\n')
  return p.out
}

/** fmt.Sprintf. */
export function sprintf(format: string, args: readonly GoValue[], maxBytes: number): string {
  const p = new Printer(maxBytes)
  const end = format.length
  let argNum = 0
  let afterIndex = false
  let reordered = false
  let goodArgNum = true

  const parsenum = (start: number, stop: number): [number, boolean, number] => {
    if (start >= stop) return [0, false, stop]
    let num = 0
    let isnum = false
    let i = start
    for (; i < stop && isDigitAt(format, i); i++) {
      if (num > MAX_WIDTH) return [0, false, stop]
      num = num * 10 + (format.charCodeAt(i) - 48)
      isnum = true
    }
    return [num, isnum, i]
  }
  const argNumber = (i: number): [number, number, boolean] => {
    if (i >= end || format[i] !== '[') return [argNum, i, false]
    reordered = true
    let index = 0
    let wid = 1
    let ok = false
    if (end - i >= 3) {
      const close = format.indexOf(']', i + 1)
      if (close >= 0) {
        const [n, isnum, newi] = parsenum(i + 1, close)
        wid = close - i + 1
        if (isnum && newi === close) {
          index = n - 1
          ok = true
        }
      }
    }
    if (ok && index >= 0 && index < args.length) return [index, i + wid, true]
    goodArgNum = false
    return [argNum, i + wid, ok]
  }
  const intFromArg = (): [number, boolean] => {
    if (argNum >= args.length) return [0, false]
    const a = args[argNum++] ?? null
    const n = typeof a === 'bigint' ? a : a instanceof GoTypedInt ? a.value : undefined
    if (n === undefined || n > BigInt(MAX_WIDTH) || n < -BigInt(MAX_WIDTH)) return [0, false]
    return [Number(n), true]
  }

  let i = 0
  while (i < end) {
    goodArgNum = true
    const pct = format.indexOf('%', i)
    const lasti = i
    i = pct < 0 ? end : pct
    if (i > lasti) p.write(format.slice(lasti, i))
    if (i >= end) break
    i++
    const f = newFlags()
    p.f = f
    flags: for (; i < end; i++) {
      switch (format[i]) {
        case '#':
          f.sharp = true
          break
        case '0':
          f.zero = true
          break
        case '+':
          f.plus = true
          break
        case '-':
          f.minus = true
          break
        case ' ':
          f.space = true
          break
        default:
          break flags
      }
    }
    ;[argNum, i, afterIndex] = argNumber(i)
    if (i < end && format[i] === '*') {
      i++
      ;[f.wid, f.widPresent] = intFromArg()
      if (!f.widPresent) p.write('%!(BADWIDTH)')
      if (f.wid < 0) {
        f.wid = -f.wid
        f.minus = true
        f.zero = false
      }
      afterIndex = false
    } else {
      ;[f.wid, f.widPresent, i] = parsenum(i, end)
      if (afterIndex && f.widPresent) goodArgNum = false
    }
    if (i + 1 < end && format[i] === '.') {
      i++
      if (afterIndex) goodArgNum = false
      ;[argNum, i, afterIndex] = argNumber(i)
      if (i < end && format[i] === '*') {
        i++
        ;[f.prec, f.precPresent] = intFromArg()
        if (f.prec < 0) {
          f.prec = 0
          f.precPresent = false
        }
        if (!f.precPresent) p.write('%!(BADPREC)')
        afterIndex = false
      } else {
        ;[f.prec, f.precPresent, i] = parsenum(i, end)
        if (!f.precPresent) {
          f.prec = 0
          f.precPresent = true
        }
      }
    }
    if (!afterIndex) [argNum, i, afterIndex] = argNumber(i)
    if (i >= end) {
      p.write('%!(NOVERB)')
      break
    }
    const cp = format.codePointAt(i) ?? 0
    const verb = String.fromCodePoint(cp)
    i += verb.length
    if (verb === '%') p.write('%')
    else if (!goodArgNum) p.write(`%!${verb}(BADINDEX)`)
    else if (argNum >= args.length) p.write(`%!${verb}(MISSING)`)
    else {
      if (verb === 'v') {
        f.sharpV = f.sharp
        f.sharp = false
        f.plusV = f.plus
        f.plus = false
      }
      p.printArg(args[argNum] ?? null, verb)
      argNum++
    }
  }
  if (!reordered && argNum < args.length) {
    p.f = newFlags()
    p.write('%!(EXTRA ')
    args.slice(argNum).forEach((a, k) => {
      if (k > 0) p.write(', ')
      if (a === null) p.write('<nil>')
      else {
        p.write(typeName(a) + '=')
        p.printArg(a, 'v')
      }
    })
    p.write(')')
  }
  return p.out
}
