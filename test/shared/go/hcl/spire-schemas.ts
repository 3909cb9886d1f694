// Schemas mirroring SPIRE v1.15.3's config structs (plus HEAD's trust_bundle_path), and a helper
// that shows a decoded value the way go_typed.json does: Go zero values for every missing field.
import { h } from '../../../../shared/go/hcl/index.js'
import type { Schema } from '../../../../shared/go/hcl/index.js'

/** azure_msi server: MSIAttestorConfig / TenantConfig. */
export const MSI_SERVER = h.object({
  tenants: h.map(
    h.object({
      resource_id: h.string(),
      subscription_id: h.string(),
      app_id: h.string(),
      app_secret: h.string(),
    }),
  ),
  agent_path_template: h.string(),
})

/** azure_imds server: IMDSAttestorConfig / TenantConfig / SecretAuthConfig / TokenAuthConfig. */
export const IMDS_SERVER = h.object({
  tenants: h.map(
    h.object({
      auth_type: h.string(),
      secret_auth: h.object({ app_id: h.string(), app_secret: h.string() }),
      token_auth: h.object({ token_path: h.string(), app_id: h.string() }),
      allowed_vm_tags: h.list(h.string()),
      restrict_to_subscriptions: h.list(h.string()),
    }),
  ),
  agent_path_template: h.string(),
  allowed_metadata_domains: h.list(h.string()),
  trust_bundle_path: h.string(),
})

export const MSI_AGENT = h.object({ resource_id: h.string() })

export const IMDS_AGENT = h.object({ tenant_domain: h.string() })

export function schemaFor(attestor: string, side: string): Schema {
  if (attestor === 'azure_msi') return side === 'server' ? MSI_SERVER : MSI_AGENT
  return side === 'server' ? IMDS_SERVER : IMDS_AGENT
}

/**
 * The decoded value as Go's json.Marshal shows the typed struct: "" / false / 0 for missing
 * scalars, null for missing lists, maps and (pointer) structs.
 */
export function goShape(schema: Schema, value: unknown): unknown {
  switch (schema.kind) {
    case 'string':
      return value ?? ''
    case 'bool':
      return value ?? false
    case 'int':
    case 'number':
      return value ?? 0
    case 'list':
      return Array.isArray(value) ? value.map((v: unknown) => goShape(schema.of, v)) : null
    case 'map':
      if (!isRecord(value)) return null
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, goShape(schema.of, v)]))
    case 'object': {
      if (!isRecord(value)) return null
      const fields = Object.entries(schema.fields)
      return Object.fromEntries(fields.map(([k, s]) => [k, goShape(s, value[k])]))
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
