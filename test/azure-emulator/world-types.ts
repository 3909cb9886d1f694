import type { Cloud } from './clouds.js'
import type { OrchestrationMode, PlanSpec } from './world-spec.js'

/** Resolved entities: every id filled in, every reference linked. */
export interface Tenant {
  name: string
  tenantId: string
  domains: readonly string[]
  cloud: Cloud
  apps: readonly App[]
  subscriptions: readonly Subscription[]
}

export interface App {
  name: string
  tenant: Tenant
  clientId: string
  objectId: string
  secret: string
  /** Declared in the world; `emu.entra.addFederatedCredential` adds more in emulator state. */
  federatedCredentials: readonly FederatedCredential[]
}

export interface FederatedCredential {
  name: string
  issuer: string
  subject: string
  audiences: readonly string[]
}

export interface Subscription {
  name: string
  subscriptionId: string
  displayName: string
  tenant: Tenant
  resourceGroups: readonly ResourceGroup[]
}

export interface ResourceGroup {
  id: string
  name: string
  location: string
  subscription: Subscription
  virtualNetworks: readonly Vnet[]
  networkSecurityGroups: readonly Nsg[]
  identities: readonly Uami[]
  virtualMachines: readonly Vm[]
  scaleSets: readonly ScaleSet[]
}

export interface Nsg {
  id: string
  name: string
  resourceGroup: ResourceGroup
  location: string
}

export interface Vnet {
  id: string
  name: string
  resourceGroup: ResourceGroup
  location: string
  addressPrefix: string
  subnets: readonly Subnet[]
}

export interface Subnet {
  id: string
  name: string
  vnet: Vnet
  addressPrefix: string
  nsg?: Nsg
}

export interface Uami {
  id: string
  name: string
  resourceGroup: ResourceGroup
  location: string
  tags: Readonly<Record<string, string>>
  principalId: string
  clientId: string
}

/** A managed identity's service principal as it appears in tokens. */
export interface SystemIdentity {
  principalId: string
  /** `appid` of its tokens */
  clientId: string
}

export interface VmIdentity {
  system?: SystemIdentity
  userAssigned: readonly Uami[]
}

export interface Nic {
  id: string
  name: string
  /** Resource group of the NIC (the scale set's for Uniform instances) */
  resourceGroup: ResourceGroup
  location: string
  primary: boolean
  privateIp: string
  macAddress: string
  subnet: Subnet
  nsg?: Nsg
  ipConfigurationName: string
  /** ARM id of the VM (or scale-set VM) the NIC is attached to */
  attachedTo: string
  /** Uniform scale-set NICs live under Microsoft.Compute/virtualMachineScaleSets/.../networkInterfaces */
  scaleSetNic: boolean
}

export type VmKind = 'vm' | 'uniform-instance' | 'flexible-instance'

export interface Vm {
  /** Stable handle for tests: `rg/name` or `rg/scaleSet/index` */
  key: string
  kind: VmKind
  id: string
  name: string
  vmId: string
  computerName: string
  location: string
  zone?: string
  tags: Readonly<Record<string, string>>
  vmSize: string
  osType: 'Linux' | 'Windows'
  resourceGroup: ResourceGroup
  scaleSet?: ScaleSet
  /** Uniform instance id (`"0"`, `"1"`, …) */
  instanceId?: string
  identity: VmIdentity
  /** `xms_mirid` of the system identity's tokens: the VM, or for Uniform members the scale set */
  systemIdentityResourceId: string
  networkInterfaces: readonly Nic[]
  attestedData: boolean
  licenseType: string
  plan: PlanSpec
  sku: string
  userData: string
}

export interface ScaleSet {
  id: string
  name: string
  resourceGroup: ResourceGroup
  orchestrationMode: OrchestrationMode
  capacity: number
  location: string
  zones: readonly string[]
  tags: Readonly<Record<string, string>>
  vmSize: string
  osType: 'Linux' | 'Windows'
  computerNamePrefix: string
  uniqueId: string
  /** Uniform: the shared identity. Flexible: `system` only says whether members get their own. */
  identity: VmIdentity
  nicConfigurationName: string
  subnet: Subnet
  nsg?: Nsg
  attestedData: boolean
  /** Derives (and memoises) the instance at `index`, 0 ≤ index < capacity. */
  instance(index: number): Vm
  /** How many members have been derived so far (instances are derived on first use). */
  readonly derivedCount: number
  /** Uniform: by instance id; Flexible: by VM name. */
  instanceByName(nameOrInstanceId: string): Vm | undefined
  instances(): IterableIterator<Vm>
}

export type ArmEntity =
  | { type: 'vm'; vm: Vm }
  | { type: 'vmss'; scaleSet: ScaleSet }
  | { type: 'vmss-vm'; vm: Vm }
  | { type: 'nic'; nic: Nic }
  | { type: 'uami'; uami: Uami }
  | { type: 'nsg'; nsg: Nsg }
  | { type: 'vnet'; vnet: Vnet }
  | { type: 'subnet'; subnet: Subnet }

export type Principal =
  | { kind: 'vm-system'; vm: Vm; tenant: Tenant }
  | { kind: 'vmss-system'; scaleSet: ScaleSet; tenant: Tenant }
  | { kind: 'uami'; uami: Uami; tenant: Tenant }
  | { kind: 'app'; app: App; tenant: Tenant }
