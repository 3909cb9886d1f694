import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN, serverHclFor } from '../support/azure-msi-plugins.js'
import {
  ensureSpire,
  freePort,
  SPIRE_VERSION,
  SpireProcess,
  writeFile,
  type SpireLogLine,
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
const TRUST_DOMAIN = 'example.org'
const NODE_ALIAS = `spiffe://${TRUST_DOMAIN}/node/frontend-blog`
const WORKLOAD = `spiffe://${TRUST_DOMAIN}/workload/blog-web`

/** Like run(), but async: the emulator lives in this process and must keep answering meanwhile. */
function exec(
  command: string,
  args: string[],
  cwd: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')

function serverConf(dir: string, port: number, emu: Emulator): string {
  return `server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${dir}/server/api.sock"
  trust_domain = "${TRUST_DOMAIN}"
  data_dir = "${dir}/server/data"
  log_level = "DEBUG"
  log_format = "json"
}

plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${dir}/server/data/datastore.sqlite3"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  NodeAttestor "azure_msi" {
    plugin_cmd = "${MSI_SERVER_MAIN}"
    plugin_data {
${indent(serverHclFor(emu, [{ tenant: 'contoso' }], 'allowed_vm_tags = ["environment"]'))}
    }
  }
}
`
}

function agentConf(dir: string, name: string, port: number, imds: string): string {
  return `agent {
  data_dir = "${dir}/${name}/data"
  log_level = "DEBUG"
  log_format = "json"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = "${dir}/${name}/agent.sock"
  trust_bundle_path = "${dir}/bundle.pem"
  trust_domain = "${TRUST_DOMAIN}"
}

plugins {
  NodeAttestor "azure_msi" {
    plugin_cmd = "${MSI_AGENT_MAIN}"
    plugin_data {
      imds_endpoint = "${imds}"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`
}

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

    before(async () => {
      if ('skip' in spire) return
      emu = await startEmulator()
      dir = mkdtempSync(join(tmpdir(), 'e2e-msi'))
      port = await freePort()
      writeFile(join(dir, 'server.conf'), serverConf(dir, port, emu))
      server = new SpireProcess(bins.server, ['run', '-config', join(dir, 'server.conf')], dir)
      await server.waitForLine(
        (l) => /Starting Server APIs/i.test(l.msg),
        60_000,
        'the server to start',
      )
      const sock = `${dir}/server/api.sock`
      for (let i = 0; ; i++) {
        const res = await exec(bins.server, ['bundle', 'show', '-socketPath', sock], dir)
        if (res.status === 0) {
          writeFile(join(dir, 'bundle.pem'), res.stdout)
          break
        }
        if (i > 100) throw new Error(`bundle show failed: ${res.stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
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
      const conf = writeFile(
        join(dir, 'agent1.conf'),
        agentConf(dir, 'agent1', port, emu.endpoints.imdsFor('frontend/blog')),
      )
      const agent = new SpireProcess(bins.agent, ['run', '-config', conf], dir)
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
      for (const s of [
        'azure_msi:vm-name:frontend:blog',
        'azure_msi:network-security-group:frontend:webservers',
        'azure_msi:virtual-network-subnet:frontend:vnet:default',
        'azure_msi:vm-tag:environment:production',
      ]) {
        assert.ok(shown.stdout.includes(s), `${s} in\n${shown.stdout}`)
      }
      const info = await server.waitForLine(
        (l) => fromPlugin(l) && l.msg === 'Agent attested',
        5_000,
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
      const conf = writeFile(
        join(dir, 'agent2.conf'),
        agentConf(dir, 'agent2', port, emu.endpoints.imdsFor('frontend/blog')),
      )
      const agent = new SpireProcess(bins.agent, ['run', '-config', conf], dir)
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

    test('spire-server validate reports our config notes', async () => {
      const bad = writeFile(
        join(dir, 'validate.conf'),
        serverConf(dir, port, emu).replace('allowed_vm_tags', 'allowed_vm_tag'),
      )
      const res = await exec(bins.server, ['validate', '-config', bad], dir)
      assert.match(res.stdout + res.stderr, /unknown configurations detected: allowed_vm_tag/)
    })
  },
)
