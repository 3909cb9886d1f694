import { h, parseAndDecode, type Infer } from '../../shared/go/hcl/index.js'
import type { BuildConfig, Report } from '../../shared/plugin/index.js'
import {
  buildAgentPath,
  parseAgentPathTemplate,
  type AgentPathTemplate,
} from '../../shared/go/template/index.js'
import { CLOUDS, type AzureCloud } from '../../shared/azure/clouds.js'
import { isGuid } from '../../shared/azure/resource-id.js'
import {
  clientKey,
  cloudOrReport,
  endpointOverrides,
  resolveEndpoints,
  type Endpoints,
  type EndpointOverrides,
  type TenantCredential,
} from '../../shared/azure/tenant-access.js'
import { buildTemplateData } from './agent-id.js'

export type { Endpoints, TenantCredential }

export const PLUGIN_NAME = 'azure_imds'
/** upstream parity: azure.DefaultIMDSAgentPathTemplate */
export const DEFAULT_AGENT_PATH_TEMPLATE =
  '/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .VMID }}'

const TENANT = h.object({
  tenant_id: h.string(),
  cloud_environment: h.string(),
  // upstream parity: declared, never read
  auth_type: h.string(),
  secret_auth: h.object({ app_id: h.string(), app_secret: h.string() }),
  token_auth: h.object({ app_id: h.string(), token_path: h.string() }),
  allowed_vm_tags: h.list(h.string()),
  restrict_to_subscriptions: h.list(h.string()),
})

/** The HCL operators write: upstream's keys, plus ours (tenant_id, cloud_environment, endpoints). */
export const RAW_CONFIG_SCHEMA = h.object({
  tenants: h.map(TENANT),
  agent_path_template: h.string(),
  allowed_metadata_domains: h.list(h.string()),
  cloud_environment: h.string(),
  trust_bundle_path: h.string(),
  endpoints: h.object({
    authority_host: h.string(),
    resource_manager: h.string(),
    ca_file: h.string(),
    aia_issuers: h.string(),
  }),
  reattest: h.bool(),
})
export type RawConfig = Infer<typeof RAW_CONFIG_SCHEMA>
type RawTenant = Infer<typeof TENANT>

export interface TenantConfig {
  /** The map key as configured: a tenant domain (upstream) or a tenant ID. */
  key: string
  /** Known without a lookup: `tenant_id`, or a key that is a GUID. Lower-case. */
  tenantId: string | undefined
  /** The domain whose discovery document names the tenant ID when `tenantId` is unknown. */
  domain: string | undefined
  cloud: AzureCloud
  endpoints: Endpoints
  credential: TenantCredential
  /** Tag keys that become `vm-tag:<key>:<value>` selectors (exact, case-sensitive). */
  allowedVmTags: ReadonlySet<string>
  /** Lower-cased; empty allows every subscription the tenant owns. */
  allowedSubscriptions: ReadonlySet<string>
  /** Identity of the Azure clients this tenant needs: equal keys share clients and caches. */
  clientKey: string
}

export interface ImdsServerConfig {
  trustDomain: string
  tenants: readonly TenantConfig[]
  agentPath: AgentPathTemplate
  /** SAN domains of accepted signing certificates. */
  allowedDomains: readonly string[]
  /** Extra trust anchors (CA certificates only), loaded on first use. */
  trustBundlePath: string | undefined
  /** Emulators only: one base URL answering for every allowed AIA issuer host. */
  aiaIssuers: string | undefined
  /** TLS trust for `aiaIssuers` when it is https. */
  caFile: string | undefined
  /**
   * `reattest`: answer `can_reattest = true` and skip the AgentStore (TOFU) lookup, as upstream's
   * re-attestable attestors (x509pop, k8s_psat) do; every attestation still proves a fresh nonce.
   */
  reattest: boolean
}

export const buildConfig: BuildConfig<ImdsServerConfig> = (hcl, core, report) => {
  const raw = parseAndDecode(hcl, RAW_CONFIG_SCHEMA, report)
  if (raw === undefined) return undefined
  return buildFromRaw(raw, core.trustDomain, report)
}

const DOMAIN_RE =
  /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$/

export function buildFromRaw(
  raw: RawConfig,
  trustDomain: string,
  report: Report,
): ImdsServerConfig | undefined {
  const defaultCloud =
    cloudOrReport(raw.cloud_environment, 'cloud_environment', report) ?? CLOUDS.AzurePublicCloud
  const overrides = endpointOverrides(raw.endpoints ?? {}, report)
  const entries = Object.entries(raw.tenants ?? {})
  if (entries.length === 0) report.error('configuration must have at least one tenant', ['tenants'])

  const tenants: TenantConfig[] = []
  const seen = new Set<string>()
  for (const [key, t] of entries) {
    const tenant = buildTenant(key, t, defaultCloud, overrides, report)
    for (const id of new Set(
      [key.toLowerCase(), tenant.tenantId].filter((x): x is string => x !== undefined),
    )) {
      if (seen.has(id)) {
        report.error(`misconfigured tenant ${JSON.stringify(key)}: configured more than once`, [
          'tenants',
          key,
        ])
      }
      seen.add(id)
    }
    tenants.push(tenant)
  }

  let agentPath: AgentPathTemplate | undefined
  const templateText = raw.agent_path_template || DEFAULT_AGENT_PATH_TEMPLATE
  try {
    agentPath = parseAgentPathTemplate(templateText)
  } catch {
    // upstream parity: the message carries the template, not the parse error
    report.error(
      `failed to parse agent path template: ${JSON.stringify(raw.agent_path_template)}`,
      ['agent_path_template'],
    )
  }

  const allowedDomains = metadataDomains(
    raw.allowed_metadata_domains,
    [defaultCloud, ...tenants.map((t) => t.cloud)],
    report,
  )
  // endpoints.aia_issuers (like every endpoints override) is a deliberate setting for emulators and
  // Azure Stack: no note, since SPIRE's `validate` fails a config on any note

  const reattest = raw.reattest ?? false
  if (reattest && agentPath !== undefined && !agentIdIsStable(agentPath)) {
    report.error(
      'reattest = true needs an agent_path_template that does not use .Nonce: the agent would get a new ID at every re-attestation',
      ['reattest'],
      ['agent_path_template'],
    )
  }

  if (!report.ok || agentPath === undefined) return undefined
  return {
    trustDomain,
    tenants,
    agentPath,
    allowedDomains,
    trustBundlePath: raw.trust_bundle_path || undefined,
    aiaIssuers: overrides.aiaIssuers,
    caFile: overrides.caFile,
    reattest,
  }
}

/**
 * Whether one VM always gets one agent ID: the template does not name `.Nonce` and renders the same
 * path for two attestations that differ only in their nonce (e.g. not through `{{ . }}`). A sample
 * that fails to render gives no verdict (the attestation reports that failure itself).
 */
function agentIdIsStable(agentPath: AgentPathTemplate): boolean {
  if (/\.Nonce\b/.test(agentPath.text)) return false
  const render = (nonce: string): string | undefined => {
    try {
      return buildAgentPath(
        agentPath,
        buildTemplateData({
          tenantId: '00000000-0000-4000-8000-000000000001',
          subscriptionId: '00000000-0000-4000-8000-000000000002',
          vmId: '00000000-0000-4000-8000-000000000003',
          nonce,
        }),
      )
    } catch {
      return undefined
    }
  }
  const a = render('a'.repeat(32))
  const b = render('b'.repeat(32))
  return a === undefined || b === undefined || a === b
}

function buildTenant(
  key: string,
  t: RawTenant,
  defaultCloud: AzureCloud,
  overrides: EndpointOverrides,
  report: Report,
): TenantConfig {
  const q = JSON.stringify(key)
  const at = ['tenants', key]
  const cloud =
    cloudOrReport(t.cloud_environment, `tenant ${q} cloud_environment`, report, [
      ...at,
      'cloud_environment',
    ]) ?? defaultCloud
  const endpoints: Endpoints = resolveEndpoints(cloud, overrides)
  const keyIsGuid = isGuid(key)
  if (!keyIsGuid && !DOMAIN_RE.test(key))
    report.error(`misconfigured tenant ${q}: the key must be a tenant domain or tenant ID`, at)
  let tenantId = keyIsGuid ? key.toLowerCase() : undefined
  const explicit = (t.tenant_id ?? '').trim()
  if (explicit !== '') {
    const atId = [...at, 'tenant_id']
    if (!isGuid(explicit)) report.error(`misconfigured tenant ${q}: tenant_id must be a GUID`, atId)
    else if (tenantId !== undefined && tenantId !== explicit.toLowerCase()) {
      report.error(
        `misconfigured tenant ${q}: tenant_id differs from the tenant ID used as key`,
        atId,
      )
    } else tenantId = explicit.toLowerCase()
  }
  if (t.auth_type !== undefined)
    report.warn(`misconfigured tenant ${q}: auth_type is ignored (as upstream)`, [
      ...at,
      'auth_type',
    ])
  const credential = tenantCredential(q, key, t, report)
  const subs = (t.restrict_to_subscriptions ?? []).map((s) => s.trim())
  const emptySubs = indicesWhere(subs, (s) => s === '')
  if (emptySubs.length > 0) {
    report.error(
      `misconfigured tenant ${q}: restrict_to_subscriptions entries must be non-empty`,
      ...emptySubs.map((i) => [...at, 'restrict_to_subscriptions', i]),
    )
  }
  const tags = t.allowed_vm_tags ?? []
  const emptyTags = indicesWhere(tags, (tag) => tag === '')
  if (emptyTags.length > 0)
    report.error(
      `misconfigured tenant ${q}: allowed_vm_tags entries must be non-empty`,
      ...emptyTags.map((i) => [...at, 'allowed_vm_tags', i]),
    )
  return {
    key,
    tenantId,
    domain: keyIsGuid ? undefined : key.toLowerCase(),
    cloud,
    endpoints,
    credential,
    allowedVmTags: new Set(tags),
    allowedSubscriptions: new Set(subs.filter((s) => s !== '').map((s) => s.toLowerCase())),
    clientKey: clientKey(tenantId ?? key.toLowerCase(), cloud, endpoints, credential),
  }
}

/** upstream parity: one of secret_auth and token_auth, or neither for the default credential chain. */
function tenantCredential(q: string, key: string, t: RawTenant, report: Report): TenantCredential {
  const at = (...path: string[]): string[] => ['tenants', key, ...path]
  if (t.secret_auth !== undefined && t.token_auth !== undefined) {
    report.error(
      `misconfigured tenant ${q}: only one of secret_auth or token_auth may be specified in the config`,
      at('secret_auth'),
      at('token_auth'),
    )
  }
  if (t.token_auth !== undefined) {
    if (!t.token_auth.token_path) {
      report.error(
        `misconfigured tenant ${q}: missing token file path`,
        at('token_auth', 'token_path'),
      )
    }
    if (!t.token_auth.app_id) {
      report.error(`misconfigured tenant ${q}: missing app id`, at('token_auth', 'app_id'))
    }
    return {
      kind: 'client-assertion',
      appId: t.token_auth.app_id ?? '',
      tokenPath: t.token_auth.token_path ?? '',
    }
  }
  if (t.secret_auth !== undefined) {
    if (!t.secret_auth.app_id) {
      report.error(`misconfigured tenant ${q}: missing app id`, at('secret_auth', 'app_id'))
    }
    // deviation: upstream reports a missing secret as "missing app id"
    if (!t.secret_auth.app_secret) {
      report.error(`misconfigured tenant ${q}: missing app secret`, at('secret_auth', 'app_secret'))
    }
    return {
      kind: 'client-secret',
      appId: t.secret_auth.app_id ?? '',
      appSecret: t.secret_auth.app_secret ?? '',
    }
  }
  return { kind: 'default' }
}

/**
 * `allowed_metadata_domains`, lower-cased; by default the metadata domains of every cloud the
 * config uses (upstream: always `metadata.azure.com`, whatever the cloud).
 */
function metadataDomains(
  raw: readonly string[] | undefined,
  clouds: readonly AzureCloud[],
  report: Report,
): string[] {
  if (raw === undefined || raw.length === 0)
    return [...new Set(clouds.flatMap((c) => c.metadataDomains))]
  const out: string[] = []
  for (const [i, d] of raw.entries()) {
    const domain = d.trim().toLowerCase()
    if (!DOMAIN_RE.test(domain))
      report.error(`allowed_metadata_domains entry ${JSON.stringify(d)} is not a domain name`, [
        'allowed_metadata_domains',
        i,
      ])
    else out.push(domain)
  }
  return [...new Set(out)]
}

/** The indices of the entries that fail a check (for the key paths of a problem). */
function indicesWhere(values: readonly string[], bad: (v: string) => boolean): number[] {
  return values.flatMap((v, i) => (bad(v) ? [i] : []))
}
