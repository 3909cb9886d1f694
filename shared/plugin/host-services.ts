import { PluginError } from './errors.js'
import { HostCallError, type HostConnection, type Unary } from './host-connection.js'
import type { Logger } from './logger.js'
import type { GetAgentInfoRequest, MetricLabel } from './messages.js'
import { SERVICE } from './protos.js'
import { statusName } from './status.js'
import { Code } from './wire/grpc-framing.js'

export {
  createHostConnection,
  HOST_CALL_TIMEOUT_MS,
  HostCallError,
  type HostConnection,
} from './host-connection.js'

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

/**
 * AgentStore over a host connection, with SPIRE's error mapping. NotFound (every new agent) is read
 * from the answer's status when the connection offers `invoke`, so no error object is built for it.
 */
export function createAgentStoreClient(
  conn: Pick<HostConnection, 'call'> & Partial<Pick<HostConnection, 'invoke'>>,
): AgentStore {
  const method = `${SERVICE.agentStore}/GetAgentInfo`
  const refuse = (code: number, details: string, cause?: unknown): PluginError =>
    // upstream parity: same code, "unable to get agent info: <message>"
    new PluginError(
      statusName(code),
      'agent_store_failed',
      `unable to get agent info: ${details}`,
      {
        cause,
      },
    )
  return {
    async isAttested(agentId, signal) {
      const request: GetAgentInfoRequest = { agent_id: agentId }
      if (conn.invoke !== undefined) {
        const { status } = await conn.invoke(method, request, signal)
        if (status.code === Code.OK) return true
        if (status.code === Code.NOT_FOUND) return false
        throw refuse(status.code, status.details, new HostCallError(status.code, status.details))
      }
      try {
        await conn.call(method, request, signal)
        return true
      } catch (err) {
        const e = err as Partial<HostCallError>
        if (e.code === Code.NOT_FOUND) return false
        const code = typeof e.code === 'number' ? e.code : Code.INTERNAL
        throw refuse(code, e.details ?? e.message ?? 'unknown error', err)
      }
    },
  }
}

/** How long counter increments and samples are held before they go to SPIRE in one go. */
export const COUNTER_FLUSH_INTERVAL_MS = 1_000

/**
 * Samples sent per series per flush window at most. Below it every sample reaches SPIRE; above it
 * (a fleet boot) a uniform random subset of the window's samples does (reservoir sampling), so the
 * distribution SPIRE's sinks estimate is unbiased while host calls stay bounded whatever the rate.
 */
export const SAMPLES_PER_WINDOW = 32

/** A Metrics client that can hand over what it still holds, e.g. before the plugin exits. */
export interface FlushableMetrics extends Metrics {
  /** Sends the counter increments summed so far and the samples held, now. */
  flush(): void
}

/**
 * Metrics over a host connection: fire and forget, failures logged at debug. Nothing costs a host
 * call per attestation, because at fleet rates those calls were a fifth of the runtime's CPU
 * (docs/performance.md, issue 12 §3):
 * - counter increments are summed per key and label set and sent as one IncrCounter per series at
 *   most once per `flushIntervalMs` (SPIRE's sinks aggregate counters anyway: the totals are exact);
 * - samples are held per series for the same window and sent at its end, all of them up to
 *   SAMPLES_PER_WINDOW, else a uniform random subset of that many (reservoir sampling, Vitter's
 *   algorithm R). A sample's count in SPIRE's summaries is then a lower bound at fleet rates; the
 *   counter carries the exact count.
 * Gauges and measureSince go out as they come (nothing calls them per attestation).
 */
export function createMetricsClient(
  conn: { call: Unary<object, unknown> },
  log: Logger,
  options: {
    flushIntervalMs?: number
    setTimer?: (fn: () => void, ms: number) => { unref?(): unknown }
    /** Uniform in [0, 1), for the reservoir; Math.random unless a test injects one. */
    random?: () => number
    samplesPerWindow?: number
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
  const random = options.random ?? Math.random
  const reservoirSize = options.samplesPerWindow ?? SAMPLES_PER_WINDOW
  const counters = new Map<string, { key: string[]; labels: MetricLabel[]; val: number }>()
  const samples = new Map<
    string,
    { key: string[]; labels: MetricLabel[]; seen: number; held: number[] }
  >()
  let scheduled = false
  const flush = (): void => {
    scheduled = false
    for (const counter of counters.values()) send('IncrCounter', counter)
    counters.clear()
    for (const series of samples.values()) {
      for (const val of series.held)
        send('AddSample', { key: series.key, val, labels: series.labels })
    }
    samples.clear()
  }
  const schedule = (): void => {
    if (!scheduled) {
      scheduled = true
      setTimer(flush, interval).unref?.()
    }
  }
  // NUL and SOH never occur in metric names or label values SPIRE accepts: an unambiguous join
  const seriesKey = (key: string[], labels: MetricLabel[]): string => {
    let id = key.join('\u0000')
    for (const label of labels) id += `\u0001${label.name}\u0000${label.value}`
    return id
  }
  const incrCounter = (key: string[], value = 1, labels?: MetricLabels): void => {
    const wire = toLabels(labels)
    const series = seriesKey(key, wire)
    const held = counters.get(series)
    if (held !== undefined) held.val += value
    else counters.set(series, { key, labels: wire, val: value })
    schedule()
  }
  const addSample = (key: string[], value: number, labels?: MetricLabels): void => {
    const wire = toLabels(labels)
    const id = seriesKey(key, wire)
    let series = samples.get(id)
    if (series === undefined) {
      series = { key, labels: wire, seen: 0, held: [] }
      samples.set(id, series)
    }
    series.seen += 1
    if (series.held.length < reservoirSize) series.held.push(value)
    else {
      // algorithm R: the n-th value replaces a held one with probability size / n
      const slot = Math.floor(random() * series.seen)
      if (slot < reservoirSize) series.held[slot] = value
    }
    schedule()
  }
  return {
    flush,
    incrCounter,
    addSample,
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
