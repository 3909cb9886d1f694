import { UUID_RE } from './ids.js'
import { buildTenants, DEFAULT_SEED } from './world-build.js'
import type { WorldSpec } from './world-spec.js'
import type {
  App,
  ArmEntity,
  Principal,
  ResourceGroup,
  ScaleSet,
  Subscription,
  Tenant,
  Uami,
  Vm,
} from './world-types.js'

export type * from './world-spec.js'
export type * from './world-types.js'

/**
 * The resolved world: entities plus the lookups every service uses, so IMDS, Entra and ARM
 * answer from the same facts. Indexes over scale-set members are built on first use.
 */
export class World {
  readonly seed: string
  readonly spec: WorldSpec
  readonly tenants: readonly Tenant[]
  #byVmId?: Map<string, Vm>
  #byPrincipal?: Map<string, Principal>

  constructor(spec: WorldSpec) {
    this.spec = spec
    this.seed = spec.seed ?? DEFAULT_SEED
    this.tenants = buildTenants(spec)
  }

  *subscriptions(): IterableIterator<Subscription> {
    for (const t of this.tenants) yield* t.subscriptions
  }

  *resourceGroups(): IterableIterator<ResourceGroup> {
    for (const s of this.subscriptions()) yield* s.resourceGroups
  }

  /** Standalone VMs (not scale-set members). */
  *standaloneVms(): IterableIterator<Vm> {
    for (const rg of this.resourceGroups()) yield* rg.virtualMachines
  }

  *scaleSets(): IterableIterator<ScaleSet> {
    for (const rg of this.resourceGroups()) yield* rg.scaleSets
  }

  /** Every VM including scale-set members (derives them all). */
  *vms(): IterableIterator<Vm> {
    yield* this.standaloneVms()
    for (const ss of this.scaleSets()) yield* ss.instances()
  }

  *identities(): IterableIterator<Uami> {
    for (const rg of this.resourceGroups()) yield* rg.identities
  }

  /** By name, tenant id or any of its domains (case-insensitive). */
  findTenant(ref: string): Tenant | undefined {
    const r = ref.toLowerCase()
    return this.tenants.find(
      (t) =>
        t.name.toLowerCase() === r ||
        t.tenantId === r ||
        t.domains.some((d) => d.toLowerCase() === r),
    )
  }

  tenant(ref: string): Tenant {
    return must(this.findTenant(ref), 'tenant', ref)
  }

  findSubscription(ref: string): Subscription | undefined {
    const r = ref.toLowerCase()
    for (const s of this.subscriptions()) {
      if (s.subscriptionId === r || s.name.toLowerCase() === r) return s
    }
    return undefined
  }

  subscription(ref: string): Subscription {
    return must(this.findSubscription(ref), 'subscription', ref)
  }

  findResourceGroup(subscriptionId: string, name: string): ResourceGroup | undefined {
    const sub = this.findSubscription(subscriptionId)
    return sub?.resourceGroups.find((r) => r.name.toLowerCase() === name.toLowerCase())
  }

  /**
   * Resolves a VM handle: its key (`rg/name`, `rg/scaleSet/index`, optionally prefixed with the
   * subscription name or id), a bare name when unique, its ARM id, or its vmId.
   */
  findVm(ref: string): Vm | undefined {
    if (ref.startsWith('/')) {
      const e = this.findArm(ref)
      return e?.type === 'vm' || e?.type === 'vmss-vm' ? e.vm : undefined
    }
    if (UUID_RE.test(ref)) return this.findVmByVmId(ref)
    const parts = ref.split('/')
    const subs = [...this.subscriptions()]
    const scoped = (p: string[], list: Subscription[]): Vm[] => {
      if (p.length === 1) {
        const name = p[0]!.toLowerCase()
        return list.flatMap((s) =>
          s.resourceGroups.flatMap((r) =>
            r.virtualMachines.filter((v) => v.name.toLowerCase() === name),
          ),
        )
      }
      const rgs = list.flatMap((s) =>
        s.resourceGroups.filter((r) => r.name.toLowerCase() === p[0]!.toLowerCase()),
      )
      return rgs.flatMap((rg) => vmInRg(rg, p.slice(1)))
    }
    let found = parts.length <= 3 ? scoped(parts, subs) : []
    if (found.length === 0 && parts.length >= 3) {
      const sub = this.findSubscription(parts[0]!)
      if (sub) found = scoped(parts.slice(1), [sub])
    }
    if (found.length > 1) throw new Error(`world: VM reference ${JSON.stringify(ref)} is ambiguous`)
    return found[0]
  }

  vm(ref: string): Vm {
    return must(this.findVm(ref), 'VM', ref)
  }

  findScaleSet(rgName: string, name: string, subscriptionId?: string): ScaleSet | undefined {
    for (const rg of this.resourceGroups()) {
      if (subscriptionId && rg.subscription.subscriptionId !== subscriptionId.toLowerCase())
        continue
      if (rg.name.toLowerCase() !== rgName.toLowerCase()) continue
      const ss = rg.scaleSets.find((s) => s.name.toLowerCase() === name.toLowerCase())
      if (ss) return ss
    }
    return undefined
  }

  findVmByVmId(vmId: string): Vm | undefined {
    if (!this.#byVmId) {
      this.#byVmId = new Map()
      for (const vm of this.vms()) this.#byVmId.set(vm.vmId.toLowerCase(), vm)
    }
    return this.#byVmId.get(vmId.toLowerCase())
  }

  /** Who a token's `oid` belongs to. */
  findPrincipal(objectId: string): Principal | undefined {
    if (!this.#byPrincipal) this.#byPrincipal = this.#indexPrincipals()
    return this.#byPrincipal.get(objectId.toLowerCase())
  }

  findApp(tenant: Tenant, clientId: string): App | undefined {
    return tenant.apps.find((a) => a.clientId === clientId.toLowerCase() || a.name === clientId)
  }

  findArm(id: string): ArmEntity | undefined {
    return findArmEntity(this, id)
  }

  #indexPrincipals(): Map<string, Principal> {
    const m = new Map<string, Principal>()
    for (const t of this.tenants) {
      for (const app of t.apps) m.set(app.objectId, { kind: 'app', app, tenant: t })
      for (const s of t.subscriptions) {
        for (const rg of s.resourceGroups) {
          for (const uami of rg.identities)
            m.set(uami.principalId, { kind: 'uami', uami, tenant: t })
          for (const vm of rg.virtualMachines) {
            if (vm.identity.system)
              m.set(vm.identity.system.principalId, { kind: 'vm-system', vm, tenant: t })
          }
          for (const ss of rg.scaleSets) {
            if (!ss.identity.system) continue
            if (ss.orchestrationMode === 'Uniform') {
              m.set(ss.identity.system.principalId, {
                kind: 'vmss-system',
                scaleSet: ss,
                tenant: t,
              })
              continue
            }
            for (const vm of ss.instances()) {
              m.set(vm.identity.system!.principalId, { kind: 'vm-system', vm, tenant: t })
            }
          }
        }
      }
    }
    return m
  }
}

function vmInRg(rg: ResourceGroup, rest: string[]): Vm[] {
  const lower = rest.map((p) => p.toLowerCase())
  if (lower.length === 1) {
    const direct = rg.virtualMachines.filter((v) => v.name.toLowerCase() === lower[0])
    if (direct.length > 0) return direct
    for (const ss of rg.scaleSets) {
      if (ss.orchestrationMode !== 'Flexible') continue
      const vm = ss.instanceByName(lower[0]!)
      if (vm) return [vm]
    }
    return []
  }
  if (lower.length !== 2) return []
  const ss = rg.scaleSets.find((s) => s.name.toLowerCase() === lower[0])
  const index = Number(lower[1])
  if (!ss || !/^\d+$/.test(lower[1]!) || index >= ss.capacity) return []
  return [ss.instance(index)]
}

function must<T>(value: T | undefined, what: string, ref: string): T {
  if (value === undefined) throw new Error(`world: ${what} ${JSON.stringify(ref)} not found`)
  return value
}

const ARM_ID_RE =
  /^\/subscriptions\/([^/]+)\/resourceGroups\/([^/]+)\/providers\/([^/]+)\/([^/]+)\/([^/]+)(?:\/(.*))?$/i

function findArmEntity(world: World, id: string): ArmEntity | undefined {
  const m = ARM_ID_RE.exec(id.replace(/\/+$/, ''))
  if (!m) return undefined
  const [, subId, rgName, ns, type, name, rest] = m
  const rg = world.findResourceGroup(subId!, rgName!)
  if (!rg) return undefined
  const kind = `${ns}/${type}`.toLowerCase()
  const eq = (a: string) => a.toLowerCase() === name!.toLowerCase()
  const tail = rest ? rest.split('/') : []
  switch (kind) {
    case 'microsoft.compute/virtualmachines': {
      if (tail.length > 0) return undefined
      const vm = vmInRg(rg, [name!])[0]
      return vm ? { type: 'vm', vm } : undefined
    }
    case 'microsoft.compute/virtualmachinescalesets': {
      const ss = rg.scaleSets.find((s) => eq(s.name))
      if (!ss) return undefined
      if (tail.length === 0) return { type: 'vmss', scaleSet: ss }
      if (ss.orchestrationMode !== 'Uniform' || tail[0]?.toLowerCase() !== 'virtualmachines')
        return undefined
      const vm = tail[1] === undefined ? undefined : ss.instanceByName(tail[1])
      if (!vm) return undefined
      if (tail.length === 2) return { type: 'vmss-vm', vm }
      const nic = vm.networkInterfaces.find(
        (n) =>
          tail[2]?.toLowerCase() === 'networkinterfaces' &&
          n.name.toLowerCase() === tail[3]?.toLowerCase(),
      )
      return nic && tail.length === 4 ? { type: 'nic', nic } : undefined
    }
    case 'microsoft.network/networkinterfaces':
      return findNic(rg, name!)
    case 'microsoft.managedidentity/userassignedidentities': {
      const uami = rg.identities.find((u) => eq(u.name))
      return uami && tail.length === 0 ? { type: 'uami', uami } : undefined
    }
    case 'microsoft.network/networksecuritygroups': {
      const nsg = rg.networkSecurityGroups.find((n) => eq(n.name))
      return nsg && tail.length === 0 ? { type: 'nsg', nsg } : undefined
    }
    case 'microsoft.network/virtualnetworks': {
      const vnet = rg.virtualNetworks.find((v) => eq(v.name))
      if (!vnet) return undefined
      if (tail.length === 0) return { type: 'vnet', vnet }
      const subnet = vnet.subnets.find((s) => s.name.toLowerCase() === tail[1]?.toLowerCase())
      return subnet && tail[0]?.toLowerCase() === 'subnets' ? { type: 'subnet', subnet } : undefined
    }
    default:
      return undefined
  }
}

function findNic(rg: ResourceGroup, name: string): ArmEntity | undefined {
  const n = name.toLowerCase()
  for (const vm of rg.virtualMachines) {
    const nic = vm.networkInterfaces.find((x) => x.name.toLowerCase() === n)
    if (nic) return { type: 'nic', nic }
  }
  for (const ss of rg.scaleSets) {
    if (ss.orchestrationMode !== 'Flexible') continue
    const suffix = `-${ss.nicConfigurationName.toLowerCase()}`
    if (!n.endsWith(suffix)) continue
    const vm = ss.instanceByName(n.slice(0, -suffix.length))
    if (vm) return { type: 'nic', nic: vm.networkInterfaces[0]! }
  }
  return undefined
}
