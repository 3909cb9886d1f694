// HCL v1's native-syntax parser (hashicorp/hcl v1.0.1-vault-7 hcl/parser), rewritten in TypeScript.
// The sequence of scan/unscan calls is Go's, because it decides the positions in error messages
// (each read past the end moves the column on). Comments are skipped: they carry no values.
import { formatToken } from './ast.js'
import type { ListNode, LiteralNode, Node, ObjectItem, ObjectNode, Token } from './ast.js'
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
    if (this.tok.type === 'ASSIGN') {
      val = this.object(depth + keys.length)
    } else if (this.tok.type === 'LBRACE') {
      // each label of a block is one more level of nesting
      checkDepth(depth + keys.length - 1, this.maxDepth, keys[0]?.pos ?? this.tok.pos)
      val = this.objectType(depth + keys.length)
    } else {
      const names = keys.map((k) => k.text).join(' ')
      throw this.fail(this.tok, `key '${names}' expected start of object ('{') or assignment ('=')`)
    }
    // Go looks ahead here for a line comment; the scan must happen for positions to match
    this.scan()
    this.unscan()
    return { keys, val }
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
    return { kind: 'object', pos: lbrace, items }
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
        elems.push(literal(tok))
        needComma = true
      } else if (tok.type === 'COMMA') {
        this.scan()
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

  private scan(): Token {
    if (this.buffered) {
      this.buffered = false
      return this.tok
    }
    this.tok = this.sc.scan()
    while (this.tok.type === 'COMMENT') this.tok = this.sc.scan()
    return this.tok
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
