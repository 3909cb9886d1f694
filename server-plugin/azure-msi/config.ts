import { h, parseAndDecode, type Infer } from '../../shared/go/hcl/index.js'
import type { BuildConfig, Report } from '../../shared/plugin/index.js'
import { parseAgentPathTemplate, type AgentPathTemplate } from '../../shared/go/template/index.js'
import { CLOUDS, type AzureCloud } from '../../shared/azure/clouds.js'
import { KEYS_MAX_STALE_MS, KEYS_TTL_MS, UNKNOWN_KID_COOLDOWN_MS } from '../../shared/azure/jwks.js'
import { isGuid } from '../../shared/azure/resource-id.js'
import {
  clientKey,
  cloudOrReport,
  endpointOverrides,
  resolveEndpoints,
  type Endpoints,
  type TenantCredential,
} from '../../shared/azure/tenant-access.js'
import { parseGoDuration } from '../../shared/go/duration.js'

export type { Endpoints, TenantCredential }

export const PLUGIN_NAME = 'azure_msi'
/** upstream parity: azure.DefaultAgentPathTemplate */
export const DEFAULT_AGENT_PATH_TEMPLATE = '/{{ .PluginName }}/{{ .TenantID }}/{{ .PrincipalID }}'

const ENDPOINTS = h.object({
  authority_host: h.string(),
  resource_manager: h.string(),
  imds: h.string(),
  ca_file: h.string(),
})

const TENANT = h.object({
  resource_id: h.string(),
  audiences: h.list(h.string()),
  principal_ids: h.list(h.string()),
  subscription_id: h.string(),
  app_id: h.string(),
  app_secret: h.string(),
  cloud_environment: h.string(),
  use_msi: h.bool(),
})

/** The HCL operators write, keys exactly as in SPIRE's docs (snake_case). */
export const RAW_CONFIG_SCHEMA = h.object({
  tenants: h.map(TENANT),
  agent_path_template: h.string(),
  cloud_environment: h.string(),
  allowed_vm_tags: h.list(h.string()),
  endpoints: ENDPOINTS,
  jwks_cache_ttl: h.string(),
  jwks_max_stale: h.string(),
  jwks_refresh_cooldown: h.string(),
})
export type RawConfig = Infer<typeof RAW_CONFIG_SCHEMA>
type RawTenant = Infer<typeof TENANT>

export interface TenantConfig {
  tenantId: string
  cloud: AzureCloud
  endpoints: Endpoints
  /** Accepted `aud` values: `resource_id` (or the cloud's ARM resource) plus `audiences`. */
  audiences: readonly string[]
  /** Lower-cased allow-list of principal (object) IDs; undefined allows every principal. */
  principalIds: ReadonlySet<string> | undefined
  /** The one subscription whose VMs may attest; undefined: the server VM's own (upstream). */
  subscriptionId: string | undefined
  credential: TenantCredential
  /** Identity of the ARM client this tenant needs: equal keys share clients and caches. */
  clientKey: string
}

export interface MsiServerConfig {
  trustDomain: string
  /** By lower-cased tenant ID. */
  tenants: ReadonlyMap<string, TenantConfig>
  agentPath: AgentPathTemplate
  /** Tag keys that become `vm-tag:<key>:<value>` selectors (exact, case-sensitive). */
  allowedVmTags: ReadonlySet<string>
  /** Cloud and endpoints for keys of tokens whose tenant is not configured (refused later). */
  defaultCloud: AzureCloud
  defaultEndpoints: Endpoints
  /** The server's own IMDS, read for its subscription when a tenant sets none (upstream). */
  imdsEndpoint: string | undefined
  keyCache: KeyCacheTuning
}

/** How signing keys are cached: see OidcKeySource. */
export interface KeyCacheTuning {
  ttlMs: number
  maxStaleMs: number
  /** Minimum gap between refreshes for unknown kids, and after a failed refresh. */
  cooldownMs: number
}

export const buildConfig: BuildConfig<MsiServerConfig> = (hcl, core, report) => {
  const raw = parseAndDecode(hcl, RAW_CONFIG_SCHEMA, report)
  if (raw === undefined) return undefined
  return buildFromRaw(raw, core.trustDomain, report)
}

export function buildFromRaw(
  raw: RawConfig,
  trustDomain: string,
  report: Report,
): MsiServerConfig | undefined {
  const defaultCloud =
    cloudOrReport(raw.cloud_environment, 'cloud_environment', report) ?? CLOUDS.AzurePublicCloud
  const overrides = endpointOverrides(raw.endpoints ?? {}, report)
  const entries = Object.entries(raw.tenants ?? {})
  if (entries.length === 0) report.error('configuration must have at least one tenant', ['tenants'])

  const tenants = new Map<string, TenantConfig>()
  for (const [tenantId, t] of entries) {
    const q = JSON.stringify(tenantId)
    const at = ['tenants', tenantId]
    const cloud =
      cloudOrReport(t.cloud_environment, `tenant ${q} cloud_environment`, report, [
        ...at,
        'cloud_environment',
      ]) ?? defaultCloud
    const endpoints = resolveEndpoints(cloud, overrides)
    if (!isGuid(tenantId)) report.error(`misconfigured tenant ${q}: tenant ID must be a GUID`, at)
    if (t.use_msi !== undefined) {
      // upstream parity: removed in 1.10.0; the default credential chain covers managed identity
      report.warn(
        `misconfigured tenant ${q}: use_msi is deprecated and ignored; the default Azure credential chain is used when app_id and app_secret are not set`,
        [...at, 'use_msi'],
      )
    }
    const credential = tenantCredential(tenantId, t, report)
    const audiences = uniq([t.resource_id || cloud.armResourceId, ...(t.audiences ?? [])])
    const emptyAudiences = indicesWhere(t.audiences, (a) => a.trim() === '')
    if (emptyAudiences.length > 0) {
      report.error(
        `misconfigured tenant ${q}: audiences entries must be non-empty`,
        ...emptyAudiences.map((i) => [...at, 'audiences', i]),
      )
    }
    let principalIds: Set<string> | undefined
    if (t.principal_ids !== undefined) {
      principalIds = new Set(t.principal_ids.map((p) => p.trim().toLowerCase()))
      const notGuids = indicesWhere(t.principal_ids, (p) => !isGuid(p.trim()))
      if (notGuids.length > 0) {
        report.error(
          `misconfigured tenant ${q}: principal_ids entries must be GUIDs`,
          ...notGuids.map((i) => [...at, 'principal_ids', i]),
        )
      }
      if (principalIds.size === 0)
        report.error(`misconfigured tenant ${q}: principal_ids must not be empty when set`, [
          ...at,
          'principal_ids',
        ])
    }
    const subscriptionId = t.subscription_id || undefined
    if (subscriptionId !== undefined && !isGuid(subscriptionId)) {
      report.error(`misconfigured tenant ${q}: subscription_id must be a GUID`, [
        ...at,
        'subscription_id',
      ])
    }
    const key = tenantId.toLowerCase()
    if (tenants.has(key)) report.error(`misconfigured tenant ${q}: configured more than once`, at)
    tenants.set(key, {
      tenantId: key,
      cloud,
      endpoints,
      audiences,
      principalIds,
      subscriptionId: subscriptionId?.toLowerCase(),
      credential,
      clientKey: clientKey(key, cloud, endpoints, credential),
    })
  }

  let agentPath: AgentPathTemplate | undefined
  const templateText = raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE
  try {
    agentPath = parseAgentPathTemplate(templateText)
  } catch {
    // upstream parity: the message carries the template, not the parse error
    report.error(`failed to parse agent path template: ${JSON.stringify(templateText)}`, [
      'agent_path_template',
    ])
  }

  const keyCache: KeyCacheTuning = {
    ttlMs: duration(
      raw.jwks_cache_ttl,
      'jwks_cache_ttl',
      KEYS_TTL_MS,
      [1_000, 24 * 3_600_000],
      report,
    ),
    maxStaleMs: duration(
      raw.jwks_max_stale,
      'jwks_max_stale',
      KEYS_MAX_STALE_MS,
      [0, 7 * 24 * 3_600_000],
      report,
    ),
    cooldownMs: duration(
      raw.jwks_refresh_cooldown,
      'jwks_refresh_cooldown',
      UNKNOWN_KID_COOLDOWN_MS,
      [1_000, 3_600_000],
      report,
    ),
  }

  const tags = raw.allowed_vm_tags ?? []
  const badTags = indicesWhere(tags, (t) => t === '' || t.includes(':'))
  if (badTags.length > 0) {
    report.error(
      'allowed_vm_tags entries must be non-empty and must not contain ":"',
      ...badTags.map((i) => ['allowed_vm_tags', i]),
    )
  }

  if (!report.ok || agentPath === undefined) return undefined
  return {
    trustDomain,
    tenants,
    agentPath,
    allowedVmTags: new Set(tags),
    defaultCloud,
    defaultEndpoints: resolveEndpoints(defaultCloud, overrides),
    imdsEndpoint: overrides.imds,
    keyCache,
  }
}

/** upstream parity: static credentials need all three of subscription_id, app_id and app_secret. */
function tenantCredential(tenantId: string, t: RawTenant, report: Report): TenantCredential {
  const q = JSON.stringify(tenantId)
  const at = (key: string): string[] => ['tenants', tenantId, key]
  if (!t.app_id && !t.app_secret) {
    // deviation: subscription_id alone selects the default credential chain for that subscription
    // (spiffe/spire#7104; docs/plugin_server_nodeattestor_azure_msi.md)
    return { kind: 'default' }
  }
  if (!t.subscription_id) {
    report.error(`misconfigured tenant ${q}: missing subscription id`, at('subscription_id'))
  }
  if (!t.app_id) report.error(`misconfigured tenant ${q}: missing app id`, at('app_id'))
  if (!t.app_secret) report.error(`misconfigured tenant ${q}: missing app secret`, at('app_secret'))
  return { kind: 'client-secret', appId: t.app_id ?? '', appSecret: t.app_secret ?? '' }
}

function uniq(values: readonly string[]): string[] {
  return [...new Set(values)]
}

/** The indices of the entries that fail a check (for the key paths of a problem). */
function indicesWhere(
  values: readonly string[] | undefined,
  bad: (v: string) => boolean,
): number[] {
  return (values ?? []).flatMap((v, i) => (bad(v) ? [i] : []))
}

/** A Go duration setting within [min, max] ms; `fallback` when unset or out of range (reported). */
function duration(
  value: string | undefined,
  key: string,
  fallback: number,
  [min, max]: [number, number],
  report: Report,
): number {
  if (value === undefined || value === '') return fallback
  const ms = parseGoDuration(value)
  if (ms === undefined || ms < min || ms > max) {
    report.error(
      `${key} ${JSON.stringify(value)} must be a duration between ${min / 1000}s and ${max / 1000}s`,
      [key],
    )
    return fallback
  }
  return ms
}
