import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { CR_AGENT_MAIN, CR_SECRET, CR_SERVER_MAIN } from '../support/plugins.js'
import {
  ensureSpire,
  freePort,
  pidsMatching,
  run,
  SPIRE_VERSION,
  SpireProcess,
  writeFile,
  type SpireLogLine,
} from '../support/spire.js'

/**
 * The real-SPIRE loop (issue 2 §7): spire-server and spire-agent built from the module proxy load the
 * test-only challenge–response attestor pair over go-plugin, attest, and unload it.
 */
const installed = ensureSpire()
const skip = 'skip' in installed ? installed.skip : false
const spire = 'skip' in installed ? { server: '', agent: '' } : installed

const TRUST_DOMAIN = 'example.org'
const AGENT_ID = `spiffe://${TRUST_DOMAIN}/spire/agent/cr_test/node-1`

function serverConf(dir: string, port: number, extraPluginData = ''): string {
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
  NodeAttestor "cr_test" {
    plugin_cmd = "${CR_SERVER_MAIN}"
    plugin_data {
      secret = "${CR_SECRET}"
      ${extraPluginData}
    }
  }
}
`
}

function agentConf(dir: string, name: string, port: number, identity: string): string {
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
  NodeAttestor "cr_test" {
    plugin_cmd = "${CR_AGENT_MAIN}"
    plugin_data {
      secret = "${CR_SECRET}"
      identity = "${identity}"
      selectors = ["rack:r1"]
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

const fromPlugin = (l: SpireLogLine): boolean => l.plugin_name === 'cr_test' && l.external === true

describe(`real SPIRE v${SPIRE_VERSION} loads the TypeScript plugins`, { skip, timeout: 240_000 }, () => {
  let dir = ''
  let port = 0
  let server: SpireProcess
  const agents: SpireProcess[] = []

  before(async () => {
    if (skip) return
    dir = mkdtempSync(join(tmpdir(), 'e2e'))
    port = await freePort()
    writeFile(join(dir, 'server.conf'), serverConf(dir, port))
    server = new SpireProcess(spire.server, ['run', '-config', join(dir, 'server.conf')], dir)
    await server.waitForLine((l) => /Starting Server APIs/i.test(l.msg), 60_000, 'the server to start')
    for (let i = 0; ; i++) {
      const res = run(spire.server, ['bundle', 'show', '-socketPath', `${dir}/server/api.sock`], dir)
      if (res.status === 0) {
        writeFile(join(dir, 'bundle.pem'), res.stdout)
        break
      }
      if (i > 100) throw new Error(`bundle show failed: ${res.stderr}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  after(async () => {
    for (const a of agents) await a.stop('SIGKILL')
    await server?.stop('SIGKILL')
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  test('the server loads our plugin and its log lines arrive at their levels', async () => {
    const loaded = await server.waitForLine(
      (l) => l.msg === 'Plugin loaded' && l.plugin_name === 'cr_test',
      10_000,
      'Plugin loaded',
    )
    assert.equal(loaded.external, true)
    await server.waitForLine((l) => fromPlugin(l) && l.level === 'debug' && l.msg === 'Plugin configured', 5_000, 'plugin debug line')
  })

  test('the agent attests through our plugins and receives its SVID', async () => {
    const agent = new SpireProcess(spire.agent, ['run', '-config', writeFile(join(dir, 'agent1.conf'), agentConf(dir, 'agent1', port, 'node-1'))], dir)
    agents.push(agent)
    const ok = await agent.waitForLine((l) => l.msg === 'Node attestation was successful', 60_000, 'node attestation')
    assert.equal(ok.spiffe_id, AGENT_ID)
    await agent.waitForLine((l) => l.msg === 'Starting agent APIs', 30_000, 'agent APIs')
    const health = run(spire.agent, ['healthcheck', '-socketPath', `${dir}/agent1/agent.sock`], dir)
    assert.equal(health.status, 0, health.stderr)
    const listed = run(spire.server, ['agent', 'show', '-socketPath', `${dir}/server/api.sock`, '-spiffeID', AGENT_ID], dir)
    assert.equal(listed.status, 0, listed.stderr)
    assert.match(listed.stdout, /cr_test:identity:node-1/)
    assert.match(listed.stdout, /cr_test:rack:r1/)
    // the plugins' own lines, at their levels, in SPIRE's log
    const info = await server.waitForLine((l) => fromPlugin(l) && l.msg === 'Agent attested', 5_000, 'server plugin info line')
    assert.equal(info.level, 'info')
    assert.equal(info.spiffe_id, AGENT_ID)
    const agentInfo = agent.find((l) => fromPlugin(l) && l.msg === 'Sending attestation payload')
    assert.equal(agentInfo?.level, 'info')
    const agentDebug = agent.find((l) => fromPlugin(l) && l.msg === 'Answering challenge')
    assert.equal(agentDebug?.level, 'debug')
  })

  test('a second agent presenting the same identity is refused through AgentStore TOFU', async () => {
    await new Promise((r) => setTimeout(r, 1_100)) // SPIRE rate-limits attestation per client IP
    const agent = new SpireProcess(spire.agent, ['run', '-config', writeFile(join(dir, 'agent2.conf'), agentConf(dir, 'agent2', port, 'node-1'))], dir)
    agents.push(agent)
    await agent.waitForLine(
      (l) => /attestation data has already been used to attest an agent/.test(JSON.stringify(l)),
      60_000,
      'the TOFU refusal',
    )
    const refusal = await server.waitForLine(
      (l) => fromPlugin(l) && l.msg === 'Attestation data has already been used to attest an agent',
      5_000,
      'the plugin TOFU log line',
    )
    assert.equal(refusal.level, 'error')
    assert.equal(refusal.spiffe_id, AGENT_ID)
    // SPIRE's agent API logs the plugin status behind its facade prefix (first letter capitalised)
    const apiError = server.find(
      (l) => l.msg === 'Nodeattestor(cr_test): attestation data has already been used to attest an agent',
    )
    assert.equal(apiError?.level, 'error', server.raw.filter((r) => r.includes('already')).join('\n'))
    // and the agent receives the code the plugin chose, with the prefixed message
    const seen = agent.raw.filter((r) => r.includes('already been used'))
    assert.ok(
      seen.some((r) => r.includes('PermissionDenied') && r.includes('nodeattestor(cr_test): attestation data')),
      seen.join('\n'),
    )
    await agent.stop('SIGKILL')
  })

  test('spire-server validate reports our plugin config notes', () => {
    const bad = writeFile(join(dir, 'validate.conf'), serverConf(dir, port, 'allowed_identity = ["typo"]'))
    const res = run(spire.server, ['validate', '-config', bad], dir)
    const text = res.stdout + res.stderr
    assert.match(text, /unknown configurations detected: allowed_identity/, text)
  })

  test('stopping the server unloads the plugin within 2 s, without SIGKILL', async () => {
    const pids = pidsMatching(CR_SERVER_MAIN)
    assert.ok(pids.length >= 1, 'server plugin process running')
    for (const a of agents) await a.stop('SIGKILL')
    server.child.kill('SIGTERM')
    const gone = await waitGone(pids, 2_000)
    assert.ok(gone, 'plugin processes ended within 2 s of the stop signal')
    await server.exited
    assert.equal(
      server.find((l) => l.msg === 'plugin failed to exit gracefully'),
      undefined,
      'no SIGKILL by go-plugin',
    )
    const exited = server.lines.filter((l) => l.msg === 'plugin process exited' && l.plugin_name === 'cr_test')
    assert.ok(exited.length >= 1, 'go-plugin saw the plugin exit')
    assert.ok(exited.every((l) => l.error === undefined), JSON.stringify(exited))
  })
})

async function waitGone(pids: number[], timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (pids.every((pid) => !alive(pid))) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
