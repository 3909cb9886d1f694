// HCL v1's native-syntax scanner (hashicorp/hcl v1.0.1-vault-7 hcl/scanner), rewritten in
// TypeScript. It follows Go's control flow closely, quirks included, because token boundaries,
// positions and error wording must match what SPIRE's built-in plugins accept and report.
import { EOF, SourceReader, digitVal, isDecimal, isDigit, isHexadecimal } from './source-reader.js'
import { isLetter, isWhitespace } from './source-reader.js'
import type { Pos } from './source-reader.js'
import type { Token, TokenType } from './ast.js'

const CH = (c: string): number => c.codePointAt(0) ?? 0

const SINGLE_CHAR_TOKENS: ReadonlyMap<number, TokenType> = new Map([
  [CH('['), 'LBRACK'],
  [CH(']'), 'RBRACK'],
  [CH('{'), 'LBRACE'],
  [CH('}'), 'RBRACE'],
  [CH(','), 'COMMA'],
  [CH('='), 'ASSIGN'],
  [CH('+'), 'ADD'],
])

export class HclScanner {
  private readonly r: SourceReader

  constructor(src: string, onError: (pos: Pos, message: string) => void) {
    this.r = new SourceReader(src, true, onError)
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
      type = lit === 'true' || lit === 'false' ? 'BOOL' : 'IDENT'
    } else if (isDecimal(ch)) {
      type = this.scanNumber(ch)
    } else if (ch === EOF) {
      type = 'EOF'
    } else if (ch === CH('"')) {
      type = 'STRING'
      this.scanString()
    } else if (ch === CH('#') || ch === CH('/')) {
      type = 'COMMENT'
      this.scanComment(ch)
    } else if (ch === CH('.')) {
      type = 'PERIOD'
      ch = r.peek()
      if (isDecimal(ch)) {
        type = 'FLOAT'
        ch = this.scanMantissa(ch)
        this.scanExponent(ch)
      }
    } else if (ch === CH('<')) {
      type = 'HEREDOC'
      this.scanHeredoc()
    } else if (ch === CH('-')) {
      type = isDecimal(r.peek()) ? this.scanNumber(r.next()) : 'SUB'
    } else {
      const single = SINGLE_CHAR_TOKENS.get(ch)
      if (single === undefined) r.err('illegal char')
      else type = single
    }
    return { type, pos, text: r.src.slice(start, r.offset), json: false }
  }

  private scanComment(first: number): void {
    const r = this.r
    let ch = first
    if (ch === CH('#') || (ch === CH('/') && r.peek() !== CH('*'))) {
      if (ch === CH('/') && r.peek() !== CH('/')) {
        r.err("expected '/' for comment")
        return
      }
      ch = r.next()
      while (ch !== CH('\n') && ch !== EOF) ch = r.next()
      if (ch !== EOF) r.unread()
      return
    }
    if (ch === CH('/')) {
      r.next()
      ch = r.next()
    }
    for (;;) {
      if (ch === EOF) {
        r.err('comment not terminated')
        return
      }
      const ch0 = ch
      ch = r.next()
      if (ch0 === CH('*') && ch === CH('/')) return
    }
  }

  private scanNumber(first: number): TokenType {
    const r = this.r
    let ch = first
    if (ch === CH('0')) {
      ch = r.next()
      if (ch === CH('x') || ch === CH('X')) {
        ch = r.next()
        let found = false
        while (isHexadecimal(ch)) {
          ch = r.next()
          found = true
        }
        if (!found) r.err('illegal hexadecimal number')
        if (ch !== EOF) r.unread()
        return 'NUMBER'
      }
      // 0159 may still turn out to be the float 0159.23, so an 8 or 9 is only an error later
      let illegalOctal = false
      while (isDecimal(ch)) {
        ch = r.next()
        if (ch === CH('8') || ch === CH('9')) illegalOctal = true
      }
      if (ch === CH('e') || ch === CH('E')) {
        this.scanExponent(ch)
        return 'FLOAT'
      }
      if (ch === CH('.')) {
        ch = this.scanFraction(ch)
        if (ch === CH('e') || ch === CH('E')) this.scanExponent(r.next())
        return 'FLOAT'
      }
      if (illegalOctal) r.err('illegal octal number')
      if (ch !== EOF) r.unread()
      return 'NUMBER'
    }
    this.scanMantissa(ch)
    ch = r.next()
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

  private scanHeredoc(): void {
    const r = this.r
    if (r.next() !== CH('<')) {
      r.err("heredoc expected second '<', didn't see it")
      return
    }
    const anchorStart = r.offset
    let ch = r.next()
    if (ch === CH('-')) ch = r.next()
    while (isLetter(ch) || isDigit(ch)) ch = r.next()
    if (ch === EOF) {
      r.err('heredoc not terminated')
      return
    }
    if (ch === CH('\r') && r.peek() === CH('\n')) ch = r.next()
    if (ch !== CH('\n')) {
      r.err('invalid characters in heredoc anchor')
      return
    }
    const anchor = r.src.slice(anchorStart, r.offset - r.lastCharLen)
    if (anchor === '' || anchor === '-') {
      r.err('zero-length heredoc anchor')
      return
    }
    const ident = anchor.startsWith('-') ? anchor.slice(1) : anchor
    let lineStart = r.offset
    for (;;) {
      ch = r.next()
      if (ch === CH('\n')) {
        const lineEnd = r.offset - r.lastCharLen
        // upstream parity: the length test counts the '-' of <<-EOT, so a terminator needs indentation
        if (
          lineEnd - lineStart >= anchor.length &&
          isTerminator(r.src.slice(lineStart, lineEnd), ident)
        ) {
          return
        }
        lineStart = r.offset
      }
      if (ch === EOF) {
        r.err('heredoc not terminated')
        return
      }
    }
  }

  private scanString(): void {
    const r = this.r
    let braces = 0
    for (;;) {
      const ch = r.next()
      if ((ch === CH('\n') && braces === 0) || ch === EOF) {
        r.err('literal not terminated')
        return
      }
      if (ch === CH('"') && braces === 0) return
      // inside ${ ... } quotes do not end the string
      if (braces === 0 && ch === CH('$') && r.peek() === CH('{')) {
        braces++
        r.next()
      } else if (braces > 0 && ch === CH('{')) {
        braces++
      }
      if (braces > 0 && ch === CH('}')) braces--
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
      if (ch === EOF) break
      n--
    }
    if (n > 0) this.r.err('illegal char escape')
    if (n !== count && ch !== EOF) this.r.unread()
  }

  private scanIdentifier(): string {
    const r = this.r
    const start = r.offset - r.lastCharLen
    let ch = r.next()
    while (isLetter(ch) || isDigit(ch) || ch === CH('-') || ch === CH('.')) ch = r.next()
    if (ch !== EOF) r.unread()
    return r.src.slice(start, r.offset)
  }
}

/**
 * Go matches a heredoc terminator line with `^[[:space:]]*IDENT\r*\z`. This is the same test
 * without a regular expression (which could backtrack badly on long runs of '\r'). `ident` is
 * letters and digits, plus a final '\r' when the anchor line ended in "\r\n".
 */
function isTerminator(line: string, ident: string): boolean {
  const needCr = ident.endsWith('\r') ? 1 : 0
  const core = needCr === 1 ? ident.slice(0, -1) : ident
  let end = line.length
  while (end > 0 && line.charCodeAt(end - 1) === 0x0d) end--
  if (line.length - end < needCr) return false
  const body = line.slice(0, end)
  if (!body.endsWith(core)) return false
  return /^[\t\n\v\f\r ]*$/.test(body.slice(0, body.length - core.length))
}
