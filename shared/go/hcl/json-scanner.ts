// HCL v1's JSON-mode scanner (hashicorp/hcl v1.0.1-vault-7 json/scanner), rewritten in TypeScript
// with Go's control flow, so that lenient and failing JSON behave as they do for SPIRE.
import { BRACKETS_AND_COMMA, CH, ScannerBase } from './scan-common.js'
import { EOF, isDecimal } from './source-reader.js'
import type { Pos } from './source-reader.js'
import type { TokenType } from './ast.js'

const SINGLE_CHAR_TOKENS: ReadonlyMap<number, TokenType> = new Map([
  ...BRACKETS_AND_COMMA,
  [CH(':'), 'COLON'],
])

export class JsonScanner extends ScannerBase {
  constructor(src: string, onError: (pos: Pos, message: string) => void) {
    super(src, false, onError)
  }

  protected override identifierType(lit: string): TokenType {
    if (lit === 'true' || lit === 'false') return 'BOOL'
    if (lit === 'null') return 'NULL'
    this.r.err('illegal char')
    return 'ILLEGAL'
  }

  protected override scanOther(ch: number): TokenType {
    const r = this.r
    if (ch === CH('-')) {
      if (isDecimal(r.peek())) return this.scanNumber(r.next())
      r.err('illegal char')
      return 'ILLEGAL'
    }
    const single = SINGLE_CHAR_TOKENS.get(ch)
    if (single !== undefined) return single
    r.err(`illegal char: ${String.fromCodePoint(ch)}`)
    return 'ILLEGAL'
  }

  protected override scanNumber(first: number): TokenType {
    const r = this.r
    const zero = first === CH('0')
    const before = r.srcPos
    const type = this.scanDecimalNumber(first)
    if (type === 'FLOAT') return type
    const moved = before.offset !== r.offset || before.line !== r.line || before.column !== r.column
    // upstream parity: a number at the very end of the input also trips this check
    if (zero && moved) r.err('numbers cannot start with 0')
    return type
  }

  protected override scanString(): void {
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
}
