// What the two parsers share: Go-style failures, the end-of-input signal, the depth bound, and the
// way a parse ends (scanner errors first, then the parser's).
import type { ObjectItem } from './ast.js'
import { HclSyntaxError } from './errors.js'
import { formatPos } from './source-reader.js'
import type { Pos } from './source-reader.js'

/**
 * An error as Go's parser returns it. `goPos` is set when Go's error carries a position (its
 * message is then `At line:col: ...`); `at` is where our HclSyntaxError points in every case.
 */
export class GoFailure {
  readonly goPos: Pos | undefined
  readonly message: string
  readonly at: Pos

  constructor(goPos: Pos | undefined, message: string, at: Pos) {
    this.goPos = goPos
    this.message = message
    this.at = at
  }

  /** Go's `err.Error()`. */
  text(): string {
    return this.goPos === undefined ? this.message : `At ${formatPos(this.goPos)}: ${this.message}`
  }

  toSyntaxError(): HclSyntaxError {
    // deviation: Go's JSON parser errors carry no position; ours always say where (docs/hcl-config.md)
    const message =
      this.goPos === undefined ? `At ${formatPos(this.at)}: ${this.message}` : this.text()
    return new HclSyntaxError('syntax', message, this.at.line, this.at.column)
  }
}

/** Go's errEofToken: not an error, but a signal that unwinds to the enclosing object list. */
export const EOF_SIGNAL: unique symbol = Symbol('hcl-eof')

export function checkDepth(depth: number, maxDepth: number, at: Pos): void {
  if (depth > maxDepth) {
    throw new HclSyntaxError(
      'nesting-too-deep',
      `At ${formatPos(at)}: nesting is deeper than ${maxDepth} levels`,
      at.line,
      at.column,
    )
  }
}

/** A scanner error as Go reports it (the parser keeps only the last one). */
export interface ScanError {
  pos: Pos
  message: string
}

/**
 * The frame of both parsers: it records the scanner's errors (the last one wins) and, once the
 * items are parsed, reports a scanner error before a parser failure, as Go does.
 */
export abstract class ParserBase {
  protected readonly maxDepth: number
  private scanError: ScanError | undefined
  protected readonly onScanError = (pos: Pos, message: string): void => {
    this.scanError = { pos, message }
  }

  constructor(maxDepth: number) {
    this.maxDepth = maxDepth
  }

  parse(): ObjectItem[] {
    let items: ObjectItem[] = []
    let failure: GoFailure | undefined
    try {
      items = this.parseItems()
    } catch (err) {
      failure = this.failureOf(err)
    }
    const scanError = this.scanError
    if (scanError !== undefined) throw this.scanSyntaxError(scanError)
    if (failure !== undefined) throw failure.toSyntaxError()
    return items
  }

  protected abstract parseItems(): ObjectItem[]

  /** The failure that `err`, thrown by parseItems, stands for; anything else is thrown again. */
  protected abstract failureOf(err: unknown): GoFailure

  protected abstract scanSyntaxError(scanError: ScanError): HclSyntaxError
}
