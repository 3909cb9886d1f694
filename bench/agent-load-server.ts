// The spire-server the load generator (bench/agent-load.ts) drives: real SPIRE (test/support/spire.ts)
// on loopback with the attestation rate limit off (`server { ratelimit { attestation = false } }`,
// SPIRE v1.15.3's run.go `rateLimitConfig`), serving our plugin executables (dist/bin) against the
// Azure emulator and/or the test attestor (dist/test-bin cr-test-server). Its log is kept short in
// memory while it runs (the levels are counted, the last lines kept for a failure's context).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import type { Emulator } from '../test/azure-emulator/index.js'
import { IMDS_SERVER_MAIN, serverHcl, tenantHcl } from '../test/support/azure-imds-plugins.js'
import { MSI_SERVER_MAIN, serverHclFor } from '../test/support/azure-msi-plugins.js'
import { CR_SECRET, CR_SERVER_MAIN } from '../test/support/plugins.js'
import {
  E2E_TRUST_DOMAIN,
  exec,
  freePort,
  serverSocket,
  spireServerConf,
  startSpireServer,
  type NodeAttestorConf,
  type SpireLogLine,
  type SpireProcess,
} from '../test/support/spire.js'
import { FLEET_TENANT, type AttestorName } from './agent-load-fleet.js'

export const RATE_LIMIT_OFF = 'ratelimit {\n  attestation = false\n}'

export interface LoadServerOptions {
  serverBin: string
  attestors: readonly AttestorName[]
  /** Needed for azure_msi / azure_imds. */
  emu?: Emulator
  /** azure_imds agent_path_template (default: the plugin's, one ID per VM). */
  imdsAgentPathTemplate?: string
  /** SPIRE's log_level (INFO by default, as deployed; DEBUG logs several lines per attestation). */
  logLevel?: string
  trustDomain?: string
  /** Folder of our plugin executables (default dist/bin, or SPIRE_AZURE_BIN_DIR). */
  binDir?: string
  /** Folder of the test attestor's executables (default dist/test-bin). */
  testBinDir?: string
  /** `disk`: the CA survives a restart() (default memory, as before). */
  keyManager?: 'memory' | 'disk'
  /** Extra environment for spire-server (and so its plugins), e.g. NODE_OPTIONS for a probe. */
  env?: Record<string, string>
  /**
   * SPIRE's own built-in azure_msi / azure_imds instead of ours (bench/fleet-boot.ts): they call
   * Azure's real host names, so only inside the bench box (bench/side-by-side-box.ts).
   */
  builtIn?: boolean
}

/** The NodeAttestor blocks for the attestors, each pointed at the emulator where it needs one. */
export function nodeAttestors(o: LoadServerOptions): NodeAttestorConf[] {
  const emu = (): Emulator => {
    if (o.emu === undefined) throw new Error('the Azure attestors need the emulator')
    return o.emu
  }
  const bin = (dflt: string, dir: string | undefined): string =>
    dir === undefined ? dflt : join(dir, basename(dflt))
  return o.attestors.map((a): NodeAttestorConf => {
    switch (a) {
      case 'cr_test':
        return {
          name: a,
          pluginCmd: bin(CR_SERVER_MAIN, o.testBinDir),
          pluginData: `secret = "${CR_SECRET}"`,
        }
      case 'azure_msi':
        if (o.builtIn) return { name: a, pluginData: upstreamHcl(emu(), a) }
        return {
          name: a,
          pluginCmd: bin(MSI_SERVER_MAIN, o.binDir),
          pluginData: serverHclFor(emu(), [{ tenant: FLEET_TENANT }]),
        }
      case 'azure_imds':
        if (o.builtIn)
          return { name: a, pluginData: upstreamHcl(emu(), a, o.imdsAgentPathTemplate) }
        return {
          name: a,
          pluginCmd: bin(IMDS_SERVER_MAIN, o.binDir),
          pluginData: serverHcl(
            emu(),
            tenantHcl(emu(), FLEET_TENANT),
            o.imdsAgentPathTemplate === undefined
              ? ''
              : `agent_path_template = "${o.imdsAgentPathTemplate}"`,
          ),
        }
    }
  })
}

/** Upstream's plugin_data for the fleet tenant (its app's secret; every URL is Azure's own). */
export function upstreamHcl(
  emu: Emulator,
  attestor: 'azure_msi' | 'azure_imds',
  imdsAgentPathTemplate?: string,
): string {
  const t = emu.world.tenant(FLEET_TENANT)
  const app = t.apps[0]!
  if (attestor === 'azure_msi')
    return `tenants = {\n  "${t.tenantId}" = {\n    subscription_id = "${t.subscriptions[0]!.subscriptionId}"\n    app_id = "${app.clientId}"\n    app_secret = "${app.secret}"\n  }\n}`
  const template =
    imdsAgentPathTemplate === undefined ? '' : `\nagent_path_template = "${imdsAgentPathTemplate}"`
  return `tenants = {\n  "${t.domains[0]}" = {\n    secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }\n  }\n}${template}`
}

/** The whole server config: spireServerConf with the rate limit off and the chosen log level. */
export function loadServerConf(o: LoadServerOptions & { dir: string; port: number }): string {
  return spireServerConf({
    dir: o.dir,
    port: o.port,
    nodeAttestor: nodeAttestors(o),
    ...(o.trustDomain === undefined ? {} : { trustDomain: o.trustDomain }),
    serverExtra: RATE_LIMIT_OFF,
    logLevel: o.logLevel ?? 'INFO',
    ...(o.keyManager === undefined ? {} : { keyManager: o.keyManager }),
  })
}

export interface LoadServer {
  process: SpireProcess
  pid: number
  address: string
  trustDomain: string
  bundlePem: string
  socketPath: string
  dir: string
  /** Log lines seen so far by level, and the last ones. */
  log(): { levels: Record<string, number>; last: string[] }
  /** `spire-server agent count`. */
  agentCount(): Promise<number>
  /** `spire-server agent list -output json`: every attested agent with its selectors. */
  agentList(): Promise<ListedAgent[]>
  /**
   * Stops spire-server (SIGTERM, as a service manager does) and starts it again on the same port,
   * config and data directory; `process` and `pid` then name the new process.
   */
  restart(): Promise<void>
  stop(): Promise<void>
}

export interface ListedAgent {
  id: string
  attestationType: string
  /** `type:value`, as SPIRE stores them. */
  selectors: string[]
}

/** Parses `spire-server agent list -output json` (ListAgentsResponse: agents[].id, selectors). */
export function parseAgentList(json: string): ListedAgent[] {
  const doc = JSON.parse(json) as {
    agents?: {
      id?: { trust_domain?: string; path?: string }
      attestation_type?: string
      selectors?: { type?: string; value?: string }[]
    }[]
  }
  return (doc.agents ?? []).map((a) => ({
    id: `spiffe://${a.id?.trust_domain ?? ''}${a.id?.path ?? ''}`,
    attestationType: a.attestation_type ?? '',
    selectors: (a.selectors ?? []).map((s) => `${s.type ?? ''}:${s.value ?? ''}`),
  }))
}

const KEEP_LINES = 200

export async function startLoadServer(o: LoadServerOptions): Promise<LoadServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agent-load-'))
  const port = await freePort()
  const trustDomain = o.trustDomain ?? E2E_TRUST_DOMAIN
  const conf = loadServerConf({ ...o, dir, port })
  // with an environment, the config is run as a file (-expandEnv): it must hold no `$`
  if (o.env !== undefined && conf.includes('$'))
    throw new Error('a spire-server config run with an environment must not contain "$"')
  const confFile = join(dir, 'server.conf')
  const start = (): Promise<SpireProcess> => {
    if (o.env === undefined) return startSpireServer(o.serverBin, dir, conf)
    writeFileSync(confFile, conf)
    return startSpireServer(o.serverBin, dir, { file: confFile, env: o.env })
  }
  let proc: SpireProcess
  try {
    proc = await start()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const levels: Record<string, number> = {}
  const last: string[] = []
  const drain = (): void => {
    for (const l of proc.lines.splice(0) as SpireLogLine[])
      levels[l.level] = (levels[l.level] ?? 0) + 1
    last.push(...proc.raw.splice(0))
    if (last.length > KEEP_LINES) last.splice(0, last.length - KEEP_LINES)
  }
  const timer = setInterval(drain, 1_000)
  timer.unref()
  const socketPath = serverSocket(dir)
  const server: LoadServer = {
    process: proc,
    pid: proc.child.pid!,
    address: `127.0.0.1:${port}`,
    trustDomain,
    bundlePem: readFileSync(join(dir, 'bundle.pem'), 'utf8'),
    socketPath,
    dir,
    log: () => {
      drain()
      return { levels: { ...levels }, last: [...last] }
    },
    async agentCount() {
      const r = await exec(o.serverBin, ['agent', 'count', '-socketPath', socketPath], dir)
      const n = /(\d+) attested agent/.exec(r.stdout)
      if (r.status !== 0 || n === null)
        throw new Error(`spire-server agent count failed: ${r.stderr || r.stdout}`)
      return Number(n[1])
    },
    async agentList() {
      const r = await exec(
        o.serverBin,
        ['agent', 'list', '-output', 'json', '-socketPath', socketPath],
        dir,
      )
      if (r.status !== 0) throw new Error(`spire-server agent list failed: ${r.stderr || r.stdout}`)
      return parseAgentList(r.stdout)
    },
    async restart() {
      drain()
      await proc.stop()
      proc = await start()
      server.process = proc
      server.pid = proc.child.pid!
    },
    async stop() {
      clearInterval(timer)
      await proc.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return server
}
