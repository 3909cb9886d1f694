// fmt's printer (fmt/print.go printArg/printValue and the per-kind formatters) over template values.

import { LimitError } from './errors.js'
import { type FmtFlags, fmtFloat, fmtInteger, newFlags, pad } from './fmt-number.js'
import { canBackquote, quote, quoteRune } from '../strconv.js'
import { isPrint } from '../unicode.js'
import { runeToString, toBytes } from '../utf8.js'
import { GoNil, GoStruct, GoTypedInt, type GoValue, typeName } from './values.js'
/** One formatting run: its flags, its output, and the output bound. */
export class Printer {
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
// Go compares string keys byte-wise (UTF-8), not by UTF-16 code unit.
const compareStrings = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b))
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
