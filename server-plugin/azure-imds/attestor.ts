import { parseImdsPayload } from '../../shared/azure/imds-payload.js'
import { azureFailureStatus } from '../../shared/azure/transient.js'
import {
  assertNotAttested,
  PluginError,
  type ServerAttestor,
  type PluginContext,
} from '../../shared/plugin/index.js'
import { makeAgentId } from './agent-id.js'
import type { ImdsServerConfig } from './config.js'
import { authorizeSubscription, checkDocumentContent } from './content.js'
import { createDefaultDeps, type Deps } from './deps.js'
import { resolveCompute } from './resolve.js'
import { buildSelectors } from './selectors.js'
import { authorizeTenant, checkSubscriptionTenant } from './tenants.js'
import { VerificationCache } from './verify-cache.js'
import { verifyDocumentSignatureAndChain } from './verify-document.js'

/**
 * The azure_imds server attestor: upstream's flow and order (pinned by a test) — nonce challenge,
 * document, content, tenant, subscription, agent ID, TOFU, selectors — with what upstream lacks
 * in place: expiry, a chain walked to pinned roots, tenant binding through ARM, O(1) lookups.
 * With `reattest = true` TOFU is skipped and the agent may re-attest: the fresh nonce-bound
 * document proves the VM each time, and the selectors are read again (within the read cache's TTL).
 * No crypto, parsing or gRPC here: only the sequence.
 */
export function createAttestor(deps: Deps): ServerAttestor<ImdsServerConfig> {
  // parsed certificates and verified chains, shared by every attestation of this plugin
  const cache = deps.verificationCache ?? new VerificationCache()
  return {
    async attest(_payload, config, io) {
      // upstream parity: the first payload's content is ignored; it only opens the exchange
      const nonce = deps.nonces.issue()
      const response = await io.challenge(Buffer.from(nonce, 'ascii'))
      if (response.length === 0) {
        throw new PluginError('InvalidArgument', 'missing_payload', 'missing attestation payload')
      }
      const { document, metadata: untrusted } = parseImdsPayload(response)
      if (!deps.nonces.consume(nonce)) {
        throw new PluginError('InvalidArgument', 'nonce_expired', 'nonce expired or already used')
      }
      const now = new Date(deps.now())
      const verified = await verifyDocumentSignatureAndChain(document, {
        now,
        roots: await deps.roots(config),
        intermediates: deps.intermediates(config),
        allowedDomains: config.allowedDomains,
        signal: io.signal,
        cache,
      })
      const content = verified.content
      checkDocumentContent(content, { nonce, now })
      const tenant = authorizeTenant(config, untrusted.agentDomain)
      authorizeSubscription(content.subscriptionId, tenant.allowedSubscriptions)
      const tenantId = await deps.tenantId(tenant, io.signal)
      const azure = deps.azureFor(tenant)
      checkSubscriptionTenant(
        content.subscriptionId,
        tenantId,
        await azure.subscriptionTenant(content.subscriptionId, io.signal).catch((err: unknown) => {
          // deviation: `Unavailable` when transient (upstream has no such lookup)
          throw new PluginError(
            azureFailureStatus(err),
            'subscription_lookup_failed',
            `unable to get subscription: ${(err as Error).message}`,
            { cause: err },
          )
        }),
      )
      const agentId = makeAgentId(config, {
        tenantId,
        subscriptionId: content.subscriptionId,
        vmId: content.vmId,
        nonce: content.nonce,
      })
      // reattest: no AgentStore lookup, as upstream's re-attestable attestors (x509pop, k8s_psat);
      // SPIRE itself still refuses a banned agent after the plugin answers
      if (!config.reattest) await assertNotAttested(deps.agentStore, agentId, deps.log, io.signal)
      const compute = await resolveCompute(
        azure,
        {
          subscriptionId: content.subscriptionId,
          vmId: content.vmId,
          untrustedVmssName: untrusted.vmssName,
          untrustedResourceId: untrusted.resourceId,
        },
        io.signal,
      )
      const selectorValues = buildSelectors(content.subscriptionId, compute, tenant.allowedVmTags, {
        tenantId,
        vmId: content.vmId,
      })
      return {
        spiffeId: agentId,
        selectorValues,
        canReattest: config.reattest,
        logFields: {
          tenant_id: tenantId,
          subscription_id: content.subscriptionId,
          vm_id: content.vmId,
          resource_group: compute.resourceGroup,
          vm_name: compute.name,
          found_by: compute.foundBy,
        },
      }
    },
  }
}

/** The attestor with production dependencies (what `main.ts` loads after Init). */
export function createDefaultAttestor(ctx: PluginContext): ServerAttestor<ImdsServerConfig> {
  const deps = createDefaultDeps(ctx)
  return {
    ...createAttestor(deps),
    // ahead of the first attestation, for Entra's and ARM's endpoints and the AIA issuers (their CA files)
    warm: async (config) => {
      await deps.warm?.([...config.tenants.map((t) => t.endpoints.caFile), config.caFile])
    },
  }
}
