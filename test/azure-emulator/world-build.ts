import { CLOUDS } from './clouds.js'
import { deriveMac, deriveUuid, ipv4Add, providerId, rgId, TYPES } from './ids.js'
import { LazyScaleSet } from './scale-set.js'
import type {
  FederatedCredentialSpec,
  IdentitySpec,
  NetworkRef,
  ResourceGroupSpec,
  ScaleSetSpec,
  TenantSpec,
  VmSpec,
  WorldSpec,
} from './world-spec.js'
import type {
  App,
  FederatedCredential,
  Nic,
  Nsg,
  ResourceGroup,
  ScaleSet,
  Subnet,
  Subscription,
  Tenant,
  Uami,
  Vm,
  VmIdentity,
  Vnet,
} from './world-types.js'

export const DEFAULT_SEED = 'spire-azure-emulator'
const DEFAULT_VM_SIZE = 'Standard_D2s_v3'
const DEFAULT_VNET_PREFIX = '10.0.0.0/16'
const DEFAULT_SUBNET_PREFIX = '10.0.0.0/20'
/** Azure reserves the first four addresses of every subnet. */
const FIRST_HOST_OFFSET = 4
/** The audience Entra suggests for workload identity federation. */
export const DEFAULT_FIC_AUDIENCE = 'api://AzureADTokenExchange'
/** Entra allows at most 20 federated identity credentials per app. */
export const MAX_FICS_PER_APP = 20

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer U)[] ? U[] : T[K] }

/** Resolves a spec into linked entities. Scale-set members stay lazy (see LazyScaleSet). */
export function buildTenants(spec: WorldSpec): Tenant[] {
  const seed = spec.seed ?? DEFAULT_SEED
  const ipCursor = new Map<Subnet, number>()
  const tenants = spec.tenants.map((t) => buildTenantShell(seed, t))
  // Networks and identities first: VMs may reference them across resource groups.
  spec.tenants.forEach((t, ti) =>
    forEachRg(tenants[ti]!, t, (rg, rs) => buildRgResources(seed, rg, rs)),
  )
  const b = { seed, ipCursor, tenants }
  spec.tenants.forEach((t, ti) => forEachRg(tenants[ti]!, t, (rg, rs) => buildCompute(b, rg, rs)))
  return tenants
}

interface BuildCtx {
  seed: string
  ipCursor: Map<Subnet, number>
  tenants: Tenant[]
}

function buildTenantShell(seed: string, t: TenantSpec): Tenant {
  const tenant = {
    name: t.name,
    tenantId: t.tenantId ?? deriveUuid(seed, 'tenant', t.name),
    domains: t.domains ?? [`${t.name}.onmicrosoft.com`],
    cloud: CLOUDS[t.cloud ?? 'public'],
    apps: [] as App[],
    subscriptions: [] as Subscription[],
  }
  for (const a of t.apps ?? []) {
    tenant.apps.push({
      name: a.name,
      tenant,
      clientId: a.clientId ?? deriveUuid(seed, 'app-client-id', t.name, a.name),
      objectId: a.objectId ?? deriveUuid(seed, 'app-object-id', t.name, a.name),
      secret: a.secret ?? `secret-${a.name}`,
      federatedCredentials: (a.federatedCredentials ?? []).reduce<FederatedCredential[]>(
        (list, f) => [...list, federatedCredential(f, list, `${t.name}/${a.name}`)],
        [],
      ),
    })
  }
  for (const s of t.subscriptions ?? []) {
    const sub: Mutable<Subscription> = {
      name: s.name,
      subscriptionId: s.subscriptionId ?? deriveUuid(seed, 'subscription', t.name, s.name),
      displayName: s.displayName ?? s.name,
      tenant,
      resourceGroups: [],
    }
    for (const r of s.resourceGroups ?? []) {
      sub.resourceGroups.push({
        id: rgId(sub.subscriptionId, r.name),
        name: r.name,
        location: r.location ?? tenant.cloud.defaultRegion,
        subscription: sub,
        virtualNetworks: [],
        networkSecurityGroups: [],
        identities: [],
        virtualMachines: [],
        scaleSets: [],
      })
    }
    tenant.subscriptions.push(sub)
  }
  return tenant
}

/**
 * Resolves one federated identity credential against those the app already has, with Entra's rules:
 * names are unique, an issuer and subject pair is unique, at most 20 per app, at least one audience.
 */
export function federatedCredential(
  spec: Omit<FederatedCredentialSpec, 'name'> & { name?: string },
  existing: readonly FederatedCredential[],
  appLabel: string,
): FederatedCredential {
  const fail = (why: string): never => {
    throw new Error(`world: app ${appLabel}: federated credential ${why}`)
  }
  const taken = (n: string) => existing.some((f) => f.name.toLowerCase() === n.toLowerCase())
  let n = existing.length + 1
  while (spec.name === undefined && taken(`fic-${n}`)) n++
  const name = spec.name ?? `fic-${n}`
  if (existing.length >= MAX_FICS_PER_APP) fail(`limit of ${MAX_FICS_PER_APP} reached`)
  if (taken(name)) fail(`name ${JSON.stringify(name)} is taken`)
  if (!URL.canParse(spec.issuer)) fail(`issuer ${JSON.stringify(spec.issuer)} is not a URL`)
  if (spec.subject === '') fail(`${JSON.stringify(name)} needs a subject`)
  if (existing.some((f) => f.issuer === spec.issuer && f.subject === spec.subject))
    fail(`issuer and subject already used (${spec.issuer}, ${spec.subject})`)
  const audiences = spec.audiences ?? [DEFAULT_FIC_AUDIENCE]
  if (audiences.length === 0 || audiences.some((a) => a === ''))
    fail(`${JSON.stringify(name)} needs an audience`)
  return { name, issuer: spec.issuer, subject: spec.subject, audiences: [...audiences] }
}

function forEachRg(
  tenant: Tenant,
  spec: TenantSpec,
  fn: (rg: Mutable<ResourceGroup>, rs: ResourceGroupSpec) => void,
): void {
  ;(spec.subscriptions ?? []).forEach((s, si) =>
    (s.resourceGroups ?? []).forEach((r, ri) =>
      fn(tenant.subscriptions[si]!.resourceGroups[ri] as Mutable<ResourceGroup>, r),
    ),
  )
}

function buildRgResources(seed: string, rg: Mutable<ResourceGroup>, rs: ResourceGroupSpec): void {
  const sub = rg.subscription.subscriptionId
  for (const n of rs.networkSecurityGroups ?? []) {
    const id = providerId(sub, rg.name, TYPES.nsg, n.name)
    rg.networkSecurityGroups.push({ id, name: n.name, resourceGroup: rg, location: rg.location })
  }
  for (const u of rs.identities ?? []) {
    const id = providerId(sub, rg.name, TYPES.uami, u.name)
    rg.identities.push({
      id,
      name: u.name,
      resourceGroup: rg,
      location: rg.location,
      tags: u.tags ?? {},
      principalId: u.principalId ?? deriveUuid(seed, 'principal', id.toLowerCase()),
      clientId: u.clientId ?? deriveUuid(seed, 'appid', id.toLowerCase()),
    })
  }
  for (const v of rs.virtualNetworks ?? []) addVnet(rg, v.name, v.addressPrefix, v.subnets ?? [])
  // NSG references on subnets resolve after every NSG of the subscription exists; same RG is enough here.
  rs.virtualNetworks?.forEach((v, vi) =>
    v.subnets?.forEach((s, si) => {
      if (!s.networkSecurityGroup) return
      const subnet = rg.virtualNetworks[vi]!.subnets[si] as Mutable<Subnet>
      subnet.nsg = findIn(rg, s.networkSecurityGroup, (r) => r.networkSecurityGroups, 'NSG')
    }),
  )
}

function addVnet(
  rg: Mutable<ResourceGroup>,
  name: string,
  prefix: string | undefined,
  subnets: readonly { name: string; addressPrefix?: string }[],
): Vnet {
  const id = providerId(rg.subscription.subscriptionId, rg.name, TYPES.vnet, name)
  const vnet: Mutable<Vnet> = {
    id,
    name,
    resourceGroup: rg,
    location: rg.location,
    addressPrefix: prefix ?? DEFAULT_VNET_PREFIX,
    subnets: [],
  }
  const list = subnets.length > 0 ? subnets : [{ name: 'default' }]
  list.forEach((s, i) => {
    const addressPrefix =
      s.addressPrefix ?? (i === 0 ? DEFAULT_SUBNET_PREFIX : `10.0.${16 * i}.0/20`)
    vnet.subnets.push({ id: `${id}/subnets/${s.name}`, name: s.name, vnet, addressPrefix })
  })
  rg.virtualNetworks.push(vnet)
  return vnet
}

/** Finds `name` or `rg/name` within the resource group's subscription, case-insensitively. */
function findIn<T extends { name: string }>(
  rg: ResourceGroup,
  ref: string,
  list: (r: ResourceGroup) => readonly T[],
  what: string,
): T {
  const [rgName, name] = ref.includes('/') ? ref.split('/', 2) : [rg.name, ref]
  const owner = rg.subscription.resourceGroups.find(
    (r) => r.name.toLowerCase() === rgName!.toLowerCase(),
  )
  const found = owner && list(owner).find((x) => x.name.toLowerCase() === name!.toLowerCase())
  if (!found) throw new Error(`world: ${what} ${JSON.stringify(ref)} not found (from ${rg.name})`)
  return found
}

function findUami(ctx: BuildCtx, rg: ResourceGroup, ref: string): Uami {
  if (!ref.startsWith('/')) return findIn(rg, ref, (r) => r.identities, 'user-assigned identity')
  for (const t of ctx.tenants)
    for (const s of t.subscriptions)
      for (const r of s.resourceGroups)
        for (const u of r.identities) if (u.id.toLowerCase() === ref.toLowerCase()) return u
  throw new Error(`world: user-assigned identity ${JSON.stringify(ref)} not found`)
}

function buildIdentity(
  ctx: BuildCtx,
  rg: ResourceGroup,
  id: string,
  spec?: IdentitySpec,
): VmIdentity {
  const userAssigned = (spec?.userAssigned ?? []).map((ref) => findUami(ctx, rg, ref))
  if (!spec?.systemAssigned) return { userAssigned }
  const system = {
    principalId: deriveUuid(ctx.seed, 'principal', id.toLowerCase()),
    clientId: deriveUuid(ctx.seed, 'appid', id.toLowerCase()),
  }
  return { system, userAssigned }
}

function resolveNetwork(
  rg: Mutable<ResourceGroup>,
  ref: NetworkRef | undefined,
): { subnet: Subnet; nsg?: Nsg } {
  if (!ref) {
    const vnet =
      rg.virtualNetworks[0] ??
      rg.subscription.resourceGroups.flatMap((r) => r.virtualNetworks)[0] ??
      addVnet(rg, `${rg.name}-vnet`, undefined, [])
    return { subnet: vnet.subnets[0]! }
  }
  const vnet = findIn(rg, ref.virtualNetwork, (r) => r.virtualNetworks, 'virtual network')
  const subnet = vnet.subnets.find((s) => s.name.toLowerCase() === ref.subnet.toLowerCase())
  if (!subnet) throw new Error(`world: subnet ${JSON.stringify(ref.subnet)} not in ${vnet.name}`)
  if (!ref.networkSecurityGroup) return { subnet }
  const nsg = findIn(rg, ref.networkSecurityGroup, (r) => r.networkSecurityGroups, 'NSG')
  return { subnet, nsg }
}

function allocateIps(ctx: BuildCtx, subnet: Subnet, count: number): number {
  const start = ctx.ipCursor.get(subnet) ?? FIRST_HOST_OFFSET
  ctx.ipCursor.set(subnet, start + count)
  return start
}

function buildCompute(ctx: BuildCtx, rg: Mutable<ResourceGroup>, rs: ResourceGroupSpec): void {
  for (const v of rs.virtualMachines ?? []) rg.virtualMachines.push(buildVm(ctx, rg, v))
  for (const s of rs.scaleSets ?? []) rg.scaleSets.push(buildScaleSet(ctx, rg, s))
}

function buildVm(ctx: BuildCtx, rg: Mutable<ResourceGroup>, v: VmSpec): Vm {
  const sub = rg.subscription.subscriptionId
  const id = providerId(sub, rg.name, TYPES.vm, v.name)
  const location = v.location ?? rg.location
  const nicSpecs = v.networkInterfaces ?? [undefined]
  const networkInterfaces = nicSpecs.map((n, i): Nic => {
    const name = n?.name ?? (i === 0 ? `${v.name}-nic` : `${v.name}-nic${i}`)
    const nicId = providerId(sub, rg.name, TYPES.nic, name)
    const net = resolveNetwork(rg, n)
    const privateIp =
      n?.privateIp ?? ipv4Add(net.subnet.addressPrefix, allocateIps(ctx, net.subnet, 1))
    return {
      id: nicId,
      name,
      resourceGroup: rg,
      location,
      primary: i === 0,
      privateIp,
      macAddress: deriveMac(ctx.seed, nicId.toLowerCase()),
      ...net,
      ipConfigurationName: 'ipconfig1',
      attachedTo: id,
      scaleSetNic: false,
    }
  })
  return {
    key: `${rg.name}/${v.name}`,
    kind: 'vm',
    id,
    name: v.name,
    vmId: v.vmId ?? deriveUuid(ctx.seed, 'vm-id', id.toLowerCase()),
    computerName: v.computerName ?? v.name,
    location,
    ...(v.zone === undefined ? {} : { zone: v.zone }),
    tags: v.tags ?? {},
    vmSize: v.vmSize ?? DEFAULT_VM_SIZE,
    osType: v.osType ?? 'Linux',
    resourceGroup: rg,
    identity: buildIdentity(ctx, rg, id, v.identity),
    systemIdentityResourceId: id,
    networkInterfaces,
    attestedData: v.attestedData ?? true,
    licenseType: v.licenseType ?? '',
    plan: v.plan ?? { name: '', product: '', publisher: '' },
    sku: v.sku ?? '',
    userData: v.userData ?? '',
  }
}

function buildScaleSet(ctx: BuildCtx, rg: Mutable<ResourceGroup>, s: ScaleSetSpec): ScaleSet {
  if (!Number.isInteger(s.capacity) || s.capacity < 0) {
    throw new Error(`world: scale set ${s.name} needs a non-negative integer capacity`)
  }
  const sub = rg.subscription.subscriptionId
  const id = providerId(sub, rg.name, TYPES.vmss, s.name)
  const net = resolveNetwork(rg, s.network)
  return new LazyScaleSet({
    seed: ctx.seed,
    name: s.name,
    resourceGroup: rg,
    orchestrationMode: s.orchestrationMode ?? 'Uniform',
    capacity: s.capacity,
    location: s.location ?? rg.location,
    zones: s.zones ?? [],
    tags: s.tags ?? {},
    vmSize: s.vmSize ?? DEFAULT_VM_SIZE,
    osType: s.osType ?? 'Linux',
    computerNamePrefix: s.computerNamePrefix ?? s.name.replace(/[^A-Za-z0-9-]/g, '').slice(0, 9),
    identity: buildIdentity(ctx, rg, id, s.identity),
    nicConfigurationName: s.network?.nicConfigurationName ?? `${s.name}-nic`,
    ...net,
    attestedData: s.attestedData ?? true,
    ipOffset: allocateIps(ctx, net.subnet, s.capacity),
  })
}
