// Sprig's string functions (strings.go, plus the goutils and xstrings helpers it calls).

import { FuncError } from './errors.js'
import { sprintf } from './fmt.js'
import { type FuncContext, type FuncMap, checkSize, fn, int, str, val } from './funcs.js'
import { strslice, strval } from './sprig-strval.js'
import { quote as goQuote } from '../strconv.js'
import { camelcase, kebabcase, snakecase, swapcase, titleCase } from './sprig-case.js'
import { isSpace, mapRunes, toLower, toUpper } from '../unicode.js'
import { fromBytes, toBytes } from '../utf8.js'

const ANY = 'interface {}'

/** strings.Repeat with Go's panics and our size bound. */
export function repeat(ctx: FuncContext, s: string, count: number): string {
  if (count < 0) throw new FuncError('strings: negative Repeat count')
  checkSize(ctx, Buffer.byteLength(s) * count, 'repeat')
  return s.repeat(count)
}

/** strings.Trim(s, cutset) for a rune cutset. */
export function trimCutset(s: string, cutset: string): string {
  const cut = new Set([...cutset])
  const runes = [...s]
  let b = 0
  let e = runes.length
  while (b < e && cut.has(runes[b] ?? '')) b++
  while (e > b && cut.has(runes[e - 1] ?? '')) e--
  return runes.slice(b, e).join('')
}

/** strings.TrimSpace. */
export function trimSpace(s: string): string {
  const runes = [...s]
  const sp = (ch: string | undefined): boolean =>
    ch !== undefined && isSpace(ch.codePointAt(0) ?? 0)
  let b = 0
  let e = runes.length
  while (b < e && sp(runes[b])) b++
  while (e > b && sp(runes[e - 1])) e--
  return runes.slice(b, e).join('')
}

/** strings.Replace(s, old, new, -1): an empty `old` matches before every rune and at the end. */
export function replaceAll(ctx: FuncContext, s: string, old: string, repl: string): string {
  const runes = old === '' ? [...s] : []
  const n = old === '' ? runes.length + 1 : s.split(old).length - 1
  checkSize(
    ctx,
    Buffer.byteLength(s) + n * Math.max(Buffer.byteLength(repl) - Buffer.byteLength(old), 0),
    'replace',
  )
  if (old === '') return runes.reduce((acc, r) => acc + r + repl, repl)
  return s.split(old).join(repl)
}

/** s[lo:hi] on the bytes of a Go string, with Go's bounds panics. */
function byteSlice(s: string, lo: number, hi: number): string {
  const b = toBytes(s)
  if (hi < 0) throw new FuncError(`runtime error: slice bounds out of range [:${hi}]`)
  if (hi > b.length)
    throw new FuncError(`runtime error: slice bounds out of range [:${hi}] with length ${b.length}`)
  if (lo > hi) throw new FuncError(`runtime error: slice bounds out of range [${lo}:${hi}]`)
  return fromBytes(b.slice(lo, hi))
}

function substr(start: number, end: number, s: string): string {
  const n = toBytes(s).length
  if (start < 0) return byteSlice(s, 0, end)
  if (end < 0 || end > n) return byteSlice(s, start, n)
  return byteSlice(s, start, end)
}

function trunc(c: number, s: string): string {
  const n = toBytes(s).length
  if (c < 0 && n + c > 0) return byteSlice(s, n + c, n)
  if (c >= 0 && n > c) return byteSlice(s, 0, c)
  return s
}

function abbreviateFull(s: string, offset: number, maxWidth: number): string {
  const b = toBytes(s)
  if (b === '') return ''
  if (maxWidth < 4) return '' // goutils returns an error; sprig drops it and returns ""
  if (b.length <= maxWidth) return s
  let off = Math.min(offset, b.length)
  if (b.length - off < maxWidth - 3) off = b.length - (maxWidth - 3)
  if (off <= 4) return fromBytes(b.slice(0, maxWidth - 3)) + '...'
  if (maxWidth < 7) return ''
  if (off + maxWidth - 3 < b.length)
    return '...' + abbreviateFull(fromBytes(b.slice(off)), 0, maxWidth - 3)
  return '...' + fromBytes(b.slice(b.length - (maxWidth - 3)))
}

/** goutils.WrapCustom (byte-oriented, as in Go). */
function wrapCustom(
  ctx: FuncContext,
  s: string,
  wrapLength: number,
  newLine: string,
  wrapLong: boolean,
): string {
  const str = toBytes(s)
  if (str === '') return ''
  const nl = toBytes(newLine === '' ? '\n' : newLine)
  const width = Math.max(wrapLength, 1)
  let offset = 0
  let out = ''
  while (str.length - offset > width) {
    ctx.charge(1)
    if (str[offset] === ' ') {
      offset++
      continue
    }
    const end = width + offset + 1
    const space = str.slice(offset, end).lastIndexOf(' ')
    if (space >= 0) {
      out += str.slice(offset, offset + space) + nl
      offset += space + 1
    } else if (wrapLong) {
      out += str.slice(offset, width + offset) + nl
      offset += width
    } else {
      const idx = str.indexOf(' ', width + offset)
      if (idx < 0) {
        out += str.slice(offset)
        offset = str.length
      } else {
        out += str.slice(offset, idx) + nl
        offset = idx + 1
      }
    }
    checkSize(ctx, out.length, 'wrap')
  }
  return fromBytes(out + str.slice(offset))
}

/** Go bytes as runes (rune(str[i])), as goutils' byte loops do. */
const latin1Runes = (s: string): number[] => [...toBytes(s)].map((c) => c.charCodeAt(0))
const runesToUtf8 = (rs: number[]): string => rs.map((r) => String.fromCodePoint(r)).join('')

function deleteWhiteSpace(s: string): string {
  const rs = latin1Runes(s)
  const kept = rs.filter((r) => !isSpace(r))
  return kept.length === rs.length ? s : runesToUtf8(kept)
}

function initials(s: string): string {
  if (s === '') return ''
  const out: number[] = []
  let lastWasGap = true
  for (const r of latin1Runes(s)) {
    if (isSpace(r)) lastWasGap = true
    else if (lastWasGap) {
      out.push(r)
      lastWasGap = false
    }
  }
  return runesToUtf8(out)
}

function untitle(s: string): string {
  let next = true
  return mapRunes(s, (r) => {
    if (isSpace(r)) {
      next = true
      return r
    }
    if (next) {
      next = false
      return toLower(r)
    }
    return r
  })
}

function indent(ctx: FuncContext, spaces: number, v: string): string {
  if (spaces < 0) throw new FuncError('strings: negative Repeat count')
  const lines = v.split('\n').length
  checkSize(ctx, spaces * lines + Buffer.byteLength(v), 'indent')
  const pad = ' '.repeat(spaces)
  return pad + v.replaceAll('\n', '\n' + pad)
}

function untilStep(ctx: FuncContext, start: number, stop: number, step: number): number[] {
  if (stop < start ? step >= 0 : step <= 0) return []
  const count = Math.ceil(Math.abs((stop - start) / step))
  checkSize(ctx, count * 2, 'seq')
  ctx.charge(count)
  const out: number[] = []
  for (let i = start; stop < start ? i > stop : i < stop; i += step) out.push(i)
  return out
}

/** sprig seq: like the Unix command (seq END, seq START END, seq START STEP END). */
function seq(ctx: FuncContext, p: readonly number[]): string {
  const [a = 0, b = 0, c = 0] = p
  let r: number[]
  if (p.length === 1) r = untilStep(ctx, 1, a + (a < 1 ? -1 : 1), a < 1 ? -1 : 1)
  else if (p.length === 2) r = untilStep(ctx, a, b + (b < a ? -1 : 1), b < a ? -1 : 1)
  else if (p.length === 3) {
    if (c < a && b > 0) return ''
    r = untilStep(ctx, a, c + (c < a ? -1 : 1), b)
  } else return ''
  return r.join(' ')
}

const S = 'string'
const I = 'int'

export const SPRIG_STRING_FUNCS: FuncMap = {
  abbrev: fn([I, S], S, ([w, s]) => (int(w) < 4 ? str(s) : abbreviateFull(str(s), 0, int(w)))),
  abbrevboth: fn([I, I, S], S, ([l, r, s]) => {
    const left = int(l)
    const right = int(r)
    return right < 4 || (left > 0 && right < 7) ? str(s) : abbreviateFull(str(s), left, right)
  }),
  trunc: fn([I, S], S, ([c, s]) => trunc(int(c), str(s))),
  trim: fn([S], S, ([s]) => trimSpace(str(s))),
  upper: fn([S], S, ([s]) => mapRunes(str(s), toUpper)),
  lower: fn([S], S, ([s]) => mapRunes(str(s), toLower)),
  title: fn([S], S, ([s]) => titleCase(str(s))),
  untitle: fn([S], S, ([s]) => untitle(str(s))),
  substr: fn([I, I, S], S, ([a, b, s]) => substr(int(a), int(b), str(s))),
  repeat: fn([I, S], S, ([c, s], ctx) => repeat(ctx, str(s), int(c))),
  trimAll: fn([S, S], S, ([a, b]) => trimCutset(str(b), str(a))),
  trimSuffix: fn([S, S], S, ([a, b]) =>
    str(b).endsWith(str(a)) ? str(b).slice(0, str(b).length - str(a).length) : str(b),
  ),
  trimPrefix: fn([S, S], S, ([a, b]) =>
    str(b).startsWith(str(a)) ? str(b).slice(str(a).length) : str(b),
  ),
  nospace: fn([S], S, ([s]) => deleteWhiteSpace(str(s))),
  initials: fn([S], S, ([s]) => initials(str(s))),
  swapcase: fn([S], S, ([s]) => swapcase(str(s))),
  snakecase: fn([S], S, ([s]) => snakecase(str(s))),
  camelcase: fn([S], S, ([s]) => camelcase(str(s))),
  kebabcase: fn([S], S, ([s]) => kebabcase(str(s))),
  wrap: fn([I, S], S, ([l, s], ctx) => wrapCustom(ctx, str(s), int(l), '', false)),
  wrapWith: fn([I, S, S], S, ([l, sep, s], ctx) => wrapCustom(ctx, str(s), int(l), str(sep), true)),
  contains: fn([S, S], 'bool', ([a, b]) => str(b).includes(str(a))),
  hasPrefix: fn([S, S], 'bool', ([a, b]) => str(b).startsWith(str(a))),
  hasSuffix: fn([S, S], 'bool', ([a, b]) => str(b).endsWith(str(a))),
  quote: fn(
    [],
    S,
    (args) =>
      args
        .map(val)
        .filter((v) => v !== null)
        .map((v) => goQuote(strval(v)))
        .join(' '),
    ANY,
  ),
  squote: fn(
    [],
    S,
    (args, ctx) =>
      args
        .map(val)
        .filter((v) => v !== null)
        .map((v) => sprintf("'%v'", [v], ctx.maxValueBytes))
        .join(' '),
    ANY,
  ),
  cat: fn(
    [],
    S,
    (args, ctx) => {
      const vs = args.map(val).filter((v) => v !== null)
      return sprintf(vs.map(() => '%v').join(' '), vs, ctx.maxValueBytes)
    },
    ANY,
  ),
  indent: fn([I, S], S, ([n, s], ctx) => indent(ctx, int(n), str(s))),
  nindent: fn([I, S], S, ([n, s], ctx) => '\n' + indent(ctx, int(n), str(s))),
  replace: fn([S, S, S], S, ([o, n, s], ctx) => replaceAll(ctx, str(s), str(o), str(n))),
  plural: fn([S, S, I], S, ([one, many, c]) => (val(c) === 1n ? str(one) : str(many))),
  toString: fn([ANY], S, ([v], ctx) => strval(val(v), ctx.maxValueBytes)),
  seq: fn([], S, (args, ctx) => seq(ctx, args.map(int)), I),
  splitList: fn([S, S], '[]string', ([sep, s], ctx) => {
    const parts = str(sep) === '' ? [...str(s)] : str(s).split(str(sep))
    ctx.charge(parts.length)
    return parts
  }),
  toStrings: fn([ANY], '[]string', ([v], ctx) => strslice(val(v), ctx.maxValueBytes)),
  join: fn([S, ANY], S, ([sep, v], ctx) => {
    const out = strslice(val(v), ctx.maxValueBytes).join(str(sep))
    checkSize(ctx, out.length, 'join')
    return out
  }),
  sortAlpha: fn([ANY], '[]string', ([v], ctx) => {
    const x = val(v)
    if (!Array.isArray(x)) return [strval(x, ctx.maxValueBytes)]
    return strslice(x, ctx.maxValueBytes).sort((a, b) =>
      Buffer.compare(Buffer.from(a), Buffer.from(b)),
    )
  }),
}
