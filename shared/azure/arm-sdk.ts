import type {
  ComputeManagementClient,
  VirtualMachine,
  VirtualMachineIdentity,
  VirtualMachineScaleSet,
  VirtualMachineScaleSetNetworkConfiguration,
  VirtualMachineScaleSetVM,
} from '@azure/arm-compute'
import type { NetworkInterface, NetworkManagementClient } from '@azure/arm-network'
import type { TokenCredential } from '@azure/identity'
import {
  ArmError,
  armErrorCode,
  armErrorMessage,
  isRecord,
  type ArmClient,
  type ArmIdentity,
  type ArmNic,
  type ArmNicConfig,
  type ArmScaleSet,
  type ArmVm,
} from './arm.js'
import { parseJsonBody, retryAfterMs, type HttpFetch } from './http.js'

/** api-version of the generic resources list (upstream's armresources uses the same family). */
const RESOURCES_API_VERSION = '2021-04-01'
const ARM_CALL_TIMEOUT_MS = 15_000
const ARM_MAX_BODY_BYTES = 4 * 1024 * 1024
/** A principal matches one VM; more pages than this means something is wrong. */
const MAX_LIST_PAGES = 10

export interface SdkArmOptions {
  credential: TokenCredential
  /** ARM base URL, e.g. `https://management.azure.com`. */
  armEndpoint: string
  /** The token scope for ARM, e.g. `https://management.azure.com/.default`. */
  armScope: string
  extraCa?: readonly string[]
  /** Transport of the one call the SDKs we depend on do not cover (the resources list). */
  http: HttpFetch
  /** Epoch milliseconds (the one Clock type). */
  now(): number
}

/**
 * `ArmClient` over @azure/arm-compute and @azure/arm-network, loaded on first use so a plugin's
 * cold start does not pay for them. SDK retries are off: `arm-resilient.ts` owns retries, so that
 * Retry-After and the attestation's time budget are honoured in one place.
 */
export function createSdkArmClient(options: SdkArmOptions): ArmClient {
  const compute = new Map<string, Promise<ComputeManagementClient>>()
  const network = new Map<string, Promise<NetworkManagementClient>>()
  const endpoint = options.armEndpoint.replace(/\/+$/, '')
  const common = {
    retryOptions: { maxRetries: 0 },
    ...(options.extraCa === undefined ? {} : { tlsOptions: { ca: [...options.extraCa] } }),
  }
  const computeFor = (sub: string): Promise<ComputeManagementClient> =>
    memo(compute, sub, async () => {
      const { ComputeManagementClient } = await import('@azure/arm-compute')
      return new ComputeManagementClient(options.credential, sub, {
        ...common,
        endpoint,
        credentials: { scopes: [options.armScope] },
      })
    })
  const networkFor = (sub: string): Promise<NetworkManagementClient> =>
    memo(network, sub, async () => {
      const { NetworkManagementClient } = await import('@azure/arm-network')
      return new NetworkManagementClient(options.credential, sub, {
        ...common,
        endpoint,
        $host: endpoint,
        credentialScopes: [options.armScope],
      })
    })

  return {
    async getVirtualMachine(sub, rg, name, signal) {
      const c = await computeFor(sub)
      return toVm(await sdkCall(() => c.virtualMachines.get(rg, name, opts(signal))))
    },
    async getScaleSet(sub, rg, name, signal) {
      const c = await computeFor(sub)
      return toScaleSet(await sdkCall(() => c.virtualMachineScaleSets.get(rg, name, opts(signal))))
    },
    async getScaleSetVm(sub, rg, scaleSet, instanceId, signal) {
      const c = await computeFor(sub)
      const vm = await sdkCall(() =>
        c.virtualMachineScaleSetVMs.get(rg, scaleSet, instanceId, opts(signal)),
      )
      return toScaleSetVm(vm, `${scaleSetPrefix(sub, rg)}/${scaleSet}`)
    },
    async getNetworkInterface(sub, rg, name, signal) {
      const n = await networkFor(sub)
      return toNic(await sdkCall(() => n.networkInterfaces.get(rg, name, opts(signal))))
    },
    listVirtualMachinesByPrincipal: (sub, principalId, signal) =>
      listByPrincipal(options, endpoint, sub, principalId, signal),
  }
}

const opts = (signal: AbortSignal | undefined) =>
  signal === undefined ? {} : { abortSignal: signal }

const scaleSetPrefix = (sub: string, rg: string): string =>
  `/subscriptions/${sub}/resourceGroups/${rg}/providers/Microsoft.Compute/virtualMachineScaleSets`

function memo<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key)
  if (p === undefined) {
    p = make()
    p.catch(() => map.delete(key))
    map.set(key, p)
  }
  return p
}

async function sdkCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call()
  } catch (err) {
    throw fromSdkError(err)
  }
}

/** A RestError (status, code, headers) or a credential failure → ArmError. */
export function fromSdkError(err: unknown): ArmError {
  if (err instanceof ArmError) return err
  const e = isRecord(err) ? err : {}
  const message = err instanceof Error ? err.message : String(err)
  const status = typeof e['statusCode'] === 'number' ? e['statusCode'] : undefined
  const code = typeof e['code'] === 'string' ? e['code'] : undefined
  const name = err instanceof Error ? err.name : ''
  if (
    status === undefined &&
    /Authentication(Required)?Error|CredentialUnavailableError/.test(name)
  ) {
    // the credential could not get a token: retrying will not help
    return new ArmError(
      `unable to get an ARM access token: ${message}`,
      { status: 401 },
      { cause: err },
    )
  }
  const response = isRecord(e['response']) ? e['response'] : undefined
  const headers =
    response !== undefined && isRecord(response['headers']) ? response['headers'] : undefined
  const get =
    headers !== undefined && typeof headers['get'] === 'function'
      ? (headers['get'] as (n: string) => unknown)
      : undefined
  const header = (n: string): string | undefined => {
    const v = get?.call(headers, n)
    return typeof v === 'string' ? v : undefined
  }
  const hdrs: Record<string, string> = {}
  for (const n of ['retry-after', 'retry-after-ms', 'x-ms-retry-after-ms']) {
    const v = header(n)
    if (v !== undefined) hdrs[n] = v
  }
  const after = retryAfterMs(hdrs, new Date())
  return new ArmError(
    status === undefined ? message : `${status}${code === undefined ? '' : ` ${code}`}: ${message}`,
    {
      ...(status === undefined ? {} : { status }),
      ...(code === undefined ? {} : { code }),
      ...(after === undefined ? {} : { retryAfterMs: after }),
    },
    { cause: err },
  )
}

export function toIdentity(identity: VirtualMachineIdentity | undefined): ArmIdentity {
  const uamis = identity?.userAssignedIdentities ?? {}
  return {
    principalId: identity?.principalId,
    userAssigned: Object.entries(uamis).map(([id, v]) => ({
      id,
      principalId: v?.principalId,
      clientId: v?.clientId,
    })),
  }
}

function toNicConfigs(
  configs: VirtualMachineScaleSetNetworkConfiguration[] | undefined,
): ArmNicConfig[] {
  return (configs ?? []).map((c) => ({
    nsgId: c.networkSecurityGroup?.id,
    subnetIds: (c.ipConfigurations ?? []).flatMap((ip) => (ip.subnet?.id ? [ip.subnet.id] : [])),
  }))
}

export function toVm(vm: VirtualMachine): ArmVm {
  return {
    id: vm.id ?? '',
    name: vm.name ?? '',
    location: vm.location,
    tags: vm.tags ?? {},
    vmId: vm.vmId,
    identity: toIdentity(vm.identity),
    // upstream parity: NIC references without an id are skipped
    nicIds: (vm.networkProfile?.networkInterfaces ?? []).flatMap((n) => (n.id ? [n.id] : [])),
    nicConfigs: [],
    scaleSetId: vm.virtualMachineScaleSet?.id,
  }
}

export function toScaleSetVm(vm: VirtualMachineScaleSetVM, scaleSetId: string): ArmVm {
  return {
    id: vm.id ?? '',
    name: vm.name ?? '',
    location: vm.location,
    tags: vm.tags ?? {},
    vmId: vm.vmId,
    identity: toIdentity(vm.identity),
    nicIds: [],
    nicConfigs: toNicConfigs(vm.networkProfileConfiguration?.networkInterfaceConfigurations),
    scaleSetId,
  }
}

export function toScaleSet(ss: VirtualMachineScaleSet): ArmScaleSet {
  return {
    id: ss.id ?? '',
    name: ss.name ?? '',
    location: ss.location,
    tags: ss.tags ?? {},
    orchestrationMode: ss.orchestrationMode,
    identity: toIdentity(ss.identity),
    nicConfigs: toNicConfigs(
      ss.virtualMachineProfile?.networkProfile?.networkInterfaceConfigurations,
    ),
  }
}

export function toNic(nic: NetworkInterface): ArmNic {
  return {
    id: nic.id ?? '',
    nsgId: nic.networkSecurityGroup?.id,
    subnetIds: (nic.ipConfigurations ?? []).flatMap((ip) => (ip.subnet?.id ? [ip.subnet.id] : [])),
  }
}

/** The generic resources list with upstream's `$filter`, every page, bearer token only to ARM. */
async function listByPrincipal(
  options: SdkArmOptions,
  endpoint: string,
  sub: string,
  principalId: string,
  signal: AbortSignal | undefined,
): Promise<string[]> {
  // upstream parity: the exact filter of azuremsi/client.go (principalId is a validated GUID)
  const filter = `resourceType eq 'Microsoft.Compute/virtualMachines' and identity/principalId eq '${principalId}'`
  let url: string | undefined =
    `${endpoint}/subscriptions/${encodeURIComponent(sub)}/resources` +
    `?$filter=${encodeURIComponent(filter)}&api-version=${RESOURCES_API_VERSION}`
  const origin = new URL(endpoint).origin
  const ids: string[] = []
  for (let page = 0; url !== undefined; page++) {
    if (page >= MAX_LIST_PAGES) throw new ArmError(`more than ${MAX_LIST_PAGES} pages of resources`)
    if (new URL(url).origin !== origin)
      throw new ArmError(`refusing to follow nextLink to another host`)
    let token
    try {
      token = await options.credential.getToken(options.armScope, opts(signal))
    } catch (err) {
      throw fromSdkError(err)
    }
    if (token === null) throw new ArmError('unable to get an ARM access token', { status: 401 })
    let res
    try {
      res = await options.http({
        url,
        timeoutMs: ARM_CALL_TIMEOUT_MS,
        maxBytes: ARM_MAX_BODY_BYTES,
        headers: { authorization: `Bearer ${token.token}`, accept: 'application/json' },
        ...(signal === undefined ? {} : { signal }),
        ...(options.extraCa === undefined ? {} : { extraCa: options.extraCa }),
      })
    } catch (err) {
      throw new ArmError(err instanceof Error ? err.message : String(err), {}, { cause: err })
    }
    let body: unknown
    try {
      body = parseJsonBody(res.body)
    } catch {
      body = undefined
    }
    if (res.status !== 200) {
      const after = retryAfterMs(res.headers, new Date(options.now()))
      const code = armErrorCode(body)
      throw new ArmError(
        armErrorMessage(res.status, body, res.body.subarray(0, 256).toString('utf8')),
        {
          status: res.status,
          ...(code === undefined ? {} : { code }),
          ...(after === undefined ? {} : { retryAfterMs: after }),
        },
      )
    }
    const value = isRecord(body) ? body['value'] : undefined
    if (!Array.isArray(value)) throw new ArmError('resources list response has no value array')
    for (const r of value as unknown[])
      ids.push(isRecord(r) && typeof r['id'] === 'string' ? r['id'] : '')
    const next = isRecord(body) ? body['nextLink'] : undefined
    url = typeof next === 'string' && next !== '' ? next : undefined
  }
  return ids
}
