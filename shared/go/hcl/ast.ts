// The syntax tree both parsers produce: the shape of Go's hcl/ast, reduced to what decoding reads.
import { formatPos } from './source-reader.js'
import type { Pos } from './source-reader.js'

/** Token types of HCL v1's two scanners; NULL and COLON occur only in JSON mode. */
export type TokenType =
  | 'ILLEGAL'
  | 'EOF'
  | 'COMMENT'
  | 'IDENT'
  | 'NUMBER'
  | 'FLOAT'
  | 'BOOL'
  | 'STRING'
  | 'HEREDOC'
  | 'NULL'
  | 'LBRACK'
  | 'LBRACE'
  | 'COMMA'
  | 'PERIOD'
  | 'COLON'
  | 'RBRACK'
  | 'RBRACE'
  | 'ASSIGN'
  | 'ADD'
  | 'SUB'

export interface Token {
  type: TokenType
  pos: Pos
  text: string
  /** A JSON-mode string, unquoted with Go's strconv rules instead of HCL's. */
  json: boolean
}

/** A comment group as Go's parser attaches it (lead or line comment); only the printer reads it. */
export interface CommentGroup {
  /** Each comment's text, as written (`# x`, `// x`, or a block comment). */
  list: string[]
}

export interface ObjectItem {
  keys: Token[]
  val: Node
  /** Where `=` (HCL) or `:` (JSON) stood; absent for a block (`key { ... }`). */
  assign?: Pos
  leadComment?: CommentGroup
  lineComment?: CommentGroup
}

export interface ObjectNode {
  kind: 'object'
  pos: Pos
  items: ObjectItem[]
  /** Where the closing `}` stood. */
  rbrace?: Pos
}

export interface ListNode {
  kind: 'list'
  pos: Pos
  elems: Node[]
}

export interface LiteralNode {
  kind: 'literal'
  token: Token
  /** A comment after a list element (`"a", # why`), which the printer keeps. */
  lineComment?: CommentGroup
  leadComment?: CommentGroup
}

export type Node = ObjectNode | ListNode | LiteralNode

/** Go's `Token.String()`, which several HCL v1 error messages embed. */
export function formatToken(tok: Token): string {
  return `${formatPos(tok.pos)} ${tok.type} ${tok.text}`
}
