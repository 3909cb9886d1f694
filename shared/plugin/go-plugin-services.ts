import {
  status as GrpcStatus,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js'
import type { BrokerConnections } from './broker.js'
import type { Logger } from './logger.js'
import type { ConnInfo } from './messages.js'

interface HealthCheckRequest {
  service?: string
}

const SERVING_NAMES = new Set(['', 'plugin'])

/** grpc.health.v1.Health: go-plugin's Ping checks `plugin`. */
export function healthService(): UntypedServiceImplementation {
  return {
    Check(call: ServerUnaryCall<HealthCheckRequest, unknown>, callback: sendUnaryData<unknown>) {
      if (SERVING_NAMES.has(call.request.service ?? '')) {
        callback(null, { status: 'SERVING' })
      } else {
        callback({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' })
      }
    },
    Watch(call: ServerWritableStream<HealthCheckRequest, unknown>) {
      const known = SERVING_NAMES.has(call.request.service ?? '')
      call.write({ status: known ? 'SERVING' : 'SERVICE_UNKNOWN' })
      call.on('cancelled', () => call.end())
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
): UntypedServiceImplementation {
  return {
    StartStream(call: ServerDuplexStream<ConnInfo, ConnInfo>) {
      call.on('data', (info: ConnInfo) => {
        log.debug('Broker connection info received', {
          service_id: info.service_id ?? 0,
          network: info.network ?? '',
        })
        connections.record(info)
      })
      // the host closes the broker on unload; all of these are normal
      call.on('error', () => {})
      call.on('cancelled', () => {})
      call.on('end', () => {})
    },
  }
}

/** plugin.GRPCStdio/StreamStdio: held open, never written (SPIRE discards it anyway). */
export function stdioService(): UntypedServiceImplementation {
  return {
    StreamStdio(call: ServerWritableStream<unknown, unknown>) {
      call.on('cancelled', () => {})
      call.on('error', () => {})
    },
  }
}

/** plugin.GRPCController/Shutdown: reply first, then shut down on the next tick. */
export function controllerService(shutdown: () => void): UntypedServiceImplementation {
  return {
    Shutdown(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
      callback(null, {})
      setImmediate(shutdown)
    },
  }
}
