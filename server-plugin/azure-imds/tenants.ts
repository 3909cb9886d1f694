import { PluginError } from '../../shared/plugin/index.js'
import type { SubscriptionTenant } from '../../shared/azure/subscriptions.js'
import type { ImdsServerConfig, TenantConfig } from './config.js'

/**
 * upstream parity: the agent's `agentDomain` hint picks the tenant config, and an unknown one is
 * `PermissionDenied "tenant %q is not authorized"`. The hint may name the configured key (a domain
 * or tenant ID) or the configured `tenant_id`, case-insensitively. Being a hint, it decides nothing
 * by itself: `bindSubscriptionToTenant` then proves the document's subscription is the tenant's.
 */
export function authorizeTenant(
  config: ImdsServerConfig,
  untrustedAgentDomain: string,
): TenantConfig {
  const hint = untrustedAgentDomain.trim().toLowerCase()
  const tenant =
    hint === ''
      ? undefined
      : config.tenants.find((t) => t.key.toLowerCase() === hint || t.tenantId === hint)
  if (tenant === undefined) {
    throw new PluginError(
      'PermissionDenied',
      'tenant_not_authorized',
      `tenant ${JSON.stringify(untrustedAgentDomain)} is not authorized`,
    )
  }
  return tenant
}

/**
 * The document names a subscription but no tenant, so the tenant's own credential must see the
 * subscription and ARM must name the tenant as its home. deviation: upstream trusts the hint alone,
 * so with cross-tenant access a VM of another tenant could attest under this one
 * (docs/plugin_server_nodeattestor_azure_imds.md).
 */
export function checkSubscriptionTenant(
  subscriptionId: string,
  tenantId: string,
  found: SubscriptionTenant,
): void {
  if (found.visible && found.tenantId === tenantId.toLowerCase()) return
  throw new PluginError(
    'PermissionDenied',
    'subscription_not_in_tenant',
    `subscription ${JSON.stringify(subscriptionId)} does not belong to tenant ${JSON.stringify(tenantId)}`,
  )
}
