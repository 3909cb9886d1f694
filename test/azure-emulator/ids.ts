import { createHash } from 'node:crypto'

/** A deterministic, random-looking (version 4 layout) UUID derived from a seed and name parts. */
export function deriveUuid(seed: string, ...parts: string[]): string {
  const h = createHash('sha256').update(seed).update('\0').update(parts.join('\0')).digest()
  h[6] = (h[6]! & 0x0f) | 0x40
  h[8] = (h[8]! & 0x3f) | 0x80
  const hex = h.subarray(0, 16).toString('hex')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** Deterministic lowercase hex of the given length, for name suffixes such as Flexible `<vmss>_<8 hex>`. */
export function deriveHex(length: number, seed: string, ...parts: string[]): string {
  const h = createHash('sha256').update(seed).update('\0').update(parts.join('\0')).digest('hex')
  return h.slice(0, length)
}

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

const SUBS = '/subscriptions/'

export function rgId(subscriptionId: string, rg: string): string {
  return `${SUBS}${subscriptionId}/resourceGroups/${rg}`
}

export function providerId(
  subscriptionId: string,
  rg: string,
  type: string,
  ...names: string[]
): string {
  const segments = type.split('/')
  const ns = segments[0] ?? ''
  const types = segments.slice(1)
  const path = types.map((t, i) => `${t}/${names[i] ?? ''}`).join('/')
  return `${rgId(subscriptionId, rg)}/providers/${ns}/${path}`
}

/** Resource type strings as ARM spells them. */
export const TYPES = {
  vm: 'Microsoft.Compute/virtualMachines',
  vmss: 'Microsoft.Compute/virtualMachineScaleSets',
  vmssVm: 'Microsoft.Compute/virtualMachineScaleSets/virtualMachines',
  nic: 'Microsoft.Network/networkInterfaces',
  nsg: 'Microsoft.Network/networkSecurityGroups',
  vnet: 'Microsoft.Network/virtualNetworks',
  subnet: 'Microsoft.Network/virtualNetworks/subnets',
  uami: 'Microsoft.ManagedIdentity/userAssignedIdentities',
} as const

/** IPv4 address arithmetic for deriving private IPs from a subnet prefix. */
export function ipv4Add(prefix: string, offset: number): string {
  const base = (prefix.split('/')[0] ?? '10.0.0.0').split('.').map((p) => Number(p))
  let n = ((base[0]! << 24) >>> 0) + (base[1]! << 16) + (base[2]! << 8) + base[3]! + offset
  const out: number[] = []
  for (let i = 0; i < 4; i++) {
    out.unshift(n & 0xff)
    n = Math.floor(n / 256)
  }
  return out.join('.')
}

/** Azure MAC addresses start with 00-0D-3A; IMDS prints them without separators. */
export function deriveMac(seed: string, id: string): string {
  return `000D3A${deriveHex(6, seed, 'mac', id).toUpperCase()}`
}
