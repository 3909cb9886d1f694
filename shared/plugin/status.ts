import { status as GrpcStatus } from '@grpc/grpc-js'
import { errorMessage, isPluginError, type StatusName } from './errors.js'
import type { Logger } from './logger.js'

const CODES: Record<StatusName, GrpcStatus> = {
  Cancelled: GrpcStatus.CANCELLED,
  Unknown: GrpcStatus.UNKNOWN,
  InvalidArgument: GrpcStatus.INVALID_ARGUMENT,
  DeadlineExceeded: GrpcStatus.DEADLINE_EXCEEDED,
  NotFound: GrpcStatus.NOT_FOUND,
  AlreadyExists: GrpcStatus.ALREADY_EXISTS,
  PermissionDenied: GrpcStatus.PERMISSION_DENIED,
  ResourceExhausted: GrpcStatus.RESOURCE_EXHAUSTED,
  FailedPrecondition: GrpcStatus.FAILED_PRECONDITION,
  Aborted: GrpcStatus.ABORTED,
  Unavailable: GrpcStatus.UNAVAILABLE,
  Internal: GrpcStatus.INTERNAL,
  Unimplemented: GrpcStatus.UNIMPLEMENTED,
  Unauthenticated: GrpcStatus.UNAUTHENTICATED,
}

const NAMES = new Map<number, StatusName>(
  Object.entries(CODES).map(([name, code]) => [code, name as StatusName]),
)

export interface GrpcError {
  code: GrpcStatus
  details: string
}

/** The numeric gRPC code of a status name. */
export const grpcCode = (name: StatusName): GrpcStatus => CODES[name]

/** The status name of a numeric gRPC code (Unknown for codes outside the table). */
export const statusName = (code: number): StatusName => NAMES.get(code) ?? 'Unknown'

/**
 * The one place that turns thrown values into gRPC statuses. A PluginError keeps its status and message;
 * anything else is an unexpected fault: logged with its detail, returned as a generic Internal.
 */
export function toStatus(err: unknown, log: Logger): GrpcError {
  if (isPluginError(err)) return { code: CODES[err.status], details: err.message }
  log.error('Unexpected plugin failure', { error: errorMessage(err) })
  return { code: GrpcStatus.INTERNAL, details: `internal error: ${errorMessage(err)}` }
}
