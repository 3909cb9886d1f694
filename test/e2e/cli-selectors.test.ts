import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { exampleEnv } from '../azure-emulator/env.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { IMDS_AGENT_MAIN } from '../support/azure-imds-plugins.js'
import { MSI_AGENT_MAIN } from '../support/azure-msi-plugins.js'
import { PLUGIN_BIN_DIR, REPO_ROOT } from '../support/paths.js'
import {
  ensureSpire,
  freePort,
  serverSocket,
  spireAgentConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  type NodeAttestorConf,
  type SpireProcess,
} from '../support/spire.js'

/**
 * Issue #11's "done when": against the emulator, `spire-azure selectors` (the built
 * dist/bin/spire-azure) prints exactly the selectors and agent ID that real SPIRE records after
 * attesting the VM — for a standalone VM, a Flexible scale-set member and a Uniform instance, with
 * both attestors. Server and CLI read the same file: examples/both/emulator-server.conf with
 * -expandEnv.
 */
const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false
const bins = 'skip' in spire ? { server: '', agent: '' } : spire
const SERVER_CONF = join(REPO_ROOT, 'examples', 'both', 'emulator-server.conf')
const VMS = ['frontend/blog', 'frontend/flex/0', 'frontend/web/1'] as const
const ATTESTORS = ['azure_msi', 'azure_imds'] as const

interface Recorded {
  agentId: string
  selectors: string[]
}

describe(
  `spire-azure selectors equals what real SPIRE v${SPIRE_VERSION} records`,
  { skip, timeout: 600_000 },
  () => {
    let emu: Emulator
    let dir = ''
    let port = 0
    let env: Record<string, string> = {}
    let server: SpireProcess
    const agents: SpireProcess[] = []

    before(async () => {
      if ('skip' in spire) return
      emu = await startEmulator()
      dir = mkdtempSync(join(tmpdir(), 'e2e-cli-selectors-'))
      port = await freePort()
      env = exampleEnv(emu, { runDir: dir, serverPort: port, binDir: PLUGIN_BIN_DIR })
      server = await startSpireServer(bins.server, dir, { file: SERVER_CONF, env })
    })

    after(async () => {
      for (const a of agents) await a.stop('SIGKILL')
      await server?.stop('SIGKILL')
      await emu?.stop()
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    /** One real spire-agent on the VM attests with the attestor; what SPIRE then records. */
    async function attest(vm: string, attestor: (typeof ATTESTORS)[number]): Promise<Recorded> {
      const imds = emu.endpoints.imdsFor(vm)
      const nodeAttestor: NodeAttestorConf =
        attestor === 'azure_msi'
          ? { name: attestor, pluginCmd: MSI_AGENT_MAIN, pluginData: `imds_endpoint = "${imds}"` }
          : {
              name: attestor,
              pluginCmd: IMDS_AGENT_MAIN,
              pluginData: `tenant_domain = "${env['AZURE_TENANT_DOMAIN']}"\nimds_endpoint = "${imds}"`,
            }
      const name = `${attestor}-${vm.replace(/\//g, '-')}`
      // SPIRE rate-limits attestation per client IP
      await new Promise((r) => setTimeout(r, 1_100))
      const agent = startSpireAgent(
        bins.agent,
        dir,
        name,
        spireAgentConf({ dir, name, port, nodeAttestor }),
      )
      agents.push(agent)
      const ok = await agent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        90_000,
        `${attestor} attestation of ${vm}`,
      )
      await agent.stop('SIGKILL')
      const agentId = String(ok.spiffe_id)
      const shown = await run(bins.server, [
        'agent',
        'show',
        '-socketPath',
        serverSocket(dir),
        '-spiffeID',
        agentId,
        '-output',
        'json',
      ])
      assert.equal(shown.status, 0, shown.stderr + shown.stdout)
      // `agent show -output json` prints the Agent message itself
      const shownAgent = JSON.parse(shown.stdout) as {
        id?: { trust_domain?: string; path?: string }
        selectors?: { type: string; value: string }[]
      }
      assert.equal(`spiffe://${shownAgent.id?.trust_domain}${shownAgent.id?.path}`, agentId)
      return {
        agentId,
        selectors: (shownAgent.selectors ?? []).map((s) => `${s.type}:${s.value}`).sort(),
      }
    }

    for (const vm of VMS) {
      test(`${vm}: both attestors`, async () => {
        const recorded = {
          azure_msi: await attest(vm, 'azure_msi'),
          azure_imds: await attest(vm, 'azure_imds'),
        }
        const cli = await run(
          join(PLUGIN_BIN_DIR, 'spire-azure'),
          [
            'selectors',
            '--config',
            SERVER_CONF,
            '--expand-env',
            '--resource-id',
            emu.world.vm(vm).id,
            '--json',
          ],
          env,
        )
        assert.equal(cli.status, 0, cli.stderr)
        const doc = JSON.parse(cli.stdout) as {
          attestors: { plugin: string; agentId: string; selectors: string[] }[]
        }
        assert.deepEqual(
          doc.attestors.map((a) => a.plugin),
          [...ATTESTORS],
        )
        for (const a of doc.attestors) {
          const seen = recorded[a.plugin as (typeof ATTESTORS)[number]]
          assert.equal(a.agentId, seen.agentId, `${a.plugin} agent ID of ${vm}`)
          assert.deepEqual(
            [...a.selectors].sort(),
            seen.selectors,
            `${a.plugin} selectors of ${vm}`,
          )
        }
      })
    }
  },
)

/** A command, asynchronously (the emulator answers from this process), with extra environment. */
function run(
  command: string,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      resolve({ status: null, stdout, stderr: `${stderr}${err.message}` })
    })
    child.on('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })
}
