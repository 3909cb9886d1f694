// Entry point of the parser: bounds first, then HCL v1's choice between its native syntax and JSON.
import { HclSyntaxError } from './errors.js'
import { parseHclSyntax } from './hcl-parser.js'
import { parseJsonSyntax } from './json-parser.js'
import { buildTree } from './tree.js'
import type { HclObject } from './tree.js'
import type { ObjectItem } from './ast.js'

/** Largest configuration text accepted, in UTF-8 bytes (SPIRE's own texts are a few KiB). */
export const MAX_INPUT_BYTES = 1024 * 1024
/** Deepest nesting of objects, lists and block labels accepted (SPIRE's configs use 3). */
export const MAX_NESTING_DEPTH = 64

export interface ParseOptions {
  /** Default MAX_INPUT_BYTES. */
  maxInputBytes?: number
  /** Default MAX_NESTING_DEPTH. */
  maxDepth?: number
}

/**
 * Parses a configuration text the way HCL v1 `hcl.Decode` reads it (SPIRE's `hcl_configuration`)
 * into plain nested objects. Throws HclSyntaxError.
 */
export function parseHcl(text: string, options: ParseOptions = {}): HclObject {
  return parseHclDocument(text, options).tree
}

/** A parsed text with its syntax tree, for tools that need positions or re-print parts of it. */
export interface HclDocument {
  /** Whether HCL v1 read the text in JSON mode (its first non-space character is `{`). */
  json: boolean
  /** The top-level items, as Go's parser returns them (JSON mode: before Go's flattening). */
  items: readonly ObjectItem[]
  /** The same plain tree `parseHcl` returns. */
  tree: HclObject
}

/** Parses like `parseHcl` and keeps the syntax tree (with positions) beside the plain tree. */
export function parseHclDocument(text: string, options: ParseOptions = {}): HclDocument {
  const maxInputBytes = checkLimit('maxInputBytes', options.maxInputBytes ?? MAX_INPUT_BYTES)
  const maxDepth = checkLimit('maxDepth', options.maxDepth ?? MAX_NESTING_DEPTH)
  // a string longer than the limit in UTF-16 units is longer in UTF-8 bytes too
  if (text.length > maxInputBytes || Buffer.byteLength(text, 'utf8') > maxInputBytes) {
    throw new HclSyntaxError(
      'input-too-large',
      `input exceeds the limit of ${maxInputBytes} bytes`,
      1,
      1,
    )
  }
  const json = isJsonMode(text)
  const items = json ? parseJsonSyntax(text, maxDepth) : parseHclSyntax(text, maxDepth)
  return { json, items, tree: buildTree(items) }
}

function checkLimit(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new TypeError(`${name} must be a positive integer, got ${String(value)}`)
  }
  return value
}

/** upstream parity: HCL v1's lexMode: JSON when the first non-space character is '{'. */
function isJsonMode(text: string): boolean {
  for (const ch of text) {
    if (!isGoSpace(ch.codePointAt(0) ?? 0)) return ch === '{'
  }
  return false
}

// Go's unicode.IsSpace, which differs from JS's \s (U+0085 is a space, U+FEFF is not).
function isGoSpace(cp: number): boolean {
  if (cp <= 0xff) {
    return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || cp === 0x85 || cp === 0xa0
  }
  return (
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  )
}
