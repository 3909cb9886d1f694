/**
 * Why a text could not be parsed:
 * - `syntax`: HCL v1 (or its JSON mode) rejects the text; the message is Go's wording.
 * - `invalid-literal`: the text scans, but a literal has no value (Go's HCL v1 panics on these).
 * - `input-too-large`, `nesting-too-deep`: our own bounds, which Go does not have.
 */
export type HclErrorReason = 'syntax' | 'invalid-literal' | 'input-too-large' | 'nesting-too-deep'

/** A configuration text that does not parse; `line` and `column` are 1-based, as Go reports them. */
export class HclSyntaxError extends Error {
  readonly reason: HclErrorReason
  readonly line: number
  readonly column: number

  constructor(reason: HclErrorReason, message: string, line: number, column: number) {
    super(message)
    this.name = 'HclSyntaxError'
    this.reason = reason
    this.line = Math.max(1, line)
    this.column = Math.max(1, column)
  }
}
