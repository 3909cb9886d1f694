import { randomUUID } from 'node:crypto'
import { vmssVmJson } from './arm-compute-shapes.js'
import { enumerateResources } from './arm-resources.js'
import { TYPES } from './ids.js'
import type { ResourceEntry } from './arm-resources.js'
import { json } from './http-kit.js'
import type { Reply } from './http-kit.js'
import { evaluate, KqlError, parseExpr, splitPipeline } from './kql.js'
import type { Expr } from './kql.js'
import type { Subscription } from './world-types.js'

const DEFAULT_TOP = 100
const MAX_TOP = 1000

export interface GraphRequest {
  subscriptions?: string[]
  query?: string
  options?: { resultFormat?: string; $top?: number; $skip?: number; $skipToken?: string }
}

type Row = Record<string, unknown>

/**
 * ARG lower-cases the resource-group segment of `id` and the `resourceGroup` column (azure-facts §7).
 * The columns built from the resource's full JSON are computed on first read, so a `where` on
 * `id` or `type` does not build the JSON of every resource it skips.
 */
export function graphRow(e: ResourceEntry): Row {
  const sub = e.resourceGroup.subscription
  let full: Record<string, unknown> | undefined
  const f = (): Record<string, unknown> => (full ??= e.full())
  const row: Row = {
    id: e.id.replace(
      /\/resourceGroups\/([^/]+)/i,
      (_m, rg: string) => `/resourceGroups/${rg.toLowerCase()}`,
    ),
    name: e.name,
    type: e.type.toLowerCase(),
    tenantId: sub.tenant.tenantId,
    kind: '',
    location: e.location,
    resourceGroup: e.resourceGroup.name.toLowerCase(),
    subscriptionId: sub.subscriptionId,
    managedBy: '',
  }
  const lazy: [string, () => unknown][] = [
    ['sku', () => f().sku ?? null],
    ['plan', () => null],
    ['properties', () => f().properties ?? {}],
    ['tags', () => f().tags ?? {}],
    ['identity', () => f().identity ?? null],
    ['zones', () => f().zones ?? null],
    ['extendedLocation', () => null],
  ]
  for (const [name, get] of lazy) {
    Object.defineProperty(row, name, {
      enumerable: true,
      configurable: true,
      get() {
        const value = get()
        Object.defineProperty(row, name, { value, enumerable: true, writable: true })
        return value
      },
    })
  }
  return row
}

/**
 * Resource Graph's indexing lag (docs/azure-emulator.md §5.3): a VM created less than `lagS` ago on
 * the emulator's clock — and its NICs — is not yet in Resource Graph, while ARM GET finds it.
 * Creation times come from `createdAt` (by the VM's ARM id) or `created()`; a VM with none was
 * created long ago. Lag 0 (the default) shows everything.
 */
export interface ResourceGraphOptions {
  /** Seconds between a VM's creation and Resource Graph returning it (default 0). */
  lagS?: number
  /** When a VM was created, by its ARM id (undefined: long ago). */
  createdAt?: (vmArmId: string) => Date | undefined
}

export class ResourceGraphIndex {
  #lagMs: number
  #createdAt: ((vmArmId: string) => Date | undefined) | undefined
  readonly #created = new Map<string, number>()
  readonly #now: () => Date

  constructor(now: () => Date, options: ResourceGraphOptions = {}) {
    this.#now = now
    this.#lagMs = (options.lagS ?? 0) * 1000
    this.#createdAt = options.createdAt
  }

  get lagS(): number {
    return this.#lagMs / 1000
  }

  setLag(lagS: number): void {
    this.#lagMs = lagS * 1000
  }

  setCreatedAt(fn: ((vmArmId: string) => Date | undefined) | undefined): void {
    this.#createdAt = fn
  }

  /** No lag, no creation times. */
  reset(): void {
    this.#lagMs = 0
    this.#createdAt = undefined
    this.#created.clear()
  }

  /** Records a VM's creation time (default: now on the emulator's clock). */
  created(vmArmId: string, at: Date = this.#now()): void {
    this.#created.set(vmArmId.toLowerCase(), at.getTime())
  }

  /** Whether Resource Graph returns this resource now. */
  visible(e: ResourceEntry): boolean {
    if (this.#lagMs <= 0 || e.ownerVm === undefined) return true
    const at = this.#created.get(e.ownerVm.toLowerCase()) ?? this.#createdAt?.(e.ownerVm)?.getTime()
    return at === undefined || this.#now().getTime() - at >= this.#lagMs
  }
}

export function graphError(message: string): Reply {
  return json(400, {
    error: {
      code: 'BadRequest',
      message: `Please provide below info when asking for support: timestamp = ${new Date().toISOString()}, correlationId = ${randomUUID()}.`,
      details: [
        {
          code: 'InvalidQuery',
          message:
            'Query is invalid. Please refer to the documentation for the Azure Resource Graph service and fix the error before retrying.',
        },
        { code: 'ParserFailure', message },
      ],
    },
  })
}

export function runGraphQuery(
  subs: readonly Subscription[],
  seed: string,
  req: GraphRequest,
  visible: (e: ResourceEntry) => boolean = () => true,
): Reply {
  if (typeof req.query !== 'string' || req.query.trim() === '')
    return graphError('query is required')
  let rows: Row[]
  try {
    rows = execute(subs, seed, splitPipeline(req.query), visible)
  } catch (err) {
    if (err instanceof KqlError) return graphError(err.message)
    throw err
  }
  const top = Math.min(req.options?.$top ?? DEFAULT_TOP, MAX_TOP)
  const skip = req.options?.$skipToken
    ? decodeSkip(req.options.$skipToken)
    : (req.options?.$skip ?? 0)
  const page = rows.slice(skip, skip + top)
  const more = skip + top < rows.length
  return json(200, {
    totalRecords: rows.length,
    count: page.length,
    data: page,
    facets: [],
    resultTruncated: 'false',
    ...(more
      ? { $skipToken: Buffer.from(JSON.stringify({ skip: skip + top })).toString('base64') }
      : {}),
  })
}

function decodeSkip(token: string): number {
  try {
    const v: unknown = JSON.parse(Buffer.from(token, 'base64').toString('utf8'))
    const skip = typeof v === 'object' && v !== null ? (v as { skip?: unknown }).skip : undefined
    return typeof skip === 'number' ? skip : 0
  } catch {
    return 0
  }
}

/** Tables this emulator answers: `resources`, and `computeresources` for Uniform scale-set instances. */
const TABLES: Record<string, (sub: Subscription, seed: string) => Iterable<ResourceEntry>> = {
  resources: enumerateResources,
  computeresources: enumerateUniformInstances,
}

function execute(
  subs: readonly Subscription[],
  seed: string,
  stages: string[],
  visible: (e: ResourceEntry) => boolean,
): Row[] {
  const [table, ...rest] = stages
  const enumerate = TABLES[table?.trim().toLowerCase() ?? '']
  if (enumerate === undefined) throw new KqlError(`unsupported table ${JSON.stringify(table)}`)
  if (enumerate === enumerateResources && rest.some((s) => /^mv-expand\b/i.test(s))) {
    return nicSummary(subs, seed, rest, visible)
  }
  const typeHint = typeFilter(rest[0])
  const keys = candidateKeys(rest)
  let rows: Row[] = []
  for (const sub of subs) {
    for (const e of enumerate(sub, seed)) {
      if (typeHint && !typeHint.has(e.type.toLowerCase())) continue
      if (keys && !keys.admits(e)) continue
      if (!visible(e)) continue
      rows.push(graphRow(e))
    }
  }
  for (const stage of rest) rows = applyStage(rows, stage)
  return rows
}

/** Uniform scale-set instances, which ARG lists in `computeresources`, not in `resources`. */
function* enumerateUniformInstances(
  sub: Subscription,
  seed: string,
): IterableIterator<ResourceEntry> {
  for (const group of sub.resourceGroups) {
    for (const ss of group.scaleSets) {
      if (ss.orchestrationMode === 'Flexible') continue
      for (const vm of ss.instances()) {
        yield {
          id: vm.id,
          name: vm.name,
          type: TYPES.vmssVm,
          location: vm.location,
          resourceGroup: group,
          tags: vm.tags,
          ownerVm: vm.id,
          vmId: vm.vmId,
          full: () => vmssVmJson(vm, seed),
        }
      }
    }
  }
}

/**
 * The keys every row a leading `where` can match must carry — ids, NICs' `virtualMachine.id`, or
 * `vmId`s listed in it — so that a fleet's other resources are skipped before their rows (and their
 * full JSON) are built: the plugins' batched queries name up to 200 VMs among tens of thousands. A
 * superset only: the `where` stages still run on the rows that pass. Undefined when no leading
 * `where` pins one of these keys (then every resource is read, as before).
 */
function candidateKeys(
  stages: readonly string[],
): { admits(e: ResourceEntry): boolean } | undefined {
  for (const stage of stages) {
    const m = /^where\s+([\s\S]*)$/i.exec(stage)
    if (!m) return undefined
    const keys = keysOf(parseExpr(m[1]!))
    if (keys) {
      return {
        admits: (e) =>
          keys.ids.has(e.id.toLowerCase()) ||
          (e.attachedTo !== undefined && keys.attachedTo.has(e.attachedTo.toLowerCase())) ||
          (e.vmId !== undefined && keys.vmIds.has(e.vmId.toLowerCase())),
      }
    }
  }
  return undefined
}

interface Keys {
  ids: Set<string>
  attachedTo: Set<string>
  vmIds: Set<string>
}

function keysOf(e: Expr): Keys | undefined {
  if (e.k !== 'bin') return undefined
  if (e.op === 'and') return keysOf(e.l) ?? keysOf(e.r)
  if (e.op === 'or') {
    const l = keysOf(e.l)
    const r = l && keysOf(e.r)
    if (!l || !r) return undefined
    return {
      ids: new Set([...l.ids, ...r.ids]),
      attachedTo: new Set([...l.attachedTo, ...r.attachedTo]),
      vmIds: new Set([...l.vmIds, ...r.vmIds]),
    }
  }
  if (!['==', '=~', 'in', 'in~'].includes(e.op)) return undefined
  const values = (e.r.k === 'list' ? e.r.items : [e.r]).map((x) =>
    x.k === 'lit' && typeof x.v === 'string' ? x.v.toLowerCase() : undefined,
  )
  // '' also matches every resource without the column (an absent value compares as ''): no key
  if (values.some((v) => v === undefined || v === '')) return undefined
  const set = new Set(values as string[])
  const l = e.l.k === 'call' && e.l.f === 'tostring' && e.l.args.length === 1 ? e.l.args[0]! : e.l
  if (l.k !== 'path') return undefined
  // paths are case-sensitive, as `evaluate` reads them
  const path = l.p.join('.')
  const empty = new Set<string>()
  if (path === 'id') return { ids: set, attachedTo: empty, vmIds: empty }
  if (path === 'properties.virtualMachine.id') return { ids: empty, attachedTo: set, vmIds: empty }
  if (path === 'properties.vmId') return { ids: empty, attachedTo: empty, vmIds: set }
  return undefined
}

/** Cheap pre-filter so a `type` clause (`=~`, `==`, `in~`, `in`) skips unrelated resources. */
function typeFilter(stage: string | undefined): Set<string> | undefined {
  const one = stage && /^where\s+type\s*(?:=~|==)\s*['"]([^'"]+)['"]\s*$/i.exec(stage)
  if (one) return new Set([one[1]!.toLowerCase()])
  const list = stage && /^where\s+type\s+in~?\s*\(([^()]*)\)\s*$/i.exec(stage)
  if (!list) return undefined
  const names = [...list[1]!.matchAll(/['"]([^'"]+)['"]/g)].map((m) => m[1]!.toLowerCase())
  return names.length > 0 ? new Set(names) : undefined
}

function applyStage(rows: Row[], stage: string): Row[] {
  const [, op = '', arg = ''] = /^([A-Za-z-]+(?:\s+by)?)\s*([\s\S]*)$/.exec(stage) ?? []
  switch (op.toLowerCase()) {
    case 'where': {
      const e = parseExpr(arg)
      return rows.filter((r) => Boolean(evaluate(e, r)))
    }
    case 'project':
      return rows.map((r) => columns(arg, r, {}))
    case 'extend':
      return rows.map((r) => columns(arg, r, { ...r }))
    case 'limit':
    case 'take':
      return rows.slice(0, Number(arg))
    case 'count':
      return [{ Count: rows.length }]
    case 'order by':
    case 'sort by': {
      const [col = '', dir = 'desc'] = arg.trim().split(/\s+/)
      const e = parseExpr(col)
      const sign = dir.toLowerCase() === 'asc' ? 1 : -1
      return [...rows].sort(
        (a, b) => sign * String(evaluate(e, a)).localeCompare(String(evaluate(e, b))),
      )
    }
    default:
      throw new KqlError(`unsupported operator ${JSON.stringify(op)}`)
  }
}

function columns(arg: string, row: Row, into: Row): Row {
  for (const item of splitTopLevel(arg)) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=|~)\s*([\s\S]+)$/.exec(item)
    const expr: Expr = parseExpr(m ? m[2]! : item)
    const name = m ? m[1]! : expr.k === 'path' ? expr.p[expr.p.length - 1]! : item.trim()
    into[name] = evaluate(expr, row) ?? null
  }
  return into
}

function splitTopLevel(s: string): string[] {
  const out: string[] = []
  let depth = 0
  let quote: string | undefined
  let cur = ''
  for (const c of s) {
    if (quote) {
      if (c === quote) quote = undefined
    } else if (c === "'" || c === '"') quote = c
    else if (c === '(' || c === '[') depth++
    else if (c === ')' || c === ']') depth--
    else if (c === ',' && depth === 0) {
      out.push(cur)
      cur = ''
      continue
    }
    cur += c
  }
  if (cur.trim()) out.push(cur)
  return out
}

/**
 * The NIC query upstream azure_imds sends (upstream-behavior §5.4): `where` stages before
 * `mv-expand` select NICs; the result is one row per NIC with its subnets and NSG.
 */
function nicSummary(
  subs: readonly Subscription[],
  seed: string,
  stages: string[],
  visible: (e: ResourceEntry) => boolean,
): Row[] {
  const cut = stages.findIndex((s) => /^mv-expand\b/i.test(s))
  let rows: Row[] = []
  for (const sub of subs) {
    for (const e of enumerateResources(sub, seed)) {
      if (e.type.toLowerCase() === 'microsoft.network/networkinterfaces' && visible(e))
        rows.push(graphRow(e))
    }
  }
  for (const stage of stages.slice(0, cut)) rows = applyStage(rows, stage)
  return rows.map((r) => {
    const props = r.properties as {
      ipConfigurations?: { properties?: { subnet?: { id?: string } } }[]
      networkSecurityGroup?: { id?: string }
    }
    const subnets = (props.ipConfigurations ?? []).map((c) => {
      const id = c.properties?.subnet?.id ?? ''
      return {
        vnet: /virtualNetworks\/([^/]+)/.exec(id)?.[1] ?? '',
        name: /subnets\/([^/]+)$/.exec(id)?.[1] ?? '',
      }
    })
    const nsgId = props.networkSecurityGroup?.id ?? ''
    return {
      name: r.name,
      resourceGroup: r.resourceGroup,
      subnets,
      securityGroup: {
        resourceGroup: /resourceGroups\/([^/]+)/.exec(nsgId)?.[1] ?? '',
        name: /networkSecurityGroups\/([^/]+)/.exec(nsgId)?.[1] ?? '',
      },
    }
  })
}
