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
 * The one error type plugin code throws. `reason` is one of the closed set FAILURE_REASONS, for tests, metrics and
 * logs; `message` is what SPIRE shows (lower-case, no plugin-name prefix: SPIRE adds one).
 */
export class PluginError extends Error {
  readonly status: StatusName
  readonly reason: FailureReason

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
