// From the syntax tree to plain values, following the fixture corpus's normalisation rules: labels
// are path segments, objects with the same key deep-merge, lists concatenate, and any other
// repeat replaces (last wins). Beside the plain values, every container keeps — out of sight, in a
// WeakMap — each value ever given for each key, in source order, with its literal kind and, for
// numbers, its source text. The typed decoder needs that to act like Go's: a number given for a
// string setting reads as its text ("0x1F"), and an earlier value of the wrong type is still an error.
import type { Node, ObjectItem, Token } from './ast.js'
import { HclSyntaxError } from './errors.js'
import { goParseFloat, goParseInt, hclUnquote, unquote as goUnquote } from '../strconv.js'
import { fromBytes, toBytes } from '../utf8.js'
import { formatPos } from './source-reader.js'

export type HclScalar = string | number | boolean
/** A decoded value: what `parseHcl` returns is plain JSON-like data. */
export type HclValue = HclScalar | HclValue[] | HclObject
export interface HclObject {
  [key: string]: HclValue
}

export type LiteralKind = 'string' | 'heredoc' | 'int' | 'float' | 'bool'
export type ValueKind = LiteralKind | 'list' | 'object'

/** One value given for a key, or one list element. */
export interface Assignment {
  readonly kind: ValueKind
  /** Position in source order across the whole text. */
  readonly seq: number
  /** Literal source text; kept for numbers. */
  readonly text?: string
  readonly value?: HclScalar
}

type Container = HclObject | HclValue[]

const OBJECT_ASSIGNMENTS = new WeakMap<HclObject, Map<string, Assignment[]>>()
/** Lists and objects that a later value of another kind replaced, per key, in source order. */
const SHADOWED = new WeakMap<HclObject, Map<string, HclValue[]>>()
/** A list element has exactly one assignment: the element itself. */
const ELEMENT_ASSIGNMENTS = new WeakMap<HclValue[], Assignment[]>()

export function isHclObject(value: HclValue | undefined): value is HclObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Reads an own property only: keys such as `__proto__` or `constructor` are ordinary keys here. */
export function getOwn(obj: HclObject, key: string): HclValue | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

/**
 * Every value given for `key` in `container`, in source order. For a tree not made by `parseHcl`
 * (built by hand, or copied), it is derived from the current value.
 */
export function assignmentsOf(container: Container, key: string | number): readonly Assignment[] {
  if (Array.isArray(container)) {
    const index = Number(key)
    const recorded = ELEMENT_ASSIGNMENTS.get(container)?.[index]
    if (recorded !== undefined) return [recorded]
    const value = container[index]
    return value === undefined ? [] : [deriveAssignment(value)]
  }
  const recorded = OBJECT_ASSIGNMENTS.get(container)?.get(String(key))
  if (recorded !== undefined) return recorded
  const value = getOwn(container, String(key))
  return value === undefined ? [] : [deriveAssignment(value)]
}

/** The source text of the literal last given for `key`, e.g. `0x1F` for a number that reads 31. */
export function literalText(container: Container, key: string | number): string | undefined {
  const last = assignmentsOf(container, key).at(-1)
  if (last === undefined || last.kind === 'list' || last.kind === 'object') return undefined
  return last.text ?? (typeof last.value === 'string' ? last.value : String(last.value))
}

/** A one-entry object `{ key: obj[key] }` that keeps the entry's recorded assignments. */
export function pickEntry(obj: HclObject, key: string): HclObject {
  const picked: HclObject = {}
  const value = getOwn(obj, key)
  if (value !== undefined) setOwn(picked, key, value)
  record(picked, key, assignmentsOf(obj, key))
  return picked
}

function deriveAssignment(value: HclValue): Assignment {
  if (Array.isArray(value)) return { kind: 'list', seq: 0 }
  if (typeof value === 'object') return { kind: 'object', seq: 0 }
  if (typeof value === 'string') return { kind: 'string', seq: 0, value }
  if (typeof value === 'boolean') return { kind: 'bool', seq: 0, value }
  return { kind: Number.isInteger(value) ? 'int' : 'float', seq: 0, text: String(value), value }
}

function record(obj: HclObject, key: string, assignments: readonly Assignment[]): void {
  let byKey = OBJECT_ASSIGNMENTS.get(obj)
  if (byKey === undefined) {
    byKey = new Map()
    OBJECT_ASSIGNMENTS.set(obj, byKey)
  }
  const list = byKey.get(key)
  if (list === undefined) byKey.set(key, [...assignments])
  // a loop, not push(...): one key may be given a few hundred thousand times in 1 MiB
  else for (const assignment of assignments) list.push(assignment)
}

function elementAssignments(list: HclValue[]): Assignment[] {
  let recorded = ELEMENT_ASSIGNMENTS.get(list)
  if (recorded === undefined) {
    // a list built by hand has none recorded: derive them from its values
    recorded = list.map(deriveAssignment)
    ELEMENT_ASSIGNMENTS.set(list, recorded)
  }
  return recorded
}

/** Builds the plain tree of a parsed document; throws HclSyntaxError for literals without a value. */
export function buildTree(items: readonly ObjectItem[]): HclObject {
  return new TreeBuilder().object(items)
}

class TreeBuilder {
  private seq = 0

  object(items: readonly ObjectItem[]): HclObject {
    const obj: HclObject = {}
    for (const item of items) this.item(obj, item)
    return obj
  }

  private item(root: HclObject, item: ObjectItem): void {
    const keys = item.keys.map(keyText)
    const last = keys.pop()
    if (last === undefined) return
    let target = root
    for (const key of keys) {
      const assignment: Assignment = { kind: 'object', seq: this.seq++ }
      const existing = getOwn(target, key)
      if (isHclObject(existing)) {
        record(target, key, [assignment])
        target = existing
      } else {
        const fresh: HclObject = {}
        shadow(target, key, existing)
        setOwn(target, key, fresh)
        record(target, key, [assignment])
        target = fresh
      }
    }
    const { value, assignment } = this.convert(item.val)
    merge(target, last, value, [assignment])
  }

  private convert(node: Node): { value: HclValue; assignment: Assignment } {
    if (node.kind === 'object') {
      const assignment: Assignment = { kind: 'object', seq: this.seq++ }
      return { value: this.object(node.items), assignment }
    }
    if (node.kind === 'list') {
      const assignment: Assignment = { kind: 'list', seq: this.seq++ }
      const list: HclValue[] = []
      const elements: Assignment[] = []
      for (const elem of node.elems) {
        const converted = this.convert(elem)
        list.push(converted.value)
        elements.push(converted.assignment)
      }
      ELEMENT_ASSIGNMENTS.set(list, elements)
      return { value: list, assignment }
    }
    const assignment = literalAssignment(node.token, this.seq++)
    return { value: assignment.value ?? '', assignment }
  }
}

function merge(
  target: HclObject,
  key: string,
  value: HclValue,
  assignments: readonly Assignment[],
): void {
  const existing = getOwn(target, key)
  if (isHclObject(existing) && isHclObject(value)) {
    for (const [k, v] of Object.entries(value)) merge(existing, k, v, assignmentsOf(value, k))
  } else if (Array.isArray(existing) && Array.isArray(value)) {
    const existingElements = elementAssignments(existing)
    const elements = elementAssignments(value)
    for (const [i, v] of value.entries()) {
      existing.push(v)
      existingElements.push(elements[i] ?? deriveAssignment(v))
    }
  } else {
    shadow(target, key, existing)
    setOwn(target, key, value)
  }
  record(target, key, assignments)
}

// The plain tree keeps the last value only, but Go decodes every value given for a list field
// (`tags = ["a"]` then `tags {}` is ["a"] there), so replaced lists and objects stay reachable.
function shadow(target: HclObject, key: string, replaced: HclValue | undefined): void {
  if (!Array.isArray(replaced) && !isHclObject(replaced)) return
  let byKey = SHADOWED.get(target)
  if (byKey === undefined) {
    byKey = new Map()
    SHADOWED.set(target, byKey)
  }
  const list = byKey.get(key)
  if (list === undefined) byKey.set(key, [replaced])
  else list.push(replaced)
}

/** The lists and objects given for `key` that a value of another kind later replaced. */
export function shadowedValues(obj: HclObject, key: string): readonly HclValue[] {
  return SHADOWED.get(obj)?.get(key) ?? []
}

/** The name an object key token stands for (Go's `Token.Value()` for a key). */
export function keyText(tok: Token): string {
  if (tok.type === 'IDENT') return tok.text
  return unquote(tok)
}

/** The value of a literal token (Go's `Token.Value()`); throws HclSyntaxError for one without a value. */
export function literalValue(tok: Token): HclScalar {
  return literalAssignment(tok, 0).value ?? ''
}

function unquote(tok: Token): string {
  // JSON null arrives as a string token without text; Go reads it as ""
  if (tok.text === '') return ''
  // as hcl/token Token.Value: HCL's own Unquote in HCL mode, Go's strconv.Unquote for JSON strings
  const bytes = tok.json ? goUnquote(toBytes(tok.text)) : hclUnquote(toBytes(tok.text))
  if (bytes === undefined) throw invalidLiteral(tok, 'invalid string literal')
  return fromBytes(bytes)
}

function literalAssignment(tok: Token, seq: number): Assignment {
  switch (tok.type) {
    case 'STRING':
      return { kind: 'string', seq, value: unquote(tok) }
    case 'HEREDOC':
      return { kind: 'heredoc', seq, value: unindentHeredoc(tok.text) }
    case 'BOOL':
      return { kind: 'bool', seq, value: tok.text === 'true' }
    case 'NUMBER': {
      const parsed = goParseInt(tok.text)
      if (!parsed.ok && parsed.error === 'syntax') throw invalidLiteral(tok, 'invalid number')
      // an integer outside int64 keeps its text, which a string setting may still read; its value is
      // the int64 bound ParseInt returns with the range error
      return { kind: 'int', seq, text: tok.text, value: Number(parsed.value) }
    }
    default: {
      const value = goParseFloat(tok.text)
      if (value === undefined) throw invalidLiteral(tok, 'invalid number')
      return { kind: 'float', seq, text: tok.text, value }
    }
  }
}

/**
 * hcl/token's unindentHeredoc. The index arithmetic is Go's on purpose: `<<EOT` strips exactly the
 * anchor from the last line (an indented terminator leaves its indentation in the value), and
 * `<<-EOT` removes the terminator's indentation from every line when all lines carry it.
 */
function unindentHeredoc(heredoc: string): string {
  const idx = heredoc.indexOf('\n')
  if (heredoc[2] !== '-') return heredoc.slice(idx + 1, heredoc.length - idx + 1)
  const lines = heredoc.slice(idx + 1, heredoc.length - idx + 2).split('\n')
  const prefix = lines[lines.length - 1] ?? ''
  if (!lines.every((line) => line.startsWith(prefix))) {
    return heredoc.slice(idx + 1, heredoc.length - idx + 1).replace(/[ \t]+$/, '')
  }
  return lines
    .map((line, k) => (k === lines.length - 1 ? '' : line.slice(prefix.length)))
    .join('\n')
}

function invalidLiteral(tok: Token, what: string): HclSyntaxError {
  // deviation: Go's HCL v1 panics on these literals when it reads them (docs/hcl-config.md)
  const { line, column } = tok.pos
  const message = `At ${formatPos(tok.pos)}: ${what}: ${tok.text}`
  return new HclSyntaxError('invalid-literal', message, line, column)
}
