import type { CloudName } from './clouds.js'

/**
 * The declarative world: what exists in the emulated Azure. Everything is JSON-serialisable so a
 * world can live in a file (`cli.ts --world file.json`). Ids left out are derived deterministically
 * from `seed` and names, so the same spec always yields the same GUIDs.
 */
export interface WorldSpec {
  seed?: string
  tenants: TenantSpec[]
}

export interface TenantSpec {
  /** Key used in tests and in derivations; also the default domain `<name>.onmicrosoft.com`. */
  name: string
  tenantId?: string
  domains?: string[]
  cloud?: CloudName
  /** App registrations usable with client credentials (`ClientSecretCredential`). */
  apps?: AppSpec[]
  subscriptions?: SubscriptionSpec[]
}

export interface AppSpec {
  name: string
  clientId?: string
  /** Object id of the app's service principal (the `oid` of its tokens). */
  objectId?: string
  secret?: string
  /**
   * Workload identity federation: tokens from these external issuers may stand in for a secret
   * (`client_assertion`). Issuers known only at run time: `emu.entra.addFederatedCredential`.
   */
  federatedCredentials?: FederatedCredentialSpec[]
}

/** A federated identity credential of an app registration (Graph `federatedIdentityCredential`). */
export interface FederatedCredentialSpec {
  /** Unique within the app. */
  name: string
  /** Compared with the assertion's `iss` exactly (case and trailing slash included). */
  issuer: string
  /** Compared with the assertion's `sub` exactly. */
  subject: string
  /** Default `['api://AzureADTokenExchange']`. */
  audiences?: string[]
}

export interface SubscriptionSpec {
  name: string
  subscriptionId?: string
  displayName?: string
  resourceGroups?: ResourceGroupSpec[]
}

export interface ResourceGroupSpec {
  name: string
  location?: string
  virtualNetworks?: VnetSpec[]
  networkSecurityGroups?: NsgSpec[]
  identities?: UamiSpec[]
  virtualMachines?: VmSpec[]
  scaleSets?: ScaleSetSpec[]
}

export interface VnetSpec {
  name: string
  addressPrefix?: string
  subnets?: SubnetSpec[]
}

export interface SubnetSpec {
  name: string
  addressPrefix?: string
  /** NSG on the subnet: `name` (same resource group) or `rg/name`. */
  networkSecurityGroup?: string
}

export interface NsgSpec {
  name: string
}

export interface UamiSpec {
  name: string
  principalId?: string
  clientId?: string
  tags?: Record<string, string>
}

/** `name` (same resource group), `rg/name`, or a full ARM id of a user-assigned identity. */
export type IdentityRef = string

export interface IdentitySpec {
  systemAssigned?: boolean
  userAssigned?: IdentityRef[]
}

export interface NetworkRef {
  /** `name` (same resource group) or `rg/name`. */
  virtualNetwork: string
  subnet: string
  /** NSG on the NIC: `name` or `rg/name`. */
  networkSecurityGroup?: string
}

export interface NicSpec extends NetworkRef {
  name?: string
  privateIp?: string
}

export interface PlanSpec {
  name: string
  product: string
  publisher: string
}

export interface VmSpec {
  name: string
  vmId?: string
  location?: string
  zone?: string
  tags?: Record<string, string>
  vmSize?: string
  osType?: 'Linux' | 'Windows'
  computerName?: string
  identity?: IdentitySpec
  /** Default: one NIC `<name>-nic` in the resource group's first virtual network and subnet. */
  networkInterfaces?: NicSpec[]
  /** false: `/metadata/attested/document` answers 404, as on compute types without attested data. */
  attestedData?: boolean
  licenseType?: string
  plan?: PlanSpec
  /** Image SKU, as it appears in the attested document's `sku`. */
  sku?: string
  userData?: string
}

export type OrchestrationMode = 'Uniform' | 'Flexible'

export interface ScaleSetSpec {
  name: string
  orchestrationMode?: OrchestrationMode
  /** Number of instances; they are derived on demand, so 1,000+ costs nothing up front. */
  capacity: number
  location?: string
  zones?: string[]
  tags?: Record<string, string>
  vmSize?: string
  osType?: 'Linux' | 'Windows'
  computerNamePrefix?: string
  identity?: IdentitySpec
  network?: NetworkRef & { nicConfigurationName?: string }
  attestedData?: boolean
}
