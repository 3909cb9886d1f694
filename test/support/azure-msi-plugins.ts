import { join } from 'node:path'
import { PluginProcess, type LaunchOptions } from '../../shared/host/index.js'
import type { Emulator } from '../azure-emulator/index.js'
import { PLUGIN_BIN_DIR } from './paths.js'

/** The bundled azure_msi executables (package.json `bin`, dist/bin), as operators deploy them. */
export const MSI_SERVER_MAIN = join(PLUGIN_BIN_DIR, 'spire-server-nodeattestor-azure-msi')
export const MSI_AGENT_MAIN = join(PLUGIN_BIN_DIR, 'spire-agent-nodeattestor-azure-msi')

type Extra = Partial<Omit<LaunchOptions, 'command' | 'side'>> & { trustDomain?: string }

/** Loads a plugin as SPIRE does (launch, Init, Configure). */
export function loadMsi(
  side: 'server' | 'agent',
  hcl: string,
  extra: Extra = {},
): Promise<PluginProcess> {
  return PluginProcess.load({
    command: side === 'server' ? MSI_SERVER_MAIN : MSI_AGENT_MAIN,
    name: 'azure_msi',
    side,
    hcl,
    ...extra,
  })
}

export interface TenantHcl {
  /** Tenant by name in the emulator world. */
  tenant: string
  /** Static app credentials (the tenant's first app) unless false. */
  appCredentials?: boolean
  subscription?: string
  extra?: string
}

/**
 * Server plugin_data pointing at an emulator: endpoint overrides and its CA, one block per tenant
 * with the tenant's app registration as static credentials.
 */
export function serverHclFor(emu: Emulator, tenants: TenantHcl[], extra = ''): string {
  const blocks = tenants.map((t) => {
    const tenant = emu.world.tenant(t.tenant)
    const sub = t.subscription ?? tenant.subscriptions[0]!.subscriptionId
    const app = tenant.apps[0]!
    const creds =
      t.appCredentials === false
        ? ''
        : `\n    app_id = "${app.clientId}"\n    app_secret = "${app.secret}"`
    return `  "${tenant.tenantId}" = {\n    subscription_id = "${sub}"${creds}\n    ${t.extra ?? ''}\n  }`
  })
  return `tenants = {\n${blocks.join('\n')}\n}
endpoints {
  authority_host = "${emu.endpoints.entra}"
  resource_manager = "${emu.endpoints.arm}"
  imds = "${emu.endpoints.imds}"
  ca_file = "${emu.endpoints.caFile}"
}
${extra}`
}

/** Agent plugin_data for one emulated VM. */
export function agentHclFor(emu: Emulator, vm: string, extra = ''): string {
  return `imds_endpoint = "${emu.endpoints.imdsFor(vm)}"\nretry_timeout = "5s"\n${extra}`
}
