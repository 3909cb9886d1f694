// Sprig's dict functions (dict.go) and default/flow functions (defaults.go).

import { FuncError } from './errors.js'
import type { Arg, FuncContext, FuncDef, FuncMap } from './funcs.js'
import { checkSize, fn, map, str, val } from './funcs.js'
import { isEmpty } from './sprig-lists.js'
import { strval } from './sprig-strval.js'
import { type GoMap, type GoValue, typeName } from './values.js'

const ANY = 'interface {}'
const MAP = 'map[string]interface {}'
const S = 'string'

// deviation: Go iterates maps in random order, so keys/values come out shuffled upstream; here they
// come out sorted (one of Go's possible orders).
const sortedKeys = (m: GoMap): string[] =>
  [...m.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))

/** mergo.Merge / MergeWithOverride for map[string]interface {} values. */
function mergeInto(dst: GoMap, src: GoMap, overwrite: boolean, ctx: FuncContext, depth = 0): void {
  if (depth > 32) throw new FuncError('merge: maps nested too deeply')
  for (const key of sortedKeys(src)) {
    ctx.charge(1)
    const sv = src.get(key) ?? null
    const dv = dst.has(key) ? (dst.get(key) ?? null) : undefined
    if (sv === null) {
      if (overwrite) dst.set(key, null)
      continue
    }
    if (sv instanceof Map && dv instanceof Map) {
      mergeInto(dv, sv, overwrite, ctx, depth + 1)
      if (dv.size > 0) continue
    }
    if (Array.isArray(sv) && dv !== undefined && !isEmpty(dv) && !overwrite) continue
    if (overwrite || dv === undefined || isEmpty(dv)) dst.set(key, sv)
  }
}

const mergeFn = (overwrite: boolean): FuncDef =>
  fn(
    [MAP],
    ANY,
    ([d, ...srcs], ctx) => {
      for (const src of srcs) mergeInto(map(d), map(src), overwrite, ctx)
      return map(d)
    },
    MAP,
  )

function dictOf(ctx: FuncContext, args: readonly Arg[]): GoMap {
  const d: GoMap = new Map()
  for (let i = 0; i < args.length; i += 2) {
    const key = strval(val(args[i]), ctx.maxValueBytes)
    d.set(key, i + 1 >= args.length ? '' : val(args[i + 1]))
  }
  return d
}

function dig(args: readonly Arg[]): GoValue {
  if (args.length < 3) throw new FuncError('dig needs at least three arguments')
  const conv = (v: GoValue, want: string): never => {
    throw new FuncError(
      `interface conversion: interface {} is ${v === null ? 'nil' : typeName(v)}, not ${want}`,
    )
  }
  let d = val(args[args.length - 1])
  if (!(d instanceof Map)) conv(d, MAP)
  const def = val(args[args.length - 2])
  const keys = args.slice(0, -2).map((a) => {
    const k = val(a)
    return typeof k === 'string' ? k : conv(k, 'string')
  })
  for (let i = 0; i < keys.length; i++) {
    if (!(d instanceof Map)) return conv(d, MAP)
    const k = keys[i] ?? ''
    if (!d.has(k)) return def
    const step = d.get(k) ?? null
    if (i === keys.length - 1) return step
    d = step
  }
  return def
}

export const SPRIG_DICT_FUNCS: FuncMap = {
  dict: fn([], MAP, (args, ctx) => dictOf(ctx, args), ANY),
  get: fn([MAP, S], ANY, ([d, k]) => (map(d).has(str(k)) ? (map(d).get(str(k)) ?? null) : '')),
  set: fn([MAP, S, ANY], MAP, ([d, k, v], ctx) => {
    checkSize(ctx, map(d).size * 8, 'set')
    return map(d).set(str(k), val(v))
  }),
  unset: fn([MAP, S], MAP, ([d, k]) => {
    map(d).delete(str(k))
    return map(d)
  }),
  hasKey: fn([MAP, S], 'bool', ([d, k]) => map(d).has(str(k))),
  pluck: fn(
    [S],
    '[]interface {}',
    ([k, ...ds]) =>
      ds
        .map(map)
        .filter((d) => d.has(str(k)))
        .map((d) => d.get(str(k)) ?? null),
    MAP,
  ),
  keys: fn([], '[]string', (ds) => ds.map(map).flatMap(sortedKeys), MAP),
  values: fn([MAP], '[]interface {}', ([d]) =>
    sortedKeys(map(d)).map((k) => map(d).get(k) ?? null),
  ),
  pick: fn(
    [MAP],
    MAP,
    ([d, ...ks]) => {
      const out: GoMap = new Map()
      for (const k of ks.map(str)) if (map(d).has(k)) out.set(k, map(d).get(k) ?? null)
      return out
    },
    S,
  ),
  omit: fn(
    [MAP],
    MAP,
    ([d, ...ks]) => {
      const drop = new Set(ks.map(str))
      return new Map([...map(d)].filter(([k]) => !drop.has(k)))
    },
    S,
  ),
  merge: mergeFn(false),
  mustMerge: mergeFn(false),
  mergeOverwrite: mergeFn(true),
  mustMergeOverwrite: mergeFn(true),
  dig: fn([], ANY, dig, ANY),
  // defaults.go
  default: fn(
    [ANY],
    ANY,
    ([d, ...given]) => {
      const g = given.map(val)
      return g.length === 0 || isEmpty(g[0] ?? null) ? val(d) : (g[0] ?? null)
    },
    ANY,
  ),
  empty: fn([ANY], 'bool', ([v]) => isEmpty(val(v))),
  coalesce: fn([], ANY, (args) => args.map(val).find((v) => !isEmpty(v)) ?? null, ANY),
  all: fn([], 'bool', (args) => args.map(val).every((v) => !isEmpty(v)), ANY),
  any: fn([], 'bool', (args) => args.map(val).some((v) => !isEmpty(v)), ANY),
  ternary: fn([ANY, ANY, 'bool'], ANY, ([t, f, c]) => (val(c) === true ? val(t) : val(f))),
  fail: fn([S], S, ([m]) => {
    throw new FuncError(str(m))
  }),
}
