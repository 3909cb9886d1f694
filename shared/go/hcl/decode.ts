// Typed decoding of a parsed tree, with Go's HCL v1 typed-decode rules (decoder.go) for the types
// SPIRE's config structs use. Every value ever given for a key is checked, not only the one that
// won, because Go decodes each of them into the field in turn. Rules: docs/hcl-config.md.
import type { Fields, InferFields, ObjectSchema, Schema, SchemaKind } from './schema.js'
import { goParseFloat, goParseInt } from '../strconv.js'
import { assignmentsOf, getOwn, isHclObject, pickEntry, setOwn, shadowedValues } from './tree.js'
import type { Assignment, HclObject, HclValue } from './tree.js'

/** A path of keys in the decoded text: field names, map keys, list indices. */
export type KeyPath = readonly (string | number)[]

/**
 * Where decoding reports; `Report` from shared/plugin fits. Each problem names the key paths it is
 * about (a type error its key, the unknown-keys warning every unknown key); messages do not change.
 */
export interface Problems {
  error(message: string, ...keyPaths: KeyPath[]): void
  warn(message: string, ...keyPaths: KeyPath[]): void
}

/** upstream parity: the prefix SPIRE's built-in plugins put on every decode failure. */
export const DECODE_ERROR_PREFIX = 'unable to decode configuration: '

/** One place a value was given: `container[key]`. */
interface Slot {
  container: HclObject | HclValue[]
  key: string | number
}

type Converted = { ok: true; value: unknown } | { ok: false; problem: string }

/**
 * Decodes a tree from `parseHcl` against `schema`. Type errors and missing required keys go to
 * `problems.error` (all of them, prefixed like upstream) and the result is undefined; unknown keys
 * go to one `problems.warn('unknown configurations detected: a,b')` and do not fail.
 */
export function decodeConfig<F extends Fields>(
  tree: HclObject,
  schema: ObjectSchema<F>,
  problems: Problems,
): InferFields<F> | undefined {
  const decoder = new Decoder()
  const result = decoder.object([tree], schema, '', [])
  for (const { message, keyPath } of decoder.errors) {
    problems.error(DECODE_ERROR_PREFIX + message, keyPath)
  }
  const unknown = new Map<string, KeyPath>()
  for (const { path, keyPath } of decoder.unknownKeys) unknown.set(path, keyPath)
  const names = [...unknown.keys()].sort()
  if (names.length > 0) {
    problems.warn(
      `unknown configurations detected: ${names.join(',')}`,
      ...names.map((n) => unknown.get(n) ?? []),
    )
  }
  if (decoder.errors.length > 0) return undefined
  // the decoder built exactly the shape of F's fields
  return result as InferFields<F>
}

class Decoder {
  readonly errors: { message: string; keyPath: KeyPath }[] = []
  readonly unknownKeys: { path: string; keyPath: KeyPath }[] = []

  private fail(path: string, keyPath: KeyPath, problem: string): void {
    this.errors.push({ message: `${path}: ${problem}`, keyPath })
  }

  object(
    sources: readonly HclObject[],
    schema: ObjectSchema,
    path: string,
    keyPath: KeyPath,
  ): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    const names = Object.keys(schema.fields)
    for (const [name, field] of Object.entries(schema.fields)) {
      const slots = sources.flatMap((obj) =>
        Object.keys(obj)
          .filter((key) => equalFold(key, name))
          .map((key): Slot => ({ container: obj, key })),
      )
      const fieldPath = path === '' ? name : `${path}.${name}`
      const fieldKeys = [...keyPath, name]
      if (slots.length === 0) {
        if (field.required) this.fail(fieldPath, fieldKeys, 'missing required key')
        continue
      }
      const value = this.value(slots, field, fieldPath, fieldKeys)
      if (value !== undefined) setOwn(result, name, value)
    }
    for (const obj of sources) {
      for (const key of Object.keys(obj)) {
        if (!names.some((name) => equalFold(key, name))) {
          this.unknownKeys.push({
            path: path === '' ? key : `${path}.${key}`,
            keyPath: [...keyPath, key],
          })
        }
      }
    }
    return result
  }

  private value(slots: readonly Slot[], schema: Schema, path: string, keyPath: KeyPath): unknown {
    const assignments = slots
      .flatMap((slot) => assignmentsOf(slot.container, slot.key))
      .sort((a, b) => a.seq - b.seq)
    const expected = containerKind(schema)
    if (expected === undefined) return this.scalar(assignments, schema.kind, path, keyPath)
    // upstream parity: a block is accepted where a list is expected (see list below)
    const allowed = schema.kind === 'list' ? ['list', 'object'] : ['object']
    const wrong = assignments.find((a) => !allowed.includes(a.kind))
    if (wrong !== undefined) {
      this.fail(path, keyPath, `expected ${schema.kind}, got ${kindName(wrong)}`)
      return undefined
    }
    if (schema.kind === 'list') return this.list(slots, schema.of, path, keyPath)
    const objects = slots.map((slot) => read(slot)).filter(isHclObject)
    if (schema.kind === 'map') return this.map(objects, schema.of, path, keyPath)
    if (schema.kind === 'object') return this.object(objects, schema, path, keyPath)
    return undefined
  }

  private scalar(
    assignments: readonly Assignment[],
    kind: SchemaKind,
    path: string,
    keyPath: KeyPath,
  ): unknown {
    let last: unknown
    for (const assignment of assignments) {
      const converted = convertScalar(assignment, kind)
      if (!converted.ok) {
        this.fail(path, keyPath, converted.problem)
        return undefined
      }
      last = converted.value
    }
    return last
  }

  private list(slots: readonly Slot[], of: Schema, path: string, keyPath: KeyPath) {
    const elements: { slot: Slot; seq: number; entry: boolean }[] = []
    const seqOf = (slot: Slot): number => assignmentsOf(slot.container, slot.key)[0]?.seq ?? 0
    const values = slots.flatMap(({ container, key }) => [
      ...(isHclObject(container) ? shadowedValues(container, String(key)) : []),
      read({ container, key }),
    ])
    for (const value of values) {
      if (Array.isArray(value)) {
        for (const index of value.keys()) {
          const slot = { container: value, key: index }
          elements.push({ slot, seq: seqOf(slot), entry: false })
        }
      } else if (isHclObject(value)) {
        // upstream parity: a block given for a list is read entry by entry, one element each
        for (const key of Object.keys(value)) {
          const slot = { container: value, key }
          elements.push({ slot, seq: seqOf(slot), entry: true })
        }
      }
    }
    // case variants of one field (Tags, tags) interleave in source order, as Go's filter does
    elements.sort((a, b) => a.seq - b.seq)
    const result: unknown[] = []
    for (const [i, { slot, entry }] of elements.entries()) {
      const elementPath = `${path}[${i}]`
      const elementKeys = [...keyPath, i]
      const decoded = entry
        ? this.blockEntry(slot, of, elementPath, elementKeys)
        : this.value([slot], of, elementPath, elementKeys)
      if (decoded !== undefined) result.push(decoded)
    }
    return result
  }

  /**
   * Go's decodeSlice on a block's entry `key = value`: for an object element a nested block is
   * the element itself and an attribute is a one-field object; for a map element the entry is a
   * one-key map; any other element type fails.
   */
  private blockEntry(slot: Slot, of: Schema, path: string, keyPath: KeyPath): unknown {
    const { container, key } = slot
    if (!isHclObject(container) || typeof key !== 'string') return undefined
    const value = getOwn(container, key)
    if (of.kind === 'object' && isHclObject(value)) return this.value([slot], of, path, keyPath)
    if (of.kind === 'object' && !Array.isArray(value)) {
      return this.object([pickEntry(container, key)], of, path, keyPath)
    }
    if (of.kind === 'map') return this.map([pickEntry(container, key)], of.of, path, keyPath)
    this.fail(path, keyPath, `expected ${of.kind}, got ${Array.isArray(value) ? 'list' : 'object'}`)
    return undefined
  }

  private map(
    objects: readonly HclObject[],
    of: Schema,
    path: string,
    keyPath: KeyPath,
  ): Record<string, unknown> {
    const result: Record<string, unknown> = {}
    const keys = new Set(objects.flatMap((obj) => Object.keys(obj)))
    for (const key of keys) {
      const slots = objects
        .filter((obj) => Object.hasOwn(obj, key))
        .map((obj) => ({ container: obj, key }))
      const decoded = this.value(slots, of, `${path}[${JSON.stringify(key)}]`, [...keyPath, key])
      if (decoded !== undefined) setOwn(result, key, decoded)
    }
    return result
  }
}

function read(slot: Slot): HclValue | undefined {
  const { container, key } = slot
  return Array.isArray(container) ? container[Number(key)] : getOwn(container, String(key))
}

function containerKind(schema: Schema): 'list' | 'map' | 'object' | undefined {
  return schema.kind === 'list' || schema.kind === 'map' || schema.kind === 'object'
    ? schema.kind
    : undefined
}

function kindName(a: Assignment): string {
  return a.kind === 'heredoc' ? 'string' : a.kind
}

/** Go's decodeString / decodeBool / decodeInt / decodeFloat for one literal. */
function convertScalar(a: Assignment, kind: SchemaKind): Converted {
  const mismatch: Converted = { ok: false, problem: `expected ${kind}, got ${kindName(a)}` }
  switch (kind) {
    case 'string':
      // upstream parity: an integer literal reads as its source text ("0x1F"); a float does not
      if (a.kind === 'string' || a.kind === 'heredoc') return { ok: true, value: a.value }
      if (a.kind === 'int') return { ok: true, value: a.text ?? String(a.value) }
      return mismatch
    case 'bool':
      return a.kind === 'bool' ? { ok: true, value: a.value } : mismatch
    case 'int': {
      // upstream parity: a string is parsed as an integer too
      if (a.kind !== 'int' && a.kind !== 'string') return mismatch
      const text = a.kind === 'int' ? (a.text ?? String(a.value)) : String(a.value)
      const parsed = goParseInt(text)
      if (!parsed.ok) {
        const what = parsed.error === 'range' ? 'out of range' : 'invalid'
        return { ok: false, problem: `int ${JSON.stringify(text)} is ${what}` }
      }
      const value = Number(parsed.value)
      if (!Number.isSafeInteger(value)) {
        return { ok: false, problem: `int ${JSON.stringify(text)} is out of range` }
      }
      return { ok: true, value }
    }
    case 'number': {
      if (a.kind !== 'int' && a.kind !== 'float') return mismatch
      const text = a.text ?? String(a.value)
      const value = goParseFloat(text)
      if (value === undefined)
        return { ok: false, problem: `number ${JSON.stringify(text)} is invalid` }
      return { ok: true, value }
    }
    default:
      return mismatch
  }
}

/** Go's strings.EqualFold for ASCII field names, including the two non-ASCII folds (K, ſ). */
export function equalFold(a: string, b: string): boolean {
  const x = [...a]
  const y = [...b]
  if (x.length !== y.length) return false
  return x.every((c, i) => fold(c) === fold(y[i] ?? ''))
}

function fold(c: string): string {
  if (c === '\u212a') return 'k'
  if (c === '\u017f') return 's'
  const lower = c.toLowerCase()
  return [...lower].length === 1 ? lower : c
}
