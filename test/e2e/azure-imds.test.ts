import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import {
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import {
  E2E_TRUST_DOMAIN,
  ensureSpire,
  freePort,
  run,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  writeFile,
  type NodeAttestorConf,
  type SpireLogLine,
  type SpireProcess,
} from '../support/spire.js'

/**
 * Real spire-server and spire-agent v1.15.3 load our azure_imds executables over go-plugin and
 * attest VMs of the Azure emulator (loopback endpoints): a standalone VM and a Uniform scale-set
 * instance get their SVIDs and upstream's selectors; a second agent on the same VM is refused by TOFU.
 */
const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed
const TRUST_DOMAIN = E2E_TRUST_DOMAIN

const imdsServer = (pluginData: string): NodeAttestorConf => ({
  name: 'azure_imds',
  pluginCmd: IMDS_SERVER_MAIN,
  pluginData,
})

const imdsAgent = (imds: string): NodeAttestorConf => ({
  name: 'azure_imds',
  pluginCmd: IMDS_AGENT_MAIN,
  pluginData: `tenant_domain = "contoso.onmicrosoft.com"\nimds_endpoint = "${imds}"`,
})

const fromPlugin = (l: SpireLogLine): boolean =>
  l.plugin_name === 'azure_imds' && l.external === true

describe(
  `real SPIRE v${SPIRE_VERSION} with the azure_imds plugins against the emulator`,
  { skip, timeout: 300_000 },
  () => {
    let emu: Emulator
    let dir = ''
    let port = 0
    let server: SpireProcess
    const agents: SpireProcess[] = []

    before(async () => {
      if (skip) return
      emu = await startEmulator()
      dir = mkdtempSync(join(tmpdir(), 'e2e-imds'))
      port = await freePort()
      const data = serverHcl(emu, tenantHcl(emu, 'contoso', 'allowed_vm_tags = ["environment"]'))
      const conf = spireServerConf({ dir, port, nodeAttestor: imdsServer(data) })
      server = await startSpireServer(spire.server, dir, conf)
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      await server?.stop('SIGKILL')
      await emu?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    async function attest(
      name: string,
      vm: string,
    ): Promise<{ agent: SpireProcess; spiffeId: string }> {
      const nodeAttestor = imdsAgent(emu.endpoints.imdsFor(vm))
      const agent = startSpireAgent(
        spire.agent,
        dir,
        name,
        spireAgentConf({ dir, name, port, nodeAttestor }),
      )
      agents.push(agent)
      const ok = await agent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        60_000,
        `node attestation of ${vm}`,
      )
      return { agent, spiffeId: String(ok.spiffe_id) }
    }

    function selectorsOf(spiffeId: string): string {
      const shown = run(
        spire.server,
        ['agent', 'show', '-socketPath', `${dir}/server/api.sock`, '-spiffeID', spiffeId],
        dir,
      )
      assert.equal(shown.status, 0, shown.stderr)
      return shown.stdout
    }

    test('a standalone VM attests; the server shows upstream’s selectors under the plugin name', async () => {
      const vm = emu.world.vm('frontend/blog')
      const sub = vm.resourceGroup.subscription
      const { agent, spiffeId } = await attest('blog', 'frontend/blog')
      assert.equal(
        spiffeId,
        `spiffe://${TRUST_DOMAIN}/spire/agent/azure_imds/${sub.tenant.tenantId}/${sub.subscriptionId}/${vm.vmId}`,
      )
      await agent.waitForLine((l) => l.msg === 'Starting agent APIs', 30_000, 'agent APIs')
      const shown = selectorsOf(spiffeId)
      for (const s of [
        `azure_imds:subscription-id:${sub.subscriptionId}`,
        'azure_imds:vm-name:blog',
        'azure_imds:vm-location:eastus',
        'azure_imds:resource-group:frontend',
        'azure_imds:vm-tag:environment:production',
        'azure_imds:network-security-group:frontend:webservers',
        'azure_imds:virtual-network:vnet',
        'azure_imds:virtual-network-subnet:vnet:default',
        // Defakto's attribute names
        `azure_imds:tenant-id:${sub.tenant.tenantId}`,
        `azure_imds:vm-id:${vm.vmId}`,
      ]) {
        assert.match(shown, new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), shown)
      }
      const info = await server.waitForLine(
        (l) => fromPlugin(l) && l.msg === 'Agent attested',
        30_000,
        'the plugin’s info line',
      )
      assert.equal(info.spiffe_id, spiffeId)
      assert.equal(info.found_by, 'resource-id-hint')
    })

    test('a Uniform scale-set instance attests with one ARM read', async () => {
      await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
      const before = emu.counters.get('arm.*')
      const { spiffeId } = await attest('web1', 'frontend/web/1')
      assert.match(selectorsOf(spiffeId), /azure_imds:vmss-name:web/)
      assert.match(selectorsOf(spiffeId), /azure_imds:vm-name:web_1/)
      assert.equal(emu.counters.get('arm.vmss-vm.get'), 1)
      assert.equal(emu.counters.get('arm.*') - before, 1)
    })

    test('a second agent on the same VM is refused through AgentStore TOFU', async () => {
      await new Promise((r) => setTimeout(r, 1_100))
      const nodeAttestor = imdsAgent(emu.endpoints.imdsFor('frontend/blog'))
      const conf = spireAgentConf({ dir, name: 'blog2', port, nodeAttestor })
      const agent = startSpireAgent(spire.agent, dir, 'blog2', conf)
      agents.push(agent)
      await agent.waitForLine(
        (l) => /attestation data has already been used to attest an agent/.test(JSON.stringify(l)),
        60_000,
        'the TOFU refusal',
      )
      const seen = agent.raw.filter((r) => r.includes('already been used'))
      assert.ok(
        seen.some((r) => r.includes('PermissionDenied') && r.includes('nodeattestor(azure_imds)')),
        seen.join('\n'),
      )
      await agent.stop('SIGKILL')
    })

    test('spire-server validate reports the plugin’s notes', () => {
      const conf = spireServerConf({ dir, port, nodeAttestor: imdsServer('tenants = {}') })
      const bad = writeFile(join(dir, 'validate.conf'), conf)
      const res = run(spire.server, ['validate', '-config', bad], dir)
      assert.match(res.stdout + res.stderr, /configuration must have at least one tenant/)
    })
  },
)
