// Every config under examples/ is loaded by real SPIRE: production ones by `spire-server validate` /
// `spire-agent validate` (with plugin_cmd pointed at this build), emulator ones with -expandEnv against
// a running emulator — and those attest. (`npm run demo`, tested in demo.test.ts, runs the combined
// server, both agents and the emulator oidc-discovery-provider config.)
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { exampleEnv, writeExampleFiles } from '../azure-emulator/env.js'
import { startEmulator, type Emulator } from '../azure-emulator/index.js'
import { PLUGIN_BIN_DIR, REPO_ROOT } from '../support/paths.js'
import {
  ensureSpire,
  exec,
  freePort,
  startSpireAgent,
  startSpireServer,
  type SpireProcess,
} from '../support/spire.js'

const EXAMPLES = join(REPO_ROOT, 'examples')
const confs = (() => {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name))
      else if (e.name.endsWith('.conf')) out.push(join(d, e.name))
    }
  }
  walk(EXAMPLES)
  return out.sort()
})()
const rel = (f: string): string => relative(EXAMPLES, f)
const text = (f: string): string => readFileSync(f, 'utf8')
const kind = (f: string): 'server' | 'agent' | 'oidc' =>
  /^server \{/m.test(text(f)) ? 'server' : /^agent \{/m.test(text(f)) ? 'agent' : 'oidc'
const isEmulator = (f: string): boolean => text(f).includes('${')

describe('examples/*.conf', () => {
  test('there are production and emulator configs for each attestor, and one server with both', () => {
    for (const f of [
      'azure-msi/server.conf',
      'azure-msi/agent.conf',
      'azure-msi/emulator-server.conf',
      'azure-msi/emulator-agent.conf',
      'azure-imds/server.conf',
      'azure-imds/agent.conf',
      'azure-imds/emulator-server.conf',
      'azure-imds/emulator-agent.conf',
      'both/server.conf',
      'both/emulator-server.conf',
      'federation/server.conf',
      'federation/oidc-discovery-provider.conf',
      'federation/emulator-oidc-discovery-provider.conf',
    ]) {
      assert.ok(confs.map(rel).includes(f), f)
    }
  })

  test('none runs node as plugin_cmd: each names one of our single-file executables', () => {
    for (const f of confs) {
      const t = text(f)
      assert.doesNotMatch(t, /plugin_args/, rel(f))
      for (const m of t.matchAll(/plugin_cmd\s*=\s*"([^"]*)"/g)) {
        assert.match(m[1]!, /\/spire-(server|agent)-nodeattestor-azure-(msi|imds)$/, rel(f))
      }
    }
  })

  test('sockets live in a private directory, never straight in /tmp', () => {
    for (const f of confs.filter((c) => kind(c) !== 'oidc')) {
      const socket = /socket_path\s*=\s*"([^"]*)"/.exec(text(f))?.[1]
      assert.ok(socket !== undefined, `${rel(f)} names its socket_path`)
      assert.ok(!socket.startsWith('/tmp/'), `${rel(f)}: ${socket}`)
    }
  })
})

const spire = ensureSpire()
const skip = 'skip' in spire ? spire.skip : false

describe('real SPIRE loads every example', { skip, timeout: 300_000 }, () => {
  let emu: Emulator
  let dir = ''
  before(async () => {
    if ('skip' in spire) return
    emu = await startEmulator()
    dir = mkdtempSync(join(tmpdir(), 'examples-'))
  })
  after(async () => {
    await emu?.stop()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })
  const bins = 'skip' in spire ? { server: '', agent: '', oidcDiscoveryProvider: '' } : spire

  for (const f of confs.filter((c) => kind(c) !== 'oidc')) {
    test(`${rel(f)}: spire-${kind(f)} validate`, async () => {
      let args: string[]
      let env: Record<string, string> = {}
      if (isEmulator(f)) {
        env = exampleEnv(emu, { runDir: join(dir, 'validate') })
        args = ['validate', '-expandEnv', '-config', f]
      } else {
        // production paths: the plugin executables of this build stand in for /opt/spire/plugins
        const copy = join(dir, rel(f).replace(/\//g, '_'))
        writeFileSync(copy, text(f).replaceAll('/opt/spire/plugins', PLUGIN_BIN_DIR))
        args = ['validate', '-config', copy]
      }
      const bin = kind(f) === 'server' ? bins.server : bins.agent
      const res = await execEnv(bin, args, dir, env)
      assert.equal(res.status, 0, res.stdout + res.stderr)
      assert.match(res.stdout + res.stderr, /configuration file is valid/)
    })
  }

  test('federation/oidc-discovery-provider.conf: SPIRE’s discovery provider serves it', async () => {
    const port = await freePort()
    const env = exampleEnv(emu, { runDir: join(dir, 'oidc-prod'), oidcPort: port })
    writeExampleFiles(emu, env)
    const copy = join(dir, 'oidc-prod.conf')
    writeFileSync(
      copy,
      text(join(EXAMPLES, 'federation/oidc-discovery-provider.conf'))
        .replace('/opt/spire/conf/oidc/tls.crt', env['OIDC_CERT_FILE']!)
        .replace('/opt/spire/conf/oidc/tls.key', env['OIDC_KEY_FILE']!)
        .replace('addr = ":443"', `addr = "127.0.0.1:${port}"`)
        .replace('/opt/spire/run/server/api.sock', join(dir, 'no-server.sock')),
    )
    const child = spawn(bins.oidcDiscoveryProvider, ['-config', copy], { stdio: 'ignore' })
    try {
      let doc: { issuer?: string; jwks_uri?: string } | undefined
      for (let i = 0; i < 120 && doc === undefined; i++) {
        doc = await discovery(port, emu.endpoints.caCertPem).catch(() => undefined)
        if (doc === undefined) await new Promise((r) => setTimeout(r, 250))
      }
      assert.deepEqual(
        { issuer: doc?.issuer, jwks_uri: doc?.jwks_uri },
        { issuer: 'https://oidc.example.org', jwks_uri: 'https://oidc.example.org/keys' },
      )
    } finally {
      child.kill('SIGTERM')
      await once(child, 'exit')
    }
  })

  for (const attestor of ['azure-msi', 'azure-imds'] as const) {
    test(`${attestor}/emulator-server.conf + emulator-agent.conf attest on loopback`, async () => {
      const runDir = join(dir, `run-${attestor}`)
      mkdirSync(runDir, { recursive: true })
      const env = exampleEnv(emu, { runDir, serverPort: await freePort() })
      const started: SpireProcess[] = []
      try {
        started.push(
          await startSpireServer(
            bins.server,
            runDir,
            { file: join(EXAMPLES, attestor, 'emulator-server.conf'), env },
            { socketPath: join(runDir, 'server', 'api.sock') },
          ),
        )
        const agent = startSpireAgent(bins.agent, runDir, 'agent', {
          file: join(EXAMPLES, attestor, 'emulator-agent.conf'),
          env,
        })
        started.push(agent)
        const ok = await agent.waitForLine(
          (l) => l.msg === 'Node attestation was successful',
          90_000,
          'node attestation',
        )
        assert.match(
          String(ok.spiffe_id),
          new RegExp(`/spire/agent/${attestor.replace('-', '_')}/`),
        )
      } finally {
        for (const p of started.reverse()) await p.stop('SIGTERM', 10_000)
      }
    })
  }
})

async function execEnv(
  bin: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  if (Object.keys(env).length === 0) return exec(bin, args, cwd)
  const child = spawn(bin, args, { cwd, env: { ...process.env, ...env } })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const [status] = (await once(child, 'exit')) as [number | null]
  return { status, stdout, stderr }
}

function discovery(port: number, ca: string): Promise<{ issuer?: string; jwks_uri?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/.well-known/openid-configuration',
        // the provider answers only for its configured domain
        headers: { host: 'oidc.example.org' },
        servername: 'localhost',
        ca,
        timeout: 5_000,
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`status ${res.statusCode}`))
          try {
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as { issuer?: string })
          } catch (err) {
            reject(err)
          }
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}
