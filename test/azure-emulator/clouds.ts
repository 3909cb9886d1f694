/** Azure clouds the emulator models (azure-facts §3.2, §6.4): host names, issuers, metadata domains. */
export type CloudName = 'public' | 'usgov' | 'china'

export interface Cloud {
  name: CloudName
  /** IMDS `compute.azEnvironment` */
  azEnvironment: string
  authorityHosts: readonly string[]
  armHost: string
  /** ARM audiences a token may carry for this cloud (first one is what the SDKs request). */
  armAudiences: readonly string[]
  metadataDomain: string
  defaultRegion: string
  v1Issuer(tenantId: string): string
  v2Issuer(tenantId: string): string
  cloudInstanceName: string
}

export const CLOUDS: Readonly<Record<CloudName, Cloud>> = {
  public: {
    name: 'public',
    azEnvironment: 'AzurePublicCloud',
    authorityHosts: ['login.microsoftonline.com', 'login.windows.net'],
    armHost: 'management.azure.com',
    armAudiences: [
      'https://management.azure.com/',
      'https://management.azure.com',
      'https://management.core.windows.net/',
    ],
    metadataDomain: 'metadata.azure.com',
    defaultRegion: 'eastus',
    v1Issuer: (tid) => `https://sts.windows.net/${tid}/`,
    v2Issuer: (tid) => `https://login.microsoftonline.com/${tid}/v2.0`,
    cloudInstanceName: 'microsoftonline.com',
  },
  usgov: {
    name: 'usgov',
    azEnvironment: 'AzureUSGovernmentCloud',
    authorityHosts: ['login.microsoftonline.us'],
    armHost: 'management.usgovcloudapi.net',
    armAudiences: [
      'https://management.usgovcloudapi.net/',
      'https://management.usgovcloudapi.net',
      'https://management.core.usgovcloudapi.net/',
    ],
    metadataDomain: 'metadata.azure.us',
    defaultRegion: 'usgovvirginia',
    // upstream parity: US Gov v1 tokens keep the public sts.windows.net issuer (azure-facts §6.4)
    v1Issuer: (tid) => `https://sts.windows.net/${tid}/`,
    v2Issuer: (tid) => `https://login.microsoftonline.us/${tid}/v2.0`,
    cloudInstanceName: 'microsoftonline.us',
  },
  china: {
    name: 'china',
    azEnvironment: 'AzureChinaCloud',
    authorityHosts: ['login.chinacloudapi.cn', 'login.partner.microsoftonline.cn'],
    armHost: 'management.chinacloudapi.cn',
    armAudiences: [
      'https://management.chinacloudapi.cn/',
      'https://management.chinacloudapi.cn',
      'https://management.core.chinacloudapi.cn/',
    ],
    metadataDomain: 'metadata.azure.cn',
    defaultRegion: 'chinaeast2',
    v1Issuer: (tid) => `https://sts.chinacloudapi.cn/${tid}/`,
    v2Issuer: (tid) => `https://login.partner.microsoftonline.cn/${tid}/v2.0`,
    cloudInstanceName: 'partner.microsoftonline.cn',
  },
}

export const CLOUD_NAMES: readonly CloudName[] = ['public', 'usgov', 'china']

/** Certificate issuer hosts (AIA caIssuers) the emulator answers for. */
export const ISSUER_HOSTS: readonly string[] = [
  'www.microsoft.com',
  'caissuers.microsoft.com',
  'cacerts.digicert.com',
  'cacerts.digicert.cn',
  'cacerts.geotrust.com',
  'oneocsp.microsoft.com',
  'crl.microsoft.com',
]

/** Every real host name the emulator serves (the box maps them to 127.0.0.1; TLS certs name them). */
export const AZURE_HOST_NAMES: readonly string[] = [
  ...CLOUD_NAMES.flatMap((c) => [...CLOUDS[c].authorityHosts, CLOUDS[c].armHost]),
  'sts.windows.net',
  'management.core.windows.net',
  ...ISSUER_HOSTS,
]

export function isCloudName(value: unknown): value is CloudName {
  return value === 'public' || value === 'usgov' || value === 'china'
}

export function cloudOfAuthorityHost(host: string): Cloud | undefined {
  const h = host.toLowerCase()
  return CLOUD_NAMES.map((c) => CLOUDS[c]).find((c) => c.authorityHosts.includes(h))
}

export function cloudOfArmHost(host: string): Cloud | undefined {
  const h = host.toLowerCase()
  if (h === 'management.core.windows.net') return CLOUDS.public
  return CLOUD_NAMES.map((c) => CLOUDS[c]).find((c) => c.armHost === h)
}
