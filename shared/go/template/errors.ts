/** Where a template failed: while parsing the text, or while executing it against data. */
export type TemplateErrorPhase = 'parse' | 'execute'

/**
 * A template failure. `message` is Go's text/template wording, e.g.
 * `template: agent-path:1: function "foo" not defined` or
 * `template: agent-path:1:3: executing "agent-path" at <.Foo>: map has no entry for key "Foo"`.
 * `limit` is set when one of our resource bounds (not Go) stopped the template.
 */
export class TemplateError extends Error {
  readonly phase: TemplateErrorPhase
  readonly limit: boolean

  constructor(phase: TemplateErrorPhase, message: string, options?: { limit?: boolean }) {
    super(message)
    this.name = 'TemplateError'
    this.phase = phase
    this.limit = options?.limit ?? false
  }
}

/** A SPIFFE ID or path that go-spiffe would reject; `message` uses go-spiffe's wording. */
export class SpiffeIdError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SpiffeIdError'
  }
}

/**
 * Thrown by template functions; the executor reports it as Go does for a function that returned an
 * error or panicked: `error calling <name>: <message>`.
 */
export class FuncError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'FuncError'
  }
}

/** Thrown by anything that runs out of a budget; the executor turns it into a `limit` TemplateError. */
export class LimitError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'LimitError'
  }
}
