/**
 * `spire-azure doctor --list-identities`: the VM's managed identities as ARM lists them, read with
 * a token of the VM's own identity over the project's ARM REST transport. IMDS cannot list them.
 */
import type { AccessToken, TokenCredential } from '@azure/identity'
import type { ArmIdentity } from '../azure/arm.js'
import { createArmRest, type ArmRest } from '../azure/arm-rest.js'
import { getScaleSet, getScaleSetVm, getVirtualMachine } from '../azure/arm-rest-reads.js'
import { armScope, type AzureCloud } from '../azure/clouds.js'
import type { HttpFetch } from '../azure/http.js'
import type { InstanceCompute } from '../azure/imds.js'
import { parseArmId, parseArmIdOf } from '../azure/resource-id.js'
import { CliError } from './command.js'

export interface ArmReadOptions {
  /** A token for the cloud's Resource Manager. */
  token: string
  /** Its `exp` claim (seconds), if it has one. */
  expiresAt: number | undefined
  cloud: AzureCloud
  /** `--resource-manager`, else the cloud's. */
  armEndpoint: string
  http: HttpFetch
  extraCa: readonly string[] | undefined
  now(): number
  timeoutMs: number
}

/** The identities ARM lists for this VM: its own, and for a Uniform instance its scale set's. */
export async function vmIdentities(
  compute: InstanceCompute,
  o: ArmReadOptions,
): Promise<ArmIdentity> {
  const rest = createArmRest({
    credential: tokenCredential(o.token, o.expiresAt, o.now),
    armEndpoint: o.armEndpoint,
    armScope: armScope(o.cloud.armResourceId),
    http: o.http,
    now: o.now,
    timeoutMs: o.timeoutMs,
    ...(o.extraCa === undefined ? {} : { extraCa: o.extraCa }),
  })
  const id =
    compute.resourceId ||
    `/subscriptions/${compute.subscriptionId}/resourceGroups/${compute.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${compute.name}`
  const parsed = parseArmId(id)
  if (parsed?.kind === 'vm') {
    const vm = await getVirtualMachine(
      rest,
      parsed.subscriptionId,
      parsed.resourceGroup,
      parsed.name,
    )
    return vm.identity
  }
  if (parsed?.kind === 'vmss-vm') return uniformIdentities(rest, parsed)
  throw new CliError(`cannot read the identities of ${JSON.stringify(id)}`)
}

async function uniformIdentities(
  rest: ArmRest,
  id: { subscriptionId: string; resourceGroup: string; scaleSet: string; instanceId: string },
): Promise<ArmIdentity> {
  const [vm, ss] = await Promise.all([
    getScaleSetVm(rest, id.subscriptionId, id.resourceGroup, id.scaleSet, id.instanceId),
    getScaleSet(rest, id.subscriptionId, id.resourceGroup, id.scaleSet),
  ])
  const user = new Map(
    [...ss.identity.userAssigned, ...vm.identity.userAssigned].map((u) => [u.id.toLowerCase(), u]),
  )
  return {
    principalId: vm.identity.principalId ?? ss.identity.principalId,
    userAssigned: [...user.values()],
  }
}

/**
 * One line naming each identity: those doctor checked (their principal among `checked`), and for
 * the others the option that checks them.
 */
export function identitiesLine(identity: ArmIdentity, checked: ReadonlySet<string>): string {
  const seen = (principal: string | undefined) =>
    principal !== undefined && checked.has(principal.toLowerCase())
  const system =
    identity.principalId === undefined
      ? 'no system-assigned identity'
      : `system-assigned (principal ${identity.principalId}${seen(identity.principalId) ? ', checked' : ''})`
  const user = identity.userAssigned.map((u) => {
    const name = parseArmIdOf(u.id, 'uami')?.name ?? u.id
    const hint = seen(u.principalId)
      ? ', checked'
      : u.clientId === undefined
        ? ''
        : `; check it with --client-id ${u.clientId}`
    return `${name} (client ${u.clientId ?? '?'}, principal ${u.principalId ?? '?'}${hint})`
  })
  return `${system}; ${user.length === 0 ? 'no user-assigned identity' : `user-assigned: ${user.join(', ')}`}`
}

/** A credential that hands out the one token it was given (the VM's own identity's). */
function tokenCredential(
  token: string,
  expiresAt: number | undefined,
  now: () => number,
): TokenCredential {
  const access: AccessToken = {
    token,
    expiresOnTimestamp: expiresAt === undefined ? now() + 60_000 : expiresAt * 1000,
  }
  return { getToken: async () => access }
}
