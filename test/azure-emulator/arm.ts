import { randomUUID } from 'node:crypto'
import { armError, authenticate, notFound, wrongTenant } from './arm-auth.js'
import type { Caller } from './arm-auth.js'
import { graph, listResources, listScaleSetVms, listVms, page, visibleSubs } from './arm-lists.js'
import { vmJson, vmssJson, vmssVmJson } from './arm-compute-shapes.js'
import {
  nicJson,
  nsgJson,
  resourceGroupJson,
  subnetJson,
  subscriptionJson,
  tenantJson,
  uamiJson,
  vnetJson,
} from './arm-shapes.js'
import type { EntraKeys } from './entra-keys.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext, Route, Service } from './http-kit.js'
import type { ResourceGraphIndex } from './resource-graph.js'
import type { Throttling } from './throttling.js'
import type { World } from './world.js'
import type { ResourceGroup, Subscription } from './world-types.js'

export type { Caller }

/** ARM list pages hold this many items unless `$top` asks for fewer. */
export const ARM_PAGE_SIZE = 100

export interface ArmDeps {
  world: World
  keys: EntraKeys
  now(): Date
  throttling: Throttling
  pageSize: number
  /** Resource Graph's indexing lag (absent: none). */
  resourceGraph?: ResourceGraphIndex
}

export interface Scope {
  caller: Caller
  sub?: Subscription
  rg?: ResourceGroup
}

type Handler = (ctx: RequestContext, scope: Scope, parts: string[]) => Reply | Promise<Reply>

export function createArmService(deps: ArmDeps): Service {
  const seed = deps.world.seed
  const route = (
    name: string,
    handler: Handler,
    level: 'tenant' | 'subscription' | 'resource-group' | 'graph',
  ): Route => ({
    route: name,
    handle: (ctx) => guarded(deps, ctx, level, handler),
  })
  const getEntity = (name: string, render: (ctx: RequestContext, scope: Scope) => Reply) =>
    route(name, render, 'resource-group')
  const entityReply = (ctx: RequestContext, scope: Scope, kind: string): Reply => {
    const e = deps.world.findArm(ctx.url.pathname)
    const expand = ctx.url.searchParams.get('$expand') ?? undefined
    const opts = expand ? { expand } : {}
    const [, , , , , , ns = '', type = '', name = ''] = ctx.url.pathname.split('/')
    const missing = () =>
      notFound(
        `${ns}/${type}`,
        ctx.url.pathname.split('/').slice(8).join('/') || name,
        scope.rg!.name,
      )
    if (!e) return missing()
    switch (kind) {
      case 'vm':
        return e.type === 'vm' ? json(200, vmJson(e.vm, seed, opts)) : missing()
      case 'vmss':
        return e.type === 'vmss' ? json(200, vmssJson(e.scaleSet, seed)) : missing()
      case 'vmss-vm':
        return e.type === 'vmss-vm' ? json(200, vmssVmJson(e.vm, seed, opts)) : missing()
      case 'nic':
        return e.type === 'nic' ? json(200, nicJson(e.nic, seed)) : missing()
      case 'uami':
        return e.type === 'uami' ? json(200, uamiJson(e.uami)) : missing()
      case 'nsg':
        return e.type === 'nsg' ? json(200, nsgJson(e.nsg)) : missing()
      case 'vnet':
        return e.type === 'vnet' ? json(200, vnetJson(e.vnet)) : missing()
      default:
        return e.type === 'subnet' ? json(200, subnetJson(e.subnet)) : missing()
    }
  }
  const r = {
    graph: route('arm.resource-graph', (ctx, scope) => graph(deps, ctx, scope), 'graph'),
    subs: route(
      'arm.subscriptions.list',
      (ctx, s) => page(ctx, deps, visibleSubs(deps, ctx, s.caller).map(subscriptionJson)),
      'tenant',
    ),
    tenants: route(
      'arm.tenants.list',
      (ctx, s) =>
        page(
          ctx,
          deps,
          deps.world.tenants.filter((t) => t.tenantId === s.caller.tenantId).map(tenantJson),
        ),
      'tenant',
    ),
    sub: route(
      'arm.subscription.get',
      (_ctx, s) => json(200, subscriptionJson(s.sub!)),
      'subscription',
    ),
    rgs: route(
      'arm.resource-groups.list',
      (ctx, s) => page(ctx, deps, s.sub!.resourceGroups.map(resourceGroupJson)),
      'subscription',
    ),
    rg: route(
      'arm.resource-group.get',
      (_ctx, s) => json(200, resourceGroupJson(s.rg!)),
      'resource-group',
    ),
    resources: route('arm.resources.list', (ctx, s) => listResources(deps, ctx, s), 'subscription'),
    rgResources: route(
      'arm.resources.list',
      (ctx, s) => listResources(deps, ctx, s),
      'resource-group',
    ),
    vmList: route('arm.vm.list', (ctx, s) => listVms(deps, ctx, s), 'subscription'),
    rgVmList: route('arm.vm.list', (ctx, s) => listVms(deps, ctx, s), 'resource-group'),
    vmssVms: route(
      'arm.vmss-vm.list',
      (ctx, s, p) => listScaleSetVms(deps, ctx, s, p),
      'resource-group',
    ),
    vm: getEntity('arm.vm.get', (ctx, s) => entityReply(ctx, s, 'vm')),
    vmss: getEntity('arm.vmss.get', (ctx, s) => entityReply(ctx, s, 'vmss')),
    vmssVm: getEntity('arm.vmss-vm.get', (ctx, s) => entityReply(ctx, s, 'vmss-vm')),
    vmssNic: getEntity('arm.vmss-nic.get', (ctx, s) => entityReply(ctx, s, 'nic')),
    nic: getEntity('arm.nic.get', (ctx, s) => entityReply(ctx, s, 'nic')),
    uami: getEntity('arm.uami.get', (ctx, s) => entityReply(ctx, s, 'uami')),
    nsg: getEntity('arm.nsg.get', (ctx, s) => entityReply(ctx, s, 'nsg')),
    vnet: getEntity('arm.vnet.get', (ctx, s) => entityReply(ctx, s, 'vnet')),
    subnet: getEntity('arm.subnet.get', (ctx, s) => entityReply(ctx, s, 'subnet')),
    other: getEntity('arm.other.get', (ctx, s) =>
      notFound('resource', ctx.url.pathname.split('/').pop() ?? '', s.rg!.name),
    ),
  }
  return {
    name: 'arm',
    match(method, url) {
      const p = url.pathname
        .replace(/\/+$/, '')
        .split('/')
        .slice(1)
        .map((x) => x.toLowerCase())
      if (method === 'POST')
        return p.join('/') === 'providers/microsoft.resourcegraph/resources' ? r.graph : undefined
      if (method !== 'GET') return undefined
      if (p.length === 1 && p[0] === 'subscriptions') return r.subs
      if (p.length === 1 && p[0] === 'tenants') return r.tenants
      if (p[0] !== 'subscriptions' || p.length < 2) return undefined
      if (p.length === 2) return r.sub
      if (p.length === 3)
        return p[2] === 'resources' ? r.resources : p[2] === 'resourcegroups' ? r.rgs : undefined
      if (p[2] === 'providers')
        return p.slice(3).join('/') === 'microsoft.compute/virtualmachines' ? r.vmList : undefined
      if (p[2] !== 'resourcegroups') return undefined
      if (p.length === 4) return r.rg
      if (p.length === 5) return p[4] === 'resources' ? r.rgResources : undefined
      if (p[4] !== 'providers') return undefined
      const kind = `${p[5]}/${p[6]}`
      const rest = p.slice(7)
      if (kind === 'microsoft.compute/virtualmachines')
        return rest.length === 0 ? r.rgVmList : rest.length === 1 ? r.vm : r.other
      if (kind === 'microsoft.compute/virtualmachinescalesets') {
        if (rest.length === 1) return r.vmss
        if (rest[1] !== 'virtualmachines') return r.other
        if (rest.length === 2) return r.vmssVms
        if (rest.length === 3) return r.vmssVm
        return rest.length === 5 && rest[3] === 'networkinterfaces' ? r.vmssNic : r.other
      }
      if (rest.length === 0) return r.other
      if (kind === 'microsoft.network/networkinterfaces') return rest.length === 1 ? r.nic : r.other
      if (kind === 'microsoft.network/networksecuritygroups') return r.nsg
      if (kind === 'microsoft.network/virtualnetworks') return rest.length === 1 ? r.vnet : r.subnet
      if (kind === 'microsoft.managedidentity/userassignedidentities') return r.uami
      return r.other
    },
    notFound: (ctx) =>
      armError(
        404,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location and API version for path '${ctx.url.pathname}'.`,
      ),
    errorReply: (status) =>
      status === 429
        ? armError(
            429,
            'TooManyRequests',
            'The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits',
          )
        : armError(
            status,
            status >= 500 ? 'InternalServerError' : 'BadRequest',
            `Emulator injected status ${status}.`,
          ),
  }
}

async function guarded(
  deps: ArmDeps,
  ctx: RequestContext,
  level: 'tenant' | 'subscription' | 'resource-group' | 'graph',
  handler: Handler,
): Promise<Reply> {
  const ids = { 'x-ms-request-id': randomUUID(), 'x-ms-correlation-request-id': randomUUID() }
  const reply = await guardedInner(deps, ctx, level, handler)
  return { ...reply, headers: { ...ids, ...reply.headers } }
}

async function guardedInner(
  deps: ArmDeps,
  ctx: RequestContext,
  level: string,
  handler: Handler,
): Promise<Reply> {
  if (!ctx.url.searchParams.get('api-version')) {
    return armError(
      400,
      'MissingApiVersionParameter',
      'The api-version query parameter (?api-version=) is required for all requests.',
    )
  }
  const caller = await authenticate(ctx, deps.keys, deps.now())
  if ('status' in caller) return caller
  const parts = ctx.url.pathname.split('/')
  const subId = level === 'tenant' || level === 'graph' ? undefined : parts[2]!
  const taken =
    level === 'graph'
      ? deps.throttling.takeResourceGraph(caller.objectId)
      : deps.throttling.takeArm(subId ?? `tenant:${caller.tenantId}`)
  if (!taken.ok) {
    const r =
      level === 'graph'
        ? armError(
            429,
            'RateLimiting',
            'Please provide below info when asking for support: the request was throttled by Resource Graph.',
            {
              'x-ms-user-quota-remaining': '0',
              'x-ms-user-quota-resets-after': hms(taken.retryAfterS),
            },
          )
        : armError(
            429,
            'TooManyRequests',
            'The request is being throttled as the limit has been reached for operation type - Read_ObservationWindow_00:05:00. For more information, see - https://aka.ms/srpthrottlinglimits',
          )
    return { ...r, headers: { ...r.headers, 'retry-after': String(taken.retryAfterS) } }
  }
  const quota: Record<string, string> =
    level === 'graph'
      ? {
          'x-ms-user-quota-remaining': String(taken.remaining),
          'x-ms-user-quota-resets-after': hms(
            (taken as { resetsAfterS?: number }).resetsAfterS ?? 0,
          ),
        }
      : { 'x-ms-ratelimit-remaining-subscription-reads': String(taken.remaining) }
  const scope: Scope = { caller }
  if (subId !== undefined) {
    const sub = deps.world.findSubscription(subId)
    if (
      !sub ||
      sub.subscriptionId !== subId.toLowerCase() ||
      (ctx.cloud && sub.tenant.cloud !== ctx.cloud)
    ) {
      return armError(
        404,
        'SubscriptionNotFound',
        `The subscription '${subId}' could not be found.`,
      )
    }
    if (sub.tenant.tenantId !== caller.tenantId)
      return wrongTenant(caller.tenantId, sub.tenant.tenantId, sub.tenant.cloud)
    scope.sub = sub
    if (level === 'resource-group') {
      const rg = sub.resourceGroups.find((g) => g.name.toLowerCase() === parts[4]!.toLowerCase())
      if (!rg)
        return armError(
          404,
          'ResourceGroupNotFound',
          `Resource group '${parts[4]}' could not be found.`,
        )
      scope.rg = rg
    }
  }
  const reply = await handler(ctx, scope, parts)
  return { ...reply, headers: { ...quota, ...reply.headers } }
}

/** Resource Graph's `hh:mm:ss` form of `x-ms-user-quota-resets-after`. */
function hms(totalS: number): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(Math.floor(totalS / 3600))}:${p(Math.floor(totalS / 60) % 60)}:${p(totalS % 60)}`
}
