/**
 * ARM resource IDs the attestors read. Keywords (`resourceGroups`, provider and type names) match
 * case-insensitively, because Azure spells them either way (`xms_mirid` says `resourcegroups`);
 * names keep their case. A name is one path segment.
 */
export type ArmId =
  | { kind: 'vm'; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'vmss'; subscriptionId: string; resourceGroup: string; name: string }
  | {
      kind: 'vmss-vm'
      subscriptionId: string
      resourceGroup: string
      scaleSet: string
      instanceId: string
    }
  | { kind: 'uami'; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'nic'; subscriptionId: string; resourceGroup: string; name: string }
  | {
      kind: 'vmss-nic'
      subscriptionId: string
      resourceGroup: string
      scaleSet: string
      instanceId: string
      name: string
    }
  | { kind: 'nsg'; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'subnet'; subscriptionId: string; resourceGroup: string; vnet: string; name: string }

export type ArmIdKind = ArmId['kind']

const SEG = '([^/]+)'
const PREFIX = `^/subscriptions/${SEG}/resourceGroups/${SEG}/providers/`

const PATTERNS: { kind: ArmIdKind; re: RegExp }[] = [
  { kind: 'vm', re: new RegExp(`${PREFIX}Microsoft\\.Compute/virtualMachines/${SEG}$`, 'i') },
  {
    kind: 'vmss',
    re: new RegExp(`${PREFIX}Microsoft\\.Compute/virtualMachineScaleSets/${SEG}$`, 'i'),
  },
  {
    kind: 'vmss-vm',
    re: new RegExp(
      `${PREFIX}Microsoft\\.Compute/virtualMachineScaleSets/${SEG}/virtualMachines/${SEG}$`,
      'i',
    ),
  },
  {
    kind: 'uami',
    re: new RegExp(`${PREFIX}Microsoft\\.ManagedIdentity/userAssignedIdentities/${SEG}$`, 'i'),
  },
  { kind: 'nic', re: new RegExp(`${PREFIX}Microsoft\\.Network/networkInterfaces/${SEG}$`, 'i') },
  {
    kind: 'vmss-nic',
    re: new RegExp(
      `${PREFIX}Microsoft\\.Compute/virtualMachineScaleSets/${SEG}/virtualMachines/${SEG}/networkInterfaces/${SEG}$`,
      'i',
    ),
  },
  {
    kind: 'nsg',
    re: new RegExp(`${PREFIX}Microsoft\\.Network/networkSecurityGroups/${SEG}$`, 'i'),
  },
  {
    kind: 'subnet',
    re: new RegExp(`${PREFIX}Microsoft\\.Network/virtualNetworks/${SEG}/subnets/${SEG}$`, 'i'),
  },
]

/** Parses an ARM ID of one of the known shapes; undefined for anything else. */
export function parseArmId(id: string): ArmId | undefined {
  for (const { kind, re } of PATTERNS) {
    const m = re.exec(id)
    if (m === null) continue
    const g = m.slice(1).map((s) => s ?? '')
    if (g.some((s) => s === '' || s === '.' || s === '..')) return undefined
    const [subscriptionId = '', resourceGroup = '', a = '', b = '', c = ''] = g
    switch (kind) {
      case 'vmss-vm':
        return { kind, subscriptionId, resourceGroup, scaleSet: a, instanceId: b }
      case 'vmss-nic':
        return { kind, subscriptionId, resourceGroup, scaleSet: a, instanceId: b, name: c }
      case 'subnet':
        return { kind, subscriptionId, resourceGroup, vnet: a, name: b }
      default:
        return { kind, subscriptionId, resourceGroup, name: a }
    }
  }
  return undefined
}

/** Parses an ID that must be of `kind`. */
export function parseArmIdOf<K extends ArmIdKind>(
  id: string,
  kind: K,
): Extract<ArmId, { kind: K }> | undefined {
  const parsed = parseArmId(id)
  return parsed?.kind === kind ? (parsed as Extract<ArmId, { kind: K }>) : undefined
}

/** Case-insensitive ARM ID equality (resource names and groups are case-insensitive in Azure). */
export function sameArmId(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase()
}

/** The canonical GUID text form: 8-4-4-4-12 hex digits. */
export const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function isGuid(value: string): boolean {
  return GUID_RE.test(value)
}
