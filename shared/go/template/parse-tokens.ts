// The parser's token stream (Go's three-token lookahead) and its error reporting.

import { type Item, type ItemType, type Lexer, itemString } from './lexer.js'
import type { ListNode } from './nodes.js'

/** One named template: `define`, `block` and the top-level text each make one. */
export interface Tree {
  name: string
  readonly parseName: string
  root: ListNode | undefined
  readonly text: string // byte string of the whole source, for error positions
}

export interface ParserOptions {
  readonly hasFunction: (name: string) => boolean
  readonly maxDepth: number
}

/** A parse failure: `message` is the full Go-style text; `limit` marks our own bounds. */
export class ParseFailure extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message)
  }
}

const ZERO_ITEM: Item = { typ: 'eof', pos: 0, val: '', line: 0 }

/** State shared by one tree's parse: lookahead, declared variables, nesting counters. */
export abstract class TokenStream {
  protected readonly tree: Tree
  private readonly token: Item[] = [ZERO_ITEM, ZERO_ITEM, ZERO_ITEM]
  private peekCount = 0
  protected vars: string[] = ['$']
  protected actionLine = 0
  protected rangeDepth = 0
  protected stackDepth = 0

  constructor(
    name: string,
    protected readonly parseName: string,
    protected readonly text: string,
    protected readonly lex: Lexer,
    protected readonly treeSet: Map<string, Tree>,
    protected readonly options: ParserOptions,
    protected nesting: number,
  ) {
    this.tree = { name, parseName, root: undefined, text }
  }

  protected next(): Item {
    if (this.peekCount > 0) this.peekCount--
    else this.token[0] = this.lex.nextItem()
    return this.tok(this.peekCount)
  }

  private tok(i: number): Item {
    return this.token[i] ?? ZERO_ITEM
  }

  protected backup(): void {
    this.peekCount++
  }

  protected backup2(t1: Item): void {
    this.token[1] = t1
    this.peekCount = 2
  }

  protected backup3(t2: Item, t1: Item): void {
    this.token[1] = t1
    this.token[2] = t2
    this.peekCount = 3
  }

  protected peek(): Item {
    if (this.peekCount > 0) return this.tok(this.peekCount - 1)
    this.peekCount = 1
    this.token[0] = this.lex.nextItem()
    return this.tok(0)
  }

  protected nextNonSpace(): Item {
    for (;;) {
      const t = this.next()
      if (t.typ !== 'space') return t
    }
  }

  protected peekNonSpace(): Item {
    const t = this.nextNonSpace()
    this.backup()
    return t
  }

  protected errorf(message: string, limit = false): never {
    this.tree.root = undefined
    throw new ParseFailure(`template: ${this.parseName}:${this.tok(0).line}: ${message}`, limit)
  }

  protected expect(expected: ItemType, context: string): Item {
    const t = this.nextNonSpace()
    if (t.typ !== expected) this.unexpected(t, context)
    return t
  }

  protected expectOneOf(a: ItemType, b: ItemType, context: string): Item {
    const t = this.nextNonSpace()
    if (t.typ !== a && t.typ !== b) this.unexpected(t, context)
    return t
  }

  protected unexpected(t: Item, context: string): never {
    if (t.typ === 'error') {
      let extra = ''
      if (this.actionLine !== 0 && this.actionLine !== t.line) {
        extra = ` in action started at ${this.parseName}:${this.actionLine}`
        if (t.val.endsWith(' action')) extra = extra.slice(' in action'.length)
      }
      this.errorf(`${itemString(t)}${extra}`)
    }
    this.errorf(`unexpected ${itemString(t)} in ${context}`)
  }

  protected enter(): void {
    if (++this.nesting > this.options.maxDepth) this.errorf('max nesting depth exceeded', true)
  }
}
