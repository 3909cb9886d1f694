// Runs inside Azure in a box (scripts/azure-in-a-box.sh), where 169.254.169.254 and the real Azure
// host names are the emulator: pairs upstream SPIRE's built-in azure_msi with our plugins, both
// ways, and prints one JSON line with what each server recorded. Driven by azure-msi-compat.test.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN } from '../support/azure-msi-plugins.js'
import {
  exec,
  freePort,
  serverSocket,
  spireAgentConf,
  spireServerConf,
  startSpireAgent,
  startSpireServer,
  type NodeAttestorConf,
  type SpireProcess,
} from '../support/spire.js'

const [serverBin = '', agentBin = ''] = process.argv.slice(2)
const TD = 'example.org'

interface Info {
  tenants: {
    name: string
    tenantId: string
    apps: { clientId: string; secret: string }[]
    subscriptions: { subscriptionId: string }[]
  }[]
}

/** azure_msi, ours (`external`) or SPIRE's built-in (undefined). */
const msi = (external: string | undefined, pluginData: string): NodeAttestorConf => ({
  name: 'azure_msi',
  ...(external === undefined ? {} : { pluginCmd: external }),
  pluginData,
})

interface Server {
  proc: SpireProcess
  port: number
  sock: string
  bundle: string
}

async function startServer(dir: string, name: string, attestor: NodeAttestorConf): Promise<Server> {
  const port = await freePort()
  const bundle = join(dir, `${name}-bundle.pem`)
  const conf = spireServerConf({ dir, port, name, nodeAttestor: attestor, trustDomain: TD })
  const proc = await startSpireServer(serverBin, dir, conf, { name, bundlePath: bundle })
  return { proc, port, sock: serverSocket(dir, name), bundle }
}

async function attest(dir: string, name: string, server: Server, attestor: NodeAttestorConf) {
  const conf = spireAgentConf({
    dir,
    name,
    port: server.port,
    nodeAttestor: attestor,
    trustBundle: server.bundle,
    trustDomain: TD,
  })
  const agent = startSpireAgent(agentBin, dir, name, conf)
  try {
    const done = await agent.waitForLine(
      (l) => l.msg === 'Node attestation was successful' || l.msg === 'Agent crashed',
      90_000,
      `${name} attestation`,
    )
    if (done.msg === 'Agent crashed') return { error: String(done.error) }
    const spiffeId = String(done.spiffe_id)
    const shown = await exec(
      serverBin,
      ['agent', 'show', '-socketPath', server.sock, '-spiffeID', spiffeId],
      dir,
    )
    const selectors = [...shown.stdout.matchAll(/Selectors\s*:\s*(\S+)/g)].map((m) => m[1])
    return { spiffeId, selectors }
  } finally {
    await agent.stop('SIGKILL')
  }
}

async function main(): Promise<void> {
  const info = JSON.parse(readFileSync(process.env.AZURE_EMULATOR_INFO ?? '', 'utf8')) as Info
  const contoso = info.tenants.find((t) => t.name === 'contoso')!
  const tenantData = `tenants = {
  "${contoso.tenantId}" = {
    subscription_id = "${contoso.subscriptions[0]!.subscriptionId}"
    app_id = "${contoso.apps[0]!.clientId}"
    app_secret = "${contoso.apps[0]!.secret}"
  }
}`
  const dir = mkdtempSync(join(tmpdir(), 'msi-compat'))
  const procs: SpireProcess[] = []
  try {
    const upstream = await startServer(dir, 'upstream-server', msi(undefined, tenantData))
    procs.push(upstream.proc)
    const ours = await startServer(dir, 'our-server', msi(MSI_SERVER_MAIN, tenantData))
    procs.push(ours.proc)
    const ourAgentToUpstream = await attest(dir, 'our-agent', upstream, msi(MSI_AGENT_MAIN, ''))
    // SPIRE rate-limits attestation per client IP
    await new Promise((r) => setTimeout(r, 1_100))
    const upstreamAgentToOurs = await attest(dir, 'upstream-agent', ours, msi(undefined, ''))
    process.stdout.write(`${JSON.stringify({ ourAgentToUpstream, upstreamAgentToOurs })}\n`)
  } finally {
    for (const p of procs) await p.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
