// Fault matrix (issue 14 item 3): a plugin process killed mid-attestation. The azure_msi server
// plugin is SIGKILLed while an attestation waits on Entra ID (the emulator holds the key-set
// request open), first under the host launcher, then under real spire-server with both attestors.
// What is asserted is what the host and SPIRE actually do: the in-flight attestation fails with a
// clear error, the killed plugin is not restarted, and the other attestor keeps attesting.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, test } from 'node:test'
import { encodeMsiPayload } from '../../shared/azure/payloads.js'
import {
  attestAgentToServer,
  HostCallError,
  serverAttest,
  type PluginProcess,
} from '../../shared/host/index.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import {
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  agentHcl,
  loadImdsAgent,
  loadImdsServer,
  serverHcl,
  tenantHcl,
} from '../support/azure-imds-plugins.js'
import {
  MSI_AGENT_MAIN,
  MSI_SERVER_MAIN,
  loadMsi,
  serverHclFor,
} from '../support/azure-msi-plugins.js'
import {
  ensureSpire,
  freePort,
  pidsMatching,
  spireAgentConf,
  spireServerConf,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  type SpireProcess,
} from '../support/spire.js'

/** An injected latency of HOLD_MS holds the request until the test releases it. */
const HOLD_MS = 3_600_000
let holding = { entered: 0, release: () => {}, gate: Promise.resolve() }
function holdRequests(): void {
  let release = (): void => {}
  const gate = new Promise<void>((r) => (release = r))
  holding = { entered: 0, release, gate }
}

let emu: Emulator
before(async () => {
  emu = await startEmulator({
    sleep: (ms) => {
      if (ms !== HOLD_MS) return new Promise((r) => setTimeout(r, ms).unref())
      holding.entered++
      return holding.gate
    },
  })
})
after(async () => {
  holding.release()
  await emu.stop()
})
beforeEach(() => emu.faults.clear())

/** Waits (event loop turns; no clock in any assertion) until `cond` holds; a hang guard bounds it. */
async function until(cond: () => boolean, what: string, turns = 3_000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`never happened: ${what}`)
}

describe('a plugin process killed mid-attestation (host launcher)', () => {
  test('plugin killed mid-attestation: the host reports Unavailable, the plugin stays down, the other attestor keeps attesting', async () => {
    const open: PluginProcess[] = []
    try {
      const msi = await loadMsi('server', serverHclFor(emu, [{ tenant: 'contoso' }]))
      open.push(msi)
      const imds = await loadImdsServer(serverHcl(emu, tenantHcl(emu, 'contoso')))
      open.push(imds)
      // the azure_msi attestation waits on Entra's key set, which the emulator holds open
      holdRequests()
      emu.faults.set('entra.jwks', { kind: 'latency', ms: HOLD_MS })
      const { token } = await emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
      const inFlight = serverAttest(msi, encodeMsiPayload(token))
      inFlight.catch(() => {})
      await until(() => holding.entered >= 1, 'the key-set request held')

      msi.kill('SIGKILL')
      await assert.rejects(inFlight, (err: unknown) => {
        assert.ok(err instanceof HostCallError, String(err))
        // grpc-go's words for a connection that went away under a stream, with SPIRE's prefix
        assert.equal(err.code, 'Unavailable')
        assert.equal(err.details, 'error reading from server: connection closed')
        assert.equal(err.message, `nodeattestor(azure_msi): ${err.details}`)
        return true
      })
      assert.deepEqual(await msi.exited, { code: null, signal: 'SIGKILL' })

      // the other attestor, in its own process, is untouched: an azure_imds agent attests
      const agent = await loadImdsAgent(agentHcl(emu, 'frontend/worker'))
      open.push(agent)
      const attrs = await attestAgentToServer(agent, imds)
      assert.match(attrs.spiffeId, /^spiffe:\/\/example\.org\/spire\/agent\/azure_imds\//)
      assert.ok(attrs.selectorValues.includes('vm-name:worker'), attrs.selectorValues.join())

      // nothing restarts the killed plugin (SPIRE does not either): the next azure_msi attestation fails
      await assert.rejects(serverAttest(msi, encodeMsiPayload(token)), (err: unknown) => {
        assert.ok(err instanceof HostCallError, String(err))
        assert.equal(err.code, 'Unavailable')
        return true
      })
    } finally {
      holding.release()
      await Promise.all(open.map((p) => p.close().catch(() => {})))
    }
  })
})

const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false

/** The parent PID of a process (Linux /proc). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // pid (comm) state ppid …; comm may hold spaces, so read after its closing parenthesis
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return undefined
  }
}

describe(
  `a plugin process killed mid-attestation (real SPIRE v${SPIRE_VERSION})`,
  { skip, timeout: 180_000 },
  () => {
    let dir = ''
    let port = 0
    let server: SpireProcess
    const agents: SpireProcess[] = []

    before(async () => {
      if ('skip' in spire) return
      dir = mkdtempSync(join(tmpdir(), 'e2e-killed'))
      port = await freePort()
      server = await startSpireServer(
        spire.server,
        dir,
        spireServerConf({
          dir,
          port,
          logLevel: 'INFO',
          nodeAttestor: [
            {
              name: 'azure_msi',
              pluginCmd: MSI_SERVER_MAIN,
              pluginData: serverHclFor(emu, [{ tenant: 'contoso' }]),
            },
            {
              name: 'azure_imds',
              pluginCmd: IMDS_SERVER_MAIN,
              pluginData: serverHcl(emu, tenantHcl(emu, 'contoso')),
            },
          ],
        }),
      )
    })

    after(async () => {
      holding.release()
      for (const a of agents) await a.stop('SIGKILL')
      await server?.stop('SIGKILL')
      if (dir) rmSync(dir, { recursive: true, force: true })
    })

    test('plugin killed mid-attestation under spire-server: the agent gets an error, spire-server keeps serving azure_imds', async () => {
      if ('skip' in spire) return
      const serverPid = server.child.pid!
      const msiPlugin = pidsMatching(MSI_SERVER_MAIN).filter((p) => parentOf(p) === serverPid)
      assert.equal(msiPlugin.length, 1, 'one azure_msi plugin process, a child of spire-server')

      holdRequests()
      emu.faults.set('entra.jwks', { kind: 'latency', ms: HOLD_MS })
      const msiAgent = startSpireAgent(
        spire.agent,
        dir,
        'msi',
        spireAgentConf({
          dir,
          name: 'msi',
          port,
          nodeAttestor: {
            name: 'azure_msi',
            pluginCmd: MSI_AGENT_MAIN,
            pluginData: `imds_endpoint = "${emu.endpoints.imdsFor('frontend/blog')}"`,
          },
        }),
      )
      agents.push(msiAgent)
      await until(() => holding.entered >= 1, 'the key-set request held', 4_000)

      process.kill(msiPlugin[0]!, 'SIGKILL')
      // the agent is told, with SPIRE's code and the plugin's name, and backs off to retry
      const failed = await msiAgent.waitForLine(
        (l) => l.msg === 'Failed to retrieve attestation result',
        60_000,
        'the agent to report the failed attestation',
      )
      assert.equal(failed.level, 'warning')
      assert.equal(
        failed.error,
        'failed to receive attestation response: rpc error: code = Unavailable desc = nodeattestor(azure_msi): error reading from server: EOF',
      )
      assert.equal(typeof failed.retry_interval, 'number')
      // spire-server logs the plugin's death and the failed AttestAgent call, naming the plugin
      const exited = await server.waitForLine(
        (l) => l.msg === 'plugin process exited' && l.plugin_name === 'azure_msi',
        30_000,
        'the plugin exit',
      )
      assert.equal(exited.level, 'error')
      assert.equal(exited.error, 'signal: killed')
      const apiError = server.find(
        (l) => l.method === 'AttestAgent' && l.node_attestor_type === 'azure_msi',
      )
      assert.equal(apiError?.level, 'error')
      assert.equal(apiError?.msg, 'Nodeattestor(azure_msi): error reading from server: EOF')
      // SPIRE does not restart the plugin: the agent's retry fails Unavailable at the dial
      const retried = await msiAgent.waitForLine(
        (l) =>
          l.msg === 'Failed to retrieve attestation result' &&
          /code = Unavailable desc = nodeattestor\(azure_msi\): connection error: .*connection refused/.test(
            String(l.error),
          ),
        60_000,
        'the agent retry refused at the dial',
      )
      assert.ok(retried)
      assert.ok(
        server.child.exitCode === null && server.child.signalCode === null,
        'spire-server is still running',
      )
      holding.release()
      emu.faults.clear()

      // the other plugin on the same server keeps attesting
      await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
      const imdsAgent = startSpireAgent(
        spire.agent,
        dir,
        'imds',
        spireAgentConf({
          dir,
          name: 'imds',
          port,
          nodeAttestor: {
            name: 'azure_imds',
            pluginCmd: IMDS_AGENT_MAIN,
            pluginData: `tenant_domain = "contoso.onmicrosoft.com"\nimds_endpoint = "${emu.endpoints.imdsFor('frontend/worker')}"`,
          },
        }),
      )
      agents.push(imdsAgent)
      const ok = await imdsAgent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        60_000,
        'azure_imds node attestation',
      )
      assert.match(String(ok.spiffe_id), /^spiffe:\/\/example\.org\/spire\/agent\/azure_imds\//)
    })
  },
)
