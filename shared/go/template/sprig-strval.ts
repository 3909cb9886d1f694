// Sprig's value-to-string helpers, shared by several functions.

import { sprint } from './fmt.js'
import type { GoValue } from './values.js'

const MSG_MAX_BYTES = 1 << 20

/** sprig strval: a string as is, anything else as fmt's %v. */
export function strval(v: GoValue, maxBytes = MSG_MAX_BYTES): string {
  if (typeof v === 'string') return v
  return sprint([v], maxBytes)
}

/** sprig strslice (toStrings): list elements as strings, nil elements dropped. */
export function strslice(v: GoValue, maxBytes = MSG_MAX_BYTES): string[] {
  if (Array.isArray(v)) return v.filter((e) => e !== null).map((e) => strval(e, maxBytes))
  if (v === null) return []
  return [strval(v, maxBytes)]
}
