import type { FailureReason } from './reasons.js'
/** gRPC status names the plugins use. Only `status.ts` knows their numeric codes. */
export type StatusName =
  | 'Cancelled'
  | 'Unknown'
  | 'InvalidArgument'
  | 'DeadlineExceeded'
  | 'NotFound'
  | 'AlreadyExists'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'FailedPrecondition'
  | 'Aborted'
  | 'Unavailable'
  | 'Internal'
  | 'Unimplemented'
  | 'Unauthenticated'

/**
 * An error that captures no stack trace: for outcomes thrown or rejected hundreds of times a second
 * under a fleet boot (a refused token, an agent already attested, AgentStore's NotFound), where V8's
 * stack capture was a measurable share of the runtime's CPU per attestation (docs/performance.md,
 * issue 12 §3). A `cause` keeps its own stack.
 */
export class StacklessError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      super(message, options)
    } finally {
      Error.stackTraceLimit = limit
    }
  }
}

/**
 * The one error type plugin code throws. `reason` is one of the closed set FAILURE_REASONS, for tests, metrics and
 * logs; `message` is what SPIRE shows (lower-case, no plugin-name prefix: SPIRE adds one).
 *
 * It carries no stack trace (StacklessError): it reports an outcome. Where a PluginError wraps an
 * unexpected fault, the `cause` keeps that fault's own stack.
 */
export class PluginError extends StacklessError {
  declare readonly status: StatusName
  declare readonly reason: FailureReason

  constructor(status: StatusName, reason: FailureReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'PluginError'
    this.status = status
    this.reason = reason
  }
}

export const isPluginError = (err: unknown): err is PluginError => err instanceof PluginError

/** Text of anything thrown, including non-Error values. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message
  if (typeof err === 'string') return err
  try {
    return JSON.stringify(err) ?? String(err)
  } catch {
    return String(err)
  }
}
