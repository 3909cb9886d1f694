import { armError, notFound } from './arm-auth.js'
import type { Caller } from './arm-auth.js'
import { enumerateResources, genericResourceJson, parseResourceFilter } from './arm-resources.js'
import { vmJson, vmssVmJson } from './arm-compute-shapes.js'
import type { ArmDeps, Scope } from './arm.js'
import { json } from './http-kit.js'
import type { Reply, RequestContext } from './http-kit.js'
import { runGraphQuery } from './resource-graph.js'
import type { GraphRequest } from './resource-graph.js'
import type { Subscription } from './world-types.js'

/** ARM list endpoints: `nextLink` paging, `$filter`, scale-set members, Resource Graph. */
export function visibleSubs(deps: ArmDeps, ctx: RequestContext, caller: Caller): Subscription[] {
  return [...deps.world.subscriptions()].filter(
    (s) => s.tenant.tenantId === caller.tenantId && (!ctx.cloud || s.tenant.cloud === ctx.cloud),
  )
}

/** One page of a list plus `nextLink`, paged by an opaque `$skiptoken` like ARM's. */
export function page(
  ctx: RequestContext,
  deps: ArmDeps,
  items: readonly unknown[] | (() => Iterable<unknown>),
): Reply {
  const skip = Number(ctx.url.searchParams.get('$skiptoken') ?? '0') || 0
  const top = Math.min(
    Number(ctx.url.searchParams.get('$top') ?? deps.pageSize) || deps.pageSize,
    deps.pageSize,
  )
  const all = typeof items === 'function' ? [...items()] : items
  const value = all.slice(skip, skip + top)
  if (skip + top >= all.length) return json(200, { value })
  const next = new URL(ctx.url.pathname + ctx.url.search, ctx.origin)
  next.searchParams.set('$skiptoken', String(skip + top))
  return json(200, { value, nextLink: next.toString() })
}

export function listResources(deps: ArmDeps, ctx: RequestContext, scope: Scope): Reply {
  const predicate = parseResourceFilter(ctx.url.searchParams.get('$filter'))
  if (!predicate) {
    return armError(
      400,
      'InvalidFilterInQueryString',
      `Invalid $filter '${ctx.url.searchParams.get('$filter')}' specified in the query string.`,
    )
  }
  const entries = () =>
    [...enumerateResources(scope.sub!, deps.world.seed, scope.rg)]
      .filter(predicate)
      .map(genericResourceJson)
  return page(ctx, deps, entries)
}

export function listVms(deps: ArmDeps, ctx: RequestContext, scope: Scope): Reply {
  const rgs = scope.rg ? [scope.rg] : scope.sub!.resourceGroups
  return page(ctx, deps, () =>
    rgs
      .flatMap((rg) => [
        ...rg.virtualMachines,
        ...rg.scaleSets
          .filter((s) => s.orchestrationMode === 'Flexible')
          .flatMap((s) => [...s.instances()]),
      ])
      .map((vm) => vmJson(vm, deps.world.seed)),
  )
}

export function listScaleSetVms(
  deps: ArmDeps,
  ctx: RequestContext,
  scope: Scope,
  parts: string[],
): Reply {
  const ss = scope.rg!.scaleSets.find((s) => s.name.toLowerCase() === parts[8]!.toLowerCase())
  if (!ss) return notFound('Microsoft.Compute/virtualMachineScaleSets', parts[8]!, scope.rg!.name)
  if (ss.orchestrationMode !== 'Uniform') return json(200, { value: [] })
  const skip = Number(ctx.url.searchParams.get('$skiptoken') ?? '0') || 0
  const top = Math.min(
    Number(ctx.url.searchParams.get('$top') ?? deps.pageSize) || deps.pageSize,
    deps.pageSize,
  )
  const expand = ctx.url.searchParams.get('$expand') ?? undefined
  const value = []
  for (let i = skip; i < Math.min(ss.capacity, skip + top); i++)
    value.push(vmssVmJson(ss.instance(i), deps.world.seed, expand ? { expand } : {}))
  if (skip + top >= ss.capacity) return json(200, { value })
  const next = new URL(ctx.url.pathname + ctx.url.search, ctx.origin)
  next.searchParams.set('$skiptoken', String(skip + top))
  return json(200, { value, nextLink: next.toString() })
}

export async function graph(deps: ArmDeps, ctx: RequestContext, scope: Scope): Promise<Reply> {
  let body: GraphRequest
  try {
    body = JSON.parse((await ctx.body()).toString('utf8')) as GraphRequest
  } catch {
    return armError(
      400,
      'InvalidRequestContent',
      'The request content was invalid and could not be deserialized.',
    )
  }
  const wanted = Array.isArray(body.subscriptions)
    ? body.subscriptions.map((s) => String(s).toLowerCase())
    : undefined
  const subs = visibleSubs(deps, ctx, scope.caller).filter(
    (s) => !wanted || wanted.includes(s.subscriptionId),
  )
  return runGraphQuery(subs, deps.world.seed, body, (e) => deps.resourceGraph?.visible(e) ?? true)
}
