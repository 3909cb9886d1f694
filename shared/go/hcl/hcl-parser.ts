// HCL v1's native-syntax parser (hashicorp/hcl v1.0.1-vault-7 hcl/parser), rewritten in TypeScript.
// The sequence of scan/unscan calls is Go's, because it decides the positions in error messages
// (each read past the end moves the column on). Comments carry no values; they are attached to
// items as Go's parser attaches them (lead and line comments) because SPIRE's re-printing of
// `plugin_data` keeps those.
import { formatToken } from './ast.js'
import type {
  CommentGroup,
  ListNode,
  LiteralNode,
  Node,
  ObjectItem,
  ObjectNode,
  Token,
} from './ast.js'
import { HclScanner } from './hcl-scanner.js'
import type { HclSyntaxError } from './errors.js'
import { EOF_SIGNAL, GoFailure, ParserBase, checkDepth } from './parser-support.js'
import type { ScanError } from './parser-support.js'

const LITERAL_TYPES: ReadonlySet<string> = new Set(['NUMBER', 'FLOAT', 'BOOL', 'STRING', 'HEREDOC'])

interface KeyResult {
  keys: Token[]
  err?: GoFailure | typeof EOF_SIGNAL
}

/** Parses HCL native syntax into object items; throws HclSyntaxError. */
export function parseHclSyntax(src: string, maxDepth: number): ObjectItem[] {
  // upstream parity: Go replaces CRLF before scanning, so positions refer to the replaced text
  return new HclParser(src.replaceAll('\r\n', '\n'), maxDepth).parse()
}

class HclParser extends ParserBase {
  private readonly sc: HclScanner
  private tok: Token = {
    type: 'ILLEGAL',
    pos: { offset: 0, line: 0, column: 0 },
    text: '',
    json: false,
  }
  private buffered = false
  private leadComment: CommentGroup | undefined
  private lineComment: CommentGroup | undefined

  constructor(src: string, maxDepth: number) {
    super(maxDepth)
    this.sc = new HclScanner(src, this.onScanError)
  }

  protected override parseItems(): ObjectItem[] {
    return this.objectList(false, 0)
  }

  protected override failureOf(err: unknown): GoFailure {
    if (!(err instanceof GoFailure)) throw err
    return err
  }

  // upstream parity: a scanner error wins over the parser's, and the last one is reported
  protected override scanSyntaxError({ pos, message }: ScanError): HclSyntaxError {
    return new GoFailure(pos, message, pos).toSyntaxError()
  }

  private objectList(inObject: boolean, depth: number): ObjectItem[] {
    const items: ObjectItem[] = []
    for (;;) {
      if (inObject) {
        const tok = this.scan()
        this.unscan()
        if (tok.type === 'RBRACE') break
      }
      let item: ObjectItem
      try {
        item = this.objectItem(depth)
      } catch (err) {
        if (err === EOF_SIGNAL) break
        throw err
      }
      items.push(item)
      // object lists may be comma-delimited: a comma here is simply consumed
      if (this.scan().type !== 'COMMA') this.unscan()
    }
    return items
  }

  private objectItem(depth: number): ObjectItem {
    const { keys, err: keyErr } = this.objectKey()
    let err = keyErr
    if (keys.length > 0 && err === EOF_SIGNAL) err = undefined
    if (keys.length > 0 && err !== undefined && this.tok.type === 'RBRACE') {
      // upstream parity: keys without a value right before '}' report "expected start of object"
      err = undefined
      this.tok.type = 'EOF'
    }
    if (err !== undefined) throw err
    let val: Node
    let assign: Token['pos'] | undefined
    const leadComment = this.leadComment
    this.leadComment = undefined
    if (this.tok.type === 'ASSIGN') {
      assign = this.tok.pos
      val = this.object(depth + keys.length)
    } else if (this.tok.type === 'LBRACE') {
      // each label of a block is one more level of nesting
      checkDepth(depth + keys.length - 1, this.maxDepth, keys[0]?.pos ?? this.tok.pos)
      val = this.objectType(depth + keys.length)
    } else {
      const names = keys.map((k) => k.text).join(' ')
      throw this.fail(this.tok, `key '${names}' expected start of object ('{') or assignment ('=')`)
    }
    const item: ObjectItem = { keys, val }
    if (assign !== undefined) item.assign = assign
    if (leadComment !== undefined) item.leadComment = leadComment
    if (this.lineComment !== undefined) {
      item.lineComment = this.lineComment
      this.lineComment = undefined
    }
    // Go looks ahead here for a line comment; the scan must happen for positions to match
    this.scan()
    const first = keys[0]
    if (first !== undefined && nodePos(val).line === first.pos.line && this.lineComment) {
      item.lineComment = this.lineComment
      this.lineComment = undefined
    }
    this.unscan()
    return item
  }

  private objectKey(): KeyResult {
    const keys: Token[] = []
    for (;;) {
      const tok = this.scan()
      switch (tok.type) {
        case 'EOF':
          return { keys, err: EOF_SIGNAL }
        case 'ASSIGN':
          if (keys.length > 1) {
            return {
              keys: [],
              err: this.fail(tok, `nested object expected: LBRACE got: ${tok.type}`),
            }
          }
          if (keys.length === 0) return { keys: [], err: this.fail(tok, 'no object keys found!') }
          return { keys }
        case 'LBRACE':
          if (keys.length === 0) {
            return { keys, err: this.fail(tok, `expected: IDENT | STRING got: ${tok.type}`) }
          }
          return { keys }
        case 'IDENT':
        case 'STRING':
          keys.push(tok)
          break
        case 'ILLEGAL':
          return { keys, err: this.fail(tok, 'illegal character') }
        default:
          return {
            keys,
            err: this.fail(tok, `expected: IDENT | STRING | ASSIGN | LBRACE got: ${tok.type}`),
          }
      }
    }
  }

  private object(depth: number): Node {
    const tok = this.scan()
    if (LITERAL_TYPES.has(tok.type)) return literal(tok)
    if (tok.type === 'LBRACE') return this.objectType(depth)
    if (tok.type === 'LBRACK') return this.listType(depth)
    if (tok.type === 'EOF') throw EOF_SIGNAL
    throw this.fail(tok, `Unknown token: ${formatToken(tok)}`)
  }

  private objectType(depth: number): ObjectNode {
    const lbrace = this.tok.pos
    checkDepth(depth, this.maxDepth, lbrace)
    const items = this.objectList(true, depth)
    const tok = this.scan()
    if (tok.type !== 'RBRACE')
      throw this.fail(tok, `object expected closing RBRACE got: ${tok.type}`)
    return { kind: 'object', pos: lbrace, items, rbrace: tok.pos }
  }

  private listType(depth: number): ListNode {
    const lbrack = this.tok.pos
    checkDepth(depth, this.maxDepth, lbrack)
    const elems: Node[] = []
    let needComma = false
    for (;;) {
      const tok = this.scan()
      if (needComma && tok.type !== 'COMMA' && tok.type !== 'RBRACK') {
        throw this.fail(tok, `error parsing list, expected comma or list end, got: ${tok.type}`)
      }
      if (LITERAL_TYPES.has(tok.type)) {
        const node = literal(tok)
        if (this.leadComment !== undefined) {
          node.leadComment = this.leadComment
          this.leadComment = undefined
        }
        elems.push(node)
        needComma = true
      } else if (tok.type === 'COMMA') {
        // Go looks ahead for a line comment after the comma
        this.scan()
        const last = elems.at(-1)
        if (this.lineComment !== undefined && last?.kind === 'literal') {
          last.lineComment = this.lineComment
          this.lineComment = undefined
        }
        this.unscan()
        needComma = false
      } else if (tok.type === 'LBRACE') {
        elems.push(this.nested(tok, 'object', () => this.objectType(depth + 1)))
        needComma = true
      } else if (tok.type === 'LBRACK') {
        // upstream parity: no comma is required after a nested list
        elems.push(this.nested(tok, 'list', () => this.listType(depth + 1)))
      } else if (tok.type === 'RBRACK') {
        return { kind: 'list', pos: lbrack, elems }
      } else {
        throw this.fail(tok, `unexpected token while parsing list: ${tok.type}`)
      }
    }
  }

  private nested(tok: Token, what: 'object' | 'list', parseNode: () => Node): Node {
    try {
      return parseNode()
    } catch (err) {
      if (!(err instanceof GoFailure)) throw err
      throw this.fail(tok, `error while trying to parse ${what} within list: ${err.text()}`)
    }
  }

  /** Go's Parser.scan, with its bookkeeping of lead and line comments. */
  private scan(): Token {
    if (this.buffered) {
      this.buffered = false
      return this.tok
    }
    const prev = this.tok
    this.tok = this.sc.scan()
    if (this.tok.type !== 'COMMENT') return this.tok
    let comment: CommentGroup | undefined
    let endline: number
    if (this.tok.pos.line === prev.pos.line) {
      // on the line of the previous token: not a lead comment, but perhaps a line comment
      ;({ comment, endline } = this.commentGroup(0))
      if (this.tok.pos.line !== endline) this.lineComment = comment
    }
    endline = -1
    while (this.tok.type === 'COMMENT') ({ comment, endline } = this.commentGroup(1))
    if (
      endline + 1 === this.tok.pos.line &&
      this.tok.type !== 'RBRACE' &&
      this.tok.type !== 'RBRACK'
    ) {
      this.leadComment = comment
    }
    return this.tok
  }

  /** Go's consumeCommentGroup: comments at most `n` lines apart form one group. */
  private commentGroup(n: number): { comment: CommentGroup; endline: number } {
    const list: string[] = []
    let endline = this.tok.pos.line
    while (this.tok.type === 'COMMENT' && this.tok.pos.line <= endline + n) {
      endline = this.tok.pos.line
      const text = this.tok.text
      // a /* */ comment ends on a later line for each newline in it
      if (text.length > 1 && text[1] === '*') {
        for (const ch of text) if (ch === '\n') endline++
      }
      list.push(text)
      this.tok = this.sc.scan()
    }
    return { comment: { list }, endline }
  }

  private unscan(): void {
    this.buffered = true
  }

  private fail(tok: Token, message: string): GoFailure {
    return new GoFailure(tok.pos, message, tok.pos)
  }
}

function literal(token: Token): LiteralNode {
  return { kind: 'literal', token }
}

/** Go's Node.Pos(): where a value starts. */
function nodePos(node: Node): Token['pos'] {
  return node.kind === 'literal' ? node.token.pos : node.pos
}
