import { vmJson, vmssJson } from './arm-compute-shapes.js'
import { identityJson, nicJson, nsgJson, uamiJson, vnetJson } from './arm-shapes.js'
import { TYPES } from './ids.js'
import type { ResourceGroup, Subscription, Vm } from './world-types.js'

/** One top-level resource as list APIs and Resource Graph see it; the full JSON is built on demand. */
export interface ResourceEntry {
  id: string
  name: string
  type: string
  location: string
  resourceGroup: ResourceGroup
  tags: Readonly<Record<string, string>>
  identity?: Record<string, unknown>
  /** ARM id of the VM this resource is (a VM or instance) or belongs to (its NICs): Resource Graph's lag. */
  ownerVm?: string
  /** A VM's or instance's `properties.vmId`, and a NIC's `properties.virtualMachine.id`, without `full()`. */
  vmId?: string
  attachedTo?: string
  full(): Record<string, unknown>
}

export function* enumerateResources(
  sub: Subscription,
  seed: string,
  rg?: ResourceGroup,
): IterableIterator<ResourceEntry> {
  for (const group of rg ? [rg] : sub.resourceGroups) {
    const tid = sub.tenant.tenantId
    const vmEntry = (vm: Vm): ResourceEntry => ({
      id: vm.id,
      name: vm.name,
      type: TYPES.vm,
      location: vm.location,
      resourceGroup: group,
      tags: vm.tags,
      ...optionalIdentity(identityJson(vm.identity, tid)),
      ownerVm: vm.id,
      vmId: vm.vmId,
      full: () => vmJson(vm, seed),
    })
    const nicEntries = (vm: Vm): ResourceEntry[] =>
      vm.networkInterfaces.map((nic) => ({
        id: nic.id,
        name: nic.name,
        type: TYPES.nic,
        location: nic.location,
        resourceGroup: group,
        tags: {},
        ownerVm: vm.id,
        attachedTo: nic.attachedTo,
        full: () => nicJson(nic, seed),
      }))
    for (const vm of group.virtualMachines) {
      yield vmEntry(vm)
      yield* nicEntries(vm)
    }
    for (const ss of group.scaleSets) {
      yield {
        id: ss.id,
        name: ss.name,
        type: TYPES.vmss,
        location: ss.location,
        resourceGroup: group,
        tags: ss.tags,
        ...optionalIdentity(identityJson(ss.identity, tid)),
        full: () => vmssJson(ss, seed),
      }
      if (ss.orchestrationMode !== 'Flexible') continue
      for (const vm of ss.instances()) {
        yield vmEntry(vm)
        yield* nicEntries(vm)
      }
    }
    for (const n of group.networkSecurityGroups) {
      yield {
        id: n.id,
        name: n.name,
        type: TYPES.nsg,
        location: n.location,
        resourceGroup: group,
        tags: {},
        full: () => nsgJson(n),
      }
    }
    for (const v of group.virtualNetworks) {
      yield {
        id: v.id,
        name: v.name,
        type: TYPES.vnet,
        location: v.location,
        resourceGroup: group,
        tags: {},
        full: () => vnetJson(v),
      }
    }
    for (const u of group.identities) {
      yield {
        id: u.id,
        name: u.name,
        type: TYPES.uami,
        location: u.location,
        resourceGroup: group,
        tags: u.tags,
        full: () => uamiJson(u),
      }
    }
  }
}

function optionalIdentity(identity: Record<string, unknown> | undefined): {
  identity?: Record<string, unknown>
} {
  return identity ? { identity } : {}
}

/** The generic-resource form `GET /subscriptions/{s}/resources` returns. */
export function genericResourceJson(e: ResourceEntry): Record<string, unknown> {
  return {
    id: e.id,
    name: e.name,
    type: e.type,
    location: e.location,
    ...(Object.keys(e.tags).length > 0 ? { tags: { ...e.tags } } : {}),
    ...(e.identity ? { identity: e.identity } : {}),
  }
}

type Predicate = (e: ResourceEntry) => boolean

const CLAUSE_RE = /^\s*([A-Za-z/]+)\s+eq\s+'([^']*)'\s*$/i
const SUBSTRINGOF_RE = /^\s*substringof\(\s*'([^']*)'\s*,\s*name\s*\)\s*$/i

/**
 * ARM's `$filter` for resource lists: `and`-joined `eq` clauses on resourceType, name,
 * resourceGroup, location, identity/principalId, tagName/tagValue, plus substringof(…, name).
 * Undefined means the filter is not one ARM accepts.
 */
export function parseResourceFilter(filter: string | null): Predicate | undefined {
  if (!filter) return () => true
  const predicates: Predicate[] = []
  let tagName: string | undefined
  for (const clause of filter.split(/\s+and\s+/i)) {
    const sub = SUBSTRINGOF_RE.exec(clause)
    if (sub) {
      const needle = sub[1]!.toLowerCase()
      predicates.push((e) => e.name.toLowerCase().includes(needle))
      continue
    }
    const m = CLAUSE_RE.exec(clause)
    if (!m) return undefined
    const field = m[1]!.toLowerCase()
    const value = m[2]!.toLowerCase()
    switch (field) {
      case 'resourcetype':
        predicates.push((e) => e.type.toLowerCase() === value)
        break
      case 'name':
        predicates.push((e) => e.name.toLowerCase() === value)
        break
      case 'resourcegroup':
        predicates.push((e) => e.resourceGroup.name.toLowerCase() === value)
        break
      case 'location':
        predicates.push((e) => e.location.toLowerCase() === value)
        break
      case 'identity/principalid':
        predicates.push((e) => String(e.identity?.principalId ?? '').toLowerCase() === value)
        break
      case 'tagname':
        tagName = m[2]!
        predicates.push((e) => tagName !== undefined && tagName in e.tags)
        break
      case 'tagvalue': {
        const name = tagName
        predicates.push((e) => name !== undefined && e.tags[name]?.toLowerCase() === value)
        break
      }
      default:
        return undefined
    }
  }
  return (e) => predicates.every((p) => p(e))
}
