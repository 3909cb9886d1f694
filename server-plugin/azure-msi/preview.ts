/**
 * What the azure_msi server would record for a VM, without the VM: the managed identity token Azure
 * would hand the agent is synthesised from ARM (tenant, principal, `xms_mirid`/`xms_az_rid` as IMDS
 * sets them) and passed through the attestor's own identity checks, `resolveCompute`,
 * `buildSelectors` and `makeAgentId`, with the attestor's own dependencies (ARM client, caches,
 * limits). Used by `spire-azure selectors`; never touches AgentStore.
 */
import { readOrRefuse, type ArmIdentity } from '../../shared/azure/arm.js'
import { parseArmId, sameArmId } from '../../shared/azure/resource-id.js'
import { errorMessage } from '../../shared/plugin/index.js'
import { makeAgentId } from './agent-id.js'
import type { MsiServerConfig, TenantConfig } from './config.js'
import type { Deps } from './deps.js'
import { resolveCompute, type ResolvedCompute } from './resolve.js'
import { buildSelectors } from './selectors.js'
import { authorizePrincipal, authorizeTenant, type MsiClaims } from './verify.js'

/** The VM whose agent is previewed, and which of its managed identities the agent uses. */
export interface MsiVmRef {
  /** ARM ID of a VM (standalone or Flexible member) or of a Uniform scale-set instance. */
  resourceId: string
  /**
   * The identity the agent's token is for (the agent's `object_id` / `client_id` / `msi_res_id`);
   * default: as IMDS picks — the system-assigned one, else the only user-assigned one.
   */
  identity?: { principalId: string } | { userAssigned: string }
}

export interface MsiPreview {
  plugin: 'azure_msi'
  /** The tenant config the token's `tid` selects. */
  tenantId: string
  /** The managed identity whose token the agent presents. */
  identity: {
    kind: 'system-assigned' | 'user-assigned'
    principalId: string
    /** ARM's client ID of a user-assigned identity (ARM lists none for system-assigned ones). */
    clientId: string | undefined
    /** `xms_mirid`: the VM (or Uniform scale set) for system-assigned, else the identity's ID. */
    resourceId: string
  }
  /** What the server resolves the token to: the VM, or for a Uniform instance its scale set. */
  resolved: {
    kind: ResolvedCompute['kind']
    subscriptionId: string
    resourceGroup: string
    name: string
  }
  /** Selector values as the attestor returns them (SPIRE prefixes them with the plugin name). */
  selectors: string[]
  agentId: string
  /** What an operator should know about this result (per-token agent IDs, assumptions made). */
  notes: string[]
}

/** The attestor's seams the preview reads (from `createDefaultDeps`, or a test's). */
export type MsiPreviewDeps = Pick<Deps, 'armFor' | 'serverSubscription' | 'now'>

/** How long a token IMDS issues lives, and how far Entra back-dates it (for the time claims). */
const TOKEN_LIFETIME_S = 86_400
const TOKEN_BACKDATE_S = 300

/**
 * The tenant configs a VM in `subscriptionId` may attest under: those whose `subscription_id` is
 * the VM's, else those without one (they take the server's own subscription). A lone tenant is
 * returned even when it does not cover the subscription, so the preview shows the server's refusal.
 */
export function msiTenantCandidates(
  config: MsiServerConfig,
  subscriptionId: string,
): TenantConfig[] {
  const all = [...config.tenants.values()]
  const sub = subscriptionId.toLowerCase()
  const exact = all.filter((t) => t.subscriptionId === sub)
  if (exact.length > 0) return exact
  const open = all.filter((t) => t.subscriptionId === undefined)
  if (open.length > 0) return open
  return all.length === 1 ? all : []
}

/**
 * Previews one VM. Throws a PluginError where the server would refuse the agent (with the server's
 * code, reason and message), and a plain Error where the agent could not even get a token (no
 * managed identity, an unknown VM or identity).
 */
export async function previewMsi(
  config: MsiServerConfig,
  tenant: TenantConfig,
  ref: MsiVmRef,
  deps: MsiPreviewDeps,
  signal?: AbortSignal,
): Promise<MsiPreview> {
  const notes: string[] = []
  const arm = deps.armFor(tenant)
  const target = parseArmId(ref.resourceId)
  if (target?.kind !== 'vm' && target?.kind !== 'vmss-vm') {
    throw new Error(
      `${JSON.stringify(ref.resourceId)} is not the resource ID of a virtual machine or a scale-set instance`,
    )
  }
  // the resource holding the identities: the VM, or for a Uniform instance its scale set (IMDS
  // names the scale set in the token of an instance, so instances cannot be told apart)
  let holder: { id: string; identity: ArmIdentity }
  if (target.kind === 'vm') {
    const vm = await readOrRefuse(
      () => arm.getVirtualMachine(target.subscriptionId, target.resourceGroup, target.name, signal),
      ref.resourceId,
      'arm_lookup_failed',
    )
    holder = { id: vm.id || ref.resourceId, identity: vm.identity }
  } else {
    const { subscriptionId: s, resourceGroup: g, scaleSet, instanceId } = target
    await readOrRefuse(
      () => arm.getScaleSetVm(s, g, scaleSet, instanceId, signal),
      ref.resourceId,
      'arm_lookup_failed',
    )
    const ss = await readOrRefuse(
      () => arm.getScaleSet(s, g, scaleSet, signal),
      `/subscriptions/${s}/resourceGroups/${g}/providers/Microsoft.Compute/virtualMachineScaleSets/${scaleSet}`,
      'arm_lookup_failed',
    )
    holder = { id: ss.id, identity: ss.identity }
    notes.push(
      `a Uniform scale-set instance presents its scale set's identity (${ss.name}): the selectors are the scale set's, and every instance gets the same agent ID, so only the first to attest is accepted (trust on first use)`,
    )
  }
  const identity = pickIdentity(holder, ref.identity)

  const nowS = Math.floor(deps.now() / 1000)
  const claims = tokenClaims(tenant, identity, holder.id, nowS)
  // the token's own checks that depend on who it is for
  authorizeTenant(config, claims)
  authorizePrincipal(tenant, claims)
  const agentId = makeAgentId(config, claims)
  notes.push(...volatileAgentIdNotes(config, claims, agentId, identity.kind))

  let subscriptionId = tenant.subscriptionId
  if (subscriptionId === undefined) {
    try {
      subscriptionId = await deps.serverSubscription(config.imdsEndpoint, signal)
    } catch (err) {
      subscriptionId = target.subscriptionId.toLowerCase()
      notes.push(
        `the tenant sets no subscription_id, so the server accepts only VMs of its own subscription, which could not be read here (${errorMessage(err)}); assumed to be the VM's (${target.subscriptionId})`,
      )
    }
  }
  const compute = await resolveCompute({
    arm,
    claims,
    subscriptionId,
    ...(signal ? { signal } : {}),
  })
  const selectors = buildSelectors(compute, config.allowedVmTags, {
    tenantId: claims.tenantId,
    principalId: claims.principalId,
  })
  return {
    plugin: 'azure_msi',
    tenantId: tenant.tenantId,
    identity: {
      kind: identity.kind,
      principalId: identity.principalId,
      clientId: identity.clientId,
      resourceId: identity.kind === 'system-assigned' ? holder.id : identity.uamiId,
    },
    resolved: {
      kind: compute.kind,
      subscriptionId: compute.subscriptionId,
      resourceGroup: compute.resourceGroup,
      name: compute.name,
    },
    selectors,
    agentId,
    notes,
  }
}

type PickedIdentity =
  | { kind: 'system-assigned'; principalId: string; clientId: undefined }
  | { kind: 'user-assigned'; principalId: string; clientId: string | undefined; uamiId: string }

/** The identity IMDS would issue the agent's token for (azure-facts: IMDS's identity rules). */
function pickIdentity(
  holder: { id: string; identity: ArmIdentity },
  wanted: MsiVmRef['identity'],
): PickedIdentity {
  const { principalId: system, userAssigned } = holder.identity
  const sys = (p: string): PickedIdentity => ({
    kind: 'system-assigned',
    principalId: p,
    clientId: undefined,
  })
  const user = (u: (typeof userAssigned)[number]): PickedIdentity => {
    if (u.principalId === undefined || u.principalId === '')
      throw new Error(`ARM lists no principal ID for the user-assigned identity ${u.id}`)
    return { kind: 'user-assigned', principalId: u.principalId, clientId: u.clientId, uamiId: u.id }
  }
  const listed = () =>
    [
      ...(system ? [`system-assigned (principal ${system})`] : []),
      ...userAssigned.map(
        (u) => `${u.id} (client ${u.clientId ?? '?'}, principal ${u.principalId ?? '?'})`,
      ),
    ].join('; ') || 'none'
  if (wanted === undefined) {
    if (system !== undefined && system !== '') return sys(system)
    const only = userAssigned.length === 1 ? userAssigned[0] : undefined
    if (only !== undefined) return user(only)
    throw new Error(
      userAssigned.length === 0
        ? `${holder.id} has no managed identity, so an azure_msi agent on it gets no token`
        : `${holder.id} has ${userAssigned.length} user-assigned identities and no system-assigned one: the agent must name one (client_id, object_id or msi_res_id); identities: ${listed()}`,
    )
  }
  if ('principalId' in wanted) {
    const p = wanted.principalId.toLowerCase()
    if (system?.toLowerCase() === p) return sys(system)
    const u = userAssigned.find((x) => x.principalId?.toLowerCase() === p)
    if (u !== undefined) return user(u)
    throw new Error(
      `${holder.id} has no managed identity with principal ${JSON.stringify(wanted.principalId)}; identities: ${listed()}`,
    )
  }
  const w = wanted.userAssigned
  const u = userAssigned.find(
    (x) => sameArmId(x.id, w) || x.clientId?.toLowerCase() === w.toLowerCase(),
  )
  if (u === undefined) {
    throw new Error(
      `${holder.id} has no user-assigned identity ${JSON.stringify(w)}; identities: ${listed()}`,
    )
  }
  return user(u)
}

/** The claims of the v1 ARM-audience token IMDS would issue for the identity (as Azure sets them). */
function tokenClaims(
  tenant: TenantConfig,
  identity: PickedIdentity,
  computeId: string,
  nowS: number,
): MsiClaims {
  // Azure spells `resourcegroups` in lower case in these claims
  const claimId = (id: string) => id.replace(/\/resourceGroups\//i, '/resourcegroups/')
  return {
    tenantId: tenant.tenantId,
    principalId: identity.principalId,
    issuer: tenant.cloud.v1Issuer(tenant.tenantId),
    audience: [tenant.audiences[0] ?? tenant.cloud.armResourceId],
    expiry: nowS + TOKEN_LIFETIME_S,
    notBefore: nowS - TOKEN_BACKDATE_S,
    issuedAt: nowS - TOKEN_BACKDATE_S,
    jwtId: undefined,
    version: '1.0',
    objectId: identity.principalId,
    clientId: identity.clientId,
    identityType: 'app',
    delegated: false,
    identityResourceId: claimId(identity.kind === 'system-assigned' ? computeId : identity.uamiId),
    computeResourceId: identity.kind === 'user-assigned' ? claimId(computeId) : undefined,
  }
}

/** Whether the agent ID depends on what differs from token to token, or on what ARM cannot tell. */
function volatileAgentIdNotes(
  config: MsiServerConfig,
  claims: MsiClaims,
  agentId: string,
  kind: PickedIdentity['kind'],
): string[] {
  const differs = (other: MsiClaims): boolean => {
    try {
      return makeAgentId(config, other) !== agentId
    } catch {
      return true
    }
  }
  const shift = (v: number | undefined) => (v === undefined ? undefined : v + 3_601)
  const notes: string[] = []
  if (
    differs({
      ...claims,
      expiry: shift(claims.expiry),
      notBefore: shift(claims.notBefore),
      issuedAt: shift(claims.issuedAt),
      jwtId: 'probe',
    })
  ) {
    notes.push(
      "agent_path_template uses the token's time or ID claims: the agent ID differs with every token (shown for a token issued now)",
    )
  }
  if (differs({ ...claims, audience: ['https://probe.invalid/'] })) {
    notes.push(
      `agent_path_template uses the token's audience: shown for the agent's default resource_id (${claims.audience[0] ?? ''})`,
    )
  }
  if (kind === 'system-assigned' && differs({ ...claims, clientId: 'probe' })) {
    notes.push(
      "agent_path_template uses .ClientID, which ARM does not list for a system-assigned identity: shown empty, the real agent ID carries the identity's client ID",
    )
  }
  return notes
}
