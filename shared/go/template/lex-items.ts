// Lexical items of Go's text/template (text/template/parse/lex.go).

import { quote as goQuote } from '../strconv.js'
import { fromBytes } from '../utf8.js'

export type ItemType =
  | 'error'
  | 'bool'
  | 'char'
  | 'charConstant'
  | 'comment'
  | 'complex'
  | 'assign'
  | 'declare'
  | 'eof'
  | 'field'
  | 'identifier'
  | 'leftDelim'
  | 'leftParen'
  | 'number'
  | 'pipe'
  | 'rawString'
  | 'rightDelim'
  | 'rightParen'
  | 'space'
  | 'string'
  | 'text'
  | 'variable'
  // keywords
  | 'block'
  | 'break'
  | 'continue'
  | 'dot'
  | 'define'
  | 'else'
  | 'end'
  | 'if'
  | 'nil'
  | 'range'
  | 'template'
  | 'with'

export interface Item {
  readonly typ: ItemType
  readonly pos: number // byte offset in the input
  readonly val: string // byte string; for 'error' items, the message as a JS string
  readonly line: number
}

export const KEYWORDS: ReadonlyMap<string, ItemType> = new Map<string, ItemType>([
  ['.', 'dot'],
  ['block', 'block'],
  ['break', 'break'],
  ['continue', 'continue'],
  ['define', 'define'],
  ['else', 'else'],
  ['end', 'end'],
  ['if', 'if'],
  ['range', 'range'],
  ['nil', 'nil'],
  ['template', 'template'],
  ['with', 'with'],
])

const KEYWORD_TYPES: ReadonlySet<ItemType> = new Set(KEYWORDS.values())
export const isKeyword = (t: ItemType): boolean => KEYWORD_TYPES.has(t)

/** Go's item.String(), used in "unexpected ..." parse errors. */
export function itemString(i: Item): string {
  if (i.typ === 'eof') return 'EOF'
  if (i.typ === 'error') return i.val
  if (isKeyword(i.typ)) return `<${fromBytes(i.val)}>`
  // Go: len(val) > 10 counts bytes, %.10q keeps ten runes.
  if (i.val.length > 10) return goQuote([...fromBytes(i.val)].slice(0, 10).join('')) + '...'
  return goQuote(fromBytes(i.val))
}
