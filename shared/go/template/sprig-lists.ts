// Sprig's list functions (list.go). The plain variants panic where the must* ones return an error; both
// surface as `error calling <name>: <message>`.

import { FuncError } from './errors.js'
import type { Arg, FuncContext, FuncDef, FuncMap } from './funcs.js'
import { checkSize, fn, int, val } from './funcs.js'
import { GoStruct, GoTypedInt, type GoValue, deepEqual, kindName } from './values.js'

const ANY = 'interface {}'
const LIST = '[]interface {}'
const NIL_DEREF = 'runtime error: invalid memory address or nil pointer dereference'

/** The elements of a slice argument, or Sprig's error for other kinds. */
function elems(v: GoValue, what: (kind: string) => string): GoValue[] {
  if (v === null) throw new FuncError(NIL_DEREF)
  if (!Array.isArray(v)) throw new FuncError(what(kindName(v)))
  return v
}

/** Defines `name` and its `mustName` twin, which behave the same here. */
function listFn(
  name: string,
  what: (kind: string) => string,
  body: (l: GoValue[], args: readonly Arg[], ctx: FuncContext) => GoValue,
  params: readonly ('interface {}' | 'int')[] = [ANY],
  result: 'interface {}' | '[]interface {}' = LIST,
  variadic?: 'interface {}',
): Record<string, FuncDef> {
  const def = fn(
    params,
    result,
    (args, ctx) => {
      const listIndex = params[0] === 'int' ? 1 : 0
      return body(elems(val(args[listIndex]), what), args, ctx)
    },
    variadic,
  )
  return { [name]: def, [`must${name[0]?.toUpperCase()}${name.slice(1)}`]: def }
}

/** cast.ToInt as sprig's slice uses it. */
function toInt(v: GoValue): number {
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'number') return Math.trunc(v)
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'string') {
    const t = v.trim()
    const n = /^[+-]?(0|[1-9][0-9]*)$/.test(t) ? Number(t) : NaN
    return Number.isFinite(n) ? n : 0
  }
  return 0
}

function sliceList(l: GoValue[], indices: readonly Arg[]): GoValue {
  if (l.length === 0) return null
  const start = indices.length > 0 ? toInt(val(indices[0])) : 0
  const end = indices.length < 2 ? l.length : toInt(val(indices[1]))
  if (start < 0 || end < start || end > l.length)
    throw new FuncError('reflect.Value.Slice: slice index out of bounds')
  return l.slice(start, end)
}

function chunk(ctx: FuncContext, size: number, l: GoValue[]): GoValue[] {
  if (size <= 0) throw new FuncError('runtime error: makeslice: len out of range')
  const out: GoValue[] = []
  for (let i = 0; i < l.length; i += size) out.push(l.slice(i, i + size))
  ctx.charge(out.length)
  return out
}

function uniq(l: GoValue[], ctx: FuncContext): GoValue[] {
  ctx.charge(l.length * l.length)
  const out: GoValue[] = []
  for (const x of l) if (!out.some((y) => deepEqual(x, y))) out.push(x)
  return out
}

function checkLen(ctx: FuncContext, n: number): void {
  checkSize(ctx, n * 8, 'list')
  ctx.charge(n)
}

export const SPRIG_LIST_FUNCS: FuncMap = {
  list: fn([], LIST, (args) => args.map(val), ANY),
  tuple: fn([], LIST, (args) => args.map(val), ANY),
  ...listFn(
    'push',
    (k) => `Cannot push on type ${k}`,
    (l, [, v], ctx) => (checkLen(ctx, l.length + 1), [...l, val(v)]),
    [ANY, ANY],
  ),
  ...listFn(
    'append',
    (k) => `Cannot push on type ${k}`,
    (l, [, v], ctx) => (checkLen(ctx, l.length + 1), [...l, val(v)]),
    [ANY, ANY],
  ),
  ...listFn(
    'prepend',
    (k) => `Cannot prepend on type ${k}`,
    (l, [, v], ctx) => (checkLen(ctx, l.length + 1), [val(v), ...l]),
    [ANY, ANY],
  ),
  ...listFn(
    'first',
    (k) => `Cannot find first on type ${k}`,
    (l) => l[0] ?? null,
    [ANY],
    ANY,
  ),
  ...listFn(
    'last',
    (k) => `Cannot find last on type ${k}`,
    (l) => l[l.length - 1] ?? null,
    [ANY],
    ANY,
  ),
  ...listFn(
    'rest',
    (k) => `Cannot find rest on type ${k}`,
    (l) => l.slice(1),
  ),
  ...listFn(
    'initial',
    (k) => `Cannot find initial on type ${k}`,
    (l) => l.slice(0, -1),
  ),
  ...listFn(
    'reverse',
    (k) => `Cannot find reverse on type ${k}`,
    (l) => [...l].reverse(),
  ),
  ...listFn(
    'compact',
    (k) => `Cannot compact on type ${k}`,
    (l) => l.filter((x) => !isEmpty(x)),
  ),
  ...listFn(
    'uniq',
    (k) => `Cannot find uniq on type ${k}`,
    (l, _a, ctx) => uniq(l, ctx),
  ),
  ...listFn(
    'without',
    (k) => `Cannot find without on type ${k}`,
    (l, [, ...omit], ctx) => {
      ctx.charge(l.length * omit.length)
      return l.filter((x) => !omit.some((o) => deepEqual(x, val(o))))
    },
    [ANY],
    LIST,
    ANY,
  ),
  ...listFn(
    'slice',
    (k) => `list should be type of slice or array but ${k}`,
    (l, [, ...idx]) => sliceList(l, idx),
    [ANY],
    ANY,
    ANY,
  ),
  ...listFn(
    'chunk',
    (k) => `Cannot chunk type ${k}`,
    (l, [size], ctx) => chunk(ctx, int(size), l),
    ['int', ANY],
  ),
  has: fn([ANY, ANY], 'bool', hasFn),
  mustHas: fn([ANY, ANY], 'bool', hasFn),
  concat: fn(
    [],
    ANY,
    (args, ctx) => {
      const out: GoValue[] = []
      for (const a of args) {
        const v = val(a)
        if (v === null) throw new FuncError(NIL_DEREF)
        if (!Array.isArray(v)) throw new FuncError(`Cannot concat type ${kindName(v)} as list`)
        checkLen(ctx, out.length + v.length)
        out.push(...v)
      }
      return out
    },
    ANY,
  ),
}

function hasFn([needle, haystack]: readonly Arg[], ctx: FuncContext): boolean {
  const h = val(haystack)
  if (h === null) return false
  if (!Array.isArray(h)) throw new FuncError(`Cannot find has on type ${kindName(h)}`)
  ctx.charge(h.length)
  return h.some((x) => deepEqual(val(needle), x))
}

/** sprig empty(). */
export function isEmpty(v: GoValue): boolean {
  if (v === null) return true
  switch (typeof v) {
    case 'string':
      return v.length === 0
    case 'boolean':
      return !v
    case 'bigint':
      return v === 0n
    case 'number':
      return v === 0
  }
  if (Array.isArray(v)) return v.length === 0
  if (v instanceof Map) return v.size === 0
  if (v instanceof GoTypedInt) return v.value === 0n
  if (v instanceof GoStruct) return false
  return true // nil pointer
}
