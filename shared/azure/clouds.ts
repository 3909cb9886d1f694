/**
 * The Azure clouds the plugins know (azure-facts §3.2, §6.4): where Entra ID, ARM and IMDS live in
 * each, and what the tokens and attested documents issued there look like. Names are the
 * `compute.azEnvironment` values IMDS reports, which are also @azure/identity's cloud names.
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

/** A cloud by name, matched case-insensitively as operators may write `azurepubliccloud`. */
export function findCloud(name: string): AzureCloud | undefined {
  const hit = CLOUD_NAMES.find((c) => c.toLowerCase() === name.trim().toLowerCase())
  return hit === undefined ? undefined : CLOUDS[hit]
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
