import { errorMessage, isPluginError, type StatusName } from './errors.js'
import type { Logger } from './logger.js'
import { Code, type GrpcStatus } from './wire/grpc-framing.js'

const CODES: Record<StatusName, number> = {
  Cancelled: Code.CANCELLED,
  Unknown: Code.UNKNOWN,
  InvalidArgument: Code.INVALID_ARGUMENT,
  DeadlineExceeded: Code.DEADLINE_EXCEEDED,
  NotFound: Code.NOT_FOUND,
  AlreadyExists: Code.ALREADY_EXISTS,
  PermissionDenied: Code.PERMISSION_DENIED,
  ResourceExhausted: Code.RESOURCE_EXHAUSTED,
  FailedPrecondition: Code.FAILED_PRECONDITION,
  Aborted: Code.ABORTED,
  Unavailable: Code.UNAVAILABLE,
  Internal: Code.INTERNAL,
  Unimplemented: Code.UNIMPLEMENTED,
  Unauthenticated: Code.UNAUTHENTICATED,
}

const NAMES = new Map<number, StatusName>(
  Object.entries(CODES).map(([name, code]) => [code, name as StatusName]),
)

/** A gRPC status as the runtime returns it. */
export type GrpcError = GrpcStatus

/** The numeric gRPC code of a status name. */
export const grpcCode = (name: StatusName): number => CODES[name]

/** The status name of a numeric gRPC code (Unknown for codes outside the table). */
export const statusName = (code: number): StatusName => NAMES.get(code) ?? 'Unknown'

/**
 * The one place that turns thrown values into gRPC statuses. A PluginError keeps its status and message;
 * anything else is an unexpected fault: logged with its detail, returned as a generic Internal.
 */
export function toStatus(err: unknown, log: Logger): GrpcError {
  if (isPluginError(err)) return { code: CODES[err.status], details: err.message }
  log.error('Unexpected plugin failure', { error: errorMessage(err) })
  return { code: Code.INTERNAL, details: `internal error: ${errorMessage(err)}` }
}
