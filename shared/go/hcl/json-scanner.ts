// HCL v1's JSON-mode scanner (hashicorp/hcl v1.0.1-vault-7 json/scanner), rewritten in TypeScript
// with Go's control flow, so that lenient and failing JSON behave as they do for SPIRE.
import { EOF, SourceReader, digitVal, isDecimal, isDigit, isLetter } from './source-reader.js'
import { isWhitespace } from './source-reader.js'
import type { Pos } from './source-reader.js'
import type { Token, TokenType } from './ast.js'

const CH = (c: string): number => c.codePointAt(0) ?? 0

const SINGLE_CHAR_TOKENS: ReadonlyMap<number, TokenType> = new Map([
  [CH('['), 'LBRACK'],
  [CH(']'), 'RBRACK'],
  [CH('{'), 'LBRACE'],
  [CH('}'), 'RBRACE'],
  [CH(','), 'COMMA'],
  [CH(':'), 'COLON'],
])

export class JsonScanner {
  private readonly r: SourceReader

  constructor(src: string, onError: (pos: Pos, message: string) => void) {
    this.r = new SourceReader(src, false, onError)
  }

  scan(): Token {
    const r = this.r
    let ch = r.next()
    while (isWhitespace(ch)) ch = r.next()
    const start = r.offset - r.lastCharLen
    const pos = r.tokenPosition()
    let type: TokenType = 'ILLEGAL'
    if (isLetter(ch)) {
      const lit = this.scanIdentifier()
      if (lit === 'true' || lit === 'false') type = 'BOOL'
      else if (lit === 'null') type = 'NULL'
      else r.err('illegal char')
    } else if (isDecimal(ch)) {
      type = this.scanNumber(ch)
    } else if (ch === EOF) {
      type = 'EOF'
    } else if (ch === CH('"')) {
      type = 'STRING'
      this.scanString()
    } else if (ch === CH('.')) {
      type = 'PERIOD'
      ch = r.peek()
      if (isDecimal(ch)) {
        type = 'FLOAT'
        ch = this.scanMantissa(ch)
        this.scanExponent(ch)
      }
    } else if (ch === CH('-')) {
      if (isDecimal(r.peek())) type = this.scanNumber(r.next())
      else r.err('illegal char')
    } else {
      const single = SINGLE_CHAR_TOKENS.get(ch)
      if (single === undefined) r.err(`illegal char: ${String.fromCodePoint(ch)}`)
      else type = single
    }
    return { type, pos, text: r.src.slice(start, r.offset), json: false }
  }

  private scanNumber(first: number): TokenType {
    const r = this.r
    const zero = first === CH('0')
    const before = r.srcPos
    this.scanMantissa(first)
    let ch = r.next()
    if (ch === CH('e') || ch === CH('E')) {
      this.scanExponent(ch)
      return 'FLOAT'
    }
    if (ch === CH('.')) {
      ch = this.scanFraction(ch)
      if (ch === CH('e') || ch === CH('E')) this.scanExponent(r.next())
      return 'FLOAT'
    }
    if (ch !== EOF) r.unread()
    const moved = before.offset !== r.offset || before.line !== r.line || before.column !== r.column
    // upstream parity: a number at the very end of the input also trips this check
    if (zero && moved) r.err('numbers cannot start with 0')
    return 'NUMBER'
  }

  private scanMantissa(first: number): number {
    let ch = first
    let scanned = false
    while (isDecimal(ch)) {
      ch = this.r.next()
      scanned = true
    }
    if (scanned && ch !== EOF) this.r.unread()
    return ch
  }

  private scanFraction(first: number): number {
    if (first !== CH('.')) return first
    return this.scanMantissa(this.r.peek())
  }

  private scanExponent(first: number): number {
    let ch = first
    if (ch === CH('e') || ch === CH('E')) {
      ch = this.r.next()
      if (ch === CH('-') || ch === CH('+')) ch = this.r.next()
      ch = this.scanMantissa(ch)
    }
    return ch
  }

  private scanString(): void {
    for (;;) {
      const ch = this.r.next()
      if (ch === CH('\n') || ch === EOF) {
        this.r.err('literal not terminated')
        return
      }
      if (ch === CH('"')) return
      if (ch === CH('\\')) this.scanEscape()
    }
  }

  private scanEscape(): void {
    const r = this.r
    const ch = r.next()
    if ('abfnrtv\\"'.includes(String.fromCodePoint(ch)) && ch !== EOF) return
    if (ch >= CH('0') && ch <= CH('7')) this.scanDigits(ch, 8, 3)
    else if (ch === CH('x')) this.scanDigits(r.next(), 16, 2)
    else if (ch === CH('u')) this.scanDigits(r.next(), 16, 4)
    else if (ch === CH('U')) this.scanDigits(r.next(), 16, 8)
    else r.err('illegal char escape')
  }

  private scanDigits(first: number, base: number, count: number): void {
    let ch = first
    let n = count
    while (n > 0 && digitVal(ch) < base) {
      ch = this.r.next()
      n--
    }
    if (n > 0) this.r.err('illegal char escape')
    this.r.unread()
  }

  private scanIdentifier(): string {
    const r = this.r
    const start = r.offset - r.lastCharLen
    let ch = r.next()
    while (isLetter(ch) || isDigit(ch) || ch === CH('-')) ch = r.next()
    if (ch !== EOF) r.unread()
    return r.src.slice(start, r.offset)
  }
}
