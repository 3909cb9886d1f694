// Template functions: Go-style signatures so that argument checking and its error messages match
// text/template's (`wrong type for value; expected string; got int`, `wrong number of args ...`).

import { FuncError, LimitError } from './errors.js'
import type { GoValue } from './values.js'

/** The Go parameter and result types template functions use, spelled as Go prints them. */
export type GoType =
  | 'string'
  | 'int'
  | 'bool'
  | 'float64'
  | 'interface {}'
  | 'reflect.Value'
  | 'map[string]interface {}'
  | '[]interface {}'
  | '[]string'

/**
 * A value as the executor holds it. `Iface` marks a value read out of an interface-typed slot (a
 * []interface {} element, a map[string]interface {} entry, a function's interface {} result): Go keeps
 * that distinction until the end of a pipeline, and a few error messages show it.
 */
export class Iface {
  constructor(readonly value: GoValue) {}
}
export type Arg = GoValue | Iface

/** What a function may use while it runs. */
export interface FuncContext {
  /** Largest string or list a function may build. */
  readonly maxValueBytes: number
  /** Charges `n` units of work against the execution budget. */
  charge(n: number): void
}

/**
 * A template function. Arguments arrive checked and converted for `params` (and `variadic`, the element
 * type of a trailing `...T`); a `reflect.Value` parameter receives the raw `Arg`, anything else a
 * GoValue. Throw FuncError for what Go reports as a returned error or a panic.
 */
export interface FuncDef {
  readonly params: readonly GoType[]
  readonly variadic?: GoType
  readonly result: GoType
  readonly call: (args: readonly Arg[], ctx: FuncContext) => Arg
}

export type FuncMap = Readonly<Record<string, FuncDef>>

export const unwrap = (a: Arg): GoValue => (a instanceof Iface ? a.value : a)

/** Narrowing helpers for function bodies: arguments were already type-checked by the executor. */
export function str(a: Arg | undefined): string {
  const v = a === undefined ? null : unwrap(a)
  if (typeof v !== 'string') throw new FuncError(`internal: expected string argument`)
  return v
}

export function int(a: Arg | undefined): number {
  const v = a === undefined ? null : unwrap(a)
  if (typeof v !== 'bigint') throw new FuncError(`internal: expected int argument`)
  // Ints beyond ±2^53 are clamped; the functions that take ints treat such values as "huge" anyway.
  return v > BigInt(Number.MAX_SAFE_INTEGER)
    ? Number.MAX_SAFE_INTEGER
    : v < -BigInt(Number.MAX_SAFE_INTEGER)
      ? -Number.MAX_SAFE_INTEGER
      : Number(v)
}

export function map(a: Arg | undefined): Map<string, GoValue> {
  const v = a === undefined ? null : unwrap(a)
  if (!(v instanceof Map)) throw new FuncError(`internal: expected map argument`)
  return v
}

export const val = (a: Arg | undefined): GoValue => (a === undefined ? null : unwrap(a))

/** Throws a LimitError when a result of `bytes` would exceed the value budget. */
export function checkSize(ctx: FuncContext, bytes: number, what: string): void {
  if (bytes > ctx.maxValueBytes)
    throw new LimitError(`${what} result exceeds ${ctx.maxValueBytes} bytes`)
}

/** Shorthand for defining a function. */
export function fn(
  params: readonly GoType[],
  result: GoType,
  call: (args: readonly Arg[], ctx: FuncContext) => Arg,
  variadic?: GoType,
): FuncDef {
  return variadic === undefined ? { params, result, call } : { params, result, call, variadic }
}
