// text/template's comparison functions eq, ne, lt, le, gt, ge (funcs.go).

import { FuncError } from './errors.js'
import { sprintf } from './fmt.js'
import { type Arg, unwrap } from './funcs.js'
import {
  GoNil,
  GoStruct,
  GoTypedInt,
  type GoValue,
  basicKind,
  intValue,
  typeName,
} from './values.js'

const MAX_MSG_BYTES = 4096

const isNilValue = (v: GoValue): boolean => v === null || v instanceof GoNil

function comparable(v: GoValue): boolean {
  if (Array.isArray(v) || v instanceof Map) return false
  if (v instanceof GoStruct) return [...v.fields.values()].every(comparable)
  return true
}

/** Go's == on comparable values of the same type. */
function goEquals(x: GoValue, y: GoValue): boolean {
  if (typeName(x) !== typeName(y)) return false
  if (x instanceof GoStruct && y instanceof GoStruct) {
    return [...x.fields].every(([k, fx]) => goEquals(fx, y.fields.get(k) ?? null))
  }
  if (x instanceof GoNil || y instanceof GoNil) return x instanceof GoNil && y instanceof GoNil
  if (x instanceof GoTypedInt && y instanceof GoTypedInt) return x.value === y.value
  return x === y
}

const kindOf = (v: GoValue): string =>
  v === null
    ? 'invalid'
    : Array.isArray(v)
      ? 'slice'
      : v instanceof Map
        ? 'map'
        : v instanceof GoStruct
          ? 'struct'
          : 'ptr'

function eqOne(a: GoValue, b: GoValue): boolean {
  const k1 = basicKind(a)
  const k2 = basicKind(b)
  if (k1 !== k2) {
    if (k1 === 'int' && k2 === 'uint')
      return (intValue(a) ?? 0n) >= 0n && intValue(a) === intValue(b)
    if (k1 === 'uint' && k2 === 'int')
      return (intValue(b) ?? 0n) >= 0n && intValue(a) === intValue(b)
    if (a !== null && b !== null) {
      throw new FuncError(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`)
    }
    return false
  }
  if (k1 === 'int' || k1 === 'uint') return intValue(a) === intValue(b)
  if (k1 !== 'invalid') return a === b
  const ka = kindOf(a)
  const kb = kindOf(b)
  if (ka !== kb && ka !== 'invalid' && kb !== 'invalid') {
    throw new FuncError(
      sprintf(
        'non-comparable types %s: %v, %s: %v',
        [a, typeName(a), typeName(b), b],
        MAX_MSG_BYTES,
      ),
    )
  }
  if (isNilValue(a) || isNilValue(b)) return isNilValue(a) === isNilValue(b)
  if (!comparable(b))
    throw new FuncError(sprintf('non-comparable type %s: %v', [b, typeName(b)], MAX_MSG_BYTES))
  return goEquals(a, b)
}

/** eq arg1 arg2...: true if arg1 equals any of the others. */
export function eq(args: readonly Arg[]): boolean {
  const [first, ...rest] = args.map(unwrap)
  if (rest.length === 0) throw new FuncError('missing argument for comparison')
  const a = first ?? null
  return rest.some((b) => eqOne(a, b))
}

export function lt(x: Arg, y: Arg): boolean {
  const a = unwrap(x)
  const b = unwrap(y)
  const k1 = basicKind(a)
  const k2 = basicKind(b)
  if (k1 === 'invalid' || k2 === 'invalid') throw new FuncError('invalid type for comparison')
  if (k1 !== k2) {
    const ia = intValue(a) ?? 0n
    const ib = intValue(b) ?? 0n
    if (k1 === 'int' && k2 === 'uint') return ia < 0n || ia < ib
    if (k1 === 'uint' && k2 === 'int') return ib >= 0n && ia < ib
    throw new FuncError(`incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`)
  }
  if (typeof a === 'number' && typeof b === 'number') return a < b
  if (typeof a === 'string' && typeof b === 'string')
    return Buffer.compare(Buffer.from(a), Buffer.from(b)) < 0
  if (k1 === 'bool') throw new FuncError('invalid type for comparison')
  return (intValue(a) ?? 0n) < (intValue(b) ?? 0n)
}

export const le = (a: Arg, b: Arg): boolean => lt(a, b) || eq([a, b])
export const gt = (a: Arg, b: Arg): boolean => !le(a, b)
export const ge = (a: Arg, b: Arg): boolean => !lt(a, b)
export const ne = (a: Arg, b: Arg): boolean => !eq([a, b])
