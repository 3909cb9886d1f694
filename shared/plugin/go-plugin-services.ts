import type { BrokerConnections } from './broker.js'
import { unaryHandler, type Handler, type ServerCall } from './grpc-server.js'
import type { Logger } from './logger.js'
import type { ConnInfo } from './messages.js'
import { Code, type GrpcStatus } from './wire/grpc-framing.js'

interface HealthCheckRequest {
  service?: string
}

const SERVING_NAMES = new Set(['', 'plugin'])

class UnknownService extends Error {}

/** grpc.health.v1.Health: go-plugin's Ping checks `plugin`. */
export function healthService(): Record<string, Handler> {
  return {
    Check: unaryHandler<HealthCheckRequest, unknown>(
      (request) => {
        if (!SERVING_NAMES.has(request.service ?? '')) throw new UnknownService()
        return { status: 'SERVING' }
      },
      (err): GrpcStatus =>
        err instanceof UnknownService
          ? { code: Code.NOT_FOUND, details: 'unknown service' }
          : { code: Code.INTERNAL, details: String(err) },
    ),
    Watch(call) {
      const c = call as unknown as ServerCall<HealthCheckRequest, unknown>
      c.next('the request').then(
        (request) => {
          const known = SERVING_NAMES.has(request?.service ?? '')
          c.write({ status: known ? 'SERVING' : 'SERVICE_UNKNOWN' })
        },
        () => {},
      )
      c.onCancel(() => c.end())
    },
  }
}

/**
 * plugin.GRPCBroker/StartStream: the host opens it and keeps it for the plugin's life. We record every
 * ConnInfo and never end the stream ourselves (wire-protocol.md §8).
 */
export function brokerService(
  connections: BrokerConnections,
  log: Logger,
): Record<string, Handler> {
  return {
    StartStream(call) {
      const c = call as unknown as ServerCall<ConnInfo, ConnInfo>
      const read = (): void => {
        c.next('connection info').then(
          (info) => {
            if (info === undefined) return
            log.debug('Broker connection info received', {
              service_id: info.service_id ?? 0,
              network: info.network ?? '',
            })
            connections.record(info)
            read()
          },
          // the host closes the broker on unload: normal
          () => {},
        )
      }
      read()
    },
  }
}

/** plugin.GRPCStdio/StreamStdio: held open, never written (SPIRE discards it anyway). */
export function stdioService(): Record<string, Handler> {
  return {
    StreamStdio(call) {
      call.next('the request').catch(() => {})
    },
  }
}

/** plugin.GRPCController/Shutdown: reply first, then shut down on the next tick. */
export function controllerService(shutdown: () => void): Record<string, Handler> {
  return {
    Shutdown: unaryHandler(
      () => {
        setImmediate(shutdown)
        return {}
      },
      (err) => ({ code: Code.INTERNAL, details: String(err) }),
    ),
  }
}
