import {
  ArmError,
  isRecord,
  type ArmClient,
  type ArmIdentity,
  type ArmNic,
  type ArmNicConfig,
  type ArmScaleSet,
  type ArmVm,
} from './arm.js'
import type { ArmRest } from './arm-rest.js'

/**
 * The one ARM transport (docs/performance.md, "ARM transport"): the compute and network GETs and the
 * resources list selector resolution needs, over plain REST into the shapes of `arm.ts`, for both
 * attestors. Measured against the @azure/arm-compute and @azure/arm-network clients and a client on
 * @azure/core-rest-pipeline, it starts faster and holds less memory, with the same 429/5xx handling
 * (the call gate owns retries and Retry-After; @azure/identity still owns authentication).
 */
export const COMPUTE_API_VERSION = '2024-07-01'
export const NETWORK_API_VERSION = '2024-05-01'
/** upstream parity: the resources API version of azuremsi/client.go's list by principal. */
export const RESOURCES_API_VERSION = '2021-04-01'
const MAX_LIST_PAGES = 10

/** Every ArmClient operation over one tenant's REST transport. */
export function createRestArmClient(rest: ArmRest): ArmClient {
  return {
    getVirtualMachine: (sub, rg, name, signal) => getVirtualMachine(rest, sub, rg, name, signal),
    getScaleSet: (sub, rg, name, signal) => getScaleSet(rest, sub, rg, name, signal),
    getScaleSetVm: (sub, rg, ss, instanceId, signal) =>
      getScaleSetVm(rest, sub, rg, ss, instanceId, signal),
    getNetworkInterface: (sub, rg, name, signal) =>
      getNetworkInterface(rest, sub, rg, name, signal),
    listVirtualMachinesByPrincipal: (sub, principalId, signal) =>
      listVirtualMachinesByPrincipal(rest, sub, principalId, signal),
  }
}

const seg = (s: string): string => encodeURIComponent(s)
const rgPath = (sub: string, rg: string): string =>
  `/subscriptions/${seg(sub)}/resourceGroups/${seg(rg)}/providers`

export async function getVirtualMachine(
  rest: ArmRest,
  sub: string,
  rg: string,
  name: string,
  signal?: AbortSignal,
): Promise<ArmVm> {
  const body = await rest.get(
    `${rgPath(sub, rg)}/Microsoft.Compute/virtualMachines/${seg(name)}`,
    { 'api-version': COMPUTE_API_VERSION },
    signal,
  )
  const props = obj(obj(body)['properties'])
  return {
    ...common(body),
    nicIds: arr(obj(props['networkProfile'])['networkInterfaces']).flatMap(
      (n) => str(obj(n)['id']) ?? [],
    ),
    nicConfigs: [],
    scaleSetId: str(obj(props['virtualMachineScaleSet'])['id']),
  }
}

export async function getScaleSetVm(
  rest: ArmRest,
  sub: string,
  rg: string,
  scaleSet: string,
  instanceId: string,
  signal?: AbortSignal,
): Promise<ArmVm> {
  const ss = `${rgPath(sub, rg)}/Microsoft.Compute/virtualMachineScaleSets/${seg(scaleSet)}`
  const body = await rest.get(
    `${ss}/virtualMachines/${seg(instanceId)}`,
    { 'api-version': COMPUTE_API_VERSION },
    signal,
  )
  const configs = arr(
    obj(obj(obj(body)['properties'])['networkProfileConfiguration'])[
      'networkInterfaceConfigurations'
    ],
  )
  return {
    ...common(body),
    nicIds: [],
    nicConfigs: configs.map((c) => nicConfig(obj(obj(c)['properties']))),
    scaleSetId: `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet}`,
  }
}

export async function getScaleSet(
  rest: ArmRest,
  sub: string,
  rg: string,
  name: string,
  signal?: AbortSignal,
): Promise<ArmScaleSet> {
  const body = obj(
    await rest.get(
      `${rgPath(sub, rg)}/Microsoft.Compute/virtualMachineScaleSets/${seg(name)}`,
      { 'api-version': COMPUTE_API_VERSION },
      signal,
    ),
  )
  const id = str(body['id'])
  if (id === undefined) throw new ArmError('scale set response has no id')
  const props = obj(body['properties'])
  return {
    id,
    name: str(body['name']) ?? '',
    location: str(body['location']),
    tags: tags(body),
    orchestrationMode: str(props['orchestrationMode']),
    identity: identity(body),
    nicConfigs: arr(
      obj(obj(props['virtualMachineProfile'])['networkProfile'])['networkInterfaceConfigurations'],
    ).map((c) => nicConfig(obj(obj(c)['properties']))),
  }
}

/**
 * IDs of the VMs whose system-assigned identity is `principalId`: the generic resources list with
 * upstream's `$filter`, every page; a nextLink to another host is refused.
 */
export async function listVirtualMachinesByPrincipal(
  rest: ArmRest,
  sub: string,
  principalId: string,
  signal?: AbortSignal,
): Promise<string[]> {
  // upstream parity: the exact filter of azuremsi/client.go (principalId is a validated GUID)
  const filter = `resourceType eq 'Microsoft.Compute/virtualMachines' and identity/principalId eq '${principalId}'`
  const ids: string[] = []
  let page: unknown = await rest.get(
    `/subscriptions/${seg(sub)}/resources`,
    { $filter: filter, 'api-version': RESOURCES_API_VERSION },
    signal,
  )
  for (let n = 1; ; n++) {
    const value = obj(page)['value']
    if (!Array.isArray(value)) throw new ArmError('resources list response has no value array')
    for (const r of value as unknown[]) ids.push(str(obj(r)['id']) ?? '')
    const next = str(obj(page)['nextLink'])
    if (next === undefined) return ids
    if (n >= MAX_LIST_PAGES) throw new ArmError(`more than ${MAX_LIST_PAGES} pages of resources`)
    page = await rest.getNextLink(next, signal)
  }
}

export async function getNetworkInterface(
  rest: ArmRest,
  sub: string,
  rg: string,
  name: string,
  signal?: AbortSignal,
): Promise<ArmNic> {
  const body = await rest.get(
    `${rgPath(sub, rg)}/Microsoft.Network/networkInterfaces/${seg(name)}`,
    { 'api-version': NETWORK_API_VERSION },
    signal,
  )
  const id = str(obj(body)['id'])
  if (id === undefined) throw new ArmError('network interface response has no id')
  return { id, ...nicConfig(obj(obj(body)['properties'])) }
}

/** NSG and subnet IDs of a NIC or NIC configuration; entries without an id are skipped (upstream). */
function nicConfig(props: Record<string, unknown>): ArmNicConfig {
  return {
    nsgId: str(obj(props['networkSecurityGroup'])['id']),
    subnetIds: arr(props['ipConfigurations']).flatMap(
      (ip) => str(obj(obj(obj(ip)['properties'])['subnet'])['id']) ?? [],
    ),
  }
}

function common(untrusted: unknown): Omit<ArmVm, 'nicIds' | 'nicConfigs' | 'scaleSetId'> {
  const body = obj(untrusted)
  const id = str(body['id'])
  if (id === undefined) throw new ArmError('virtual machine response has no id')
  return {
    id,
    name: str(body['name']) ?? '',
    location: str(body['location']),
    tags: tags(body),
    vmId: str(obj(body['properties'])['vmId']),
    identity: identity(body),
  }
}

function tags(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj(body['tags']))) if (typeof v === 'string') out[k] = v
  return out
}

/** The system-assigned principal and every user-assigned identity (ARM ID, principal, client). */
function identity(body: Record<string, unknown>): ArmIdentity {
  const id = obj(body['identity'])
  return {
    principalId: str(id['principalId']),
    userAssigned: Object.entries(obj(id['userAssignedIdentities'])).map(([uid, v]) => ({
      id: uid,
      principalId: str(obj(v)['principalId']),
      clientId: str(obj(v)['clientId']),
    })),
  }
}

const obj = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : [])
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
