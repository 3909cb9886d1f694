import { deriveUuid, TYPES } from './ids.js'
import type {
  Nic,
  Nsg,
  ResourceGroup,
  Subnet,
  Subscription,
  Tenant,
  Uami,
  VmIdentity,
  Vnet,
} from './world-types.js'

/** ARM JSON for each entity, in the wire (`properties`) form the SDKs deserialize. */
export const TIME_CREATED = '2024-05-01T08:00:00.0000000+00:00'
const SUCCEEDED = 'Succeeded'

export interface ShapeOptions {
  expand?: string
}

export function tagsOf(tags: Readonly<Record<string, string>>): { tags?: Record<string, string> } {
  return Object.keys(tags).length > 0 ? { tags: { ...tags } } : {}
}

export function identityJson(
  identity: VmIdentity,
  tenantId: string,
): Record<string, unknown> | undefined {
  const types = [
    identity.system ? 'SystemAssigned' : '',
    identity.userAssigned.length > 0 ? 'UserAssigned' : '',
  ].filter((t) => t.length > 0)
  if (types.length === 0) return undefined
  return {
    type: types.join(', '),
    ...(identity.system ? { principalId: identity.system.principalId, tenantId } : {}),
    ...(identity.userAssigned.length > 0
      ? {
          userAssignedIdentities: Object.fromEntries(
            identity.userAssigned.map((u) => [
              u.id,
              { principalId: u.principalId, clientId: u.clientId },
            ]),
          ),
        }
      : {}),
  }
}

function tenantIdOf(rg: ResourceGroup): string {
  return rg.subscription.tenant.tenantId
}

export function nicJson(nic: Nic, seed: string): Record<string, unknown> {
  const etag = `W/"${deriveUuid(seed, 'etag', nic.id.toLowerCase())}"`
  const mac = nic.macAddress.match(/../g)!.join('-')
  return {
    name: nic.name,
    id: nic.id,
    etag,
    type: TYPES.nic,
    location: nic.location,
    properties: {
      provisioningState: SUCCEEDED,
      resourceGuid: deriveUuid(seed, 'resource-guid', nic.id.toLowerCase()),
      ipConfigurations: [
        {
          name: nic.ipConfigurationName,
          id: `${nic.id}/ipConfigurations/${nic.ipConfigurationName}`,
          etag,
          type: 'Microsoft.Network/networkInterfaces/ipConfigurations',
          properties: {
            provisioningState: SUCCEEDED,
            privateIPAddress: nic.privateIp,
            privateIPAllocationMethod: 'Dynamic',
            subnet: { id: nic.subnet.id },
            primary: true,
            privateIPAddressVersion: 'IPv4',
          },
        },
      ],
      dnsSettings: { dnsServers: [], appliedDnsServers: [] },
      macAddress: mac,
      enableAcceleratedNetworking: false,
      enableIPForwarding: false,
      ...(nic.nsg ? { networkSecurityGroup: { id: nic.nsg.id } } : {}),
      primary: nic.primary,
      virtualMachine: { id: nic.attachedTo },
      hostedWorkloads: [],
      tapConfigurations: [],
      nicType: 'Standard',
      auxiliaryMode: 'None',
    },
  }
}

export function uamiJson(u: Uami): Record<string, unknown> {
  return {
    id: u.id,
    name: u.name,
    type: TYPES.uami,
    location: u.location,
    ...tagsOf(u.tags),
    properties: {
      isolationScope: 'None',
      tenantId: tenantIdOf(u.resourceGroup),
      principalId: u.principalId,
      clientId: u.clientId,
    },
  }
}

export function nsgJson(n: Nsg): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    type: TYPES.nsg,
    location: n.location,
    properties: { provisioningState: SUCCEEDED, securityRules: [], defaultSecurityRules: [] },
  }
}

export function subnetJson(s: Subnet): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    type: TYPES.subnet,
    properties: {
      provisioningState: SUCCEEDED,
      addressPrefix: s.addressPrefix,
      ...(s.nsg ? { networkSecurityGroup: { id: s.nsg.id } } : {}),
    },
  }
}

export function vnetJson(v: Vnet): Record<string, unknown> {
  return {
    id: v.id,
    name: v.name,
    type: TYPES.vnet,
    location: v.location,
    properties: {
      provisioningState: SUCCEEDED,
      addressSpace: { addressPrefixes: [v.addressPrefix] },
      subnets: v.subnets.map(subnetJson),
    },
  }
}

export function resourceGroupJson(rg: ResourceGroup): Record<string, unknown> {
  return {
    id: rg.id,
    name: rg.name,
    type: 'Microsoft.Resources/resourceGroups',
    location: rg.location,
    properties: { provisioningState: SUCCEEDED },
  }
}

export function subscriptionJson(s: Subscription): Record<string, unknown> {
  return {
    id: `/subscriptions/${s.subscriptionId}`,
    authorizationSource: 'RoleBased',
    managedByTenants: [],
    subscriptionId: s.subscriptionId,
    tenantId: s.tenant.tenantId,
    displayName: s.displayName,
    state: 'Enabled',
    subscriptionPolicies: {
      locationPlacementId: 'Public_2014-09-01',
      quotaId: 'PayAsYouGo_2014-09-01',
      spendingLimit: 'Off',
    },
  }
}

export function tenantJson(t: Tenant): Record<string, unknown> {
  return {
    id: `/tenants/${t.tenantId}`,
    tenantId: t.tenantId,
    tenantCategory: 'Home',
    defaultDomain: t.domains[0],
    displayName: t.name,
    domains: [...t.domains],
    tenantType: 'AAD',
  }
}
