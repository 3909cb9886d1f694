import assert from 'node:assert/strict'
import { after, before } from 'node:test'
import {
  attestAgentToServer,
  HostCallError,
  type AgentAttributesResult,
  type PluginProcess,
} from '../../shared/host/index.js'
import {
  DEFAULT_WORLD,
  startEmulator,
  type Emulator,
  type WorldSpec,
} from '../azure-emulator/index.js'
import { agentHclFor, loadMsi, serverHclFor, type TenantHcl } from './azure-msi-plugins.js'

/** The demo world plus a second public-cloud tenant. */
export const MSI_WORLD: WorldSpec = {
  ...DEFAULT_WORLD,
  tenants: [
    ...DEFAULT_WORLD.tenants,
    {
      name: 'northwind',
      cloud: 'public',
      apps: [{ name: 'spire-server', secret: 'northwind-secret' }],
      subscriptions: [
        {
          name: 'nw',
          resourceGroups: [
            {
              name: 'ops',
              location: 'northeurope',
              virtualMachines: [{ name: 'nw-vm', identity: { systemAssigned: true } }],
            },
          ],
        },
      ],
    },
  ],
}

/** Every tenant of MSI_WORLD, each in its own cloud. */
export const MSI_TENANTS: TenantHcl[] = [
  { tenant: 'contoso' },
  { tenant: 'northwind' },
  { tenant: 'fabrikam-gov', extra: 'cloud_environment = "AzureUSGovernmentCloud"' },
  { tenant: 'contoso-cn', extra: 'cloud_environment = "AzureChinaCloud"' },
]

export interface MsiHarness {
  readonly emu: Emulator
  /** The shared server plugin (every tenant, vm-tag "environment", 1 s key refresh cooldown). */
  readonly server: PluginProcess
  /** Tracks a plugin process for closing after the file's tests. */
  track<T extends PluginProcess>(p: T): T
  /** One agent attesting to `to`; SPIRE then records the agent, so TOFU applies to the next one. */
  attest(vm: string, agentExtra?: string, to?: PluginProcess): Promise<AgentAttributesResult>
  /** A new server plugin (empty AgentStore) with every tenant. */
  freshServer(extra?: string): Promise<PluginProcess>
  tid(tenant: string): string
  sub(tenant: string): string
  agentId(tenant: string, principal: string): string
}

/** Starts an emulator and a server plugin for one test file (before/after hooks). */
export function useMsiHarness(): MsiHarness {
  const open: PluginProcess[] = []
  const state: { emu?: Emulator; server?: PluginProcess } = {}
  before(async () => {
    state.emu = await startEmulator({ world: MSI_WORLD })
    state.server = await loadMsi(
      'server',
      serverHclFor(
        state.emu,
        MSI_TENANTS,
        'allowed_vm_tags = ["environment"]\njwks_refresh_cooldown = "1s"',
      ),
    )
    open.push(state.server)
  })
  after(async () => {
    await Promise.all(open.map((p) => p.close().catch(() => {})))
    assert.deepEqual(
      state.emu?.errors,
      [],
      'the emulator answered no request with an unexpected error',
    )
    await state.emu?.stop()
  })
  const h: MsiHarness = {
    get emu() {
      return state.emu!
    },
    get server() {
      return state.server!
    },
    track(p) {
      open.push(p)
      return p
    },
    async attest(vm, agentExtra = '', to = h.server) {
      const agent = await loadMsi('agent', agentHclFor(h.emu, vm, agentExtra))
      try {
        const attrs = await attestAgentToServer(agent, to)
        to.agentStore.add(attrs.spiffeId)
        return attrs
      } finally {
        await agent.close()
      }
    },
    async freshServer(extra = 'jwks_refresh_cooldown = "1s"') {
      return h.track(await loadMsi('server', serverHclFor(h.emu, MSI_TENANTS, extra)))
    },
    tid: (t) => h.emu.world.tenant(t).tenantId,
    sub: (t) => h.emu.world.tenant(t).subscriptions[0]!.subscriptionId,
    agentId: (t, principal) =>
      `spiffe://example.org/spire/agent/azure_msi/${h.tid(t)}/${principal}`,
  }
  return h
}

/** assert.rejects matcher for a host-side call error with SPIRE's code and the plugin's message. */
export function refused(code: string, message: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof HostCallError, String(err))
    assert.equal(err.code, code, err.message)
    if (typeof message === 'string') assert.equal(err.details, message)
    else assert.match(err.details, message)
    return true
  }
}
