// Runs inside scripts/azure-in-a-box.sh (not a test file): the compatibility matrix's cells for one or
// more SPIRE releases and config forms, on production URLs (169.254.169.254 and Azure's host names
// are the emulator). Per (release, form) it starts two spire-servers, each serving both attestors:
// `ours` (the release's spire-server loading our plugins) and `upstream` (its TEST-ONLY test-roots
// build with SPIRE's built-in plugins, trusting the emulator's document roots through
// SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS). Each cell starts one spire-agent (ours or the built-in
// attestor), waits for its verdict, reads the agent's selectors and evicts it, so the next cell can
// attest the same VM again. Prints one JSON line: MatrixOutcome[]. Driven by test/e2e/matrix.test.ts.
//   node matrix-driver.js '<JSON MatrixDriverInput>'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ConfigForm } from './config-forms.js'
import { IMDS_AGENT_MAIN, IMDS_SERVER_MAIN } from './azure-imds-plugins.js'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN } from './azure-msi-plugins.js'
import { MATRIX_PAIRINGS, type MatrixAttestor, type MatrixOutcome } from './matrix.js'
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
} from './spire.js'

export interface MatrixDriverInput {
  targets: { version: string; bin: string; testRootsServer: string }[]
  forms: ConfigForm[]
  /** How many (release, form) groups run at once (each is two servers). */
  concurrency: number
}

interface Info {
  tenants: {
    name: string
    tenantId: string
    domains: string[]
    apps: { clientId: string; secret: string }[]
    subscriptions: { subscriptionId: string }[]
  }[]
}

/** SPIRE rate-limits node attestation per client IP (1/s): cells on one server keep this gap. */
const ATTEST_GAP_MS = 1_100
const VERDICT_TIMEOUT_MS = 60_000
/**
 * The agent's log line carrying a refusal: a crash (PermissionDenied ends the agent), or the first
 * retry of any other refusal (e.g. InvalidArgument, retried with backoff for about 40 s).
 */
const REFUSED = ['Agent crashed', 'Failed to retrieve attestation result']

/** Progress on stderr (the test shows it only when the driver fails). */
const trace = (line: string): void => void process.stderr.write(`matrix-driver: ${line}\n`)

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function pluginData(info: Info, rootsFile: string) {
  const contoso = info.tenants.find((t) => t.name === 'contoso')!
  const app = contoso.apps[0]!
  const msi = `tenants = {
  "${contoso.tenantId}" = {
    subscription_id = "${contoso.subscriptions[0]!.subscriptionId}"
    app_id = "${app.clientId}"
    app_secret = "${app.secret}"
  }
}`
  const imdsTenants = `tenants = {
  "${contoso.domains[0]}" = {
    secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }
    allowed_vm_tags = ["environment"]
  }
}`
  return {
    server: {
      ours: {
        azure_msi: msi,
        // our plugin's own setting for the emulator's document roots; every URL is Azure's own
        azure_imds: `${imdsTenants}\ntrust_bundle_path = "${rootsFile}"`,
      },
      upstream: { azure_msi: msi, azure_imds: imdsTenants },
    },
    agent: { azure_msi: '', azure_imds: `tenant_domain = "${contoso.domains[0]}"` },
  }
}

const MAINS = {
  server: { azure_msi: MSI_SERVER_MAIN, azure_imds: IMDS_SERVER_MAIN },
  agent: { azure_msi: MSI_AGENT_MAIN, azure_imds: IMDS_AGENT_MAIN },
}

function attestorConf(
  side: 'server' | 'agent',
  who: 'ours' | 'upstream',
  attestor: MatrixAttestor,
  data: string,
): NodeAttestorConf {
  return {
    name: attestor,
    ...(who === 'ours' ? { pluginCmd: MAINS[side][attestor] } : {}),
    pluginData: data,
  }
}

interface Server {
  bin: string
  proc: SpireProcess
  port: number
  sock: string
  bundle: string
  lastAttest: number
}

async function cell(
  dir: string,
  server: Server,
  agentBin: string,
  name: string,
  nodeAttestor: NodeAttestorConf,
): Promise<Omit<MatrixOutcome, 'version' | 'attestor' | 'pairing' | 'form'>> {
  const wait = server.lastAttest + ATTEST_GAP_MS - Date.now()
  if (wait > 0) await sleep(wait)
  server.lastAttest = Date.now()
  const conf = spireAgentConf({
    dir,
    name,
    port: server.port,
    nodeAttestor,
    trustBundle: server.bundle,
  })
  const agent = startSpireAgent(agentBin, dir, name, conf)
  try {
    const done = await agent.waitForLine(
      (l) => l.msg === 'Node attestation was successful' || REFUSED.includes(l.msg),
      VERDICT_TIMEOUT_MS,
      `${name}'s attestation`,
    )
    if (REFUSED.includes(done.msg)) return { ok: false, refusal: String(done.error) }
    const spiffeId = String(done.spiffe_id)
    const shown = await exec(
      server.bin,
      ['agent', 'show', '-socketPath', server.sock, '-spiffeID', spiffeId],
      dir,
    )
    const selectors = [...shown.stdout.matchAll(/Selectors\s*:\s*(\S+)/g)].map((m) => m[1]!)
    await agent.stop('SIGKILL')
    // the next cell attests the same VM to this server: TOFU would refuse it while this agent exists
    const evicted = await exec(
      server.bin,
      ['agent', 'evict', '-socketPath', server.sock, '-spiffeID', spiffeId],
      dir,
    )
    if (evicted.status !== 0) throw new Error(`agent evict failed: ${evicted.stderr}`)
    return { ok: true, spiffeId, selectors: selectors.sort() }
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) }
  } finally {
    await agent.stop('SIGKILL')
  }
}

async function group(
  info: Info,
  rootsFile: string,
  target: MatrixDriverInput['targets'][number],
  form: ConfigForm,
): Promise<MatrixOutcome[]> {
  const dir = mkdtempSync(join(tmpdir(), 'matrix'))
  const data = pluginData(info, rootsFile)
  const servers: Partial<Record<'ours' | 'upstream', Server>> = {}
  const out: MatrixOutcome[] = []
  try {
    const start = async (who: 'ours' | 'upstream'): Promise<Server> => {
      const bin = who === 'ours' ? join(target.bin, 'spire-server') : target.testRootsServer
      const port = await freePort()
      const bundle = join(dir, `${who}-bundle.pem`)
      const attestors = (['azure_msi', 'azure_imds'] as const).map((a) =>
        attestorConf('server', who, a, data.server[who][a]),
      )
      const conf = spireServerConf({ dir, port, name: who, nodeAttestor: attestors, form })
      const proc = await startSpireServer(bin, dir, conf, { name: who, bundlePath: bundle })
      return { bin, proc, port, sock: serverSocket(dir, who), bundle, lastAttest: 0 }
    }
    const began = Date.now()
    const started = await Promise.allSettled([start('ours'), start('upstream')])
    trace(`v${target.version} ${form}: servers up in ${Date.now() - began} ms`)
    if (started[0].status === 'fulfilled') servers.ours = started[0].value
    if (started[1].status === 'fulfilled') servers.upstream = started[1].value
    const agentBin = join(target.bin, 'spire-agent')
    // one chain of cells per server; the two chains run side by side
    const chain = async (who: 'ours' | 'upstream'): Promise<void> => {
      for (const attestor of ['azure_msi', 'azure_imds'] as const) {
        for (const p of MATRIX_PAIRINGS) {
          if (p.server !== who) continue
          if (p.pairing === 'upstream-upstream' && attestor !== 'azure_imds') continue
          const key = { version: target.version, attestor, pairing: p.pairing, form }
          const server = servers[who]
          if (server === undefined) {
            const failed = started[who === 'ours' ? 0 : 1]
            const why = failed.status === 'rejected' ? String(failed.reason) : ''
            out.push({ ...key, ok: false, error: `${who} spire-server did not start: ${why}` })
            continue
          }
          const name = `${attestor}-${p.pairing}`
          const nodeAttestor = attestorConf('agent', p.agent, attestor, data.agent[attestor])
          const began = Date.now()
          out.push({ ...key, ...(await cell(dir, server, agentBin, name, nodeAttestor)) })
          trace(`v${target.version} ${form} ${name}: ${Date.now() - began} ms`)
        }
      }
    }
    await Promise.all([chain('ours'), chain('upstream')])
  } finally {
    for (const s of Object.values(servers)) await s?.proc.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  return out
}

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2] ?? '{}') as MatrixDriverInput
  const info = JSON.parse(readFileSync(process.env.AZURE_EMULATOR_INFO ?? '', 'utf8')) as Info
  const rootsFile = process.env.NODE_EXTRA_CA_CERTS ?? ''
  // read by the test-roots build of spire-server only (scripts/patches/spire-azureimds-extra-roots.patch)
  process.env.SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS = rootsFile
  const jobs = input.targets.flatMap((t) =>
    input.forms.map((f) => () => group(info, rootsFile, t, f)),
  )
  const results: MatrixOutcome[] = []
  const workers = Array.from({ length: Math.max(1, input.concurrency) }, async () => {
    for (let job = jobs.shift(); job !== undefined; job = jobs.shift())
      results.push(...(await job()))
  })
  const began = Date.now()
  await Promise.all(workers)
  trace(`${results.length} cells in ${Date.now() - began} ms`)
  process.stdout.write(`${JSON.stringify(results)}\n`)
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  },
)
