#!/usr/bin/env node
// `npm run demo [-- --json] [--keep]`: the whole job in one command, on loopback, without root or
// Azure. Starts the Azure emulator, gets real SPIRE (scripts/install-spire.sh: built once from the Go
// module proxy, then cached), runs spire-server with both of our server attestors and SPIRE's
// oidc-discovery-provider, and two spire-agents — azure_msi on one emulated VM, azure_imds on
// another — registers a node entry and a workload entry on our selectors for each, fetches each
// workload's X.509-SVID through the real Workload API, and finally lets one workload call Azure
// Resource Manager with no secret: its JWT-SVID is exchanged for an Entra ID token through a
// federated identity credential (examples/federation).
//
// Progress: one line per step on stderr. Result: a summary on stdout (--json: one JSON document).
// --keep leaves everything running and prints how to talk to it; Ctrl-C then cleans up. Whatever
// happens, nothing is left behind: processes, sockets and the temporary directory go on exit.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import {
  DEFAULT_WORLD,
  startEmulator,
  type Emulator,
  type WorldSpec,
} from '../../test/azure-emulator/index.js'
import { nodeHttp, parseJsonBody } from '../../shared/azure/http.js'
import { exampleEnv, writeExampleFiles } from '../../test/azure-emulator/env.js'
import { MSI_AGENT_MAIN, MSI_SERVER_MAIN } from '../../test/support/azure-msi-plugins.js'
import { IMDS_AGENT_MAIN, IMDS_SERVER_MAIN } from '../../test/support/azure-imds-plugins.js'
import { REPO_ROOT } from '../../test/support/paths.js'
import {
  E2E_TRUST_DOMAIN as TRUST_DOMAIN,
  exec,
  freePort,
  serverSocket,
  SPIRE_VERSION,
  startSpireAgent,
  startSpireServer,
  type ConfigFile,
  type SpireProcess,
} from '../../test/support/spire.js'
import { ENTRA_FEDERATION_AUDIENCE, type AzureAccessResult } from '../federation/workload.js'
import { untilIssued, WorkloadApiClient, type X509Svid } from '../federation/workload-api.js'

/** The demo world: the emulator's default one, with an app registration for the federated workload
 * and a tag on the azure_imds VM to register it by. */
export function demoWorld(): WorldSpec {
  const world = structuredClone(DEFAULT_WORLD) as WorldSpec & {
    tenants: { apps?: { name: string }[] }[]
  }
  const contoso = world.tenants.find((t) => t.name === 'contoso')!
  contoso.apps = [...(contoso.apps ?? []), { name: 'blog-web' }]
  const frontend = contoso.subscriptions![0]!.resourceGroups!.find((g) => g.name === 'frontend')!
  const worker = frontend.virtualMachines!.find((v) => v.name === 'worker')!
  worker.tags = { ...(worker.tags ?? {}), environment: 'batch' }
  return world
}

export interface DemoAgent {
  attestor: 'azure_msi' | 'azure_imds'
  vm: string
  agentId: string
  selectors: string[]
  nodeEntry: { spiffeId: string; selector: string }
  workloadEntry: { spiffeId: string; parentId: string; selector: string }
  x509Svid: { spiffeId: string; notAfter: string }
}

export interface DemoResult {
  spireVersion: string
  trustDomain: string
  agents: DemoAgent[]
  federation: {
    issuer: string
    audience: string
    app: { name: string; clientId: string; tenantId: string }
    result: AzureAccessResult
  }
  seconds: number
}

const log = (line: string): void => {
  process.stderr.write(`demo: ${line}\n`)
}

class Cleanup {
  readonly #steps: (() => Promise<void> | void)[] = []
  #ran = false
  add(step: () => Promise<void> | void): void {
    this.#steps.push(step)
  }
  async run(): Promise<void> {
    if (this.#ran) return
    this.#ran = true
    for (const step of this.#steps.reverse()) {
      try {
        await step()
      } catch {
        // keep cleaning up
      }
    }
  }
}

/** scripts/install-spire.sh with progress; null (and a message) when no Go toolchain exists. */
async function getSpire(): Promise<{ bin: string } | null> {
  log(
    `getting SPIRE v${SPIRE_VERSION}: cached after the first build, which compiles it from source (10+ minutes)`,
  )
  const child = spawn('bash', [join(REPO_ROOT, 'scripts', 'install-spire.sh'), SPIRE_VERSION], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
  let downloads = 0
  createInterface({ input: child.stderr }).on('line', (line) => {
    if (line.startsWith('install-spire:')) log(`  ${line}`)
    else if (line.startsWith('go: downloading')) downloads++
  })
  const started = Date.now()
  const ticker = setInterval(() => {
    log(
      `  still building SPIRE (${Math.round((Date.now() - started) / 1000)} s, ${downloads} Go modules fetched)`,
    )
  }, 30_000)
  const [code] = (await once(child, 'exit')) as [number | null]
  clearInterval(ticker)
  if (code === 3) return null
  if (code !== 0) throw new Error(`scripts/install-spire.sh failed (exit ${code})`)
  return { bin: stdout.trim().split('\n').pop() ?? '' }
}

async function httpsGetJson(url: string, ca: string): Promise<{ status: number; body: unknown }> {
  const res = await nodeHttp({ url, timeoutMs: 5_000, maxBytes: 1024 * 1024, extraCa: [ca] })
  return { status: res.status, body: parseJsonBody(res.body) }
}

async function retry<T>(
  what: string,
  attempts: number,
  fn: () => Promise<T | undefined>,
): Promise<T> {
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      last = err
    }
    await new Promise((r) => setTimeout(r, 250))
  }
  throw new Error(`${what}: ${last instanceof Error ? last.message : String(last ?? 'not ready')}`)
}

async function spireServerCli(bin: string, dir: string, args: string[]): Promise<string> {
  const res = await exec(
    join(bin, 'spire-server'),
    [...args, '-socketPath', serverSocket(dir)],
    dir,
  )
  if (res.status !== 0)
    throw new Error(`spire-server ${args.join(' ')}: ${res.stderr || res.stdout}`)
  return res.stdout
}

export interface DemoOptions {
  /** Where SPIRE's binaries are (skips install-spire.sh), e.g. from a test that already has them. */
  spireBin?: string
}

/** What a running demo is made of, for `--keep` and for tests that go on from where it stops. */
export interface DemoEnvironment {
  emu: Emulator
  spireBin: string
  dir: string
  issuer: string
  /** Workload API sockets by attestor. */
  sockets: ReadonlyMap<'azure_msi' | 'azure_imds', string>
  /** The federated workload's Entra app and tenant, and the subscription it reads. */
  federation: { tenantId: string; clientId: string; subscriptionId: string; subject: string }
  /** How to talk to it (the lines --keep prints). */
  howTo: string[]
}

/** Runs the demo; `cleanup` undoes everything it started (run it in a finally). */
export async function runDemo(
  cleanup: Cleanup,
  options: DemoOptions = {},
): Promise<{ result: DemoResult; env: DemoEnvironment } | null> {
  const started = Date.now()
  for (const main of [MSI_SERVER_MAIN, MSI_AGENT_MAIN, IMDS_SERVER_MAIN, IMDS_AGENT_MAIN]) {
    if (!existsSync(main)) throw new Error(`${main} is missing: run \`npm run build\` first`)
  }
  const spireBin = options.spireBin ?? (await getSpire())?.bin
  if (spireBin === undefined) {
    log('SPIRE is built from its source with Go, and no Go toolchain was found.')
    log(
      'Install Go (https://go.dev/doc/install, or `apt-get install golang-go`), then run `npm run demo` again.',
    )
    return null
  }
  log(`SPIRE v${SPIRE_VERSION} ready in ${spireBin}`)

  const emu: Emulator = await startEmulator({ world: demoWorld() })
  cleanup.add(() => emu.stop())
  log(
    `Azure emulator on loopback: IMDS ${emu.endpoints.imds}, Entra ID ${emu.endpoints.entra}, ARM ${emu.endpoints.arm}`,
  )

  const dir = mkdtempSync(join(tmpdir(), 'spire-azure-demo-'))
  cleanup.add(() => rmSync(dir, { recursive: true, force: true }))
  const [port, oidcPort] = [await freePort(), await freePort()]
  const contoso = emu.world.tenant('contoso')
  // The demo runs the example configs themselves (examples/README.md), with -expandEnv
  const env = exampleEnv(emu, { runDir: dir, serverPort: port, oidcPort })
  writeExampleFiles(emu, env)
  const issuer = env['SPIFFE_JWT_ISSUER']!
  const example = (path: string): ConfigFile => ({ file: join(REPO_ROOT, 'examples', path), env })

  // --- spire-server with both attestors, JWT-SVIDs as Entra needs them
  const server = await startSpireServer(
    join(spireBin, 'spire-server'),
    dir,
    example('both/emulator-server.conf'),
  )
  cleanup.add(() => server.stop('SIGTERM', 10_000).then(() => undefined))
  log(
    `spire-server running examples/both/emulator-server.conf (trust domain ${TRUST_DOMAIN}, NodeAttestors azure_msi and azure_imds, jwt_issuer ${issuer})`,
  )

  // --- SPIRE's real oidc-discovery-provider publishing the server's JWT keys over HTTPS
  const oidcConf = example('federation/emulator-oidc-discovery-provider.conf')
  const oidc: ChildProcess = spawn(
    join(spireBin, 'oidc-discovery-provider'),
    ['-expandEnv', '-config', oidcConf.file],
    { cwd: dir, stdio: 'ignore', env: { ...process.env, ...env } },
  )
  cleanup.add(async () => {
    if (oidc.exitCode === null && oidc.signalCode === null) {
      oidc.kill('SIGTERM')
      await once(oidc, 'exit')
    }
  })
  const discovery = await retry('oidc-discovery-provider', 120, async () => {
    const doc = await httpsGetJson(
      `${issuer}/.well-known/openid-configuration`,
      emu.endpoints.caCertPem,
    )
    const keys = await httpsGetJson(`${issuer}/keys`, emu.endpoints.caCertPem)
    const n = ((keys.body as { keys?: unknown[] }).keys ?? []).length
    return doc.status === 200 && n > 0
      ? (doc.body as { issuer: string; jwks_uri: string })
      : undefined
  })
  log(
    `oidc-discovery-provider serving ${issuer}/.well-known/openid-configuration (jwks_uri ${discovery.jwks_uri})`,
  )

  // --- entries first, so each agent's first sync already carries its workload
  const uid = String(process.getuid?.() ?? 0)
  const plan = [
    {
      attestor: 'azure_msi' as const,
      vm: 'frontend/blog',
      node: {
        spiffeId: `spiffe://${TRUST_DOMAIN}/node/frontend-blog`,
        selector: 'azure_msi:vm-name:frontend:blog',
      },
      workload: `spiffe://${TRUST_DOMAIN}/workload/blog-web`,
      config: 'azure-msi/emulator-agent.conf',
    },
    {
      attestor: 'azure_imds' as const,
      vm: 'frontend/worker',
      node: {
        spiffeId: `spiffe://${TRUST_DOMAIN}/node/batch-workers`,
        selector: 'azure_imds:vm-tag:environment:batch',
      },
      workload: `spiffe://${TRUST_DOMAIN}/workload/batch-job`,
      config: 'azure-imds/emulator-agent.conf',
    },
  ]
  for (const p of plan) {
    await spireServerCli(spireBin, dir, [
      'entry',
      'create',
      '-node',
      '-spiffeID',
      p.node.spiffeId,
      '-selector',
      p.node.selector,
    ])
    await spireServerCli(spireBin, dir, [
      'entry',
      'create',
      '-parentID',
      p.node.spiffeId,
      '-spiffeID',
      p.workload,
      '-selector',
      `unix:uid:${uid}`,
    ])
    log(
      `entries: node ${p.node.spiffeId} ← ${p.node.selector}; workload ${p.workload} ← unix:uid:${uid}`,
    )
  }

  // --- two agents, each on its own emulated VM
  const agents: DemoAgent[] = []
  const sockets = new Map<'azure_msi' | 'azure_imds', string>()
  for (const p of plan) {
    const name = p.attestor === 'azure_msi' ? 'agent-msi' : 'agent-imds'
    const agent: SpireProcess = startSpireAgent(
      join(spireBin, 'spire-agent'),
      dir,
      name,
      example(p.config),
    )
    cleanup.add(() => agent.stop('SIGTERM', 10_000).then(() => undefined))
    const ok = await agent.waitForLine(
      (l) => l.msg === 'Node attestation was successful',
      90_000,
      `${name} attestation`,
    )
    const agentId = String(ok.spiffe_id)
    const shown = await spireServerCli(spireBin, dir, ['agent', 'show', '-spiffeID', agentId])
    const selectors = [
      ...shown.matchAll(/Selectors\s*:\s*(\S+)/g),
      ...shown.matchAll(/^\s+(azure_(?:msi|imds):\S+)$/gm),
    ]
      .map((m) => m[1]!)
      .filter((s, i, all) => s.startsWith(`${p.attestor}:`) && all.indexOf(s) === i)
    log(
      `${p.attestor} agent on ${p.vm} (examples/${p.config}) attested as ${agentId} (${selectors.length} selectors)`,
    )
    const socket = `${dir}/${name}/agent.sock`
    sockets.set(p.attestor, socket)
    const client = new WorkloadApiClient(socket)
    let svid: X509Svid
    try {
      svid = await untilIssued(() => client.fetchX509Svid())
    } finally {
      client.close()
    }
    log(`workload on ${p.vm} got X.509-SVID ${svid.spiffeId} through the Workload API`)
    agents.push({
      attestor: p.attestor,
      vm: p.vm,
      agentId,
      selectors,
      nodeEntry: p.node,
      workloadEntry: {
        spiffeId: p.workload,
        parentId: p.node.spiffeId,
        selector: `unix:uid:${uid}`,
      },
      x509Svid: { spiffeId: svid.spiffeId, notAfter: svid.notAfter },
    })
  }

  // --- secretless Azure access: JWT-SVID → Entra federated credential → ARM
  const app = contoso.apps.find((a) => a.name === 'blog-web')!
  const subject = plan[0]!.workload
  emu.entra.addFederatedCredential(
    'blog-web',
    { name: 'spiffe-blog-web', issuer, subject, audiences: [ENTRA_FEDERATION_AUDIENCE] },
    'contoso',
  )
  log(
    `Entra app "blog-web" trusts issuer ${issuer}, subject ${subject}, audience ${ENTRA_FEDERATION_AUDIENCE}`,
  )
  const federationArgs = [
    join(REPO_ROOT, 'dist', 'examples', 'federation', 'workload.js'),
    '--socket',
    sockets.get('azure_msi')!,
    '--tenant-id',
    contoso.tenantId,
    '--client-id',
    app.clientId,
    '--subscription-id',
    contoso.subscriptions[0]!.subscriptionId,
    '--authority-host',
    emu.endpoints.entra,
    '--resource-manager',
    emu.endpoints.arm,
    '--ca-file',
    emu.endpoints.caFile,
  ]
  // the workload is its own process, attested by the agent like any other (unix:uid)
  const wl = await exec(process.execPath, federationArgs, dir, 60_000)
  if (wl.status !== 0) throw new Error(`the federated workload failed: ${wl.stderr || wl.stdout}`)
  const result = JSON.parse(wl.stdout.trim().split('\n').pop() ?? '{}') as AzureAccessResult
  log(
    `workload ${result.spiffeId} called ARM with a federated Entra token: ${result.arm.request} → ${result.arm.status}`,
  )

  const demo: DemoResult = {
    spireVersion: SPIRE_VERSION,
    trustDomain: TRUST_DOMAIN,
    agents,
    federation: {
      issuer,
      audience: ENTRA_FEDERATION_AUDIENCE,
      app: { name: 'blog-web', clientId: app.clientId, tenantId: contoso.tenantId },
      result,
    },
    seconds: Math.round((Date.now() - started) / 1000),
  }
  const environment: DemoEnvironment = {
    emu,
    spireBin,
    dir,
    issuer,
    sockets,
    federation: {
      tenantId: contoso.tenantId,
      clientId: app.clientId,
      subscriptionId: contoso.subscriptions[0]!.subscriptionId,
      subject,
    },
    howTo: [
      `spire-server  ${join(spireBin, 'spire-server')} entry show -socketPath ${serverSocket(dir)}`,
      `agent (msi)   ${join(spireBin, 'spire-agent')} api fetch x509 -socketPath ${sockets.get('azure_msi')}`,
      `agent (imds)  ${join(spireBin, 'spire-agent')} api fetch x509 -socketPath ${sockets.get('azure_imds')}`,
      `JWT-SVID      ${join(spireBin, 'spire-agent')} api fetch jwt -audience ${ENTRA_FEDERATION_AUDIENCE} -socketPath ${sockets.get('azure_msi')}`,
      `federation    node ${federationArgs.join(' ')}`,
      `OIDC          curl --cacert ${emu.endpoints.caFile} ${issuer}/.well-known/openid-configuration`,
      `files         ${dir} (configs, logs, sockets)`,
    ],
  }
  return { result: demo, env: environment }
}

export function formatSummary(d: DemoResult): string {
  const lines = [
    `SPIRE v${d.spireVersion} with spire-azure-attestor, against the Azure emulator on loopback`,
    '',
  ]
  for (const a of d.agents) {
    lines.push(
      `${a.attestor} agent on VM ${a.vm}`,
      `  agent ID        ${a.agentId}`,
      `  selectors       ${a.selectors.join('\n                  ')}`,
      `  node entry      ${a.nodeEntry.spiffeId}  <- ${a.nodeEntry.selector}`,
      `  workload entry  ${a.workloadEntry.spiffeId}  <- ${a.workloadEntry.selector} (parent ${a.workloadEntry.parentId})`,
      `  X.509-SVID      ${a.x509Svid.spiffeId} (until ${a.x509Svid.notAfter})`,
      '',
    )
  }
  const f = d.federation
  lines.push(
    'Secretless Azure access (workload identity federation)',
    `  JWT-SVID        ${f.result.spiffeId}, audience ${f.audience}, issuer ${f.issuer}`,
    `  Entra ID        app "${f.app.name}" (${f.app.clientId}) in tenant ${f.app.tenantId} -> access token until ${f.result.tokenExpiresOn}`,
    `  Azure call      ${f.result.arm.request} -> ${f.result.arm.status}${f.result.arm.displayName === undefined ? '' : ` (${f.result.arm.displayName})`}`,
    '',
    `Done in ${d.seconds} s.`,
  )
  return lines.join('\n') + '\n'
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(
      'Usage: npm run demo [-- --json] [--keep]\n\n' +
        'Attests two emulated Azure VMs (azure_msi and azure_imds) in real SPIRE, issues each workload an\n' +
        'X.509-SVID, and calls Azure Resource Manager with a federated Entra token from a JWT-SVID.\n' +
        '  --json   print the summary as one JSON document\n' +
        '  --keep   leave everything running and print how to talk to it; Ctrl-C cleans up\n',
    )
    return
  }
  const cleanup = new Cleanup()
  let interrupted = false
  const onSignal = (): void => {
    if (interrupted) return
    interrupted = true
    log('interrupted: stopping everything')
    void cleanup.run().then(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const ran = await runDemo(cleanup)
    if (ran === null) {
      process.exitCode = 1
      return
    }
    const { result, env } = ran
    process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : formatSummary(result))
    if (values.keep) {
      process.stderr.write(
        `\nEverything keeps running. Talk to it with:\n  ${env.howTo.join('\n  ')}\nCtrl-C stops it all.\n`,
      )
      await new Promise<void>(() => {
        // until a signal: onSignal cleans up and exits
      })
    }
  } catch (err) {
    log(`failed: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  } finally {
    if (!interrupted) await cleanup.run()
  }
}

export { Cleanup }

if (
  process.argv[1] !== undefined &&
  import.meta.url === (await import('node:url')).pathToFileURL(process.argv[1]).href
) {
  await main()
}
