/**
 * Batched compute reads for fleets (issue 12 item 5). When many attestations need Azure reads at
 * once — a fleet boot — their VM and Uniform-instance reads are coalesced within a short window into
 * Resource Graph queries (up to `maxBatch` VMs and their NICs per query); the NICs that come with
 * them are held briefly so each attestation's NIC reads cost nothing. A read with nothing else in
 * flight goes straight to ARM (a lone attestation keeps today's path and costs), and so does a VM
 * Resource Graph does not return — it lags ARM for fresh resources, so "not in Resource Graph" is
 * never a refusal, only a per-VM ARM GET. Resource Graph's quota is honoured: the batch stops
 * querying when `x-ms-user-quota-remaining` reaches 0 until `x-ms-user-quota-resets-after`, waits
 * out a 429's Retry-After (never retrying early), and falls back to per-VM reads when the wait
 * would exceed `maxWaitMs`. Rows are parsed by the very functions that parse ARM's GET answers,
 * so both paths give the same selectors. The batch sits under the call gates (`call-gate.ts`):
 * results are cached, coalesced and retried exactly like per-VM reads.
 */
import type { Logger } from '../plugin/index.js'
import { NOOP_LOGGER } from '../plugin/index.js'
import { ArmError, type ArmClient, type ArmNic, type ArmVm } from './arm.js'
import { isGuid } from './resource-id.js'
import type { ArmRest } from './arm-rest.js'
import { getNetworkInterface, getScaleSetVm, getVirtualMachine } from './arm-rest-reads.js'
import type { GatedCall } from './call-gate.js'
import type { HttpFetch } from './http.js'
import {
  queryResourceGraph,
  RESOURCE_GRAPH_PATH,
  vmIdOfQuery,
  type GraphRow,
} from './resource-graph.js'

/** Reads arriving within this long of the first pending one share a query (while quota is plentiful). */
export const BATCH_WINDOW_MS = 25
/**
 * Longest a window stretches to pace Resource Graph's quota. Through a real fleet boot reads arrive
 * spread out (tens per second, not all at once), so 25 ms windows would each hold one or two reads
 * and spend the quota (15 queries per 5 s per principal) in a second. Once the quota headers are
 * known, each window lasts the time left until the quota resets divided by the queries left
 * (5 s / 15 ≈ 333 ms with a fresh quota), so the queries that remain are spread over the reset
 * period and each carries the reads of its window, bounded by this.
 */
export const BATCH_MAX_WINDOW_MS = 2_000
/** VMs per Resource Graph query (with their NICs, within one 1,000-row page for ≤ 4 NICs each). */
export const BATCH_MAX_VMS = 200
/**
 * A window holding fewer reads of one kind than this sends them to ARM one by one. Two is enough:
 * one query answers both VMs and their NICs, where ARM needs at least two GETs per VM, and the
 * quota is protected by pacing the windows (BATCH_MAX_WINDOW_MS), not by refusing small batches.
 * A lone attestation (nothing else in flight) never waits for a window at all.
 */
export const BATCH_MIN_VMS = 2
/** Longest a batch waits for Resource Graph's quota (one 5 s window and a margin) before falling back. */
export const BATCH_MAX_WAIT_MS = 6_000
/** NICs that came with a batch are served this long (the gate caches them after the first read). */
export const BATCH_PREFETCH_TTL_MS = 10_000
const PREFETCH_MAX_ENTRIES = 10_000
const GRAPH_TOP = 1_000
/** A 429 without Retry-After waits one Resource Graph window; a Retry-After of 0 still waits 1 s. */
const DEFAULT_THROTTLE_MS = 5_000
const MIN_THROTTLE_MS = 1_000
/** A batch answered 429 this many times falls back to per-VM reads. */
const MAX_THROTTLED = 3
const MAX_RECORDED_WAITS = 64

export interface ResourceGraphBatchOptions {
  /** The tenant's ARM transport (Resource Graph POSTs go through it). */
  rest: ArmRest
  /** Milliseconds clock. */
  now(): number
  /** Arms a one-shot timer and returns its cancel (injected: tests fire windows by hand). */
  setTimer(fn: () => void, ms: number): () => void
  /** Waits for Resource Graph's quota (injected: tests move a virtual clock). */
  sleep(ms: number): Promise<void>
  log?: Logger
  windowMs?: number
  maxWindowMs?: number
  maxBatch?: number
  minBatch?: number
  maxWaitMs?: number
  prefetchTtlMs?: number
  /** A read with nothing else in flight goes straight to ARM (default true; tests turn it off). */
  directWhenIdle?: boolean
}

export type BatchKind = 'vm' | 'vmss-vm'

/** What a batch has done, for tests, logs and benches. */
export interface BatchStats {
  /** Reads sent straight to ARM because nothing else was in flight (or too few were pending). */
  direct: number
  /** Resource Graph queries sent, and how many were answered 429. */
  queries: number
  throttled: number
  /** VM and instance reads answered from a query. */
  batched: number
  /** Reads a query did not answer (lag, failure, quota wait too long): read by ARM GET instead. */
  fallbacks: number
  /** NIC reads answered from a query's rows. */
  prefetchedNics: number
  /** Waits for Resource Graph's quota, in ms, in order (the last 64). */
  waits: number[]
}

export interface ResourceGraphBatch {
  /** A VM (`vm`: sub, rg, name) or Uniform instance (`vmss-vm`: sub, rg, scale set, instance) read. */
  readVm(
    kind: BatchKind,
    parts: readonly string[],
    direct: (signal?: AbortSignal) => Promise<ArmVm>,
    signal?: AbortSignal,
  ): Promise<ArmVm>
  /**
   * ARM ids of the VMs (`vm`) or Uniform instances (`vmss-vm`) whose vmId is `vmId`, batched with
   * concurrent lookups (`direct` when alone, or when the batch's query fails or waits too long).
   */
  findByVmId(
    table: BatchKind,
    sub: string,
    vmId: string,
    direct: (signal?: AbortSignal) => Promise<string[]>,
    signal?: AbortSignal,
  ): Promise<string[]>
  /** A NIC read: from a batch's rows when it came with one, else `direct`. */
  readNic(
    parts: readonly string[],
    direct: (signal?: AbortSignal) => Promise<ArmNic>,
    signal?: AbortSignal,
  ): Promise<ArmNic>
  /** Resource Graph's quota headers of any response to this tenant's credential. */
  observe(headers: Readonly<Record<string, string>>): void
  readonly stats: Readonly<BatchStats>
}

interface Pending {
  /** `vm`/`vmss-vm`: a read by ARM id; `vmid`/`vmss-vmid`: a lookup by vmId (azure_imds without a hint). */
  kind: BatchKind | 'vmid' | 'vmss-vmid'
  sub: string
  /** The ARM id asked for (the caller's casing), or the vmId looked up. */
  id: string
  parts: readonly string[]
  direct: (signal?: AbortSignal) => Promise<unknown>
  signal: AbortSignal | undefined
  resolve(value: unknown): void
  reject(err: unknown): void
}

const SEGMENT = /^[\p{L}\p{N}._()-]+$/u

/** The ARM id of a read, or undefined when a segment could not be embedded in KQL safely. */
function armIdOf(kind: BatchKind, parts: readonly string[]): string | undefined {
  if (!parts.every((p) => SEGMENT.test(p))) return undefined
  if (kind === 'vm' && parts.length === 3) {
    const [sub, rg, name] = parts
    return `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachines/${name}`
  }
  if (kind === 'vmss-vm' && parts.length === 4) {
    const [sub, rg, ss, instance] = parts
    return `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${ss}/virtualMachines/${instance}`
  }
  return undefined
}

const VM_TYPE = 'microsoft.compute/virtualmachines'
const NIC_TYPE = 'microsoft.network/networkinterfaces'
const VMSS_VM_TYPE = 'microsoft.compute/virtualmachinescalesets/virtualmachines'
const COLUMNS = 'project id, name, type, location, tags, identity, properties'

/** VMs by id and their NICs (by `properties.virtualMachine.id`) in one query. */
export function vmBatchQuery(ids: readonly string[]): string {
  const list = ids.map((id) => `'${id}'`).join(', ')
  return (
    `resources | where type in~ ('${VM_TYPE}', '${NIC_TYPE}') ` +
    `| where (type =~ '${VM_TYPE}' and id in~ (${list})) or ` +
    `(type =~ '${NIC_TYPE}' and tostring(properties.virtualMachine.id) in~ (${list})) | ${COLUMNS}`
  )
}

/** ARM ids of VMs (`resources`) or Uniform instances (`computeresources`) by vmId, in one query. */
export function vmIdBatchQuery(table: BatchKind, vmIds: readonly string[]): string {
  const list = vmIds.map((id) => `'${id}'`).join(', ')
  return (
    `${table === 'vm' ? 'resources' : 'computeresources'} | where type =~ '${table === 'vm' ? VM_TYPE : VMSS_VM_TYPE}' ` +
    `| where properties.vmId in~ (${list}) | project id, vmId = tostring(properties.vmId)`
  )
}

/** Uniform instances by id (they carry their NIC configuration). */
export function scaleSetVmBatchQuery(ids: readonly string[]): string {
  const list = ids.map((id) => `'${id}'`).join(', ')
  return `computeresources | where type =~ '${VMSS_VM_TYPE}' | where id in~ (${list}) | ${COLUMNS}`
}

/** An ArmRest that answers every GET with one Resource Graph row: ARM's parsers read it. */
const rowRest = (row: GraphRow): ArmRest => ({
  get: async () => row,
  getNextLink: () => Promise.reject(new ArmError('no next link')),
  post: () => Promise.reject(new ArmError('no post')),
})

const rec = (v: unknown): Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {}

/** `hh:mm:ss` (Resource Graph's form) or plain seconds, in ms. */
function durationMs(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  const hms = /^(\d+):(\d{2}):(\d{2})$/.exec(v.trim())
  if (hms) return ((Number(hms[1]) * 60 + Number(hms[2])) * 60 + Number(hms[3])) * 1000
  const s = Number(v)
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined
}

export function createResourceGraphBatch(options: ResourceGraphBatchOptions): ResourceGraphBatch {
  const windowMs = options.windowMs ?? BATCH_WINDOW_MS
  const maxWindowMs = Math.max(windowMs, options.maxWindowMs ?? BATCH_MAX_WINDOW_MS)
  const maxBatch = Math.max(1, options.maxBatch ?? BATCH_MAX_VMS)
  const minBatch = Math.max(1, options.minBatch ?? BATCH_MIN_VMS)
  const maxWaitMs = options.maxWaitMs ?? BATCH_MAX_WAIT_MS
  const prefetchTtlMs = options.prefetchTtlMs ?? BATCH_PREFETCH_TTL_MS
  const log = options.log ?? NOOP_LOGGER
  const directWhenIdle = options.directWhenIdle ?? true
  const stats: BatchStats = {
    direct: 0,
    queries: 0,
    throttled: 0,
    batched: 0,
    fallbacks: 0,
    prefetchedNics: 0,
    waits: [],
  }
  let pending: Pending[] = []
  let cancelWindow: (() => void) | undefined
  /** Direct reads in flight: while any is, a new VM read waits for a batch. */
  let active = 0
  /** Resource Graph may not be queried before this (quota exhausted, or a 429's Retry-After). */
  let blockedUntil = 0
  /** The last quota headers seen: queries left, and when the quota is whole again. */
  let quota: { remaining: number; resetAt: number } | undefined
  /** When the last window was flushed, and how many queries it sent. */
  let lastFlushAt = Number.NEGATIVE_INFINITY
  let lastFlushQueries = 0
  /** How long the window opened now lasts: BATCH_WINDOW_MS, stretched to pace the quota. */
  const nextWindowMs = (): number => {
    const now = options.now()
    if (quota === undefined || quota.resetAt <= now || lastFlushQueries === 0) return windowMs
    const pace = ((quota.resetAt - now) / Math.max(1, quota.remaining)) * lastFlushQueries
    return Math.min(maxWindowMs, Math.max(windowMs, lastFlushAt + pace - now))
  }
  const nics = new Map<string, { nic: ArmNic; until: number }>()

  const direct = async <T>(call: (s?: AbortSignal) => Promise<T>, signal?: AbortSignal) => {
    active++
    try {
      return await call(signal)
    } finally {
      active--
    }
  }
  const fallback = (p: Pending): void => {
    stats.fallbacks++
    direct(p.direct, p.signal).then(p.resolve, p.reject)
  }
  const block = (ms: number): void => {
    blockedUntil = Math.max(blockedUntil, options.now() + ms)
  }

  const flush = (): void => {
    cancelWindow?.()
    cancelWindow = undefined
    const all = pending
    pending = []
    lastFlushAt = options.now()
    lastFlushQueries = 0
    const groups = new Map<string, Pending[]>()
    for (const p of all) {
      const key = `${p.kind}|${p.sub.toLowerCase()}`
      const g = groups.get(key)
      if (g === undefined) groups.set(key, [p])
      else g.push(p)
    }
    for (const group of groups.values()) {
      if (group.length < minBatch) {
        for (const p of group) {
          stats.direct++
          direct(p.direct, p.signal).then(p.resolve, p.reject)
        }
        continue
      }
      for (let i = 0; i < group.length; i += maxBatch) {
        lastFlushQueries++
        void runChunk(group.slice(i, i + maxBatch))
      }
    }
  }

  const query = async (chunk: Pending[]): Promise<GraphRow[] | undefined> => {
    let waited = 0
    let throttledTimes = 0
    for (;;) {
      const wait = blockedUntil - options.now()
      if (wait > 0) {
        if (waited + wait > maxWaitMs) return undefined
        if (stats.waits.length >= MAX_RECORDED_WAITS) stats.waits.shift()
        stats.waits.push(wait)
        waited += wait
        await options.sleep(wait)
        continue
      }
      stats.queries++
      const kind = chunk[0]!.kind
      const ids = chunk.map((p) => p.id)
      const q =
        kind === 'vm'
          ? vmBatchQuery(ids)
          : kind === 'vmss-vm'
            ? scaleSetVmBatchQuery(ids)
            : vmIdBatchQuery(kind === 'vmid' ? 'vm' : 'vmss-vm', ids)
      try {
        return await queryResourceGraph(options.rest, {
          subscriptions: [chunk[0]!.sub],
          query: q,
          top: GRAPH_TOP,
        })
      } catch (err) {
        if (err instanceof ArmError && err.status === 429 && ++throttledTimes < MAX_THROTTLED) {
          stats.throttled++
          block(Math.max(MIN_THROTTLE_MS, err.retryAfterMs ?? DEFAULT_THROTTLE_MS))
          continue
        }
        if (err instanceof ArmError && err.status === 429) stats.throttled++
        log.warn('resource graph batch failed; reading each VM from ARM', {
          vms: chunk.length,
          error: err instanceof Error ? err.message : String(err),
        })
        return undefined
      }
    }
  }

  const runChunk = async (chunk: Pending[]): Promise<void> => {
    // a query in flight counts as activity: reads arriving meanwhile wait for the next batch
    active++
    let rows: GraphRow[] | undefined
    try {
      rows = await query(chunk)
    } finally {
      active--
    }
    if (rows === undefined) {
      for (const p of chunk) fallback(p)
      return
    }
    if (chunk[0]!.kind === 'vmid' || chunk[0]!.kind === 'vmss-vmid') {
      const byVmId = new Map<string, string[]>()
      for (const row of rows) {
        const id = typeof row['id'] === 'string' ? row['id'] : ''
        const vmId = typeof row['vmId'] === 'string' ? row['vmId'].toLowerCase() : ''
        if (id === '' || vmId === '') continue
        byVmId.set(vmId, [...(byVmId.get(vmId) ?? []), id])
      }
      // not found is Resource Graph's answer either way: a per-VM query would give the same
      for (const p of chunk) {
        if (p.signal?.aborted) p.reject(p.signal.reason)
        else {
          stats.batched++
          p.resolve(byVmId.get(p.id.toLowerCase()) ?? [])
        }
      }
      return
    }
    const now = options.now()
    const vms = new Map<string, GraphRow>()
    for (const row of rows) {
      const id = typeof row['id'] === 'string' ? row['id'] : ''
      const type = typeof row['type'] === 'string' ? row['type'].toLowerCase() : ''
      if (type === NIC_TYPE) {
        try {
          const nic = await getNetworkInterface(rowRest(row), '', '', '')
          if (nics.size >= PREFETCH_MAX_ENTRIES) prune(now, true)
          nics.set(id.toLowerCase(), { nic, until: now + prefetchTtlMs })
        } catch {
          // a malformed row is read from ARM instead
        }
      } else if (id !== '') vms.set(id.toLowerCase(), row)
    }
    for (const p of chunk) {
      const row = vms.get(p.id.toLowerCase())
      const vm = row === undefined ? undefined : await fromRow(p, row)
      if (vm === undefined) {
        fallback(p)
        continue
      }
      if (p.signal?.aborted) {
        p.reject(p.signal.reason)
        continue
      }
      stats.batched++
      p.resolve(vm)
    }
  }

  /** The row parsed as ARM's GET answer would be; undefined when it lacks what ARM's answer has. */
  const fromRow = async (p: Pending, row: GraphRow): Promise<ArmVm | undefined> => {
    const props = rec(row['properties'])
    try {
      if (p.kind === 'vm') {
        if (props['networkProfile'] === undefined) return undefined
        const [sub, rg, name] = p.parts
        const vm = await getVirtualMachine(rowRest(row), sub!, rg!, name!)
        // Resource Graph lower-cases the resource group in `id`: keep the casing asked for
        return { ...vm, id: vm.id.toLowerCase() === p.id.toLowerCase() ? p.id : vm.id }
      }
      if (props['networkProfileConfiguration'] === undefined) return undefined
      const [sub, rg, ss, instance] = p.parts
      const vm = await getScaleSetVm(rowRest(row), sub!, rg!, ss!, instance!)
      return { ...vm, id: vm.id.toLowerCase() === p.id.toLowerCase() ? p.id : vm.id }
    } catch {
      return undefined
    }
  }

  const prune = (now: number, force: boolean): void => {
    for (const [k, v] of nics) {
      if (v.until <= now) nics.delete(k)
      else if (force) {
        nics.delete(k)
        return
      }
    }
  }

  const enqueue = <T>(
    kind: Pending['kind'],
    sub: string,
    id: string,
    parts: readonly string[],
    call: (signal?: AbortSignal) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      pending.push({
        kind,
        sub,
        id,
        parts,
        direct: call,
        signal,
        resolve: resolve as (v: unknown) => void,
        reject,
      })
      if (pending.length >= maxBatch) flush()
      else cancelWindow ??= options.setTimer(flush, nextWindowMs())
    })

  return {
    stats,
    readVm(kind, parts, call, signal) {
      const id = armIdOf(kind, parts)
      if (id === undefined || (directWhenIdle && active === 0 && pending.length === 0)) {
        stats.direct++
        return direct(call, signal)
      }
      return enqueue<ArmVm>(kind, parts[0]!, id, parts, call, signal)
    },
    findByVmId(table, sub, vmId, call, signal) {
      if (
        !isGuid(vmId) ||
        !SEGMENT.test(sub) ||
        (directWhenIdle && active === 0 && pending.length === 0)
      ) {
        stats.direct++
        return direct(call, signal)
      }
      return enqueue<string[]>(
        table === 'vm' ? 'vmid' : 'vmss-vmid',
        sub,
        vmId,
        [sub, vmId],
        call,
        signal,
      )
    },
    async readNic(parts, call, signal) {
      const [sub, rg, name] = parts
      const key = `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Network/networkInterfaces/${name}`
      const hit = nics.get(key.toLowerCase())
      if (hit !== undefined && hit.until > options.now()) {
        stats.prefetchedNics++
        return hit.nic
      }
      return direct(call, signal)
    },
    observe(headers) {
      const remaining = headers['x-ms-user-quota-remaining']
      if (remaining === undefined) return
      const n = Number(remaining)
      if (!Number.isFinite(n)) return
      const resets = durationMs(headers['x-ms-user-quota-resets-after'])
      quota = { remaining: n, resetAt: options.now() + (resets ?? DEFAULT_THROTTLE_MS) }
      if (n <= 0) block(resets ?? DEFAULT_THROTTLE_MS)
    },
  }
}

/** An ArmClient whose VM, Uniform-instance and NIC reads go through `batch` (azure_msi). */
export function batchedArmClient(inner: ArmClient, batch: ResourceGraphBatch): ArmClient {
  return {
    ...inner,
    getVirtualMachine: (sub, rg, name, signal) =>
      batch.readVm('vm', [sub, rg, name], (s) => inner.getVirtualMachine(sub, rg, name, s), signal),
    getScaleSetVm: (sub, rg, ss, instanceId, signal) =>
      batch.readVm(
        'vmss-vm',
        [sub, rg, ss, instanceId],
        (s) => inner.getScaleSetVm(sub, rg, ss, instanceId, s),
        signal,
      ),
    getNetworkInterface: (sub, rg, name, signal) =>
      batch.readNic([sub, rg, name], (s) => inner.getNetworkInterface(sub, rg, name, s), signal),
    getScaleSet: (...a) => inner.getScaleSet(...a),
    listVirtualMachinesByPrincipal: (...a) => inner.listVirtualMachinesByPrincipal(...a),
  }
}

/**
 * A call gate whose `vm`, `vmss-vm` and `nic` calls (keys `sub|rg|name…`) and Resource Graph
 * lookups by vmId (`graph-vm`, `graph-vmss-vm`: keys `sub|query`), as azure_imds's `createImdsAzure`
 * makes them, go through `batch` on a cache miss (azure_imds).
 */
export function batchedGate(gate: GatedCall, batch: ResourceGraphBatch): GatedCall {
  return <T>(
    op: string,
    key: string,
    call: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> => {
    const parts = key.split('|')
    const viaDirect = (s?: AbortSignal) => call(s ?? new AbortController().signal)
    if (op === 'vm' || op === 'vmss-vm') {
      return gate(
        op,
        key,
        (s) => batch.readVm(op, parts, viaDirect as (s?: AbortSignal) => Promise<ArmVm>, s),
        signal,
      ) as Promise<T>
    }
    const lookup =
      op === 'graph-vm' || op === 'graph-vmss-vm'
        ? vmIdOfQuery(parts.slice(1).join('|'))
        : undefined
    if (lookup !== undefined) {
      // an empty answer is never cached (a VM Resource Graph does not know yet is looked up again)
      return gate(
        op,
        key,
        async (s) => {
          const ids = await batch.findByVmId(
            lookup.table,
            parts[0]!,
            lookup.vmId,
            viaDirect as (s?: AbortSignal) => Promise<string[]>,
            s,
          )
          if (ids.length === 0) throw new EmptyLookup()
          return ids
        },
        signal,
      ).catch((err: unknown) => {
        if (err instanceof EmptyLookup) return []
        throw err
      }) as Promise<T>
    }
    if (op === 'nic') {
      return gate(
        op,
        key,
        (s) => batch.readNic(parts, viaDirect as (s?: AbortSignal) => Promise<ArmNic>, s),
        signal,
      ) as Promise<T>
    }
    return gate(op, key, call, signal)
  }
}

/** Thrown inside the gate for an empty batched lookup, so it is not cached (azure.ts's NoRows). */
class EmptyLookup extends Error {}

/** An HttpFetch that shows every Resource Graph answer's quota headers to `observe`. */
export function observeResourceGraph(
  http: HttpFetch,
  observe: (headers: Readonly<Record<string, string>>) => void,
): HttpFetch {
  return async (req) => {
    const res = await http(req)
    if (req.method === 'POST' && req.url.includes(RESOURCE_GRAPH_PATH)) observe(res.headers)
    return res
  }
}

/** The production timer: a real one-shot timeout that does not keep the process alive. */
export function realTimer(fn: () => void, ms: number): () => void {
  const t = setTimeout(fn, ms)
  t.unref?.()
  return () => clearTimeout(t)
}
