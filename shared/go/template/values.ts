// How Go values are represented while a template runs.
//
//   Go                         here
//   invalid reflect.Value      null (also a nil element of a []interface {} or map)
//   string, bool               string, boolean
//   int                        bigint
//   float64                    number
//   other integer types        GoTypedInt (e.g. the uint8 that `index "abc" 0` yields)
//   []interface {}             GoValue[]
//   map[string]interface {}    Map<string, GoValue>
//   struct                     GoStruct (flat: named fields, no methods)
//   nil pointer                GoNil (e.g. a struct field of type *jwt.NumericDate)

import { LimitError } from './errors.js'

export class GoTypedInt {
  constructor(
    readonly type: string,
    readonly value: bigint,
    readonly unsigned: boolean,
  ) {}
}

/** A struct value: `typeName` is what Go prints (e.g. `azure.agentPathTemplateData`). */
export class GoStruct {
  constructor(
    readonly typeName: string,
    readonly fields: ReadonlyMap<string, GoValue>,
  ) {}
}

/** A typed nil pointer such as an absent `*jwt.NumericDate`. */
export class GoNil {
  constructor(readonly type: string) {}
}

export type GoMap = Map<string, GoValue>
export type GoValue =
  null | string | boolean | bigint | number | GoTypedInt | GoValue[] | GoMap | GoStruct | GoNil

export type BasicKind = 'bool' | 'int' | 'uint' | 'float' | 'string' | 'invalid'

export const INT_MIN = -(1n << 63n)
export const INT_MAX = (1n << 63n) - 1n

export const isList = (v: GoValue): v is GoValue[] => Array.isArray(v)
export const isMap = (v: GoValue): v is GoMap => v instanceof Map

/** The Go type of the values that are not objects here: string, bool, int and float64. */
function scalarTypeName(
  v: string | boolean | bigint | number,
): 'string' | 'bool' | 'int' | 'float64' {
  if (typeof v === 'string') return 'string'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'bigint') return 'int'
  return 'float64'
}

/** Go's reflect type name, as fmt's %T and text/template's messages print it. */
export function typeName(v: GoValue): string {
  if (v === null) return '<nil>'
  if (typeof v !== 'object') return scalarTypeName(v)
  if (Array.isArray(v)) return '[]interface {}'
  if (v instanceof Map) return 'map[string]interface {}'
  if (v instanceof GoTypedInt) return v.type
  if (v instanceof GoStruct) return v.typeName
  return v.type
}

/** Go's reflect.Kind name (sprig kindOf, error texts such as `Cannot push on type int`). */
export function kindName(v: GoValue): string {
  if (v === null) return 'invalid'
  // for these types the kind's name is the type's
  if (typeof v !== 'object') return scalarTypeName(v)
  if (Array.isArray(v)) return 'slice'
  if (v instanceof Map) return 'map'
  if (v instanceof GoTypedInt) return v.type
  if (v instanceof GoStruct) return 'struct'
  return 'ptr'
}

/** text/template's basicKind, used by eq/lt/... */
export function basicKind(v: GoValue): BasicKind {
  if (typeof v !== 'object') {
    const type = scalarTypeName(v)
    return type === 'float64' ? 'float' : type
  }
  if (v instanceof GoTypedInt) return v.unsigned ? 'uint' : 'int'
  return 'invalid'
}

/** The integer value of an int-kind or uint-kind value. */
export function intValue(v: GoValue): bigint | undefined {
  if (typeof v === 'bigint') return v
  if (v instanceof GoTypedInt) return v.value
  return undefined
}

/** text/template's isTrue: [truth, ok]. */
export function isTrue(v: GoValue): [boolean, boolean] {
  if (v === null) return [false, true]
  switch (typeof v) {
    case 'string':
      return [v.length > 0, true]
    case 'boolean':
      return [v, true]
    case 'bigint':
      return [v !== 0n, true]
    case 'number':
      return [v !== 0, true]
  }
  if (Array.isArray(v)) return [v.length > 0, true]
  if (v instanceof Map) return [v.size > 0, true]
  if (v instanceof GoTypedInt) return [v.value !== 0n, true]
  if (v instanceof GoStruct) return [true, true]
  return [false, true]
}

/** reflect.DeepEqual for template values. */
export function deepEqual(a: GoValue, b: GoValue): boolean {
  if (a === null || b === null) return a === b
  if (typeName(a) !== typeName(b)) return false
  if (Array.isArray(a)) {
    return (
      Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i] ?? null))
    )
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false
    for (const [k, x] of a) {
      if (!b.has(k) || !deepEqual(x, b.get(k) ?? null)) return false
    }
    return true
  }
  if (a instanceof GoTypedInt) return b instanceof GoTypedInt && a.value === b.value
  if (a instanceof GoStruct) {
    if (!(b instanceof GoStruct)) return false
    for (const [k, x] of a.fields) if (!deepEqual(x, b.fields.get(k) ?? null)) return false
    return true
  }
  if (a instanceof GoNil) return b instanceof GoNil
  return a === b
}

/** Budget for converting caller data, so hostile or cyclic input fails fast. */
export interface ConvertBudget {
  nodes: number
  readonly maxDepth: number
}

/**
 * Converts caller data to template values. Plain objects and Maps become map[string]interface {},
 * arrays []interface {}, safe-integer numbers int, other numbers float64, null/undefined nil.
 */
export function toGoValue(x: unknown, budget: ConvertBudget, depth = 0): GoValue {
  if (--budget.nodes < 0) throw new LimitError('template data has too many values')
  if (depth > budget.maxDepth) throw new LimitError('template data is nested too deeply')
  if (x === null || x === undefined) return null
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x
    case 'number':
      return Number.isSafeInteger(x) ? BigInt(x) : x
    case 'bigint':
      if (x < INT_MIN || x > INT_MAX)
        throw new TypeError(`template data integer ${x} overflows int`)
      return x
  }
  if (x instanceof GoStruct || x instanceof GoNil || x instanceof GoTypedInt) return x
  if (Array.isArray(x)) return x.map((e: unknown) => toGoValue(e, budget, depth + 1))
  if (x instanceof Map) {
    const m: GoMap = new Map()
    for (const [k, v] of x as Map<unknown, unknown>) {
      if (typeof k !== 'string') throw new TypeError('template data map keys must be strings')
      m.set(k, toGoValue(v, budget, depth + 1))
    }
    return m
  }
  if (typeof x === 'object') {
    const proto: unknown = Object.getPrototypeOf(x)
    if (proto === Object.prototype || proto === null) {
      const m: GoMap = new Map()
      for (const [k, v] of Object.entries(x)) m.set(k, toGoValue(v, budget, depth + 1))
      return m
    }
  }
  throw new TypeError(`unsupported template data of type ${typeof x}`)
}

/**
 * Builds a struct value, for data that upstream passes as a Go struct: field lookups then fail with
 * `can't evaluate field X in type <typeName>` instead of missingkey's `map has no entry for key "X"`.
 * A field given as `null` is a nil pointer of type `nilType` (printed `<nil>`).
 */
export function goStruct(
  typeName: string,
  fields: Readonly<Record<string, string | boolean | number | bigint | null>>,
  nilType = '*interface {}',
): GoStruct {
  const m = new Map<string, GoValue>()
  const budget: ConvertBudget = { nodes: 1000, maxDepth: 1 }
  for (const [k, v] of Object.entries(fields))
    m.set(k, v === null ? new GoNil(nilType) : toGoValue(v, budget))
  return new GoStruct(typeName, m)
}
