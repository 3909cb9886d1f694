import type {
  ArmClient,
  ArmIdentity,
  ArmNicConfig,
  ArmUserAssignedIdentity,
} from '../../shared/azure/arm.js'
import { isGuid, parseArmId, parseArmIdOf, sameArmId } from '../../shared/azure/resource-id.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import { errorMessage, PluginError, type FailureReason } from '../../shared/plugin/index.js'
import type { MsiClaims } from './verify.js'

/** The compute resource an attested identity belongs to, as ARM describes it. */
export interface ResolvedCompute {
  /** `vm`: a standalone VM or Flexible member; `vmss-instance`: a Uniform instance; `vmss`: a Uniform scale set. */
  kind: 'vm' | 'vmss-instance' | 'vmss'
  subscriptionId: string
  resourceGroup: string
  /** VM or instance name (`vmss_3`); the scale set's name for `vmss`. */
  name: string
  location: string | undefined
  tags: Readonly<Record<string, string>>
  scaleSetName: string | undefined
  networks: readonly ArmNicConfig[]
  /**
   * The client ID ARM lists for the bound user-assigned identity (its casing), when the token is
   * for one (`xms_mirid` names a user-assigned identity), ARM knows it, and the token's own client
   * ID claim (`appid`/`azp`), if any, equals it case-insensitively. Undefined for system-assigned
   * identities: ARM lists no client ID for them.
   */
  identityClientId: string | undefined
}

export interface ResolveInput {
  arm: ArmClient
  claims: MsiClaims
  /** The subscription VMs must be in (configured, or the server's own). */
  subscriptionId: string
  signal?: AbortSignal
}

const internal = (reason: FailureReason, message: string, cause?: unknown) =>
  new PluginError('Internal', reason, message, cause === undefined ? undefined : { cause })
/** deviation: a failed ARM read is `Unavailable` when transient (upstream: always `Internal`). */
const armFailed = (reason: FailureReason, message: string, cause: unknown) =>
  new PluginError(azureFailureStatus(cause), reason, message, { cause })
/** upstream parity: inner errors are gRPC statuses formatted with %v. */
const rpcInternal = (inner: string) => `rpc error: code = Internal desc = ${inner}`

/**
 * Finds the VM (or scale set) of the token's identity. With `xms_az_rid`/`xms_mirid` the resource
 * is read directly and the identity must be one of its identities per ARM (the claims are hints);
 * without them, upstream's lookup by system-assigned principal runs.
 */
export async function resolveCompute(input: ResolveInput): Promise<ResolvedCompute> {
  const { claims } = input
  const hint = computeHint(claims)
  if (hint === undefined) return resolveByPrincipal(input)
  checkSubscription(hint.subscriptionId, input.subscriptionId)
  const uamiId = identityUami(claims)
  const { arm, signal } = input
  switch (hint.kind) {
    case 'vm': {
      const vm = await get(
        () => arm.getVirtualMachine(hint.subscriptionId, hint.resourceGroup, hint.name, signal),
        'virtual machine',
        hint,
      )
      const bound = bindIdentity(vm.identity, claims.principalId, uamiId, vm.id || hint.id)
      const networks = await fetchNics(arm, vm.nicIds, signal)
      const scaleSet = vm.scaleSetId === undefined ? undefined : parseArmIdOf(vm.scaleSetId, 'vmss')
      return {
        kind: 'vm',
        ...placeOf(vm.id, hint),
        location: vm.location,
        tags: vm.tags,
        scaleSetName: scaleSet?.name,
        networks,
        identityClientId: agreedClientId(bound, claims),
      }
    }
    case 'vmss-vm': {
      const vm = await get(
        () =>
          arm.getScaleSetVm(
            hint.subscriptionId,
            hint.resourceGroup,
            hint.scaleSet,
            hint.instanceId,
            signal,
          ),
        'virtual machine scale set instance',
        { ...hint, name: `${hint.scaleSet}/${hint.instanceId}` },
      )
      const bound = bindIdentity(vm.identity, claims.principalId, uamiId, vm.id || hint.id)
      return {
        kind: 'vmss-instance',
        subscriptionId: hint.subscriptionId,
        resourceGroup: hint.resourceGroup,
        name: vm.name || `${hint.scaleSet}_${hint.instanceId}`,
        location: vm.location,
        tags: vm.tags,
        scaleSetName: hint.scaleSet,
        networks: vm.nicConfigs,
        identityClientId: agreedClientId(bound, claims),
      }
    }
    case 'vmss': {
      const ss = await get(
        () => arm.getScaleSet(hint.subscriptionId, hint.resourceGroup, hint.name, signal),
        'virtual machine scale set',
        hint,
      )
      const bound = bindIdentity(ss.identity, claims.principalId, uamiId, ss.id || hint.id)
      const place = placeOf(ss.id, hint)
      return {
        kind: 'vmss',
        ...place,
        location: ss.location,
        tags: ss.tags,
        scaleSetName: place.name,
        networks: ss.nicConfigs,
        identityClientId: agreedClientId(bound, claims),
      }
    }
  }
}

type ComputeHint =
  | { kind: 'vm'; id: string; subscriptionId: string; resourceGroup: string; name: string }
  | { kind: 'vmss'; id: string; subscriptionId: string; resourceGroup: string; name: string }
  | {
      kind: 'vmss-vm'
      id: string
      subscriptionId: string
      resourceGroup: string
      scaleSet: string
      instanceId: string
    }

/** `xms_az_rid` (user-assigned) or else a compute-shaped `xms_mirid` (system-assigned). */
export function computeHint(claims: MsiClaims): ComputeHint | undefined {
  for (const id of [claims.computeResourceId, claims.identityResourceId]) {
    if (id === undefined) continue
    const parsed = parseArmId(id)
    if (parsed?.kind === 'vm' || parsed?.kind === 'vmss' || parsed?.kind === 'vmss-vm')
      return { ...parsed, id }
  }
  return undefined
}

/** The user-assigned identity the token is for, when `xms_mirid` names one. */
function identityUami(claims: MsiClaims): string | undefined {
  const id = claims.identityResourceId
  return id !== undefined && parseArmIdOf(id, 'uami') !== undefined ? id : undefined
}

/**
 * deviation: the identity must be attached to the resource per ARM, not only claimed by the token.
 * Returns ARM's record of the user-assigned identity bound, or undefined for the system-assigned one.
 */
export function bindIdentity(
  identity: ArmIdentity,
  principalId: string,
  uamiId: string | undefined,
  resourceId: string,
): ArmUserAssignedIdentity | undefined {
  const p = principalId.toLowerCase()
  if (uamiId === undefined) {
    if (identity.principalId?.toLowerCase() === p) return undefined
  } else {
    const found = identity.userAssigned.find(
      (u) => sameArmId(u.id, uamiId) && u.principalId?.toLowerCase() === p,
    )
    if (found !== undefined) return found
  }
  throw new PluginError(
    'PermissionDenied',
    'identity_not_attached',
    `principal ${JSON.stringify(principalId)} is not an identity of ${JSON.stringify(resourceId)}`,
  )
}

/**
 * ARM's client ID of a bound user-assigned identity, unless the token names another one in
 * `appid`/`azp`: then no client ID is vouched for (the selector is left out, the node is not
 * refused — upstream never looked at the claim). Compared case-insensitively; ARM's casing is kept.
 */
export function agreedClientId(
  bound: ArmUserAssignedIdentity | undefined,
  claims: Pick<MsiClaims, 'clientId'>,
): string | undefined {
  const arm = bound?.clientId
  if (arm === undefined || arm === '') return undefined
  const token = claims.clientId
  if (token !== undefined && token !== '' && token.toLowerCase() !== arm.toLowerCase())
    return undefined
  return arm
}

/** The VM's subscription must be the tenant's (or the server's own), compared case-insensitively. */
export function checkSubscription(actual: string, allowed: string): void {
  if (actual.toLowerCase() !== allowed.toLowerCase()) {
    throw new PluginError(
      'PermissionDenied',
      'subscription_not_authorized',
      `subscription ${JSON.stringify(actual)} is not authorized`,
    )
  }
}

/** Subscription, group and name from the ID ARM returned (its casing), else from the hint. */
function placeOf(
  armId: string,
  hint: { subscriptionId: string; resourceGroup: string; name: string },
) {
  const parsed = parseArmId(armId)
  const ok = parsed !== undefined && 'name' in parsed
  return {
    subscriptionId: ok ? parsed.subscriptionId : hint.subscriptionId,
    resourceGroup: ok ? parsed.resourceGroup : hint.resourceGroup,
    name: ok ? parsed.name : hint.name,
  }
}

async function get<T>(
  call: () => Promise<T>,
  what: string,
  at: { resourceGroup: string; name: string },
): Promise<T> {
  try {
    return await call()
  } catch (err) {
    // upstream parity: `unable to get virtual machine "<rg>:<name>": rpc error: … unable to get virtual machine: <err>`
    throw armFailed(
      'arm_lookup_failed',
      `unable to get ${what} ${JSON.stringify(`${at.resourceGroup}:${at.name}`)}: ${rpcInternal(`unable to get ${what}: ${errorMessage(err)}`)}`,
      err,
    )
  }
}

/** upstream parity: the principal lookup of azuremsi/client.go, its messages and its VM-only filter. */
async function resolveByPrincipal(input: ResolveInput): Promise<ResolvedCompute> {
  const { arm, claims, signal } = input
  const principal = claims.principalId
  // only the ARM read passes a cause: it is `Unavailable` when transient
  const wrap = (inner: string, cause?: unknown) =>
    (cause === undefined ? internal : armFailed)(
      'principal_lookup_failed',
      `unable to get resource for principal ${JSON.stringify(principal)}: ${rpcInternal(inner)}`,
      cause,
    )
  // deviation: the principal goes into an OData $filter, so it must be a GUID
  if (!isGuid(principal)) throw wrap(`principal ${JSON.stringify(principal)} not found`)
  let ids: string[]
  try {
    ids = await arm.listVirtualMachinesByPrincipal(input.subscriptionId, principal, signal)
  } catch (err) {
    throw wrap(`unable to list virtual machine by principal: ${errorMessage(err)}`, err)
  }
  if (ids.length === 0) throw wrap(`principal ${JSON.stringify(principal)} not found`)
  if (ids.length > 1)
    throw wrap(`expected one result for principal ${JSON.stringify(principal)} at most`)
  const id = ids[0] ?? ''
  if (id === '') throw wrap('virtual machine resource missing ID')
  const ref = parseArmIdOf(id, 'vm')
  if (ref === undefined)
    throw internal('malformed_id', `malformed virtual machine ID ${JSON.stringify(id)}`)
  checkSubscription(ref.subscriptionId, input.subscriptionId)
  const vm = await get(
    () => arm.getVirtualMachine(ref.subscriptionId, ref.resourceGroup, ref.name, signal),
    'virtual machine',
    ref,
  )
  const networks = await fetchNics(arm, vm.nicIds, signal)
  const scaleSet = vm.scaleSetId === undefined ? undefined : parseArmIdOf(vm.scaleSetId, 'vmss')
  // upstream parity: vm-name comes from the ID the lookup returned
  return {
    kind: 'vm',
    subscriptionId: ref.subscriptionId,
    resourceGroup: ref.resourceGroup,
    name: ref.name,
    location: vm.location,
    tags: vm.tags,
    scaleSetName: scaleSet?.name,
    networks,
    // the principal lookup only finds system-assigned identities
    identityClientId: undefined,
  }
}

/** Each NIC of a VM, read in parallel (each read is cached and coalesced by the ARM client). */
async function fetchNics(
  arm: ArmClient,
  nicIds: readonly string[],
  signal?: AbortSignal,
): Promise<ArmNicConfig[]> {
  const refs = nicIds.map((id) => {
    const ref = parseArmIdOf(id, 'nic')
    if (ref === undefined)
      throw internal('malformed_id', `malformed network interface ID ${JSON.stringify(id)}`)
    return ref
  })
  return Promise.all(
    refs.map(async (ref) => {
      // deviation: the NIC's own subscription is used; upstream always used the configured one
      const nic = await get(
        () => arm.getNetworkInterface(ref.subscriptionId, ref.resourceGroup, ref.name, signal),
        'network interface',
        ref,
      )
      return { nsgId: nic.nsgId, subnetIds: nic.subnetIds }
    }),
  )
}
