// Go's fmt.Sprint, Sprintln and Sprintf (fmt/print.go) over template values.

import { newFlags } from './fmt-number.js'
import { Printer } from './fmt-printer.js'
import { GoTypedInt, type GoValue, typeName } from './values.js'

const MAX_WIDTH = 1_000_000 // Go's tooLarge bound for widths and precisions
const isDigitAt = (s: string, i: number): boolean => s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57

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
