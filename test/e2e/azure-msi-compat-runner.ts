// Runs inside Azure in a box (scripts/azure-in-a-box.sh), where 169.254.169.254 and the real Azure
// host names are the emulator: pairs upstream SPIRE's built-in azure_msi with our plugins, both
// ways, and prints one JSON line with what each server recorded. Driven by azure-msi-compat.test.ts.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN } from '../support/azure-msi-plugins.js'
import { freePort, SpireProcess, writeFile } from '../support/spire.js'

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

function exec(
  command: string,
  args: string[],
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('exit', (status) => resolve({ status, stdout, stderr }))
  })
}

function nodeAttestor(external: string | undefined, data: string): string {
  const cmd = external === undefined ? '' : `plugin_cmd = "${external}"\n    `
  return `NodeAttestor "azure_msi" {\n    ${cmd}plugin_data {\n${data}\n    }\n  }`
}

async function startServer(
  dir: string,
  name: string,
  attestor: string,
): Promise<{ proc: SpireProcess; port: number; sock: string }> {
  const port = await freePort()
  const sock = `${dir}/${name}/api.sock`
  const conf = writeFile(
    join(dir, `${name}.conf`),
    `server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${sock}"
  trust_domain = "${TD}"
  data_dir = "${dir}/${name}/data"
  log_level = "DEBUG"
  log_format = "json"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${dir}/${name}/data/datastore.sqlite3"
    }
  }
  KeyManager "memory" {
    plugin_data {}
  }
  ${attestor}
}
`,
  )
  const proc = new SpireProcess(serverBin, ['run', '-config', conf], dir)
  await proc.waitForLine((l) => /Starting Server APIs/i.test(l.msg), 60_000, `${name} to start`)
  for (let i = 0; ; i++) {
    const res = await exec(serverBin, ['bundle', 'show', '-socketPath', sock])
    if (res.status === 0) {
      writeFile(join(dir, `${name}-bundle.pem`), res.stdout)
      break
    }
    if (i > 100) throw new Error(`bundle show failed: ${res.stderr}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  return { proc, port, sock }
}

async function attest(
  dir: string,
  name: string,
  server: { port: number; sock: string },
  serverName: string,
  attestor: string,
) {
  const conf = writeFile(
    join(dir, `${name}.conf`),
    `agent {
  data_dir = "${dir}/${name}/data"
  log_level = "DEBUG"
  log_format = "json"
  server_address = "127.0.0.1"
  server_port = "${server.port}"
  socket_path = "${dir}/${name}/agent.sock"
  trust_bundle_path = "${dir}/${serverName}-bundle.pem"
  trust_domain = "${TD}"
}
plugins {
  ${attestor}
  KeyManager "memory" {
    plugin_data {}
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
  )
  const agent = new SpireProcess(agentBin, ['run', '-config', conf], dir)
  try {
    const done = await agent.waitForLine(
      (l) => l.msg === 'Node attestation was successful' || l.msg === 'Agent crashed',
      90_000,
      `${name} attestation`,
    )
    if (done.msg === 'Agent crashed') return { error: String(done.error) }
    const spiffeId = String(done.spiffe_id)
    const shown = await exec(serverBin, [
      'agent',
      'show',
      '-socketPath',
      server.sock,
      '-spiffeID',
      spiffeId,
    ])
    const selectors = [...shown.stdout.matchAll(/Selectors\s*:\s*(\S+)/g)].map((m) => m[1])
    return { spiffeId, selectors }
  } finally {
    await agent.stop('SIGKILL')
  }
}

async function main(): Promise<void> {
  const info = JSON.parse(readFileSync(process.env.AZURE_EMULATOR_INFO ?? '', 'utf8')) as Info
  const contoso = info.tenants.find((t) => t.name === 'contoso')!
  const tenantData = `      tenants = {
        "${contoso.tenantId}" = {
          subscription_id = "${contoso.subscriptions[0]!.subscriptionId}"
          app_id = "${contoso.apps[0]!.clientId}"
          app_secret = "${contoso.apps[0]!.secret}"
        }
      }`
  const dir = mkdtempSync(join(tmpdir(), 'msi-compat'))
  const procs: SpireProcess[] = []
  try {
    const upstream = await startServer(dir, 'upstream-server', nodeAttestor(undefined, tenantData))
    procs.push(upstream.proc)
    const ours = await startServer(dir, 'our-server', nodeAttestor(MSI_SERVER_MAIN, tenantData))
    procs.push(ours.proc)
    const ourAgentToUpstream = await attest(
      dir,
      'our-agent',
      upstream,
      'upstream-server',
      nodeAttestor(MSI_AGENT_MAIN, ''),
    )
    // SPIRE rate-limits attestation per client IP
    await new Promise((r) => setTimeout(r, 1_100))
    const upstreamAgentToOurs = await attest(
      dir,
      'upstream-agent',
      ours,
      'our-server',
      nodeAttestor(undefined, ''),
    )
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
