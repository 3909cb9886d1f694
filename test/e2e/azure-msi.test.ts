import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { isFailureReason } from '../../shared/plugin/index.js'
import { REPO_ROOT } from '../support/paths.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN, serverHclFor } from '../support/azure-msi-plugins.js'
import {
  E2E_TRUST_DOMAIN,
  ensureSpire,
  exec,
  freePort,
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
 * The real-SPIRE loop for azure_msi: spire-server and spire-agent v1.15.3 load our two plugins
 * (`plugin_cmd` = the bundled executable in dist/bin), the agent attests with a managed
 * identity token from the emulator's IMDS, the server verifies it against the emulator's Entra ID
 * and resolves selectors from its ARM, and a workload on that node gets an X.509 SVID through an
 * entry keyed on `azure_msi:vm-name:frontend:blog`.
 */
const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false
const bins = 'skip' in spire ? { server: '', agent: '' } : spire
const TRUST_DOMAIN = E2E_TRUST_DOMAIN
const NODE_ALIAS = `spiffe://${TRUST_DOMAIN}/node/frontend-blog`
const WORKLOAD = `spiffe://${TRUST_DOMAIN}/workload/blog-web`

const msiServer = (
  emu: Emulator,
  extra = 'allowed_vm_tags = ["environment"]',
): NodeAttestorConf => ({
  name: 'azure_msi',
  pluginCmd: MSI_SERVER_MAIN,
  pluginData: serverHclFor(emu, [{ tenant: 'contoso' }], extra),
})

const msiAgent = (imds: string): NodeAttestorConf => ({
  name: 'azure_msi',
  pluginCmd: MSI_AGENT_MAIN,
  pluginData: `imds_endpoint = "${imds}"`,
})

const fromPlugin = (l: SpireLogLine): boolean =>
  l.plugin_name === 'azure_msi' && l.external === true

describe(
  `real SPIRE v${SPIRE_VERSION} with the azure_msi plugins and the Azure emulator`,
  { skip, timeout: 300_000 },
  () => {
    let dir = ''
    let port = 0
    let emu: Emulator
    let server: SpireProcess
    const agents: SpireProcess[] = []
    let agentId = ''
    let promPort = 0

    before(async () => {
      if ('skip' in spire) return
      emu = await startEmulator()
      dir = mkdtempSync(join(tmpdir(), 'e2e-msi'))
      port = await freePort()
      promPort = await freePort()
      server = await startSpireServer(
        bins.server,
        dir,
        spireServerConf({
          dir,
          port,
          nodeAttestor: msiServer(emu),
          extra: `telemetry {\n  Prometheus {\n    host = "127.0.0.1"\n    port = ${promPort}\n  }\n}\n`,
        }),
      )
      const sock = `${dir}/server/api.sock`
      // a node alias for every agent on frontend/blog, and a workload under it
      const uid = String(process.getuid?.() ?? 0)
      const node = await exec(
        bins.server,
        [
          'entry',
          'create',
          '-socketPath',
          sock,
          '-node',
          '-spiffeID',
          NODE_ALIAS,
          '-selector',
          'azure_msi:vm-name:frontend:blog',
        ],
        dir,
      )
      assert.equal(node.status, 0, node.stderr + node.stdout)
      const wl = await exec(
        bins.server,
        [
          'entry',
          'create',
          '-socketPath',
          sock,
          '-parentID',
          NODE_ALIAS,
          '-spiffeID',
          WORKLOAD,
          '-selector',
          `unix:uid:${uid}`,
        ],
        dir,
      )
      assert.equal(wl.status, 0, wl.stderr + wl.stdout)
      const blog = emu.world.vm('frontend/blog')
      agentId = `spiffe://${TRUST_DOMAIN}/spire/agent/azure_msi/${blog.resourceGroup.subscription.tenant.tenantId}/${blog.identity.system!.principalId}`
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      await server?.stop('SIGKILL')
      await emu?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    test('the agent attests with its managed identity; SPIRE records the azure_msi selectors', async () => {
      const nodeAttestor = msiAgent(emu.endpoints.imdsFor('frontend/blog'))
      const conf = spireAgentConf({ dir, name: 'agent1', port, nodeAttestor })
      const agent = startSpireAgent(bins.agent, dir, 'agent1', conf)
      agents.push(agent)
      const ok = await agent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        90_000,
        'node attestation',
      )
      assert.equal(ok.spiffe_id, agentId)
      const shown = await exec(
        bins.server,
        ['agent', 'show', '-socketPath', `${dir}/server/api.sock`, '-spiffeID', agentId],
        dir,
      )
      assert.equal(shown.status, 0, shown.stderr)
      const blog = emu.world.vm('frontend/blog')
      for (const s of [
        'azure_msi:vm-name:frontend:blog',
        'azure_msi:network-security-group:frontend:webservers',
        'azure_msi:virtual-network-subnet:frontend:vnet:default',
        'azure_msi:vm-tag:environment:production',
        // Defakto's attribute names
        `azure_msi:tenant-id:${blog.resourceGroup.subscription.tenant.tenantId}`,
        `azure_msi:principal-id:${blog.identity.system!.principalId}`,
      ]) {
        assert.ok(shown.stdout.includes(s), `${s} in\n${shown.stdout}`)
      }
      const info = await server.waitForLine(
        (l) => fromPlugin(l) && l.msg === 'Agent attested',
        30_000,
        'plugin info line',
      )
      assert.equal(info.level, 'info')
      assert.equal(info.spiffe_id, agentId)
    })

    test('a workload on that node gets an X.509 SVID through the entry on azure_msi:vm-name:frontend:blog', async () => {
      let last = ''
      for (let i = 0; i < 60; i++) {
        const res = await exec(
          bins.agent,
          ['api', 'fetch', 'x509', '-socketPath', `${dir}/agent1/agent.sock`],
          dir,
        )
        last = res.stdout + res.stderr
        if (res.status === 0 && last.includes(WORKLOAD)) break
        await new Promise((r) => setTimeout(r, 1_000))
      }
      assert.match(last, new RegExp(`SPIFFE ID:\\s+${WORKLOAD.replace(/[/.]/g, '\\$&')}`), last)
    })

    test("the same VM attesting again is refused by TOFU, with SPIRE's facade prefix", async () => {
      await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
      const nodeAttestor = msiAgent(emu.endpoints.imdsFor('frontend/blog'))
      const conf = spireAgentConf({ dir, name: 'agent2', port, nodeAttestor })
      const agent = startSpireAgent(bins.agent, dir, 'agent2', conf)
      agents.push(agent)
      const refusal = await agent.waitForLine(
        (l) =>
          /nodeattestor\(azure_msi\): attestation data has already been used to attest an agent/.test(
            JSON.stringify(l),
          ),
        90_000,
        'the TOFU refusal',
      )
      assert.ok(refusal)
      await agent.stop('SIGKILL')
    })

    test('SPIRE’s Prometheus output carries the envelope metrics with the documented reason names', async () => {
      // after the attestation and the TOFU refusal above; SPIRE rewrites label values to [A-Za-z0-9_].
      // The plugin sums counters and sends them once a second: poll (bounded) until the refusal's is in.
      let lines: string[] = []
      for (let i = 0; i < 100; i++) {
        const res = await fetch(`http://127.0.0.1:${promPort}/metrics`)
        const text = await res.text()
        lines = text.split('\n').filter((l) => /^[a-z_]*azure_msi_attest/.test(l))
        if (lines.some((l) => /reason="already_attested"/.test(l))) break
        await new Promise((r) => setTimeout(r, 100))
      }
      assert.ok(
        lines.some((l) => /result="ok"/.test(l)),
        lines.join('\n'),
      )
      const reasons = [
        ...new Set(lines.flatMap((l) => [...l.matchAll(/reason="([^"]*)"/g)].map((m) => m[1]!))),
      ]
      assert.ok(reasons.includes('already_attested'), lines.join('\n'))
      const doc = readFileSync(
        join(REPO_ROOT, 'docs', 'plugin_server_nodeattestor_azure_msi.md'),
        'utf8',
      )
      for (const reason of reasons) {
        // one spelling: what SPIRE exports is a FailureReason as written, and the docs name it
        assert.ok(isFailureReason(reason), reason)
        assert.ok(doc.includes(`\`${reason}\``) || reasonsDoc().includes(`\`${reason}\``), reason)
      }
    })

    test('spire-server validate reports our config notes', async () => {
      const conf = spireServerConf({
        dir,
        port,
        nodeAttestor: msiServer(emu, 'allowed_vm_tag = ["environment"]'),
      })
      const bad = writeFile(join(dir, 'validate.conf'), conf)
      const res = await exec(bins.server, ['validate', '-config', bad], dir)
      assert.match(res.stdout + res.stderr, /unknown configurations detected: allowed_vm_tag/)
    })
  },
)

/** docs/failure-reasons.md: the table of every FailureReason. */
function reasonsDoc(): string {
  return readFileSync(join(REPO_ROOT, 'docs', 'failure-reasons.md'), 'utf8')
}
