/**
 * The smallest server and agent `plugin_data` that accept what `spire-azure doctor` found on a VM,
 * as HCL text. Pure: doctor builds the server plugins' configs from exactly this text (their own
 * buildConfig) and verifies the VM's token and document against them, so the block it prints is
 * the block it checked.
 */
import { CLOUDS, IMDS_ENDPOINT, type AzureCloud } from '../azure/clouds.js'
import type { MsiIdentitySelector } from '../azure/imds.js'

/** The operator's endpoint overrides (doctor's `--authority-host`, … options), as the servers take them. */
export interface EndpointSettings {
  authorityHost: string | undefined
  resourceManager: string | undefined
  aiaIssuers: string | undefined
  /** Extra PEM roots: TLS to Entra ID and ARM (`endpoints.ca_file`), and documents (`trust_bundle_path`). */
  caFile: string | undefined
}

export interface MsiServerBlock {
  tenantId: string
  cloud: AzureCloud
  /** The audience the agent requests; written only when it is not the cloud's ARM resource. */
  resource: string
  subscriptionId: string
  /** Principals that attested here: offered as a commented-out allow-list. */
  principalIds: readonly string[]
  endpoints: EndpointSettings
}

export function msiServerPluginData(b: MsiServerBlock): string {
  const tenant = [
    `subscription_id = ${q(b.subscriptionId)}`,
    ...(b.resource === b.cloud.armResourceId ? [] : [`resource_id = ${q(b.resource)}`]),
    ...(b.principalIds.length === 0
      ? []
      : [`# principal_ids = [${b.principalIds.map(q).join(', ')}]  # only these identities`]),
  ]
  return [
    'tenants = {',
    ...indent([`${q(b.tenantId)} = {`, ...indent(tenant), '}']),
    '}',
    ...cloudLine(b.cloud),
    ...endpointsBlock([
      ['authority_host', b.endpoints.authorityHost],
      ['resource_manager', b.endpoints.resourceManager],
      ['ca_file', b.endpoints.caFile],
    ]),
  ].join('\n')
}

export interface ImdsServerBlock {
  /** The map key: the agent's tenant_domain (a domain), or the tenant ID. */
  key: string
  /** Written as `tenant_id` when the key is a domain, so the server needs no lookup. */
  tenantId: string | undefined
  cloud: AzureCloud
  subscriptionId: string
  endpoints: EndpointSettings
}

export function imdsServerPluginData(b: ImdsServerBlock): string {
  const tenant = [
    ...(b.tenantId === undefined || b.tenantId.toLowerCase() === b.key.toLowerCase()
      ? []
      : [`tenant_id = ${q(b.tenantId)}`]),
    `# restrict_to_subscriptions = [${q(b.subscriptionId)}]  # only this subscription`,
  ]
  return [
    'tenants = {',
    ...indent([`${q(b.key)} = {`, ...indent(tenant), '}']),
    '}',
    ...cloudLine(b.cloud),
    ...(b.endpoints.caFile === undefined ? [] : [`trust_bundle_path = ${q(b.endpoints.caFile)}`]),
    ...endpointsBlock([
      ['authority_host', b.endpoints.authorityHost],
      ['resource_manager', b.endpoints.resourceManager],
      ['ca_file', b.endpoints.caFile],
      ['aia_issuers', b.endpoints.aiaIssuers],
    ]),
  ].join('\n')
}

/**
 * The azure_msi agent's plugin_data for one identity. The agent requests the public cloud's ARM
 * audience unless told otherwise (upstream's default), whatever cloud the VM is in.
 */
export function msiAgentPluginData(o: {
  identity: MsiIdentitySelector
  resource: string
  imdsEndpoint: string
}): string {
  return [
    ...(o.identity.kind === 'default' ? [] : [`${o.identity.kind} = ${q(o.identity.value)}`]),
    ...(o.resource === CLOUDS.AzurePublicCloud.armResourceId
      ? []
      : [`resource_id = ${q(o.resource)}`]),
    ...imdsLine(o.imdsEndpoint),
  ].join('\n')
}

/** The azure_imds agent's plugin_data: its tenant_domain picks the server's tenant block. */
export function imdsAgentPluginData(o: { tenantDomain: string; imdsEndpoint: string }): string {
  return [`tenant_domain = ${q(o.tenantDomain)}`, ...imdsLine(o.imdsEndpoint)].join('\n')
}

/** A `NodeAttestor "<name>" { plugin_data { … } }` block as server.conf and agent.conf hold it. */
export function nodeAttestorBlock(plugin: string, pluginData: string): string {
  const body = pluginData === '' ? [] : pluginData.split('\n')
  return [
    `NodeAttestor ${q(plugin)} {`,
    ...indent(body.length === 0 ? ['plugin_data {}'] : ['plugin_data {', ...indent(body), '}']),
    '}',
  ].join('\n')
}

function cloudLine(cloud: AzureCloud): string[] {
  return cloud.name === 'AzurePublicCloud' ? [] : [`cloud_environment = ${q(cloud.name)}`]
}

function imdsLine(endpoint: string): string[] {
  return endpoint === IMDS_ENDPOINT ? [] : [`imds_endpoint = ${q(endpoint)}`]
}

function endpointsBlock(entries: [string, string | undefined][]): string[] {
  const set = entries.filter((e): e is [string, string] => e[1] !== undefined)
  if (set.length === 0) return []
  return ['endpoints = {', ...indent(set.map(([k, v]) => `${k} = ${q(v)}`)), '}']
}

function indent(lines: readonly string[]): string[] {
  return lines.map((l) => `    ${l}`)
}

/** An HCL string literal (HCL's escapes are JSON's for everything we write). */
function q(value: string): string {
  return JSON.stringify(value)
}
