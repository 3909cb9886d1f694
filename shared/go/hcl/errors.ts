/**
 * Why a text could not be parsed:
 * - `syntax`: HCL v1 (or its JSON mode) rejects the text; the message is Go's wording.
 * - `invalid-literal`: the text scans, but a literal has no value (Go's HCL v1 panics on these).
 * - `input-too-large`, `nesting-too-deep`: our own bounds, which Go does not have.
 */
export type HclErrorReason = 'syntax' | 'invalid-literal' | 'input-too-large' | 'nesting-too-deep'

/** Longest message kept: Go would quote a whole (possibly huge) token; a status message must stay small. */
export const MAX_MESSAGE_CHARS = 1024

/** A configuration text that does not parse; `line` and `column` are 1-based, as Go reports them. */
export class HclSyntaxError extends Error {
  readonly reason: HclErrorReason
  readonly line: number
  readonly column: number

  constructor(reason: HclErrorReason, message: string, line: number, column: number) {
    super(
      message.length > MAX_MESSAGE_CHARS
        ? `${message.slice(0, MAX_MESSAGE_CHARS)}… (truncated)`
        : message,
    )
    this.name = 'HclSyntaxError'
    this.reason = reason
    this.line = Math.max(1, line)
    this.column = Math.max(1, column)
  }
}
