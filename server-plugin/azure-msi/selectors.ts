import { parseArmIdOf } from '../../shared/azure/resource-id.js'
import { PluginError } from '../../shared/plugin/index.js'
import type { ResolvedCompute } from './resolve.js'

const internal = (message: string) => new PluginError('Internal', 'malformed_id', message)

/** The verified token's identity facts that become selectors. */
export interface IdentityFacts {
  /** `tid`, as the token carries it. */
  tenantId: string
  /** The principal (object) ID bound against ARM (`sub`), as the token carries it. */
  principalId: string
}

/**
 * Selector values for a resolved VM, upstream's five kinds (resource-group-qualified, as upstream
 * msi writes them) plus vm-location, resource-group, vmss-name and allow-listed vm-tag, which use
 * azure_imds's formats, and Defakto's attribute names tenant-id, principal-id and (user-assigned
 * identities whose client ID ARM lists) client-id. Values keep ARM's or the token's casing; the
 * list is de-duplicated and sorted by bytes, like Go's sort.Strings.
 */
export function buildSelectors(
  compute: ResolvedCompute,
  allowedVmTags: ReadonlySet<string>,
  identity: IdentityFacts,
): string[] {
  const values = new Set<string>([`subscription-id:${compute.subscriptionId}`])
  if (compute.kind !== 'vmss') values.add(selector('vm-name', compute.resourceGroup, compute.name))
  // deviation: the selectors below are not produced by upstream azure_msi
  values.add(selector('tenant-id', identity.tenantId))
  values.add(selector('principal-id', identity.principalId))
  if (compute.identityClientId !== undefined)
    values.add(selector('client-id', compute.identityClientId))
  values.add(selector('resource-group', compute.resourceGroup))
  if (compute.location !== undefined && compute.location !== '')
    values.add(selector('vm-location', compute.location))
  if (compute.scaleSetName !== undefined) values.add(selector('vmss-name', compute.scaleSetName))
  for (const [key, value] of Object.entries(compute.tags)) {
    if (allowedVmTags.has(key)) values.add(selector('vm-tag', key, value))
  }
  for (const nic of compute.networks) {
    for (const v of networkSelectors(nic.nsgId, nic.subnetIds)) values.add(v)
  }
  return sortBytes([...values])
}

/** upstream parity: getNetworkInterfaceSelectors, with its malformed-ID errors. */
export function networkSelectors(
  nsgId: string | undefined,
  subnetIds: readonly string[],
): string[] {
  const out: string[] = []
  if (nsgId !== undefined && nsgId !== '') {
    const nsg = parseArmIdOf(nsgId, 'nsg')
    if (nsg === undefined)
      throw internal(`malformed network security group ID ${JSON.stringify(nsgId)}`)
    out.push(selector('network-security-group', nsg.resourceGroup, nsg.name))
  }
  for (const id of subnetIds) {
    const subnet = parseArmIdOf(id, 'subnet')
    if (subnet === undefined)
      throw internal(`malformed virtual network subnet ID ${JSON.stringify(id)}`)
    out.push(selector('virtual-network', subnet.resourceGroup, subnet.vnet))
    out.push(selector('virtual-network-subnet', subnet.resourceGroup, subnet.vnet, subnet.name))
  }
  return out
}

/** upstream parity: selectorValue joins the parts with ":". */
export function selector(...parts: string[]): string {
  return parts.join(':')
}

/** Go's sort.Strings: byte order of the UTF-8 encoding. */
export function sortBytes(values: string[]): string[] {
  return values
    .map((v) => ({ v, b: Buffer.from(v, 'utf8') }))
    .sort((x, y) => Buffer.compare(x.b, y.b))
    .map((x) => x.v)
}
