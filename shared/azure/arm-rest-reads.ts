import { ArmError, isRecord, type ArmNic, type ArmNicConfig, type ArmVm } from './arm.js'
import type { ArmRest } from './arm-rest.js'

/**
 * The three compute and network GETs selector resolution needs, over plain REST into the shapes of
 * `arm.ts`. Without the @azure/arm-compute and @azure/arm-network clients a plugin bundle is ~2.8 MB
 * smaller, which is most of its parse time at start-up.
 */
export const COMPUTE_API_VERSION = '2024-07-01'
export const NETWORK_API_VERSION = '2024-05-01'

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
  const tags: Record<string, string> = {}
  for (const [k, v] of Object.entries(obj(body['tags']))) if (typeof v === 'string') tags[k] = v
  return {
    id,
    name: str(body['name']) ?? '',
    location: str(body['location']),
    tags,
    vmId: str(obj(body['properties'])['vmId']),
    identity: { principalId: str(obj(body['identity'])['principalId']), userAssigned: [] },
  }
}

const obj = (v: unknown): Record<string, unknown> => (isRecord(v) ? v : {})
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? (v as unknown[]) : [])
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
