// Go's predefined template functions (text/template funcs.go). `and`/`or` short-circuit and are handled
// by the executor; the entries here give their signatures.

import { ge, gt, le, lt, ne, eq } from './compare.js'
import { FuncError } from './errors.js'
import { sprint, sprintf, sprintln } from './fmt.js'
import {
  type Arg,
  type FuncContext,
  type FuncDef,
  type FuncMap,
  Iface,
  fn,
  unwrap,
} from './funcs.js'
import { isPrint } from '../unicode.js'
import { decodeRune, fromBytes, toBytes } from '../utf8.js'
import { GoNil, GoTypedInt, type GoValue, typeName } from './values.js'

/** indirect(): follows interfaces and pointers; [value, isNil]. */
function indirect(a: Arg): [GoValue, boolean] {
  if (a instanceof Iface)
    return a.value === null ? [null, true] : [a.value, a.value instanceof GoNil]
  return [a, a instanceof GoNil]
}

function indexArg(a: Arg, cap: number): number {
  const v = unwrap(a)
  const x = typeof v === 'bigint' ? v : v instanceof GoTypedInt ? v.value : undefined
  if (x === undefined) {
    if (v === null) throw new FuncError('cannot index slice/array with nil')
    throw new FuncError(`cannot index slice/array with type ${typeName(v)}`)
  }
  if (x < 0n || x > BigInt(cap)) throw new FuncError(`index out of range: ${x}`)
  return Number(x)
}

function index(args: readonly Arg[]): Arg {
  const [first, ...indexes] = args
  let item: Arg = unwrap(first ?? null)
  if (item === null) throw new FuncError('index of untyped nil')
  for (const idx of indexes) {
    const [v, isNil] = indirect(item)
    if (isNil) throw new FuncError('index of nil pointer')
    if (Array.isArray(v) || typeof v === 'string') {
      const bytes = typeof v === 'string' ? toBytes(v) : v
      const x = indexArg(idx, bytes.length)
      if (x >= bytes.length)
        throw new FuncError(
          `reflect: ${typeof v === 'string' ? 'string' : 'slice'} index out of range`,
        )
      item =
        typeof bytes === 'string'
          ? new GoTypedInt('uint8', BigInt(bytes.charCodeAt(x)), true)
          : new Iface(bytes[x] ?? null)
    } else if (v instanceof Map) {
      const k = unwrap(idx)
      if (k === null) throw new FuncError('value is nil; should be of type string')
      if (typeof k !== 'string')
        throw new FuncError(`value has type ${typeName(k)}; should be string`)
      item = new Iface(v.get(k) ?? null)
    } else {
      throw new FuncError(`can't index item of type ${typeName(v)}`)
    }
  }
  return item
}

function slice(args: readonly Arg[]): Arg {
  const [first, ...indexes] = args
  const item = unwrap(first ?? null)
  if (item === null) throw new FuncError('slice of untyped nil')
  if (item instanceof GoNil) throw new FuncError('slice of nil pointer')
  if (indexes.length > 3) throw new FuncError(`too many slice indexes: ${indexes.length}`)
  let seq: string | GoValue[]
  if (typeof item === 'string') {
    if (indexes.length === 3) throw new FuncError('cannot 3-index slice a string')
    seq = toBytes(item)
  } else if (Array.isArray(item)) seq = item
  else throw new FuncError(`can't slice item of type ${typeName(item)}`)
  const idx = [0, seq.length, seq.length]
  indexes.forEach((a, i) => (idx[i] = indexArg(a, seq.length)))
  const [lo = 0, hi = 0, max = 0] = idx
  if (lo > hi) throw new FuncError(`invalid slice index: ${lo} > ${hi}`)
  if (indexes.length === 3 && hi > max) throw new FuncError(`invalid slice index: ${hi} > ${max}`)
  return typeof seq === 'string' ? fromBytes(seq.slice(lo, hi)) : seq.slice(lo, hi)
}

function length(a: Arg): bigint {
  const [v, isNil] = indirect(a)
  if (isNil) throw new FuncError('len of nil pointer')
  if (typeof v === 'string') return BigInt(Buffer.byteLength(v))
  if (Array.isArray(v)) return BigInt(v.length)
  if (v instanceof Map) return BigInt(v.size)
  if (v === null) throw new FuncError('reflect: call of reflect.Value.Type on zero Value')
  throw new FuncError(`len of type ${typeName(v)}`)
}

/** text/template's truth(): isTrue after unwrapping an interface. */
export function truth(a: Arg): boolean {
  const v = unwrap(a)
  if (v === null) return false
  if (typeof v === 'string') return v.length > 0
  if (typeof v === 'boolean') return v
  if (typeof v === 'bigint') return v !== 0n
  if (typeof v === 'number') return v !== 0
  if (Array.isArray(v)) return v.length > 0
  if (v instanceof Map) return v.size > 0
  if (v instanceof GoTypedInt) return v.value !== 0n
  return !(v instanceof GoNil)
}

/** evalArgs for html/js/urlquery: one string as is, anything else through Sprint. */
function evalArgs(args: readonly Arg[], ctx: FuncContext): string {
  const vals = args.map(unwrap)
  if (vals.length === 1 && typeof vals[0] === 'string') return vals[0]
  return sprint(
    vals.map((v) => (v === null ? '<no value>' : v)),
    ctx.maxValueBytes,
  )
}

const HTML_ESCAPES: Record<string, string> = {
  '\0': '\ufffd',
  '"': '&#34;',
  "'": '&#39;',
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
}

export const htmlEscape = (s: string): string =>
  s.replace(/["'&<>\0]/g, (c) => HTML_ESCAPES[c] ?? c)

export function jsEscape(s: string): string {
  const b = toBytes(s)
  let out = ''
  for (let i = 0; i < b.length; i++) {
    const c = b.charCodeAt(i)
    if (c >= 0x80) {
      const [r, w] = decodeRune(b, i)
      out += isPrint(r)
        ? fromBytes(b.slice(i, i + w))
        : '\\u' + r.toString(16).toUpperCase().padStart(4, '0')
      i += w - 1
      continue
    }
    const ch = String.fromCharCode(c)
    if (ch === '\\') out += '\\\\'
    else if (ch === "'") out += "\\'"
    else if (ch === '"') out += '\\"'
    else if ('<>&='.includes(ch)) out += '\\u00' + c.toString(16).toUpperCase()
    else if (c < 0x20) out += '\\u00' + c.toString(16).toUpperCase().padStart(2, '0')
    else out += ch
  }
  return out
}

/** url.QueryEscape. */
export function queryEscape(s: string): string {
  const b = toBytes(s)
  let out = ''
  for (let i = 0; i < b.length; i++) {
    const c = b[i] ?? ''
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c
    else if (c === ' ') out += '+'
    else out += '%' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

const ANY = 'interface {}'
const VALUE = 'reflect.Value'
const unreachable = (): never => {
  throw new FuncError('unreachable')
}

/** Go's builtins, keyed by name. */
export const BUILTINS: FuncMap = {
  and: fn([VALUE], VALUE, unreachable, VALUE),
  or: fn([VALUE], VALUE, unreachable, VALUE),
  // There are no function values in template data, so `call` always fails as Go's does on a non-function.
  // The executor passes the callee's name first, as Go's does.
  call: fn(
    [VALUE],
    VALUE,
    ([name, f]) => {
      const v = unwrap(f ?? null)
      if (v === null) throw new FuncError('call of nil')
      throw new FuncError(`non-function ${String(unwrap(name ?? ''))} of type ${typeName(v)}`)
    },
    VALUE,
  ),
  html: fn([], 'string', (args, ctx) => htmlEscape(evalArgs(args, ctx)), ANY),
  js: fn([], 'string', (args, ctx) => jsEscape(evalArgs(args, ctx)), ANY),
  urlquery: fn([], 'string', (args, ctx) => queryEscape(evalArgs(args, ctx)), ANY),
  index: fn([VALUE], VALUE, index, VALUE),
  slice: fn([VALUE], VALUE, slice, VALUE),
  len: fn([VALUE], 'int', ([a]) => length(a ?? null)),
  not: fn([VALUE], 'bool', ([a]) => !truth(a ?? null)),
  print: fn([], 'string', (args, ctx) => sprint(args.map(unwrap), ctx.maxValueBytes), ANY),
  printf: fn(
    ['string'],
    'string',
    ([f, ...rest], ctx) => sprintf(String(unwrap(f ?? '')), rest.map(unwrap), ctx.maxValueBytes),
    ANY,
  ),
  println: fn([], 'string', (args, ctx) => sprintln(args.map(unwrap), ctx.maxValueBytes), ANY),
  eq: fn([VALUE], 'bool', (args) => eq(args), VALUE),
  ne: fn([VALUE, VALUE], 'bool', ([a, b]) => ne(a ?? null, b ?? null)),
  lt: fn([VALUE, VALUE], 'bool', ([a, b]) => lt(a ?? null, b ?? null)),
  le: fn([VALUE, VALUE], 'bool', ([a, b]) => le(a ?? null, b ?? null)),
  gt: fn([VALUE, VALUE], 'bool', ([a, b]) => gt(a ?? null, b ?? null)),
  ge: fn([VALUE, VALUE], 'bool', ([a, b]) => ge(a ?? null, b ?? null)),
}

export type { FuncDef }
