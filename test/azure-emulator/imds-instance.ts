import type { Vm } from './world-types.js'

/** api-versions IMDS documents (azure-facts §1); newest first. */
export const IMDS_API_VERSIONS = [
  '2025-04-07',
  '2024-07-17',
  '2024-03-15',
  '2023-11-15',
  '2023-07-01',
  '2021-12-13',
  '2021-11-15',
  '2021-11-01',
  '2021-10-01',
  '2021-08-01',
  '2021-05-01',
  '2021-03-01',
  '2021-02-01',
  '2021-01-01',
  '2020-12-01',
  '2020-10-01',
  '2020-09-01',
  '2020-07-15',
  '2020-06-01',
  '2019-11-01',
  '2019-08-15',
  '2019-08-01',
  '2019-06-04',
  '2019-06-01',
  '2019-04-30',
  '2019-03-11',
  '2019-02-01',
  '2018-10-01',
  '2018-04-02',
  '2018-02-01',
  '2017-12-01',
  '2017-10-01',
  '2017-09-01',
  '2017-08-01',
  '2017-04-02',
  '2017-03-01',
] as const
export const ATTESTED_MIN_API_VERSION = '2018-10-01'

/** Compute fields newer than the requested api-version are left out, as IMDS does. */
const FIELD_SINCE: Record<string, string> = {
  subscriptionId: '2017-08-01',
  resourceGroupName: '2017-08-01',
  tags: '2017-08-01',
  vmScaleSetName: '2017-12-01',
  zone: '2017-12-01',
  resourceId: '2019-03-11',
  tagsList: '2019-06-04',
  azEnvironment: '2018-10-01',
  userData: '2021-01-01',
  virtualMachineScaleSet: '2021-03-01',
  securityProfile: '2020-06-01',
  licenseType: '2020-09-01',
}

export function buildInstanceMetadata(vm: Vm, apiVersion: string): Record<string, unknown> {
  const rg = vm.resourceGroup
  const sub = rg.subscription
  const tags = Object.entries(vm.tags)
  const compute: Record<string, unknown> = {
    azEnvironment: sub.tenant.cloud.azEnvironment,
    customData: '',
    evictionPolicy: '',
    isHostCompatibilityLayerVm: 'false',
    licenseType: vm.licenseType,
    location: vm.location,
    name: vm.name,
    offer: '0001-com-ubuntu-server-jammy',
    osProfile: {
      adminUsername: 'azureuser',
      computerName: vm.computerName,
      disablePasswordAuthentication: 'true',
    },
    osType: vm.osType,
    placementGroupId: vm.kind === 'uniform-instance' ? vm.scaleSet!.uniqueId : '',
    plan: vm.plan,
    platformFaultDomain: '0',
    platformUpdateDomain: '0',
    priority: '',
    provider: 'Microsoft.Compute',
    publicKeys: [],
    publisher: 'canonical',
    resourceGroupName: rg.name,
    resourceId: vm.id,
    securityProfile: {
      secureBootEnabled: 'false',
      virtualTpmEnabled: 'false',
      encryptionAtHost: 'false',
      securityType: '',
    },
    sku: vm.sku,
    subscriptionId: sub.subscriptionId,
    tags: tags.map(([k, v]) => `${k}:${v}`).join(';'),
    tagsList: tags.map(([name, value]) => ({ name, value })),
    userData: vm.userData,
    version: '22.04.202401010',
    virtualMachineScaleSet: { id: vm.kind === 'flexible-instance' ? vm.scaleSet!.id : '' },
    vmId: vm.vmId,
    vmScaleSetName: vm.scaleSet?.name ?? '',
    vmSize: vm.vmSize,
    zone: vm.zone ?? '',
  }
  for (const [field, since] of Object.entries(FIELD_SINCE)) {
    if (apiVersion < since) delete compute[field]
  }
  const network = {
    interface: vm.networkInterfaces.map((nic) => {
      const [address, prefix] = nic.subnet.addressPrefix.split('/')
      return {
        ipv4: {
          ipAddress: [{ privateIpAddress: nic.privateIp, publicIpAddress: '' }],
          subnet: [{ address, prefix }],
        },
        ipv6: { ipAddress: [] },
        macAddress: nic.macAddress,
      }
    }),
  }
  return { compute, network }
}

/** Walks `/compute/vmId`-style sub-paths; undefined when the path names nothing. */
export function selectPath(doc: unknown, segments: readonly string[]): unknown {
  let cur: unknown = doc
  for (const s of segments) {
    if (Array.isArray(cur) && /^\d+$/.test(s)) cur = cur[Number(s)]
    else if (cur && typeof cur === 'object' && s in cur) cur = (cur as Record<string, unknown>)[s]
    else return undefined
  }
  return cur
}
