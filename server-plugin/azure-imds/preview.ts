/**
 * What the azure_imds server would record for a VM, without the VM: the signed facts of its attested
 * document (subscription, vmId) are read from ARM, our agent's hints (resource ID, scale-set name)
 * are the ones IMDS would give it, and they go through the attestor's own tenant and subscription
 * checks, `resolveCompute`, `buildSelectors` and `makeAgentId`, with the attestor's own
 * dependencies (Azure clients, caches, limits). Used by `spire-azure selectors`; never touches
 * AgentStore.
 */
import { readOrRefuse } from '../../shared/azure/arm.js'
import { parseArmId, parseArmIdOf } from '../../shared/azure/resource-id.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import { errorMessage, PluginError } from '../../shared/plugin/index.js'
import { makeAgentId, type AgentIdFacts } from './agent-id.js'
import type { ImdsServerConfig, TenantConfig } from './config.js'
import { authorizeSubscription } from './content.js'
import type { Deps } from './deps.js'
import { resolveCompute } from './resolve.js'
import { buildSelectors } from './selectors.js'
import { checkSubscriptionTenant } from './tenants.js'

/** The VM whose agent is previewed. */
export interface ImdsVmRef {
  /** ARM ID of a VM (standalone or Flexible member) or of a Uniform scale-set instance. */
  resourceId: string
}

export interface ImdsPreview {
  plugin: 'azure_imds'
  /** The tenant config's key: what the agent's `tenant_domain` must name. */
  tenantKey: string
  tenantId: string
  /** The signed document's facts, as ARM lists them. */
  subscriptionId: string
  vmId: string
  resolved: { resourceId: string; resourceGroup: string; name: string }
  /** Selector values as the attestor returns them (SPIRE prefixes them with the plugin name). */
  selectors: string[]
  agentId: string
  notes: string[]
}

/** The attestor's seams the preview reads (from `createDefaultDeps`, or a test's). */
export type ImdsPreviewDeps = Pick<Deps, 'azureFor' | 'tenantId'>

/** Stands in for the per-attestation nonce when a template renders `.Nonce`. */
export const NONCE_PLACEHOLDER = 'NONCE'

/**
 * The tenant configs a VM in `subscriptionId` may attest under (the agent's `tenant_domain` picks
 * one): those whose `restrict_to_subscriptions` allow the subscription, narrowed, when several, to
 * those ARM names as the subscription's home. A lone tenant is returned even when it does not
 * allow the subscription, so the preview shows the server's refusal.
 */
export async function imdsTenantCandidates(
  config: ImdsServerConfig,
  subscriptionId: string,
  deps: ImdsPreviewDeps,
  signal?: AbortSignal,
): Promise<TenantConfig[]> {
  const all = config.tenants
  const sub = subscriptionId.toLowerCase()
  const allowing = all.filter(
    (t) => t.allowedSubscriptions.size === 0 || t.allowedSubscriptions.has(sub),
  )
  if (allowing.length === 0) return all.length === 1 ? [...all] : []
  if (allowing.length === 1) return allowing
  const home: TenantConfig[] = []
  for (const t of allowing) {
    const found = await deps
      .azureFor(t)
      .subscriptionTenant(subscriptionId, signal)
      .catch(() => undefined)
    const tenantId = await deps.tenantId(t, signal).catch(() => undefined)
    if (found?.visible === true && found.tenantId === tenantId) home.push(t)
  }
  return home.length > 0 ? home : allowing
}

/**
 * Previews one VM. Throws a PluginError where the server would refuse the agent (with the server's
 * code, reason and message), and a plain Error where the VM cannot be previewed.
 */
export async function previewImds(
  config: ImdsServerConfig,
  tenant: TenantConfig,
  ref: ImdsVmRef,
  deps: ImdsPreviewDeps,
  signal?: AbortSignal,
): Promise<ImdsPreview> {
  const notes: string[] = []
  const target = parseArmId(ref.resourceId)
  if (target?.kind !== 'vm' && target?.kind !== 'vmss-vm') {
    throw new Error(
      `${JSON.stringify(ref.resourceId)} is not the resource ID of a virtual machine or a scale-set instance`,
    )
  }
  const azure = deps.azureFor(tenant)
  // the attestor's checks of the document's subscription, in its order (the document's signature
  // and content stand verified: they are Azure's)
  const signedSub = target.subscriptionId
  authorizeSubscription(signedSub, tenant.allowedSubscriptions)
  const tenantId = await deps.tenantId(tenant, signal)
  checkSubscriptionTenant(
    signedSub,
    tenantId,
    await azure.subscriptionTenant(signedSub, signal).catch((err: unknown) => {
      throw new PluginError(
        azureFailureStatus(err),
        'subscription_lookup_failed',
        `unable to get subscription: ${errorMessage(err)}`,
        { cause: err },
      )
    }),
  )
  const vm = await readOrRefuse(
    () =>
      target.kind === 'vm'
        ? azure.getVirtualMachine(target.subscriptionId, target.resourceGroup, target.name, signal)
        : azure.getScaleSetVm(
            target.subscriptionId,
            target.resourceGroup,
            target.scaleSet,
            target.instanceId,
            signal,
          ),
    ref.resourceId,
    'arm_failed',
  )
  const vmId = vm.vmId ?? ''
  if (vmId === '') throw new Error(`ARM lists no vmId for ${vm.id || ref.resourceId}`)
  const resourceId = vm.id || ref.resourceId
  // the signed document's subscription, as Azure spells it (the ID ARM returned)
  const subscriptionId = parseArmId(resourceId)?.subscriptionId ?? target.subscriptionId
  // our agent's hints, as IMDS gives them: the VM's resource ID and scale-set name
  const vmssName =
    target.kind === 'vmss-vm'
      ? target.scaleSet
      : vm.scaleSetId === undefined
        ? null
        : (parseArmIdOf(vm.scaleSetId, 'vmss')?.name ?? null)

  const facts: AgentIdFacts = { tenantId, subscriptionId, vmId, nonce: NONCE_PLACEHOLDER }
  const agentId = makeAgentId(config, facts)
  if (agentIdDiffers(config, { ...facts, nonce: 'probe0nonce' }, agentId)) {
    notes.push(
      `agent_path_template uses .Nonce: the agent ID differs with every attestation (shown with ${NONCE_PLACEHOLDER}), so trust on first use cannot refuse a second agent on the same VM`,
    )
  }
  const compute = await resolveCompute(
    azure,
    { subscriptionId, vmId, untrustedVmssName: vmssName, untrustedResourceId: resourceId },
    signal,
  )
  const selectors = buildSelectors(subscriptionId, compute, tenant.allowedVmTags, {
    tenantId,
    vmId,
  })
  return {
    plugin: 'azure_imds',
    tenantKey: tenant.key,
    tenantId,
    subscriptionId,
    vmId,
    resolved: { resourceId: compute.id, resourceGroup: compute.resourceGroup, name: compute.name },
    selectors,
    agentId,
    notes,
  }
}

function agentIdDiffers(config: ImdsServerConfig, facts: AgentIdFacts, agentId: string): boolean {
  try {
    return makeAgentId(config, facts) !== agentId
  } catch {
    return true
  }
}
