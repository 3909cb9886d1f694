import { deriveHex, TYPES } from './ids.js'
import { identityJson, tagsOf, TIME_CREATED } from './arm-shapes.js'
import type { ShapeOptions } from './arm-shapes.js'
import type { ResourceGroup, ScaleSet, Vm } from './world-types.js'

/** ARM JSON for compute: VMs, scale sets and Uniform scale-set VMs (wire `properties` form). */
const SUCCEEDED = 'Succeeded'

function tenantIdOf(rg: ResourceGroup): string {
  return rg.subscription.tenant.tenantId
}

function storageProfile(name: string, id: string, seed: string, osType: string) {
  const disk = `${name}_OsDisk_1_${deriveHex(32, seed, 'disk', id.toLowerCase())}`
  return {
    imageReference: {
      publisher: 'canonical',
      offer: '0001-com-ubuntu-server-jammy',
      sku: '22_04-lts-gen2',
      version: 'latest',
      exactVersion: '22.04.202401010',
    },
    osDisk: {
      osType,
      name: disk,
      createOption: 'FromImage',
      caching: 'ReadWrite',
      managedDisk: { storageAccountType: 'Premium_LRS' },
      deleteOption: 'Delete',
      diskSizeGB: 30,
    },
    dataDisks: [],
  }
}

function osProfile(computerName: string, osType: string) {
  return {
    computerName,
    adminUsername: 'azureuser',
    ...(osType === 'Linux'
      ? {
          linuxConfiguration: {
            disablePasswordAuthentication: true,
            provisionVMAgent: true,
            patchSettings: { patchMode: 'ImageDefault', assessmentMode: 'ImageDefault' },
          },
        }
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
    vmAgent: {
      vmAgentVersion: '2.10.0.8',
      statuses: [
        {
          code: 'ProvisioningState/succeeded',
          level: 'Info',
          displayStatus: 'Ready',
          time: TIME_CREATED,
        },
      ],
    },
    statuses: [
      {
        code: 'ProvisioningState/succeeded',
        level: 'Info',
        displayStatus: 'Provisioning succeeded',
        time: TIME_CREATED,
      },
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
        networkInterfaces: vm.networkInterfaces.map((n) => ({
          id: n.id,
          properties: { primary: n.primary, deleteOption: 'Detach' },
        })),
      },
      ...(vm.kind === 'flexible-instance'
        ? { virtualMachineScaleSet: { id: vm.scaleSet!.id } }
        : {}),
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
          properties: {
            primary: true,
            subnet: { id: ss.subnet.id },
            privateIPAddressVersion: 'IPv4',
          },
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
        osProfile: {
          ...osProfile(ss.computerNamePrefix, ss.osType),
          computerName: undefined,
          computerNamePrefix: ss.computerNamePrefix,
        },
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

export function vmssVmJson(
  vm: Vm,
  seed: string,
  options: ShapeOptions = {},
): Record<string, unknown> {
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
      ...((options.expand ?? '').toLowerCase().includes('instanceview')
        ? { instanceView: instanceView(vm) }
        : {}),
    },
  }
}
