// What the two parsers share: Go-style failures, the end-of-input signal and the depth bound.
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
