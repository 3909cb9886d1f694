import { deriveHex, deriveUuid, TYPES } from './ids.js'
import type { Nic, Nsg, ResourceGroup, ScaleSet, Subnet, Subscription, Tenant, Uami, Vm, VmIdentity, Vnet } from './world-types.js'

/** ARM JSON for each entity, in the wire (`properties`) form the SDKs deserialize. */
const TIME_CREATED = '2024-05-01T08:00:00.0000000+00:00'
const SUCCEEDED = 'Succeeded'

export interface ShapeOptions {
  expand?: string
}

function tagsOf(tags: Readonly<Record<string, string>>): { tags?: Record<string, string> } {
  return Object.keys(tags).length > 0 ? { tags: { ...tags } } : {}
}

export function identityJson(identity: VmIdentity, tenantId: string): Record<string, unknown> | undefined {
  const types = [identity.system ? 'SystemAssigned' : '', identity.userAssigned.length > 0 ? 'UserAssigned' : '']
    .filter((t) => t.length > 0)
  if (types.length === 0) return undefined
  return {
    type: types.join(', '),
    ...(identity.system ? { principalId: identity.system.principalId, tenantId } : {}),
    ...(identity.userAssigned.length > 0
      ? {
          userAssignedIdentities: Object.fromEntries(
            identity.userAssigned.map((u) => [u.id, { principalId: u.principalId, clientId: u.clientId }]),
          ),
        }
      : {}),
  }
}

function tenantIdOf(rg: ResourceGroup): string {
  return rg.subscription.tenant.tenantId
}

function storageProfile(name: string, id: string, seed: string, osType: string) {
  const disk = `${name}_OsDisk_1_${deriveHex(32, seed, 'disk', id.toLowerCase())}`
  return {
    imageReference: { publisher: 'canonical', offer: '0001-com-ubuntu-server-jammy', sku: '22_04-lts-gen2', version: 'latest', exactVersion: '22.04.202401010' },
    osDisk: { osType, name: disk, createOption: 'FromImage', caching: 'ReadWrite', managedDisk: { storageAccountType: 'Premium_LRS' }, deleteOption: 'Delete', diskSizeGB: 30 },
    dataDisks: [],
  }
}

function osProfile(computerName: string, osType: string) {
  return {
    computerName,
    adminUsername: 'azureuser',
    ...(osType === 'Linux'
      ? { linuxConfiguration: { disablePasswordAuthentication: true, provisionVMAgent: true, patchSettings: { patchMode: 'ImageDefault', assessmentMode: 'ImageDefault' } } }
      : { windowsConfiguration: { provisionVMAgent: true, enableAutomaticUpdates: true } }),
    secrets: [],
    allowExtensionOperations: true,
    requireGuestProvisionSignal: true,
  }
}

function instanceView(vm: Vm) {
  return {
    computerName: vm.computerName,
    osName: 'ubuntu',
    osVersion: '22.04',
    vmAgent: { vmAgentVersion: '2.10.0.8', statuses: [{ code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Ready', time: TIME_CREATED }] },
    statuses: [
      { code: 'ProvisioningState/succeeded', level: 'Info', displayStatus: 'Provisioning succeeded', time: TIME_CREATED },
      { code: 'PowerState/running', level: 'Info', displayStatus: 'VM running' },
    ],
  }
}

export function vmJson(vm: Vm, seed: string, options: ShapeOptions = {}): Record<string, unknown> {
  const identity = identityJson(vm.identity, tenantIdOf(vm.resourceGroup))
  const expand = (options.expand ?? '').toLowerCase()
  return {
    name: vm.name,
    id: vm.id,
    type: TYPES.vm,
    location: vm.location,
    ...tagsOf(vm.tags),
    ...(identity ? { identity } : {}),
    ...(vm.zone ? { zones: [vm.zone] } : {}),
    properties: {
      vmId: vm.vmId,
      hardwareProfile: { vmSize: vm.vmSize },
      storageProfile: storageProfile(vm.name, vm.id, seed, vm.osType),
      osProfile: osProfile(vm.computerName, vm.osType),
      networkProfile: {
        networkInterfaces: vm.networkInterfaces.map((n) => ({ id: n.id, properties: { primary: n.primary, deleteOption: 'Detach' } })),
      },
      ...(vm.kind === 'flexible-instance' ? { virtualMachineScaleSet: { id: vm.scaleSet!.id } } : {}),
      ...(vm.licenseType ? { licenseType: vm.licenseType } : {}),
      provisioningState: SUCCEEDED,
      timeCreated: TIME_CREATED,
      ...(expand.includes('instanceview') ? { instanceView: instanceView(vm) } : {}),
      ...(expand.includes('userdata') ? { userData: vm.userData } : {}),
    },
  }
}

function nicConfiguration(ss: ScaleSet) {
  return {
    name: ss.nicConfigurationName,
    properties: {
      primary: true,
      enableAcceleratedNetworking: false,
      ...(ss.nsg ? { networkSecurityGroup: { id: ss.nsg.id } } : {}),
      dnsSettings: { dnsServers: [] },
      enableIPForwarding: false,
      ipConfigurations: [
        {
          name: `${ss.nicConfigurationName}-ipconfig`,
          properties: { primary: true, subnet: { id: ss.subnet.id }, privateIPAddressVersion: 'IPv4' },
        },
      ],
    },
  }
}

export function vmssJson(ss: ScaleSet, seed: string): Record<string, unknown> {
  const identity = identityJson(ss.identity, tenantIdOf(ss.resourceGroup))
  const uniform = ss.orchestrationMode === 'Uniform'
  return {
    name: ss.name,
    id: ss.id,
    type: TYPES.vmss,
    location: ss.location,
    ...tagsOf(ss.tags),
    sku: { name: ss.vmSize, tier: 'Standard', capacity: ss.capacity },
    ...(ss.zones.length > 0 ? { zones: [...ss.zones] } : {}),
    ...(identity ? { identity } : {}),
    properties: {
      singlePlacementGroup: false,
      orchestrationMode: ss.orchestrationMode,
      ...(uniform ? { upgradePolicy: { mode: 'Manual' }, overprovision: false } : {}),
      virtualMachineProfile: {
        osProfile: { ...osProfile(ss.computerNamePrefix, ss.osType), computerName: undefined, computerNamePrefix: ss.computerNamePrefix },
        storageProfile: storageProfile(ss.name, ss.id, seed, ss.osType),
        networkProfile: {
          networkInterfaceConfigurations: [nicConfiguration(ss)],
          ...(uniform ? {} : { networkApiVersion: '2020-11-01' }),
        },
      },
      provisioningState: SUCCEEDED,
      uniqueId: ss.uniqueId,
      platformFaultDomainCount: 1,
      timeCreated: TIME_CREATED,
    },
  }
}

export function vmssVmJson(vm: Vm, seed: string, options: ShapeOptions = {}): Record<string, unknown> {
  const ss = vm.scaleSet!
  const identity = identityJson(vm.identity, tenantIdOf(vm.resourceGroup))
  return {
    name: vm.name,
    id: vm.id,
    type: TYPES.vmssVm,
    location: vm.location,
    ...tagsOf(vm.tags),
    instanceId: vm.instanceId,
    sku: { name: vm.vmSize, tier: 'Standard' },
    ...(vm.zone ? { zones: [vm.zone] } : {}),
    ...(identity ? { identity } : {}),
    properties: {
      latestModelApplied: true,
      modelDefinitionApplied: 'VirtualMachineScaleSet',
      vmId: vm.vmId,
      hardwareProfile: { vmSize: vm.vmSize },
      storageProfile: storageProfile(vm.name, vm.id, seed, vm.osType),
      osProfile: osProfile(vm.computerName, vm.osType),
      networkProfile: { networkInterfaces: vm.networkInterfaces.map((n) => ({ id: n.id })) },
      networkProfileConfiguration: { networkInterfaceConfigurations: [nicConfiguration(ss)] },
      provisioningState: SUCCEEDED,
      timeCreated: TIME_CREATED,
      ...((options.expand ?? '').toLowerCase().includes('instanceview') ? { instanceView: instanceView(vm) } : {}),
    },
  }
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
    properties: { isolationScope: 'None', tenantId: tenantIdOf(u.resourceGroup), principalId: u.principalId, clientId: u.clientId },
  }
}

export function nsgJson(n: Nsg): Record<string, unknown> {
  return { id: n.id, name: n.name, type: TYPES.nsg, location: n.location, properties: { provisioningState: SUCCEEDED, securityRules: [], defaultSecurityRules: [] } }
}

export function subnetJson(s: Subnet): Record<string, unknown> {
  return {
    id: s.id,
    name: s.name,
    type: TYPES.subnet,
    properties: { provisioningState: SUCCEEDED, addressPrefix: s.addressPrefix, ...(s.nsg ? { networkSecurityGroup: { id: s.nsg.id } } : {}) },
  }
}

export function vnetJson(v: Vnet): Record<string, unknown> {
  return {
    id: v.id,
    name: v.name,
    type: TYPES.vnet,
    location: v.location,
    properties: { provisioningState: SUCCEEDED, addressSpace: { addressPrefixes: [v.addressPrefix] }, subnets: v.subnets.map(subnetJson) },
  }
}

export function resourceGroupJson(rg: ResourceGroup): Record<string, unknown> {
  return { id: rg.id, name: rg.name, type: 'Microsoft.Resources/resourceGroups', location: rg.location, properties: { provisioningState: SUCCEEDED } }
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
    subscriptionPolicies: { locationPlacementId: 'Public_2014-09-01', quotaId: 'PayAsYouGo_2014-09-01', spendingLimit: 'Off' },
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
