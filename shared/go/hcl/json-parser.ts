// HCL v1's JSON-mode parser (hashicorp/hcl v1.0.1-vault-7 json/parser), rewritten in TypeScript.
// It is deliberately as lenient as Go's: trailing commas pass, a member without a comma before it
// silently ends the object (dropping the rest), a missing final '}' and trailing text are ignored,
// `true`/`false` inside lists are skipped, and `null` reads as "". Go's flattening of nested objects
// into multi-key items is not done: it changes nothing in the decoded values.
import { formatToken } from './ast.js'
import type { ListNode, LiteralNode, Node, ObjectItem, ObjectNode, Token } from './ast.js'
import { HclSyntaxError } from './errors.js'
import { JsonScanner } from './json-scanner.js'
import { EOF_SIGNAL, GoFailure, ParserBase, checkDepth } from './parser-support.js'
import type { ScanError } from './parser-support.js'
import { formatPos } from './source-reader.js'

/** Parses HCL v1's JSON mode into object items; throws HclSyntaxError. */
export function parseJsonSyntax(src: string, maxDepth: number): ObjectItem[] {
  return new JsonParser(src, maxDepth).parse()
}

class JsonParser extends ParserBase {
  private readonly sc: JsonScanner
  private tok: Token = {
    type: 'ILLEGAL',
    pos: { offset: 0, line: 1, column: 1 },
    text: '',
    json: false,
  }

  constructor(src: string, maxDepth: number) {
    super(maxDepth)
    this.sc = new JsonScanner(src, this.onScanError)
  }

  protected override parseItems(): ObjectItem[] {
    return this.object().items
  }

  protected override failureOf(err: unknown): GoFailure {
    if (err === EOF_SIGNAL) return this.fail('EOF token found')
    if (err instanceof GoFailure) return err
    throw err
  }

  // upstream parity: JSON scanner errors read `line:col: message`, without "At"
  protected override scanSyntaxError({ pos, message }: ScanError): HclSyntaxError {
    return new HclSyntaxError('syntax', `${formatPos(pos)}: ${message}`, pos.line, pos.column)
  }

  private object(): ObjectNode {
    const tok = this.scan()
    if (tok.type === 'LBRACE') return this.objectType(0)
    if (tok.type === 'EOF') throw EOF_SIGNAL
    throw this.fail(`Expected object, got unknown token: ${formatToken(tok)}`)
  }

  private objectType(depth: number): ObjectNode {
    const lbrace = this.tok.pos
    checkDepth(depth, this.maxDepth, lbrace)
    const { items, err } = this.objectList(depth)
    // upstream parity: an error that stopped at '}' (a trailing comma) is dropped
    if (err !== undefined && this.tok.type !== 'RBRACE') throw err
    return { kind: 'object', pos: lbrace, items, rbrace: this.tok.pos }
  }

  private objectList(depth: number): { items: ObjectItem[]; err?: GoFailure } {
    const items: ObjectItem[] = []
    for (;;) {
      let item: ObjectItem
      try {
        item = this.objectItem(depth)
      } catch (err) {
        if (err === EOF_SIGNAL) break
        if (err instanceof GoFailure) return { items, err }
        throw err
      }
      items.push(item)
      // upstream parity: anything but a comma ends the object, silently
      if (this.scan().type !== 'COMMA') break
    }
    return { items }
  }

  private objectItem(depth: number): ObjectItem {
    const keys = this.objectKey()
    const first = keys[0]
    if (first !== undefined) checkDepth(depth + keys.length - 1, this.maxDepth, first.pos)
    const assign = this.tok.pos
    return { keys, val: this.objectValue(depth + keys.length), assign }
  }

  private objectKey(): Token[] {
    const keys: Token[] = []
    for (;;) {
      const tok = this.scan()
      switch (tok.type) {
        case 'EOF':
          throw EOF_SIGNAL
        case 'STRING':
          keys.push({ ...tok, json: true })
          break
        case 'COLON':
          if (keys.length === 0) throw this.fail(`expected: STRING got: ${tok.type}`)
          return keys
        case 'ILLEGAL':
          throw this.fail('illegal')
        default:
          throw this.fail(`expected: STRING got: ${tok.type}`)
      }
    }
  }

  private objectValue(depth: number): Node {
    const tok = this.scan()
    switch (tok.type) {
      case 'NUMBER':
      case 'FLOAT':
      case 'BOOL':
      case 'NULL':
      case 'STRING':
        return literal(tok)
      case 'LBRACE':
        return this.objectType(depth)
      case 'LBRACK':
        return this.listType(depth)
      case 'EOF':
        throw EOF_SIGNAL
      default:
        throw this.fail(`Expected object value, got unknown token: ${formatToken(tok)}`)
    }
  }

  private listType(depth: number): ListNode {
    const lbrack = this.tok.pos
    checkDepth(depth, this.maxDepth, lbrack)
    const elems: Node[] = []
    for (;;) {
      const tok = this.scan()
      switch (tok.type) {
        case 'NUMBER':
        case 'FLOAT':
        case 'STRING':
          elems.push(literal(tok))
          break
        case 'LBRACE':
          elems.push(this.objectType(depth + 1))
          break
        case 'COMMA':
        case 'BOOL': // upstream parity: booleans in JSON lists are dropped
        case 'LBRACK': // upstream parity: a nested '[' is ignored, so its ']' ends the outer list
          break
        case 'RBRACK':
          return { kind: 'list', pos: lbrack, elems }
        default:
          throw this.fail(`unexpected token while parsing list: ${tok.type}`)
      }
    }
  }

  private scan(): Token {
    this.tok = this.sc.scan()
    return this.tok
  }

  private fail(message: string): GoFailure {
    return new GoFailure(undefined, message, this.tok.pos)
  }
}

/** JSON `null` becomes the string token with empty text, which HCL v1 reads as "". */
function literal(tok: Token): LiteralNode {
  if (tok.type === 'NULL') return { kind: 'literal', token: { ...tok, type: 'STRING', text: '' } }
  return { kind: 'literal', token: tok.type === 'STRING' ? { ...tok, json: true } : tok }
}
