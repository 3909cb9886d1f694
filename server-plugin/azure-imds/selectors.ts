import { parseArmIdOf } from '../../shared/azure/resource-id.js'
import type { ComputeFacts } from './resolve.js'

/** Attested facts that become selectors besides ARM's. */
export interface AttestedFacts {
  /** The tenant the attestor bound the subscription to (configured or looked up; lower-case). */
  tenantId: string
  /** The signed document's `vmId`, as signed. */
  vmId: string
}

/**
 * upstream parity: azure_imds's selector values (no resource-group prefixes on vm-name or the
 * networks), de-duplicated and sorted by bytes like Go's sort.Strings.
 * deviation: `vmss-name` comes from ARM (also for Flexible members), not the agent's hint;
 * `tenant-id` and `vm-id` (Defakto's attribute names) are ours.
 */
export function buildSelectors(
  subscriptionId: string,
  compute: ComputeFacts,
  allowedVmTags: ReadonlySet<string>,
  facts: AttestedFacts,
): string[] {
  const out = new Set<string>([
    `subscription-id:${subscriptionId}`,
    `vm-name:${compute.name}`,
    `vm-location:${compute.location}`,
    `resource-group:${compute.resourceGroup}`,
    `tenant-id:${facts.tenantId}`,
    `vm-id:${facts.vmId}`,
  ])
  if (compute.scaleSetName !== undefined) out.add(`vmss-name:${compute.scaleSetName}`)
  for (const key of allowedVmTags) {
    const value = compute.tags[key]
    if (typeof value === 'string') out.add(`vm-tag:${key}:${value}`)
  }
  for (const nic of compute.nics) {
    const nsg = nic.nsgId === undefined ? undefined : parseArmIdOf(nic.nsgId, 'nsg')
    if (nsg !== undefined) out.add(`network-security-group:${nsg.resourceGroup}:${nsg.name}`)
    for (const id of nic.subnetIds) {
      const subnet = parseArmIdOf(id, 'subnet')
      if (subnet === undefined) continue
      out.add(`virtual-network:${subnet.vnet}`)
      out.add(`virtual-network-subnet:${subnet.vnet}:${subnet.name}`)
    }
  }
  return [...out].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
}
