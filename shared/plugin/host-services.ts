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
      // grpc-js captures the caller's stack on every call and formats it into every error status;
      // AgentStore answers NotFound for each new agent, an expected outcome, so no stack is taken
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 0
      let pending: ReturnType<Client['makeUnaryRequest']>
      try {
        pending = client.makeUnaryRequest(
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
      } finally {
        Error.stackTraceLimit = limit
      }
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

/** How long counter increments are summed before one IncrCounter carries them to SPIRE. */
export const COUNTER_FLUSH_INTERVAL_MS = 1_000

/** A Metrics client that can hand over what it still holds, e.g. before the plugin exits. */
export interface FlushableMetrics extends Metrics {
  /** Sends the counter increments summed so far, now. */
  flush(): void
}

/**
 * Metrics over a host connection: fire and forget, failures logged at debug. Counter increments are
 * summed per key and label set and sent at most once per `flushIntervalMs` (one IncrCounter per
 * distinct series, whatever the attestation rate) — SPIRE's sinks aggregate counters anyway, so the
 * totals are the same, one host round trip per attestation fewer. Samples and gauges go out as they
 * come: a sample cannot be summed.
 */
export function createMetricsClient(
  conn: { call: Unary<object, unknown> },
  log: Logger,
  options: {
    flushIntervalMs?: number
    setTimer?: (fn: () => void, ms: number) => { unref?(): unknown }
  } = {},
): FlushableMetrics {
  const send = (rpc: string, request: object): void => {
    conn.call(`${SERVICE.metrics}/${rpc}`, request, undefined).catch((err: unknown) => {
      log.debug('Metrics host service call failed', {
        rpc,
        error: err instanceof Error ? err.message : String(err),
      })
    })
  }
  const interval = options.flushIntervalMs ?? COUNTER_FLUSH_INTERVAL_MS
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms))
  const pending = new Map<string, { key: string[]; labels: MetricLabel[]; val: number }>()
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    for (const counter of pending.values()) send('IncrCounter', counter)
    pending.clear()
  }
  const incrCounter = (key: string[], value = 1, labels?: MetricLabels): void => {
    const wire = toLabels(labels)
    const series = JSON.stringify([key, wire])
    const held = pending.get(series)
    if (held !== undefined) held.val += value
    else pending.set(series, { key, labels: wire, val: value })
    if (!scheduled) {
      scheduled = true
      setTimer(flush, interval).unref?.()
    }
  }
  return {
    flush,
    incrCounter,
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
