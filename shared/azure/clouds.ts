/**
 * The Azure clouds the plugins know (azure-facts §3.2, §6.4): where Entra ID, ARM and IMDS live in
 * each, and what the tokens and attested documents issued there look like. Names are the
 * `compute.azEnvironment` values IMDS reports (the Go SDK's environment names); operators may also
 * write the aliases other tools use (CLOUD_ALIASES).
 */
export type CloudName = 'AzurePublicCloud' | 'AzureUSGovernmentCloud' | 'AzureChinaCloud'

export const CLOUD_NAMES: readonly CloudName[] = [
  'AzurePublicCloud',
  'AzureUSGovernmentCloud',
  'AzureChinaCloud',
]

export interface AzureCloud {
  name: CloudName
  /** Entra ID authority (OIDC discovery, client credentials), no trailing slash. */
  authorityHost: string
  /** Other authority hosts that serve the same tenants (never used to fetch, only recognised). */
  authorityAliases: readonly string[]
  /** Azure Resource Manager base URL, no trailing slash. */
  armEndpoint: string
  /** ARM's resource id, i.e. the default MSI token audience (with the trailing slash IMDS keeps). */
  armResourceId: string
  /** Issuer of v1.0 access tokens for a tenant. */
  v1Issuer(tenantId: string): string
  /** Issuer of v2.0 access tokens for a tenant. */
  v2Issuer(tenantId: string): string
  /** SAN domains of the IMDS attested-document signing certificates (exact or any subdomain). */
  metadataDomains: readonly string[]
}

export const AZURE_PUBLIC_CLOUD: AzureCloud = {
  name: 'AzurePublicCloud',
  authorityHost: 'https://login.microsoftonline.com',
  authorityAliases: ['https://login.windows.net', 'https://sts.windows.net'],
  armEndpoint: 'https://management.azure.com',
  // upstream parity: azure.DefaultMSIResourceID
  armResourceId: 'https://management.azure.com/',
  v1Issuer: (tid) => `https://sts.windows.net/${tid}/`,
  v2Issuer: (tid) => `https://login.microsoftonline.com/${tid}/v2.0`,
  metadataDomains: ['metadata.azure.com'],
}

export const AZURE_US_GOVERNMENT_CLOUD: AzureCloud = {
  name: 'AzureUSGovernmentCloud',
  authorityHost: 'https://login.microsoftonline.us',
  authorityAliases: [],
  armEndpoint: 'https://management.usgovcloudapi.net',
  armResourceId: 'https://management.usgovcloudapi.net/',
  // US Government v1 tokens keep the public cloud's sts.windows.net issuer (azure-facts §6.4)
  v1Issuer: (tid) => `https://sts.windows.net/${tid}/`,
  v2Issuer: (tid) => `https://login.microsoftonline.us/${tid}/v2.0`,
  metadataDomains: ['metadata.azure.us'],
}

export const AZURE_CHINA_CLOUD: AzureCloud = {
  name: 'AzureChinaCloud',
  authorityHost: 'https://login.chinacloudapi.cn',
  authorityAliases: ['https://login.partner.microsoftonline.cn'],
  armEndpoint: 'https://management.chinacloudapi.cn',
  armResourceId: 'https://management.chinacloudapi.cn/',
  v1Issuer: (tid) => `https://sts.chinacloudapi.cn/${tid}/`,
  v2Issuer: (tid) => `https://login.partner.microsoftonline.cn/${tid}/v2.0`,
  metadataDomains: ['metadata.azure.cn'],
}

export const CLOUDS: Readonly<Record<CloudName, AzureCloud>> = {
  AzurePublicCloud: AZURE_PUBLIC_CLOUD,
  AzureUSGovernmentCloud: AZURE_US_GOVERNMENT_CLOUD,
  AzureChinaCloud: AZURE_CHINA_CLOUD,
}

/** Every known metadata domain, for an `allowed_metadata_domains` that should accept any cloud. */
export const ALL_METADATA_DOMAINS: readonly string[] = CLOUD_NAMES.flatMap(
  (c) => CLOUDS[c].metadataDomains,
)

export function isCloudName(value: string): value is CloudName {
  return (CLOUD_NAMES as readonly string[]).includes(value)
}

/**
 * The other names operators write for each cloud (matched case-insensitively, like the SDK names),
 * and where each comes from. A small explicit table: a name is added only with its provenance.
 */
export const CLOUD_ALIASES: Readonly<Record<CloudName, readonly string[]>> = {
  AzurePublicCloud: [
    'public', // Terraform azurerm / azuread provider `environment`
    'AzureCloud', // Azure CLI `az cloud list`, Azure PowerShell `Get-AzEnvironment`
    'AzurePublic', // Go SDK azcore `cloud.AzurePublic`, MSAL `AzureCloudInstance.AzurePublic`
  ],
  AzureUSGovernmentCloud: [
    'usgovernment', // Terraform azurerm / azuread provider `environment`
    'usgov', // a common short form (asked for in issue #11); no tool's official name, but unambiguous
    'AzureUSGovernment', // Azure CLI `az cloud list`, Azure PowerShell, MSAL `AzureUsGovernment`
    'AzureGovernment', // Go SDK azcore `cloud.AzureGovernment`, @azure/identity `AzureAuthorityHosts.AzureGovernment`
  ],
  AzureChinaCloud: [
    'china', // Terraform azurerm / azuread provider `environment`
    'AzureChina', // Go SDK azcore `cloud.AzureChina`, @azure/identity, MSAL `AzureCloudInstance.AzureChina`
  ],
}

/**
 * Names of Microsoft Cloud Deutschland, closed on 29 October 2021: the Go autorest SDK name
 * `AzureGermanCloud` (also older Azure CLI and Azure PowerShell), @azure/identity / MSAL
 * `AzureGermany`, Terraform azurerm's former `german`, and `germany` as operators write it.
 */
export const RETIRED_GERMAN_CLOUD_NAMES: readonly string[] = [
  'AzureGermanCloud',
  'AzureGermany',
  'germany',
  'german',
]

/** Why a retired cloud's name is refused, and what to use instead. */
export const GERMAN_CLOUD_RETIRED =
  'Microsoft Cloud Deutschland (AzureGermanCloud) was retired in October 2021; use AzurePublicCloud (the Germany West Central and Germany North regions) instead'

/** What a cloud name stands for: a cloud we know, a retired one (with the reason), or nothing. */
export type CloudLookup =
  { kind: 'known'; cloud: AzureCloud } | { kind: 'retired'; reason: string } | { kind: 'unknown' }

/** A cloud by any of its names (SDK name or alias), case-insensitively and ignoring surrounding space. */
export function lookupCloud(name: string): CloudLookup {
  const n = name.trim().toLowerCase()
  for (const c of CLOUD_NAMES) {
    if (c.toLowerCase() === n || CLOUD_ALIASES[c].some((a) => a.toLowerCase() === n)) {
      return { kind: 'known', cloud: CLOUDS[c] }
    }
  }
  if (RETIRED_GERMAN_CLOUD_NAMES.some((r) => r.toLowerCase() === n)) {
    return { kind: 'retired', reason: GERMAN_CLOUD_RETIRED }
  }
  return { kind: 'unknown' }
}

/** Every accepted name, grouped by cloud: `AzurePublicCloud (or public, AzureCloud, AzurePublic); …`. */
export function acceptedCloudNames(): string {
  return CLOUD_NAMES.map((c) => `${c} (or ${CLOUD_ALIASES[c].join(', ')})`).join('; ')
}

/** A cloud by name or alias (see lookupCloud); undefined for a retired or unknown name. */
export function findCloud(name: string): AzureCloud | undefined {
  const found = lookupCloud(name)
  return found.kind === 'known' ? found.cloud : undefined
}

/** The cloud whose metadata domain a host name belongs to (exact or subdomain). */
export function cloudOfMetadataHost(host: string): AzureCloud | undefined {
  const h = host.toLowerCase()
  return CLOUD_NAMES.map((c) => CLOUDS[c]).find((c) =>
    c.metadataDomains.some((d) => h === d || h.endsWith(`.${d}`)),
  )
}

/** The IMDS base URL on every Azure VM (plain http, link-local). */
export const IMDS_ENDPOINT = 'http://169.254.169.254'

/** `${arm}/.default`: the scope a credential requests to call ARM. */
export function armScope(armResourceOrEndpoint: string): string {
  return `${armResourceOrEndpoint.replace(/\/+$/, '')}/.default`
}
