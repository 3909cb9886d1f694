// Runs inside scripts/azure-in-a-box.sh (not a test file): real spire-server and spire-agent on
// production URLs. `upstream`: SPIRE's built-in agent against our server; `ours`: both ours, no
// overrides; `ours-to-upstream`: our agent against SPIRE's built-in server (which pins Microsoft's
// real roots, so it can only get as far as the chain check). Prints one JSON line:
// { ok, spiffeId, shown, foundBy, refusal, error }.
//   node azure-imds-box-driver.js <spire-bin-dir> <upstream|ours|ours-to-upstream>
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { IMDS_AGENT_MAIN, IMDS_SERVER_MAIN } from '../support/azure-imds-plugins.js'
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

interface Info {
  tenants: { name: string; domains: string[]; apps: { clientId: string; secret: string }[] }[]
}

async function main(): Promise<void> {
  const [binDir = '', which = 'upstream'] = process.argv.slice(2)
  const info = JSON.parse(readFileSync(process.env.AZURE_EMULATOR_INFO ?? '', 'utf8')) as Info
  const contoso = info.tenants.find((t) => t.name === 'contoso')!
  const app = contoso.apps[0]!
  const dir = mkdtempSync(join(tmpdir(), 'box-imds'))
  const port = await freePort()
  const serverBin = join(binDir, 'spire-server')
  const serverAttestor: NodeAttestorConf = {
    name: 'azure_imds',
    ...(which === 'ours-to-upstream' ? {} : { pluginCmd: IMDS_SERVER_MAIN }),
    pluginData: `tenants = {
  "${contoso.domains[0]}" = {
    secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }
  }
}
# the emulator's document roots; every URL is Azure's own
trust_bundle_path = "${process.env.NODE_EXTRA_CA_CERTS}"`,
  }
  const agentAttestor: NodeAttestorConf = {
    name: 'azure_imds',
    ...(which === 'upstream' ? {} : { pluginCmd: IMDS_AGENT_MAIN }),
    pluginData: `tenant_domain = "${contoso.domains[0]}"`,
  }
  let server: SpireProcess | undefined
  let agent: SpireProcess | undefined
  const out: Record<string, unknown> = { ok: false }
  try {
    const serverConf = spireServerConf({ dir, port, nodeAttestor: serverAttestor })
    server = await startSpireServer(serverBin, dir, serverConf)
    const agentConf = spireAgentConf({ dir, name: 'agent', port, nodeAttestor: agentAttestor })
    agent = startSpireAgent(join(binDir, 'spire-agent'), dir, 'agent', agentConf)
    if (which === 'ours-to-upstream') {
      const line = await agent.waitForLine(
        (l) => /failed to validate attested document/.test(JSON.stringify(l)),
        60_000,
        'the upstream server’s verdict',
      )
      out.refusal = JSON.stringify(line)
    } else {
      const ok = await agent.waitForLine(
        (l) => l.msg === 'Node attestation was successful',
        60_000,
        'node attestation',
      )
      out.spiffeId = ok.spiffe_id
      const socket = serverSocket(dir)
      out.shown = (
        await exec(
          serverBin,
          ['agent', 'show', '-socketPath', socket, '-spiffeID', String(ok.spiffe_id)],
          dir,
        )
      ).stdout
      out.foundBy = server.find(
        (l) => l.plugin_name === 'azure_imds' && l.msg === 'Agent attested',
      )?.found_by
    }
    out.ok = true
  } catch (err) {
    out.error = err instanceof Error ? err.message : String(err)
  } finally {
    await agent?.stop('SIGKILL')
    await server?.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

void main()
