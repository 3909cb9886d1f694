// The azure_imds executables (dist/bin) wired to an Azure emulator, for launcher-level and e2e tests.
import { join } from 'node:path'
import { request } from 'node:http'
import { PluginProcess } from '../../shared/host/index.js'
import { encodeImdsPayload } from '../../shared/azure/imds-payload.js'
import type { Emulator } from '../azure-emulator/index.js'
import { PLUGIN_BIN_DIR } from './paths.js'

export const IMDS_SERVER_MAIN = join(PLUGIN_BIN_DIR, 'spire-server-nodeattestor-azure-imds')
export const IMDS_AGENT_MAIN = join(PLUGIN_BIN_DIR, 'spire-agent-nodeattestor-azure-imds')

/** One tenant block of the server's HCL, authenticating to the emulator with the tenant's app. */
export function tenantHcl(emu: Emulator, tenant: string, extra = '', key?: string): string {
  const t = emu.world.tenant(tenant)
  const app = t.apps[0]!
  const cloud = {
    public: 'AzurePublicCloud',
    usgov: 'AzureUSGovernmentCloud',
    china: 'AzureChinaCloud',
  }[t.cloud.name]
  return `"${key ?? t.domains[0]}" = {
    cloud_environment = "${cloud}"
    secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }
    ${extra}
  }`
}

/** Server HCL pointing every Azure endpoint at the emulator and trusting its document roots. */
export function serverHcl(emu: Emulator, tenants: string, extra = ''): string {
  const e = emu.endpoints
  return `tenants = {
  ${tenants}
}
trust_bundle_path = "${e.caFile}"
endpoints = {
  authority_host = "${e.entra}"
  resource_manager = "${e.arm}"
  ca_file = "${e.caFile}"
  aia_issuers = "${e.issuers}"
}
${extra}`
}

export function agentHcl(
  emu: Emulator,
  vm: string,
  tenantDomain = 'contoso.onmicrosoft.com',
): string {
  return `tenant_domain = "${tenantDomain}"\nimds_endpoint = "${emu.endpoints.imdsFor(vm)}"\nretry_timeout = "5s"`
}

export function loadImdsServer(hcl: string, name = 'azure_imds'): Promise<PluginProcess> {
  return PluginProcess.load({ command: IMDS_SERVER_MAIN, name, side: 'server', hcl })
}

export function loadImdsAgent(hcl: string, name = 'azure_imds'): Promise<PluginProcess> {
  return PluginProcess.load({ command: IMDS_AGENT_MAIN, name, side: 'agent', hcl })
}

function getJson(url: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { Metadata: 'true' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>)
        } catch (err) {
          reject(err)
        }
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * What upstream SPIRE's azure_imds agent sends for a VM, byte for byte: the document for the nonce
 * and `{agentDomain, vmssName}` — no resourceId hint.
 */
export async function upstreamAgentAnswer(
  emu: Emulator,
  vm: string,
  nonce: string,
  agentDomain = 'contoso.onmicrosoft.com',
): Promise<Uint8Array> {
  const base = emu.endpoints.imdsFor(vm)
  const doc = await getJson(
    `${base}/metadata/attested/document?api-version=2025-04-07&nonce=${nonce}`,
  )
  const instance = await getJson(`${base}/metadata/instance?api-version=2025-04-07&format=json`)
  const compute = instance['compute'] as Record<string, string>
  return encodeImdsPayload({
    document: { encoding: String(doc['encoding']), signature: String(doc['signature']) },
    metadata: { agentDomain, vmssName: compute['vmScaleSetName'] || null, resourceId: null },
  })
}
