import {
  Client,
  credentials,
  Metadata,
  status as GrpcStatus,
  type ServiceError,
} from '@grpc/grpc-js'
import { PluginError } from './errors.js'
import type { Logger } from './logger.js'
import type { GetAgentInfoRequest, MetricLabel } from './messages.js'
import { serviceDefinition, SERVICE } from './protos.js'
import { statusName } from './status.js'

/** Per-call deadline for host service RPCs; SPIRE answers from its datastore. */
export const HOST_CALL_TIMEOUT_MS = 10_000
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024

/** SPIRE's AgentStore host service, as node attestors use it. */
export interface AgentStore {
  /** Resolves true when SPIRE knows the agent (attested, even banned), false on NotFound. */
  isAttested(agentId: string, signal?: AbortSignal): Promise<boolean>
}

export interface MetricLabels {
  [name: string]: string
}

/** SPIRE's Metrics host service. Calls never throw and never block an attestation. */
export interface Metrics {
  incrCounter(key: string[], value?: number, labels?: MetricLabels): void
  addSample(key: string[], value: number, labels?: MetricLabels): void
  setGauge(key: string[], value: number, labels?: MetricLabels): void
  measureSince(key: string[], start: bigint, labels?: MetricLabels): void
}

/** The Metrics stand-in when SPIRE offers none. */
export const NOOP_METRICS: Metrics = {
  incrCounter: () => {},
  addSample: () => {},
  setGauge: () => {},
  measureSince: () => {},
}

/**
 * TOFU as SPIRE's built-in attestors apply it: an agent ID SPIRE already knows is refused, NotFound lets
 * the attestation continue, and any other answer fails closed with the host's code.
 */
export async function assertNotAttested(
  store: AgentStore,
  agentId: string,
  log: Logger,
  signal?: AbortSignal,
): Promise<void> {
  if (await store.isAttested(agentId, signal)) {
    // upstream parity: logged with the ID, which is not returned to the client
    log.error('Attestation data has already been used to attest an agent', { spiffe_id: agentId })
    throw new PluginError(
      'PermissionDenied',
      'already_attested',
      'attestation data has already been used to attest an agent',
    )
  }
}

type Unary<Req, Res> = (
  method: string,
  request: Req,
  signal: AbortSignal | undefined,
) => Promise<Res>

/** A grpc-js client for one host service on the broker's unix socket (plaintext h2c). */
export function createHostConnection(address: string): {
  call: Unary<object, unknown>
  close(): void
} {
  const client = new Client(`unix://${address}`, credentials.createInsecure(), {
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  })
  const call: Unary<object, unknown> = (method, request, signal) =>
    new Promise((resolve, reject) => {
      const [serviceName, rpc] = splitMethod(method)
      const def = serviceDefinition(serviceName)[rpc]
      if (def === undefined) {
        reject(new Error(`unknown host method ${method}`))
        return
      }
      const deadline = new Date(Date.now() + HOST_CALL_TIMEOUT_MS)
      const pending = client.makeUnaryRequest(
        def.path,
        def.requestSerialize,
        def.responseDeserialize,
        request,
        new Metadata(),
        { deadline },
        (err: ServiceError | null, value?: unknown) => {
          signal?.removeEventListener('abort', onAbort)
          if (err) reject(err)
          else resolve(value)
        },
      )
      const onAbort = (): void => pending.cancel()
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  return { call, close: () => client.close() }
}

type HostServiceName = typeof SERVICE.agentStore | typeof SERVICE.metrics

function splitMethod(method: string): [HostServiceName, string] {
  const slash = method.lastIndexOf('/')
  return [method.slice(0, slash) as HostServiceName, method.slice(slash + 1)]
}

/** AgentStore over a host connection, with SPIRE's error mapping. */
export function createAgentStoreClient(conn: { call: Unary<object, unknown> }): AgentStore {
  return {
    async isAttested(agentId, signal) {
      const request: GetAgentInfoRequest = { agent_id: agentId }
      try {
        await conn.call(`${SERVICE.agentStore}/GetAgentInfo`, request, signal)
        return true
      } catch (err) {
        const e = err as Partial<ServiceError>
        if (e.code === GrpcStatus.NOT_FOUND) return false
        const code = typeof e.code === 'number' ? e.code : GrpcStatus.INTERNAL
        // upstream parity: same code, "unable to get agent info: <message>"
        throw new PluginError(
          statusName(code),
          'agent_store_failed',
          `unable to get agent info: ${e.details ?? e.message ?? 'unknown error'}`,
          { cause: err },
        )
      }
    },
  }
}

/** Metrics over a host connection: fire and forget, failures logged at debug. */
export function createMetricsClient(conn: { call: Unary<object, unknown> }, log: Logger): Metrics {
  const send = (rpc: string, request: object): void => {
    conn.call(`${SERVICE.metrics}/${rpc}`, request, undefined).catch((err: unknown) => {
      log.debug('Metrics host service call failed', {
        rpc,
        error: err instanceof Error ? err.message : String(err),
      })
    })
  }
  return {
    incrCounter: (key, value = 1, labels) =>
      send('IncrCounter', { key, val: value, labels: toLabels(labels) }),
    addSample: (key, value, labels) =>
      send('AddSample', { key, val: value, labels: toLabels(labels) }),
    setGauge: (key, value, labels) =>
      send('SetGauge', { key, val: value, labels: toLabels(labels) }),
    measureSince: (key, start, labels) =>
      send('MeasureSince', { key, time: start.toString(), labels: toLabels(labels) }),
  }
}

function toLabels(labels: MetricLabels | undefined): MetricLabel[] {
  return Object.entries(labels ?? {}).map(([name, value]) => ({ name, value }))
}

/** Unix time in nanoseconds now, for Metrics.measureSince. */
export const unixNanos = (now: Date = new Date()): bigint => BigInt(now.getTime()) * 1_000_000n
