// HCL v1's native-syntax scanner (hashicorp/hcl v1.0.1-vault-7 hcl/scanner), rewritten in
// TypeScript. It follows Go's control flow closely, quirks included, because token boundaries,
// positions and error wording must match what SPIRE's built-in plugins accept and report.
import { BRACKETS_AND_COMMA, CH, ScannerBase } from './scan-common.js'
import { EOF, isDecimal, isDigit, isHexadecimal, isLetter } from './source-reader.js'
import type { Pos } from './source-reader.js'
import type { TokenType } from './ast.js'

const SINGLE_CHAR_TOKENS: ReadonlyMap<number, TokenType> = new Map([
  ...BRACKETS_AND_COMMA,
  [CH('='), 'ASSIGN'],
  [CH('+'), 'ADD'],
])

export class HclScanner extends ScannerBase {
  constructor(src: string, onError: (pos: Pos, message: string) => void) {
    super(src, true, onError)
  }

  protected override identifierType(lit: string): TokenType {
    return lit === 'true' || lit === 'false' ? 'BOOL' : 'IDENT'
  }

  protected override scanOther(ch: number): TokenType {
    const r = this.r
    if (ch === CH('#') || ch === CH('/')) {
      this.scanComment(ch)
      return 'COMMENT'
    }
    if (ch === CH('<')) {
      this.scanHeredoc()
      return 'HEREDOC'
    }
    if (ch === CH('-')) return isDecimal(r.peek()) ? this.scanNumber(r.next()) : 'SUB'
    const single = SINGLE_CHAR_TOKENS.get(ch)
    if (single !== undefined) return single
    r.err('illegal char')
    return 'ILLEGAL'
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

  protected override scanNumber(first: number): TokenType {
    const r = this.r
    let ch = first
    if (ch !== CH('0')) return this.scanDecimalNumber(ch)
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
    if (this.scanFloatSuffix(ch)) return 'FLOAT'
    if (illegalOctal) r.err('illegal octal number')
    if (ch !== EOF) r.unread()
    return 'NUMBER'
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

  protected override scanString(): void {
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
