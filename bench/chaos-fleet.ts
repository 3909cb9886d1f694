// The chaos fleet boot's VMs (bench/chaos.ts) and what SPIRE must record for each: N VMs of the
// three kinds split between azure_msi and azure_imds with no VM shared (each VM runs one agent),
// and each agent's expected agent ID and selectors built from the emulator's world by the
// documented selector tables (docs/plugin_server_nodeattestor_azure_*.md), not by the plugins' code.
import type { Vm } from '../test/azure-emulator/index.js'
import {
  FLEET_TENANT,
  fleetOrder,
  splitFleet,
  type AttestorName,
  type FleetCounts,
} from './agent-load-fleet.js'

export type AzureAttestor = Extract<AttestorName, 'azure_msi' | 'azure_imds'>
export const CHAOS_ATTESTORS: readonly AzureAttestor[] = ['azure_msi', 'azure_imds']

export interface ChaosFleet {
  /** The world's scale: both attestors' VMs together. */
  world: FleetCounts
  /** Per attestor: its split and its VM keys in attestation order (disjoint between attestors). */
  attestors: Record<AzureAttestor, { counts: FleetCounts; order: string[] }>
}

/**
 * `vms` VMs, half to each attestor (azure_msi the odd one), each half split by `mix` as the load
 * generator does (azure_msi's Uniform share goes to Flexible members: a Uniform scale set's
 * instances share one identity). azure_imds's VMs come after azure_msi's in the world: standalone
 * `vm-<i>` and Flexible `flex/<i>` numbered on from azure_msi's, Uniform `uni/<i>` its own.
 */
export function chaosFleet(vms: number, mix = '1:4.5:4.5'): ChaosFleet {
  const msi = splitFleet(Math.ceil(vms / 2), mix, 'azure_msi')
  const imds = splitFleet(Math.floor(vms / 2), mix, 'azure_imds')
  const shift = (key: string): string =>
    key
      .replace(/\/vm-(\d+)$/, (_, i: string) => `/vm-${Number(i) + msi.standalone}`)
      .replace(/\/flex\/(\d+)$/, (_, i: string) => `/flex/${Number(i) + msi.flexible}`)
  return {
    world: {
      standalone: msi.standalone + imds.standalone,
      flexible: msi.flexible + imds.flexible,
      uniform: msi.uniform + imds.uniform,
    },
    attestors: {
      azure_msi: { counts: msi, order: fleetOrder(msi) },
      azure_imds: { counts: imds, order: fleetOrder(imds).map(shift) },
    },
  }
}

/** A VM's kind as the fleet spec names it. */
export const vmKind = (vm: Vm): 'standalone' | 'flexible' | 'uniform' =>
  vm.kind === 'vm' ? 'standalone' : vm.kind === 'flexible-instance' ? 'flexible' : 'uniform'

/**
 * The selectors (`type:value`, sorted) SPIRE must hold for `vm` attested by `attestor` under its
 * default agent path template: the selector tables of the plugins' docs applied to the world.
 * Neither fleet has NSGs, tags in `allowed_vm_tags` or user-assigned identities, so no
 * `network-security-group`, `vm-tag` or `client-id` (asserted, so a richer fleet cannot slip by).
 */
export function expectedSelectors(attestor: AzureAttestor, vm: Vm): string[] {
  const rg = vm.resourceGroup
  const sub = rg.subscription
  if (vm.identity.userAssigned.length > 0 || vm.networkInterfaces.some((n) => n.nsg))
    throw new Error(`VM ${vm.key}: the chaos fleet has no NSGs or user-assigned identities`)
  const out = new Set<string>([`subscription-id:${sub.subscriptionId}`])
  const tenantId = sub.tenant.tenantId.toLowerCase()
  if (attestor === 'azure_msi') {
    // upstream's five kinds qualified by resource group; then ours in azure_imds's formats
    const principal = vm.identity.system?.principalId
    if (principal === undefined) throw new Error(`VM ${vm.key} has no system identity`)
    if (vm.kind === 'uniform-instance')
      throw new Error(`VM ${vm.key}: azure_msi's fleet has no Uniform instances`)
    out.add(`vm-name:${rg.name}:${vm.name}`)
    out.add(`tenant-id:${tenantId}`)
    out.add(`principal-id:${principal}`)
    out.add(`resource-group:${rg.name}`)
    out.add(`vm-location:${vm.location}`)
    if (vm.scaleSet) out.add(`vmss-name:${vm.scaleSet.name}`)
    for (const nic of vm.networkInterfaces) {
      const vnet = nic.subnet.vnet
      out.add(`virtual-network:${vnet.resourceGroup.name}:${vnet.name}`)
      out.add(`virtual-network-subnet:${vnet.resourceGroup.name}:${vnet.name}:${nic.subnet.name}`)
    }
  } else {
    out.add(`vm-name:${vm.name}`)
    out.add(`vm-location:${vm.location}`)
    out.add(`resource-group:${rg.name.toLowerCase()}`)
    out.add(`tenant-id:${tenantId}`)
    out.add(`vm-id:${vm.vmId}`)
    if (vm.scaleSet) out.add(`vmss-name:${vm.scaleSet.name}`)
    for (const nic of vm.networkInterfaces) {
      out.add(`virtual-network:${nic.subnet.vnet.name}`)
      out.add(`virtual-network-subnet:${nic.subnet.vnet.name}:${nic.subnet.name}`)
    }
  }
  return [...out].map((s) => `${attestor}:${s}`).sort(byBytes)
}

/** The agent ID under the default templates (`/<plugin>/<tenant>/<principal>` and `…/<sub>/<vmId>`). */
export function expectedAgentId(attestor: AzureAttestor, vm: Vm, trustDomain: string): string {
  const sub = vm.resourceGroup.subscription
  const path =
    attestor === 'azure_msi'
      ? `${sub.tenant.tenantId}/${vm.identity.system?.principalId ?? '<none>'}`
      : `${sub.tenant.tenantId}/${sub.subscriptionId}/${vm.vmId}`
  return `spiffe://${trustDomain}/spire/agent/${attestor}/${path}`
}

/** Go's sort.Strings order (bytes of the UTF-8). */
export const byBytes = (a: string, b: string): number =>
  Buffer.compare(Buffer.from(a), Buffer.from(b))

export { FLEET_TENANT }
