#!/usr/bin/env node
// Issue 12's load generator: many agents attesting to a real spire-server over its Agent API.
//
//   npm run build && npm run bench -- agent-load [options]        (or node dist/bench/agent-load.js)
//
// Starts spire-server v1.15.3 (test/support/spire.ts ensureSpire/startSpireServer) with the
// attestation rate limit off, serving our server plugins (dist/bin) against the Azure emulator
// (started in this process with a fleet of VMs) or the test attestor (dist/test-bin cr-test-server,
// the runtime-only case) — or attaches to a running server (test attestor only). Then it acts as
// many spire-agents on their first attestation (bench/agent-load-wire.ts): a TLS connection per
// agent checking the server's SVID against the bundle (or --insecure-bootstrap), the
// `Agent/AttestAgent` stream with a fresh ECDSA P-256 key's CSR and the payload our agent plugin's
// own code produces for that VM from its emulated IMDS (azure_msi: the managed-identity token;
// azure_imds: the attested document for the server's nonce), challenges answered, and the returned
// X509-SVID checked (agent ID, key, issuer in the bundle).
//
// Closed loop: C workers, each starting the next attestation when its last one ends, N in all after
// a warm-up. TOFU: every attestation is a distinct agent — a distinct VM of the fleet (azure_msi:
// standalone and Flexible members, each with its own identity; azure_imds: standalone, Flexible
// and Uniform members), or a distinct test identity. With --vms below the attestation count,
// azure_imds VMs attest again under an agent_path_template ending in `{{ .Nonce }}` (one agent ID
// per attestation); azure_msi refuses (its tokens carry nothing per attestation).
//
// Options:
//   --attestor A[,B…]     cr_test | azure_msi | azure_imds | all (default all: one scenario each,
//                         each with its own fresh server); `--together` serves the listed ones from
//                         one server, attestations taking turns
//   --attestations N      measured attestations per scenario (default 20000)
//   --concurrency C       concurrent streams (default 256)
//   --warmup W            attestations before measuring (default 256; distinct agents too)
//   --vms M               distinct VMs per Azure attestor (default: one per attestation)
//   --mix S:F:U           fleet weights standalone:Flexible:Uniform (default 1:4.5:4.5)
//   --connection per-attestation|per-worker   a new TLS connection per agent (default, as
//                         spire-agent) or one kept per worker
//   --insecure-bootstrap  no chain check of the server's SVID (only its SPIFFE ID)
//   --prefetch            fetch every first payload (azure_msi: the VM's token) before the run, so
//                         the emulator's token signing does not share the CPU with the server
//   --log-level L         spire-server log_level (default INFO)
//   --bin-dir D, --test-bin-dir D   serve copies of dist/bin, dist/test-bin (a long run that a
//                         rebuild of dist/ cannot change midway)
//   --attach HOST:PORT --bundle FILE [--trust-domain TD] [--secret S]   use a running server
//   --out FILE            JSON results (default .tmp/bench/agent-load-<time>.json): {runs: [{command,
//                         date, machine, spire, scenarios}]}; --append adds this run to FILE's runs
// Prints a markdown table on stdout; progress on stderr.
//
// Each scenario reports: attestations/s, latency p50/p90/p99/max/mean (from the agent's key
// generation to the checked SVID; in a closed loop at C streams this is mostly queueing), failures
// by message (agent-specific parts masked), spire-server's and each plugin's RSS (start/max/end,
// sampled every second) and CPU per attestation, this process's own CPU per attestation (the
// emulator included), emulator requests per attestation, and `spire-server agent count`.
// Reuse: runAgentLoad(options) runs one scenario and returns those figures.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import { benchMachine } from './machine.js'
import { fileURLToPath } from 'node:url'
import type { ClientHttp2Session } from 'node:http2'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import { REPO_ROOT } from '../test/support/paths.js'
import { CR_SECRET } from '../test/support/plugins.js'
import { ensureSpire, SPIRE_VERSION } from '../test/support/spire.js'
import { checkSvid, newAgentKey, parseBundle } from './agent-load-csr.js'
import {
  ATTESTORS,
  attestCallOf,
  crSource,
  fleetOrder,
  fleetSpec,
  IMDS_PER_ATTESTATION_TEMPLATE,
  imdsSource,
  interleave,
  msiSource,
  splitFleet,
  type AgentSource,
  type AttestorName,
  type FleetCounts,
} from './agent-load-fleet.js'
import {
  childrenOf,
  closedLoop,
  gitState,
  ProcWatch,
  summarize,
  type LatencySummary,
  type LoopResult,
  type Peak,
} from './agent-load-run.js'
import { RATE_LIMIT_OFF, startLoadServer, type LoadServer } from './agent-load-server.js'
import {
  attestAgent,
  closeConnection,
  openConnection,
  type ServerTarget,
} from './agent-load-wire.js'

export type ConnectionMode = 'per-attestation' | 'per-worker'

export interface AgentLoadOptions {
  /** Served together by one server; attestations take turns. */
  attestors: AttestorName[]
  attestations: number
  concurrency: number
  warmup: number
  /** Distinct VMs per Azure attestor; default one per attestation. */
  vms?: number
  mix?: string
  connection?: ConnectionMode
  insecureBootstrap?: boolean
  logLevel?: string
  /** spire-server binary (ensureSpire().server); not needed with `attach`. */
  serverBin?: string
  /** Copies of dist/bin and dist/test-bin to serve (a run unaffected by rebuilds). */
  binDir?: string
  testBinDir?: string
  attach?: { address: string; trustDomain: string; bundlePem: string; secret: string }
  /** Keep every agent ID the server issued (small runs: tests). */
  recordIds?: boolean
  /**
   * Fetch every first payload before the run (azure_msi: the VM's token through the agent plugin;
   * the others' first message is cheap), so the measured phase spends no emulator CPU on tokens.
   */
  prefetch?: boolean
  /** Per-attestation bound (default 60 s). */
  timeoutMs?: number
  progress?(line: string): void
}

export interface ProcessFigures {
  name: string
  rssMb: Peak
  cpuMsPerAttestation: number
}

export interface AgentLoadResult {
  attestors: AttestorName[]
  attestations: number
  concurrency: number
  warmup: number
  connection: ConnectionMode
  /** First payloads fetched before the run (not timed, not in the emulator figures). */
  prefetched: boolean
  serverSvidCheck: 'trust bundle' | 'insecure bootstrap (SPIFFE ID only)'
  /** How TOFU is respected. */
  agents: string
  fleet: Partial<Record<AttestorName, FleetCounts & { distinctVms: number }>>
  imdsAgentPathTemplate?: string
  ok: number
  failed: number
  failures: Record<string, number>
  wallS: number
  attestationsPerS: number
  latencyMs: LatencySummary
  warmupFailed: number
  warmupFailures: Record<string, number>
  /** `spire-server agent count` at the end (warm-up included); undefined when attached. */
  agentCount?: number
  server?: ProcessFigures
  plugins: ProcessFigures[]
  loadGeneratorCpuMsPerAttestation: number
  /** Emulator requests per measured attestation, by service. */
  azureRequestsPerAttestation?: Record<string, number>
  serverLogLevels?: Record<string, number>
  ids?: string[]
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits

/** Runs one scenario: server (or attach), fleet, warm-up, measured closed loop, figures. */
export async function runAgentLoad(o: AgentLoadOptions): Promise<AgentLoadResult> {
  const connection = o.connection ?? 'per-attestation'
  const total = o.warmup + o.attestations
  const k = o.attestors.length
  const perAttestor = Math.ceil(total / k)
  const azure = o.attestors.filter((a) => a !== 'cr_test')
  if (o.attach && azure.length > 0)
    throw new Error('--attach serves the test attestor only (the Azure ones need this emulator)')
  const distinct = o.vms ?? perAttestor
  const reuse = distinct < perAttestor
  if (reuse && o.attestors.includes('azure_msi'))
    throw new Error(
      `azure_msi needs one VM per attestation (${perAttestor}): its tokens carry nothing per attestation, so a second attestation of a VM is refused by TOFU`,
    )
  const imdsTemplate =
    reuse && o.attestors.includes('azure_imds') ? IMDS_PER_ATTESTATION_TEMPLATE : undefined
  const fleet: AgentLoadResult['fleet'] = {}
  for (const a of azure)
    fleet[a] = { ...splitFleet(distinct, o.mix ?? '1:4.5:4.5', a), distinctVms: distinct }
  const worldCounts: FleetCounts = { standalone: 0, flexible: 0, uniform: 0 }
  for (const c of Object.values(fleet))
    for (const key of ['standalone', 'flexible', 'uniform'] as const)
      worldCounts[key] = Math.max(worldCounts[key], c[key])

  let emu: Emulator | undefined
  let server: LoadServer | undefined
  try {
    if (azure.length > 0) emu = await startEmulator({ world: fleetSpec(worldCounts) })
    let target: ServerTarget
    let secret = CR_SECRET
    if (o.attach) {
      target = {
        address: o.attach.address,
        trustDomain: o.attach.trustDomain,
        ...(o.insecureBootstrap ? {} : { bundle: parseBundle(o.attach.bundlePem) }),
      }
      secret = o.attach.secret
    } else {
      if (o.serverBin === undefined) throw new Error('serverBin is required without attach')
      server = await startLoadServer({
        serverBin: o.serverBin,
        attestors: o.attestors,
        ...(emu === undefined ? {} : { emu }),
        ...(imdsTemplate === undefined ? {} : { imdsAgentPathTemplate: imdsTemplate }),
        ...(o.logLevel === undefined ? {} : { logLevel: o.logLevel }),
        ...(o.binDir === undefined ? {} : { binDir: o.binDir }),
        ...(o.testBinDir === undefined ? {} : { testBinDir: o.testBinDir }),
      })
      target = {
        address: server.address,
        trustDomain: server.trustDomain,
        ...(o.insecureBootstrap ? {} : { bundle: parseBundle(server.bundlePem) }),
      }
    }
    const runId = randomBytes(4).toString('hex')
    const sources: AgentSource[] = o.attestors.map((a) => {
      if (a === 'cr_test')
        return crSource({ trustDomain: target.trustDomain, secret, prefix: `agent-load-${runId}` })
      const order = fleetOrder({ ...fleet[a]! })
      return a === 'azure_msi'
        ? msiSource({ emu: emu!, order, trustDomain: target.trustDomain })
        : imdsSource({ emu: emu!, order, trustDomain: target.trustDomain, perAttestation: reuse })
    })
    const source = interleave(sources)
    const ids: string[] = []
    const idle: ClientHttp2Session[] = []
    const timeoutMs = o.timeoutMs ?? 60_000

    const attempt = async (index: number): Promise<void> => {
      const agent = source(index)
      const abort = new AbortController()
      const timer = setTimeout(
        () => abort.abort(new Error(`attestation timed out after ${timeoutMs} ms`)),
        timeoutMs,
      )
      let session: ClientHttp2Session | undefined
      let keep = false
      try {
        const key = newAgentKey()
        const payload = prefetched.get(index) ?? (await agent.payload(abort.signal))
        prefetched.delete(index)
        session = connection === 'per-worker' ? idle.pop() : undefined
        if (session === undefined || session.closed || session.destroyed)
          session = await openConnection(target, abort.signal)
        const outcome = await attestAgent(
          session,
          attestCallOf(agent, payload, key.csr, abort.signal),
        )
        const id = checkSvid(
          outcome.certChain,
          key,
          { agentId: agent.agentId, idPrefix: agent.idPrefix },
          target.bundle,
        )
        if (o.recordIds) ids.push(id)
        keep = connection === 'per-worker'
      } catch (err) {
        const msg = err instanceof Error ? err.message : String(err)
        throw new Error(`${agent.attestor}: ${msg}`)
      } finally {
        clearTimeout(timer)
        if (session !== undefined) {
          if (keep) idle.push(session)
          else await closeConnection(session)
        }
      }
    }

    const progress = (phase: string, n: number) => {
      let last = performance.now()
      let lastDone = 0
      return (done: number, failed: number): void => {
        const t = performance.now()
        if (t - last < 5_000 && done !== n) return
        o.progress?.(
          `agent-load ${o.attestors.join('+')} ${phase}: ${done}/${n}, ${failed} failed, ${round(((done - lastDone) * 1000) / (t - last))}/s`,
        )
        last = t
        lastDone = done
      }
    }

    const prefetched = new Map<number, Uint8Array>()
    if (o.prefetch) {
      const pre = await closedLoop({
        attempts: total,
        concurrency: 32,
        now: () => performance.now(),
        attempt: async (i) => {
          prefetched.set(i, await source(i).payload(AbortSignal.timeout(timeoutMs)))
        },
        onDone: progress('prefetch', total),
      })
      if (pre.failed > 0) throw new Error(`prefetch failed: ${JSON.stringify(pre.failures)}`)
    }

    const warm = await closedLoop({
      attempts: o.warmup,
      concurrency: o.concurrency,
      now: () => performance.now(),
      attempt,
      onDone: progress('warm-up', o.warmup),
    })

    // measured phase: processes sampled every second
    const serverWatch = server ? new ProcWatch(server.pid) : undefined
    const plugins = server
      ? childrenOf(server.pid).map((c) => ({
          name: pluginName(c.cmd),
          watch: new ProcWatch(c.pid),
        }))
      : []
    const watches = [...(serverWatch ? [serverWatch] : []), ...plugins.map((p) => p.watch)]
    watches.forEach((w) => w.sample())
    const sampler = setInterval(() => watches.forEach((w) => w.sample()), 1_000)
    const before = emu?.counters.snapshot()
    const cpu0 = process.cpuUsage()
    let loop: LoopResult
    try {
      loop = await closedLoop({
        attempts: o.attestations,
        concurrency: o.concurrency,
        now: () => performance.now(),
        attempt: (i) => attempt(o.warmup + i),
        onDone: progress('measured', o.attestations),
      })
    } finally {
      clearInterval(sampler)
    }
    const cpu = process.cpuUsage(cpu0)
    watches.forEach((w) => w.sample())
    const after = emu?.counters.snapshot()
    const per = (x: number): number => round(x / Math.max(1, o.attestations), 3)
    const result: AgentLoadResult = {
      attestors: o.attestors,
      attestations: o.attestations,
      concurrency: o.concurrency,
      warmup: o.warmup,
      connection,
      prefetched: o.prefetch ?? false,
      serverSvidCheck: o.insecureBootstrap ? 'insecure bootstrap (SPIFFE ID only)' : 'trust bundle',
      agents: reuse
        ? `${distinct} distinct VMs per Azure attestor, attesting again with agent_path_template ${imdsTemplate ?? '(none)'}; test identities distinct`
        : 'one distinct agent per attestation (a distinct VM, or a distinct test identity): TOFU never refuses',
      fleet,
      ...(imdsTemplate === undefined ? {} : { imdsAgentPathTemplate: imdsTemplate }),
      ok: loop.ok,
      failed: loop.failed,
      failures: loop.failures,
      wallS: round(loop.wallMs / 1000, 2),
      attestationsPerS: round((loop.ok * 1000) / loop.wallMs),
      latencyMs: summarize(loop.latenciesMs),
      warmupFailed: warm.failed,
      warmupFailures: warm.failures,
      ...(server ? { agentCount: await server.agentCount() } : {}),
      ...(serverWatch
        ? {
            server: {
              name: 'spire-server',
              rssMb: serverWatch.rss(),
              cpuMsPerAttestation: per(serverWatch.cpuMs()),
            },
          }
        : {}),
      plugins: plugins.map((p) => ({
        name: p.name,
        rssMb: p.watch.rss(),
        cpuMsPerAttestation: per(p.watch.cpuMs()),
      })),
      loadGeneratorCpuMsPerAttestation: per((cpu.user + cpu.system) / 1000),
      ...(before && after ? { azureRequestsPerAttestation: requestsBy(before, after, per) } : {}),
      ...(server ? { serverLogLevels: server.log().levels } : {}),
      ...(o.recordIds ? { ids } : {}),
    }
    if (warm.failed > 0 || loop.failed > 0) {
      const context = server?.log().last.slice(-10) ?? []
      o.progress?.(
        `agent-load: failures ${JSON.stringify({ ...warm.failures, ...loop.failures })}${context.length ? `\nlast server log lines:\n${context.join('\n')}` : ''}`,
      )
    }
    await Promise.all(idle.splice(0).map(closeConnection))
    return result
  } finally {
    await server?.stop()
    await emu?.stop()
  }
}

function requestsBy(
  before: Record<string, number>,
  after: Record<string, number>,
  per: (x: number) => number,
): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [route, n] of Object.entries(after)) {
    const service = route.split('.')[0]!
    out[service] = (out[service] ?? 0) + n - (before[route] ?? 0)
  }
  return Object.fromEntries(Object.entries(out).map(([s, n]) => [s, per(n)]))
}

function pluginName(cmd: string): string {
  const exe = cmd.split(' ').find((p) => /nodeattestor|cr-test/.test(p)) ?? cmd
  return exe.slice(exe.lastIndexOf('/') + 1)
}

/** The markdown table of a run's scenarios. */
export function formatTable(results: readonly AgentLoadResult[]): string {
  const rows = results.map((r) => {
    const plugin = r.plugins
      .map((p) => `${p.rssMb.maxMb} MB / ${p.cpuMsPerAttestation} ms`)
      .join(', ')
    return `| ${r.attestors.join(' + ')} | ${r.attestations} at ${r.concurrency} | ${r.attestationsPerS}/s | ${r.latencyMs.p50} / ${r.latencyMs.p99} / ${r.latencyMs.max} ms | ${r.failed} | ${r.server ? `${r.server.rssMb.maxMb} MB / ${r.server.cpuMsPerAttestation} ms` : '—'} | ${plugin || '—'} | ${r.loadGeneratorCpuMsPerAttestation} ms |`
  })
  return [
    '| attestor | attestations at streams | attestations/s | latency p50 / p99 / max | failed | spire-server max RSS / CPU per attestation | plugin max RSS / CPU per attestation | load generator (+ emulator) CPU per attestation |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')
}

function positiveInt(name: string, v: string | undefined, dflt: number): number {
  const n = v === undefined ? dflt : Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} takes a non-negative integer`)
  return n
}

/** The CLI: `npm run bench -- agent-load …` (bench/run.ts) or `node dist/bench/agent-load.js …`. */
export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      attestor: { type: 'string', default: 'all' },
      together: { type: 'boolean', default: false },
      attestations: { type: 'string' },
      concurrency: { type: 'string' },
      warmup: { type: 'string' },
      vms: { type: 'string' },
      mix: { type: 'string', default: '1:4.5:4.5' },
      connection: { type: 'string', default: 'per-attestation' },
      'insecure-bootstrap': { type: 'boolean', default: false },
      prefetch: { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'INFO' },
      attach: { type: 'string' },
      bundle: { type: 'string' },
      'trust-domain': { type: 'string', default: 'example.org' },
      secret: { type: 'string', default: CR_SECRET },
      out: { type: 'string' },
      append: { type: 'boolean', default: false },
      'bin-dir': { type: 'string' },
      'test-bin-dir': { type: 'string' },
    },
  })
  const list =
    a.attestor === 'all' ? [...ATTESTORS] : (a.attestor ?? '').split(',').map((s) => s.trim())
  for (const x of list)
    if (!ATTESTORS.includes(x as AttestorName))
      throw new Error(`--attestor: unknown ${JSON.stringify(x)} (${ATTESTORS.join(', ')}, all)`)
  if (a.connection !== 'per-attestation' && a.connection !== 'per-worker')
    throw new Error('--connection takes per-attestation or per-worker')
  const attestations = positiveInt('attestations', a.attestations, 20_000)
  const concurrency = positiveInt('concurrency', a.concurrency, 256)
  const warmup = positiveInt('warmup', a.warmup, 256)
  const vms = a.vms === undefined ? undefined : positiveInt('vms', a.vms, 0)
  let serverBin: string | undefined
  let attach: AgentLoadOptions['attach']
  if (a.attach !== undefined) {
    if (a.bundle === undefined) throw new Error('--attach needs --bundle FILE')
    attach = {
      address: a.attach,
      trustDomain: a['trust-domain']!,
      bundlePem: readFileSync(a.bundle, 'utf8'),
      secret: a.secret!,
    }
  } else {
    const spire = ensureSpire()
    if ('skip' in spire) throw new Error(`agent-load needs SPIRE: ${spire.skip}`)
    serverBin = spire.server
  }
  const started = new Date()
  const loadAtStart = loadavg()[0]
  const outFile = resolve(
    a.out ??
      join(
        REPO_ROOT,
        '.tmp',
        'bench',
        `agent-load-${started.toISOString().replace(/[:.]/g, '-')}.json`,
      ),
  )
  const groups = a.together ? [list as AttestorName[]] : list.map((x) => [x as AttestorName])
  const results: AgentLoadResult[] = []
  for (const attestors of groups) {
    process.stderr.write(
      `agent-load: ${attestors.join(' + ')}: ${warmup} + ${attestations} at ${concurrency} streams\n`,
    )
    const r = await runAgentLoad({
      attestors,
      attestations,
      concurrency,
      warmup,
      ...(vms === undefined ? {} : { vms }),
      mix: a.mix!,
      connection: a.connection,
      insecureBootstrap: a['insecure-bootstrap']!,
      prefetch: a.prefetch!,
      ...(a['bin-dir'] === undefined ? {} : { binDir: resolve(a['bin-dir']) }),
      ...(a['test-bin-dir'] === undefined ? {} : { testBinDir: resolve(a['test-bin-dir']) }),
      logLevel: a['log-level']!,
      ...(serverBin === undefined ? {} : { serverBin }),
      ...(attach === undefined ? {} : { attach }),
      progress: (line) => process.stderr.write(`${line}\n`),
    })
    process.stderr.write(
      `agent-load: ${attestors.join(' + ')}: ${r.ok} ok, ${r.failed} failed, ${r.attestationsPerS}/s, p99 ${r.latencyMs.p99} ms\n`,
    )
    results.push(r)
  }
  const run = {
    command: `npm run bench -- agent-load ${argv.join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(loadAtStart),
    source: gitState(),
    plugins: {
      binDir: a['bin-dir'] ?? 'dist/bin',
      testBinDir: a['test-bin-dir'] ?? 'dist/test-bin',
    },
    spire: {
      version: SPIRE_VERSION,
      serverConfig: `server { ${RATE_LIMIT_OFF.replace(/\n\s*/g, ' ')} }, log_level ${a['log-level']}, sqlite3 datastore, memory KeyManager`,
    },
    scenarios: results,
  }
  // --append: several commands' runs in one file
  let runs: unknown[] = []
  if (a.append && existsSync(outFile))
    runs = (JSON.parse(readFileSync(outFile, 'utf8')) as { runs: unknown[] }).runs
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify({ runs: [...runs, run] }, null, 2) + '\n')
  process.stderr.write(`agent-load: results written to ${outFile}\n`)
  process.stdout.write(formatTable(results) + '\n')
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main(process.argv.slice(2))
