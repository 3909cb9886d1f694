import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { GetAgentInfoRequest, MeasureSinceRequest, MetricRequest } from '../plugin/messages.js'
import { serviceDefinition, SERVICE } from '../plugin/protos.js'

/** The datastore side of SPIRE's AgentStore host service: attested agent IDs. */
export class InMemoryAgentStore {
  readonly #agents = new Set<string>()
  /** When set, GetAgentInfo fails with this status instead of answering (fault tests). */
  failWith: { code: GrpcStatus; details: string } | undefined
  readonly calls: string[] = []

  add(agentId: string): void {
    this.#agents.add(agentId)
  }

  has(agentId: string): boolean {
    return this.#agents.has(agentId)
  }

  remove(agentId: string): void {
    this.#agents.delete(agentId)
  }
}

export interface RecordedMetric {
  rpc: 'SetGauge' | 'EmitKey' | 'IncrCounter' | 'AddSample' | 'MeasureSince'
  key: string[]
  value: number | string
  labels: Record<string, string>
}

/** A Metrics host service that records every call. */
export class RecordingMetrics {
  readonly calls: RecordedMetric[] = []
  readonly #waiters = new Set<() => void>()

  find(rpc: RecordedMetric['rpc'], key: string): RecordedMetric[] {
    return this.calls.filter((c) => c.rpc === rpc && c.key.join('.') === key)
  }

  record(call: RecordedMetric): void {
    this.calls.push(call)
    for (const wake of [...this.#waiters]) wake()
  }

  /**
   * Resolves once `done` holds over the calls recorded so far, re-checked on each new call (metrics
   * arrive on their own RPCs, after the attestation's answer). Event-driven: no clock involved.
   */
  until(done: (m: RecordingMetrics) => boolean): Promise<void> {
    if (done(this)) return Promise.resolve()
    return new Promise((resolve) => {
      const wake = (): void => {
        if (!done(this)) return
        this.#waiters.delete(wake)
        resolve()
      }
      this.#waiters.add(wake)
    })
  }
}

export interface HostServicesOptions {
  agentStore?: InMemoryAgentStore
  metrics?: RecordingMetrics
}

export interface RunningHostServices {
  address: string
  stop(): Promise<void>
}

/**
 * Serves host services on a fresh unix socket, as SPIRE's catalog does for broker id 1
 * (os.CreateTemp("", "plugin"), plain grpc server, no TLS).
 */
export async function startHostServices(
  options: HostServicesOptions,
): Promise<RunningHostServices> {
  const dir = mkdtempSync(join(tmpdir(), 'plugin'))
  const address = join(dir, 'host.sock')
  const server = new Server()
  const store = options.agentStore
  if (store !== undefined) {
    server.addService(serviceDefinition(SERVICE.agentStore), {
      GetAgentInfo(
        call: ServerUnaryCall<GetAgentInfoRequest, unknown>,
        cb: sendUnaryData<unknown>,
      ) {
        const id = call.request.agent_id
        store.calls.push(id)
        if (store.failWith !== undefined) cb(store.failWith)
        // SPIRE's agentstore: a node that exists (even banned) is OK, otherwise NotFound "no such agent"
        else if (store.has(id)) cb(null, { info: { agent_id: id } })
        else cb({ code: GrpcStatus.NOT_FOUND, details: 'no such agent' })
      },
    })
  }
  const metrics = options.metrics
  if (metrics !== undefined) {
    const record =
      (rpc: RecordedMetric['rpc']) =>
      (
        call: ServerUnaryCall<MetricRequest & Partial<MeasureSinceRequest>, unknown>,
        cb: sendUnaryData<unknown>,
      ) => {
        const labels: Record<string, string> = {}
        for (const l of call.request.labels ?? []) labels[l.name] = l.value
        metrics.record({
          rpc,
          key: call.request.key,
          value: rpc === 'MeasureSince' ? (call.request.time ?? '0') : (call.request.val ?? 0),
          labels,
        })
        cb(null, {})
      }
    server.addService(serviceDefinition(SERVICE.metrics), {
      SetGauge: record('SetGauge'),
      EmitKey: record('EmitKey'),
      IncrCounter: record('IncrCounter'),
      AddSample: record('AddSample'),
      MeasureSince: record('MeasureSince'),
    })
  }
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix://${address}`, ServerCredentials.createInsecure(), (err) =>
      err ? reject(err) : resolve(),
    ),
  )
  return {
    address,
    stop: async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown()
          resolve()
        }, 1_000)
        server.tryShutdown(() => {
          clearTimeout(timer)
          resolve()
        })
      })
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
