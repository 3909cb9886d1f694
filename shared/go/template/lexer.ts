// A port of Go's text/template/parse lexer (lex.go). It scans a byte string (see utf8.ts) so that
// positions are byte offsets, as in Go's error messages. The state functions live in lex-states.ts.

import {
  EOF,
  RIGHT_DELIM,
  TRIM_MARKER_LEN,
  countNewlines,
  hasRightTrimMarker,
  isSpace,
  lexInsideAction,
  lexText,
} from './lex-states.js'
import type { Item, ItemType } from './lex-items.js'
import { decodeLastRune, decodeRune } from '../utf8.js'

export { type Item, type ItemType, itemString } from './lex-items.js'

export type StateFn = ((l: Lexer) => StateFn) | null

export interface LexOptions {
  breakOK: boolean
  continueOK: boolean
}

export class Lexer {
  input: string
  pos = 0
  start = 0
  atEOF = false
  parenDepth = 0
  line = 1
  startLine = 1
  insideAction = false
  item: Item = { typ: 'eof', pos: 0, val: 'EOF', line: 1 }
  options: LexOptions = { breakOK: true, continueOK: true }

  constructor(input: string) {
    this.input = input
  }

  next(): number {
    if (this.pos >= this.input.length) {
      this.atEOF = true
      return EOF
    }
    const [r, w] = decodeRune(this.input, this.pos)
    this.pos += w
    if (r === 0x0a) this.line++
    return r
  }

  peek(): number {
    const r = this.next()
    this.backup()
    return r
  }

  backup(): void {
    if (!this.atEOF && this.pos > 0) {
      const [r, w] = decodeLastRune(this.input, this.pos)
      this.pos -= w
      if (r === 0x0a) this.line--
    }
  }

  thisItem(typ: ItemType): Item {
    const i: Item = {
      typ,
      pos: this.start,
      val: this.input.slice(this.start, this.pos),
      line: this.startLine,
    }
    this.start = this.pos
    this.startLine = this.line
    return i
  }

  emit(typ: ItemType): StateFn {
    return this.emitItem(this.thisItem(typ))
  }

  emitItem(i: Item): StateFn {
    this.item = i
    return null
  }

  ignore(): void {
    this.line += countNewlines(this.input.slice(this.start, this.pos))
    this.start = this.pos
    this.startLine = this.line
  }

  accept(valid: string): boolean {
    const r = this.next()
    if (r !== EOF && valid.includes(String.fromCodePoint(r))) return true
    this.backup()
    return false
  }

  acceptRun(valid: string): void {
    for (;;) {
      const r = this.next()
      if (r === EOF || !valid.includes(String.fromCodePoint(r))) break
    }
    this.backup()
  }

  errorf(message: string): StateFn {
    this.item = { typ: 'error', pos: this.start, val: message, line: this.startLine }
    this.start = 0
    this.pos = 0
    this.input = ''
    return null
  }

  nextItem(): Item {
    this.item = { typ: 'eof', pos: this.pos, val: 'EOF', line: this.startLine }
    let state: StateFn = this.insideAction ? lexInsideAction : lexText
    while (state !== null) state = state(this)
    return this.item
  }

  atRightDelim(): [boolean, boolean] {
    if (
      hasRightTrimMarker(this.input, this.pos) &&
      this.input.startsWith(RIGHT_DELIM, this.pos + TRIM_MARKER_LEN)
    ) {
      return [true, true]
    }
    return [this.input.startsWith(RIGHT_DELIM, this.pos), false]
  }

  atTerminator(): boolean {
    const r = this.peek()
    if (isSpace(r)) return true
    if (
      r === EOF ||
      r === 0x2e ||
      r === 0x2c ||
      r === 0x7c ||
      r === 0x3a ||
      r === 0x29 ||
      r === 0x28
    )
      return true
    return this.input.startsWith(RIGHT_DELIM, this.pos)
  }
}
