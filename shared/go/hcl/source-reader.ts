// Character reader shared by the HCL and JSON scanners. It reproduces the position bookkeeping of
// Go's HCL v1 scanners (hcl/scanner, json/scanner) exactly, because the line:column in every error
// message comes from it: columns count code points, a read past the end still moves the column on,
// and the position of a newline is reported at the end of the line it closes.

/** A source position. `offset` indexes the (UTF-16) input string; line and column are 1-based. */
export interface Pos {
  offset: number
  line: number
  column: number
}

/** Go's scanners use rune 0 as their end-of-input marker (a NUL character reads as it too). */
export const EOF = 0

const REPLACEMENT_CHAR = 0xfffd

export function formatPos(pos: Pos): string {
  return pos.line > 0 ? `${pos.line}:${pos.column}` : '-'
}

export class SourceReader {
  readonly src: string
  /** Go's srcPos, kept as numbers: next() runs once per character and must not allocate. */
  offset = 0
  line = 1
  column = 0
  lastCharLen = 0
  private index = 0
  private prevOffset = 0
  private prevLine = 1
  private prevColumn = 0
  private lastLineLen = 0
  private canUnread = false
  private readonly hclChecks: boolean
  private readonly onError: (pos: Pos, message: string) => void

  constructor(src: string, hclChecks: boolean, onError: (pos: Pos, message: string) => void) {
    this.src = src
    this.hclChecks = hclChecks
    this.onError = onError
  }

  get srcPos(): Pos {
    return { offset: this.offset, line: this.line, column: this.column }
  }

  next(): number {
    if (this.index >= this.src.length) {
      this.column++
      this.lastCharLen = 0
      this.canUnread = false
      return EOF
    }
    const ch = this.src.codePointAt(this.index) ?? EOF
    const size = ch > 0xffff ? 2 : 1
    this.index += size
    this.canUnread = true
    this.prevOffset = this.offset
    this.prevLine = this.line
    this.prevColumn = this.column
    this.column++
    this.lastCharLen = size
    this.offset += size
    if (ch >= 0xd800 && ch <= 0xdfff) {
      // A lone surrogate is what invalid UTF-8 becomes once the input is a JS string.
      this.err('illegal UTF-8 encoding')
      return REPLACEMENT_CHAR
    }
    if (ch === 0x0a) {
      this.line++
      this.lastLineLen = this.column
      this.column = 0
    }
    if (this.hclChecks && ch === 0) {
      this.err('unexpected null character (0x00)')
      return EOF
    }
    if (this.hclChecks && ch === 0xe123) {
      this.err('unicode code point U+E123 reserved for internal use')
      return REPLACEMENT_CHAR
    }
    return ch
  }

  // Go panics when it unreads after reading past the end or after a peek; here that is a no-op.
  unread(): void {
    if (!this.canUnread) return
    this.index -= this.lastCharLen
    this.offset = this.prevOffset
    this.line = this.prevLine
    this.column = this.prevColumn
    this.canUnread = false
  }

  peek(): number {
    this.canUnread = false
    if (this.index >= this.src.length) return EOF
    return this.src.codePointAt(this.index) ?? EOF
  }

  /** The position of the character read last: where Go reports scanner errors. */
  recentPosition(): Pos {
    const offset = this.offset - this.lastCharLen
    if (this.column > 0) return { offset, line: this.line, column: this.column }
    if (this.lastLineLen > 0) return { offset, line: this.line - 1, column: this.lastLineLen }
    return { offset, line: 1, column: 1 }
  }

  /** The start position of a token whose first character was just read. */
  tokenPosition(): Pos {
    const offset = this.offset - this.lastCharLen
    if (this.column > 0) return { offset, line: this.line, column: this.column }
    return { offset, line: this.line - 1, column: this.lastLineLen }
  }

  err(message: string): void {
    this.onError(this.recentPosition(), message)
  }
}

export function isLetter(ch: number): boolean {
  return (
    (ch >= 0x61 && ch <= 0x7a) ||
    (ch >= 0x41 && ch <= 0x5a) ||
    ch === 0x5f ||
    (ch >= 0x80 && /\p{L}/u.test(String.fromCodePoint(ch)))
  )
}

export function isDigit(ch: number): boolean {
  return (ch >= 0x30 && ch <= 0x39) || (ch >= 0x80 && /\p{Nd}/u.test(String.fromCodePoint(ch)))
}

export function isDecimal(ch: number): boolean {
  return ch >= 0x30 && ch <= 0x39
}

export function isHexadecimal(ch: number): boolean {
  return (ch >= 0x30 && ch <= 0x39) || (ch >= 0x61 && ch <= 0x66) || (ch >= 0x41 && ch <= 0x46)
}

export function isWhitespace(ch: number): boolean {
  return ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d
}

export function digitVal(ch: number): number {
  if (ch >= 0x30 && ch <= 0x39) return ch - 0x30
  if (ch >= 0x61 && ch <= 0x66) return ch - 0x61 + 10
  if (ch >= 0x41 && ch <= 0x46) return ch - 0x41 + 10
  return 16
}
