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
import { freePort, run, SpireProcess, writeFile } from '../support/spire.js'

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
  const server = new SpireProcess(
    join(binDir, 'spire-server'),
    [
      'run',
      '-config',
      writeFile(
        join(dir, 'server.conf'),
        `server {
  bind_address = "127.0.0.1"
  bind_port = "${port}"
  socket_path = "${dir}/server/api.sock"
  trust_domain = "example.org"
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
  NodeAttestor "azure_imds" {
    ${which === 'ours-to-upstream' ? '' : `plugin_cmd = "${IMDS_SERVER_MAIN}"`}
    plugin_data {
      tenants = {
        "${contoso.domains[0]}" = {
          secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }
        }
      }
      # the emulator's document roots; every URL is Azure's own
      trust_bundle_path = "${process.env.NODE_EXTRA_CA_CERTS}"
    }
  }
}
`,
      ),
    ],
    dir,
  )
  let agent: SpireProcess | undefined
  const out: Record<string, unknown> = { ok: false }
  try {
    await server.waitForLine(
      (l) => /Starting Server APIs/i.test(l.msg),
      60_000,
      'the server to start',
    )
    for (let i = 0; ; i++) {
      const res = run(
        join(binDir, 'spire-server'),
        ['bundle', 'show', '-socketPath', `${dir}/server/api.sock`],
        dir,
      )
      if (res.status === 0) {
        writeFile(join(dir, 'bundle.pem'), res.stdout)
        break
      }
      if (i > 100) throw new Error(`bundle show failed: ${res.stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
    const attestor =
      which === 'upstream'
        ? `NodeAttestor "azure_imds" {\n    plugin_data {\n      tenant_domain = "${contoso.domains[0]}"\n    }\n  }`
        : `NodeAttestor "azure_imds" {\n    plugin_cmd = "${IMDS_AGENT_MAIN}"\n    plugin_data {\n      tenant_domain = "${contoso.domains[0]}"\n    }\n  }`
    agent = new SpireProcess(
      join(binDir, 'spire-agent'),
      [
        'run',
        '-config',
        writeFile(
          join(dir, 'agent.conf'),
          `agent {
  data_dir = "${dir}/agent/data"
  log_level = "DEBUG"
  log_format = "json"
  server_address = "127.0.0.1"
  server_port = "${port}"
  socket_path = "${dir}/agent/agent.sock"
  trust_bundle_path = "${dir}/bundle.pem"
  trust_domain = "example.org"
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
        ),
      ],
      dir,
    )
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
      out.shown = run(
        join(binDir, 'spire-server'),
        [
          'agent',
          'show',
          '-socketPath',
          `${dir}/server/api.sock`,
          '-spiffeID',
          String(ok.spiffe_id),
        ],
        dir,
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
    await server.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.stdout.write(`${JSON.stringify(out)}\n`)
}

void main()
