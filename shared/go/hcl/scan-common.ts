// What the HCL and JSON scanners share. Go's hcl/scanner and json/scanner are two copies of the
// same code that differ in a few places; the common parts live here once, with Go's control flow.
// Each scanner supplies what differs in substance (what an identifier means, numbers, strings, and
// the characters only one of them knows); the `native` flag covers the small differences.
import { EOF, SourceReader, digitVal, isDecimal, isDigit, isLetter } from './source-reader.js'
import { isWhitespace } from './source-reader.js'
import type { Pos } from './source-reader.js'
import type { Token, TokenType } from './ast.js'

export const CH = (c: string): number => c.codePointAt(0) ?? 0

/** The one-character tokens of both syntaxes; each scanner adds its own. */
export const BRACKETS_AND_COMMA: ReadonlyArray<[number, TokenType]> = [
  [CH('['), 'LBRACK'],
  [CH(']'), 'RBRACK'],
  [CH('{'), 'LBRACE'],
  [CH('}'), 'RBRACE'],
  [CH(','), 'COMMA'],
]

export abstract class ScannerBase {
  protected readonly r: SourceReader
  private readonly native: boolean

  /**
   * `native` is true for HCL's native syntax: the reader then refuses NUL and U+E123, identifiers
   * may contain '.', and escapes end as hcl/scanner ends them (see scanDigits).
   */
  constructor(src: string, native: boolean, onError: (pos: Pos, message: string) => void) {
    this.r = new SourceReader(src, native, onError)
    this.native = native
  }

  scan(): Token {
    const r = this.r
    let ch = r.next()
    while (isWhitespace(ch)) ch = r.next()
    const start = r.offset - r.lastCharLen
    const pos = r.tokenPosition()
    const type = this.scanToken(ch)
    return { type, pos, text: r.src.slice(start, r.offset), json: false }
  }

  /** Scans the rest of the token whose first character `first` was just read. */
  private scanToken(first: number): TokenType {
    const r = this.r
    if (isLetter(first)) return this.identifierType(this.scanIdentifier())
    if (isDecimal(first)) return this.scanNumber(first)
    if (first === EOF) return 'EOF'
    if (first === CH('"')) {
      this.scanString()
      return 'STRING'
    }
    if (first === CH('.')) {
      const ch = r.peek()
      if (!isDecimal(ch)) return 'PERIOD'
      this.scanExponent(this.scanMantissa(ch))
      return 'FLOAT'
    }
    return this.scanOther(first)
  }

  /** The type of an identifier just read (a bool, an ident, JSON's null or an error). */
  protected abstract identifierType(lit: string): TokenType

  /** The tokens the common code does not handle: '-', punctuation, comments, heredocs. */
  protected abstract scanOther(first: number): TokenType

  protected abstract scanNumber(first: number): TokenType

  /** Called after the opening '"'. */
  protected abstract scanString(): void

  /** Decimal digits, then an optional fraction and exponent (the end of Go's scanNumber). */
  protected scanDecimalNumber(first: number): TokenType {
    this.scanMantissa(first)
    const ch = this.r.next()
    if (this.scanFloatSuffix(ch)) return 'FLOAT'
    if (ch !== EOF) this.r.unread()
    return 'NUMBER'
  }

  /** Scans an exponent or a fraction (with an optional exponent) that follows the digits read. */
  protected scanFloatSuffix(first: number): boolean {
    let ch = first
    if (ch === CH('e') || ch === CH('E')) {
      this.scanExponent(ch)
      return true
    }
    if (ch !== CH('.')) return false
    ch = this.scanFraction(ch)
    if (ch === CH('e') || ch === CH('E')) this.scanExponent(this.r.next())
    return true
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

  /** Called after a '\\' inside a string. */
  protected scanEscape(): void {
    const r = this.r
    const ch = r.next()
    if ('abfnrtv\\"'.includes(String.fromCodePoint(ch)) && ch !== EOF) return
    if (ch >= CH('0') && ch <= CH('7')) this.scanDigits(ch, 8, 3)
    else if (ch === CH('x')) this.scanDigits(r.next(), 16, 2)
    else if (ch === CH('u')) this.scanDigits(r.next(), 16, 4)
    else if (ch === CH('U')) this.scanDigits(r.next(), 16, 8)
    else r.err('illegal char escape')
  }

  private scanIdentifier(): string {
    const r = this.r
    const start = r.offset - r.lastCharLen
    let ch = r.next()
    while (isLetter(ch) || isDigit(ch) || ch === CH('-') || (this.native && ch === CH('.'))) {
      ch = r.next()
    }
    if (ch !== EOF) r.unread()
    return r.src.slice(start, r.offset)
  }

  private scanDigits(first: number, base: number, count: number): void {
    let ch = first
    let n = count
    while (n > 0 && digitVal(ch) < base) {
      ch = this.r.next()
      if (this.native && ch === EOF) break
      n--
    }
    if (n > 0) this.r.err('illegal char escape')
    // hcl/scanner unreads only after a digit and not past the end; json/scanner always unreads
    if (!this.native || (n !== count && ch !== EOF)) this.r.unread()
  }
}
