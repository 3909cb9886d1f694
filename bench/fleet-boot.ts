#!/usr/bin/env node
// Issue 12 item 7(b): a fleet boot through real spire-server, ours against upstream's built-in
// plugins. N distinct VMs (standalone, Flexible and Uniform mixed; half azure_msi, half azure_imds,
// no VM shared: bench/chaos-fleet.ts) all boot at once and attest, each as a spire-agent on its
// first attestation (bench/agent-load-wire.ts: TLS, AttestAgent with a real CSR, the payload our
// agent plugin's code produces from the VM's emulated IMDS). A refused attempt is retried after 1,
// 2, 4 … 30 s, as an agent that keeps restarting, up to --max-attempts; then the agent counts as
// not attested, and the wall time is the last attested agent's. The emulator's ARM and Resource
// Graph throttling is on (its documented limits, test/azure-emulator/throttling.ts); --rg-lag-s S
// makes every VM freshly created as the boot starts, with Resource Graph S seconds behind ARM.
// Reports wall time to all attested, Azure requests per attestation (emulator counters), failed
// attempts, and a timeline of agents attested per second; with both sides, draws the timelines as
// an SVG chart.
//
//   npm run bench -- fleet-boot [--vms 200] [--plugins ours|upstream|both] [--mix 1:4.5:4.5]
//        [--concurrency C] [--deadline-s 900] [--max-attempts 6] [--no-throttling]
//        [--rg-lag-s S] [--out FILE] [--chart FILE]
//
// Sides: `ours` = our executables (dist/bin) as external plugins; `upstream` = SPIRE's own built-in
// azure_msi / azure_imds. Both use the same spire-server v1.15.3 binary, the TEST-ONLY test-roots
// build (ensureSpire('1.15.3', 'test-roots'): its built-in azure_imds also trusts the emulator's
// document roots; nothing else differs from the release), attestation rate limit off. Upstream's
// plugins call Azure's real host names, so the bench re-runs itself in a private network namespace
// where they are the emulator (bench/side-by-side-box.ts; needs root). Each side gets a fresh
// emulator and server. Heavy: run under `flock /tmp/spire-azure-bench.lock`.
// Default output: bench/results/fleet-boot-<date>.json (appended to: {runs: [...]}) and, with both
// sides, docs/images/fleet-boot.svg.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import { REPO_ROOT } from '../test/support/paths.js'
import { ensureSpire, SPIRE_VERSION } from '../test/support/spire.js'
import { checkSvid, newAgentKey, parseBundle } from './agent-load-csr.js'
import { attestCallOf, fleetSpec, imdsSource, interleave, msiSource } from './agent-load-fleet.js'
import { closedLoop, failureKey } from './agent-load-run.js'
import { startLoadServer, type LoadServer } from './agent-load-server.js'
import { attestAgent, closeConnection, openConnection } from './agent-load-wire.js'
import { chaosFleet } from './chaos-fleet.js'
import {
  fleetChart,
  fleetTable,
  timeline,
  type FleetBootSide,
  type Side,
} from './fleet-boot-report.js'
import { boxUnavailable, inBox, prepareBox, rerunInBox, trustEmulator } from './side-by-side-box.js'
import { benchMachine } from './machine.js'

export interface FleetBootOptions {
  vms: number
  side: Side
  mix: string
  concurrency: number
  deadlineS: number
  /** Attempts per agent before it counts as not attested (default 6: retried after 1, 2, 4, 8, 16 s). */
  maxAttempts?: number
  throttling: boolean
  /** Resource Graph's indexing lag for the fleet, every VM created as the boot starts (default 0). */
  rgLagS?: number
  serverBin: string
  progress?(line: string): void
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d

/** One side's boot: fresh emulator (box mode) and server, every VM attested once. */
export async function runFleetBoot(o: FleetBootOptions): Promise<FleetBootSide> {
  const fleet = chaosFleet(o.vms, o.mix)
  let emu: Emulator | undefined
  let server: LoadServer | undefined
  const bootedAt = new Date()
  try {
    emu = await startEmulator({
      world: fleetSpec(fleet.world),
      mode: 'box',
      ...(o.throttling ? { throttling: true } : {}),
      ...(o.rgLagS ? { resourceGraph: { lagS: o.rgLagS, createdAt: () => bootedAt } } : {}),
    })
    trustEmulator(emu.endpoints.caFile)
    server = await startLoadServer({
      serverBin: o.serverBin,
      attestors: ['azure_msi', 'azure_imds'],
      emu,
      builtIn: o.side === 'upstream',
    })
    const target = {
      address: server.address,
      trustDomain: server.trustDomain,
      bundle: parseBundle(server.bundlePem),
    }
    const source = interleave([
      msiSource({ emu, order: fleet.attestors.azure_msi.order, trustDomain: target.trustDomain }),
      imdsSource({
        emu,
        order: fleet.attestors.azure_imds.order,
        trustDomain: target.trustDomain,
        perAttestation: false,
      }),
    ])
    const before = emu.counters.snapshot()
    const t0 = performance.now()
    const deadline = t0 + o.deadlineS * 1000
    const attestedAtS: number[] = []
    const failures = new Map<string, number>()
    let failedAttempts = 0
    let lastLog = t0
    const once = async (index: number): Promise<void> => {
      const agent = source(index)
      const signal = AbortSignal.timeout(60_000)
      const key = newAgentKey()
      const payload = await agent.payload(signal)
      const session = await openConnection(target, signal)
      try {
        const outcome = await attestAgent(session, attestCallOf(agent, payload, key.csr, signal))
        checkSvid(
          outcome.certChain,
          key,
          { agentId: agent.agentId, idPrefix: false },
          target.bundle,
        )
      } finally {
        await closeConnection(session)
      }
    }
    const loop = await closedLoop({
      attempts: fleet.attestors.azure_msi.order.length + fleet.attestors.azure_imds.order.length,
      concurrency: o.concurrency,
      now: () => performance.now(),
      attempt: async (index) => {
        for (let k = 0; ; k++) {
          try {
            await once(index)
            attestedAtS.push((performance.now() - t0) / 1000)
            return
          } catch (err) {
            failedAttempts++
            const f = failureKey(err)
            if (!failures.has(f)) o.progress?.(`fleet-boot ${o.side}: new failure: ${f}`)
            failures.set(f, (failures.get(f) ?? 0) + 1)
            const wait = Math.min(30, 2 ** k) * 1000
            if (k + 1 >= (o.maxAttempts ?? 6) || performance.now() + wait > deadline) throw err
            await sleep(wait)
          }
        }
      },
      onDone: (done, failed) => {
        const t = performance.now()
        if (t - lastLog < 5_000) return
        lastLog = t
        o.progress?.(
          `fleet-boot ${o.side}: ${done - failed} attested, ${failedAttempts} failed attempts, ${((t - t0) / 1000).toFixed(0)} s`,
        )
      },
    })
    const wallS = (performance.now() - t0) / 1000
    const after = emu.counters.snapshot()
    const bySvc: Record<string, number> = {}
    for (const [route, n] of Object.entries(after)) {
      const svc = route.split('.')[0]!
      bySvc[svc] = (bySvc[svc] ?? 0) + n - (before[route] ?? 0)
    }
    const attested = loop.ok
    const endS = attested > 0 ? Math.max(...attestedAtS) : wallS
    return {
      side: o.side,
      plugins:
        o.side === 'ours'
          ? 'our executables, dist/bin'
          : `SPIRE v${SPIRE_VERSION} built-in azure_msi, azure_imds (test-roots build)`,
      vms: o.vms,
      attested,
      notAttested: loop.failed,
      failedAttempts,
      failures: Object.fromEntries([...failures].sort((a, b) => b[1] - a[1])),
      wallS: round(endS, 2),
      azureRequestsPerAttestation: Object.fromEntries(
        Object.entries(bySvc).map(([k, n]) => [k, round(n / Math.max(1, attested))]),
      ),
      timeline: timeline(attestedAtS, endS, endS > 120 ? 5 : 1),
      agentCount: await server.agentCount(),
    }
  } finally {
    await server?.stop()
    await emu?.stop()
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      vms: { type: 'string', default: '200' },
      plugins: { type: 'string', default: 'both' },
      mix: { type: 'string', default: '1:4.5:4.5' },
      concurrency: { type: 'string' },
      'deadline-s': { type: 'string', default: '900' },
      'max-attempts': { type: 'string', default: '6' },
      'no-throttling': { type: 'boolean', default: false },
      'rg-lag-s': { type: 'string', default: '0' },
      out: { type: 'string' },
      chart: { type: 'string' },
    },
  })
  const vms = Number(a.vms)
  if (!Number.isInteger(vms) || vms < 2) throw new Error('--vms takes an integer ≥ 2')
  const sides: Side[] =
    a.plugins === 'both'
      ? ['ours', 'upstream']
      : a.plugins === 'ours' || a.plugins === 'upstream'
        ? [a.plugins]
        : []
  if (sides.length === 0) throw new Error('--plugins takes ours, upstream or both')
  if (!inBox()) {
    const why = boxUnavailable()
    if (why !== undefined) throw new Error(`fleet-boot: cannot make the bench box: ${why}`)
    process.exitCode = rerunInBox(fileURLToPath(import.meta.url), argv)
    return
  }
  prepareBox()
  const progress = (l: string): void => void process.stderr.write(`${l}\n`)
  const spire = ensureSpire(SPIRE_VERSION, 'test-roots')
  if ('skip' in spire) throw new Error(`fleet-boot: ${spire.skip}`)
  const serverBin = spire.server
  const started = new Date()
  const results: FleetBootSide[] = []
  for (const side of sides) {
    progress(`fleet-boot: ${side}, ${vms} VMs`)
    results.push(
      await runFleetBoot({
        vms,
        side,
        mix: a.mix,
        concurrency: Number(a.concurrency ?? Math.min(vms, 256)),
        deadlineS: Number(a['deadline-s']),
        maxAttempts: Number(a['max-attempts']),
        throttling: !a['no-throttling'],
        rgLagS: Number(a['rg-lag-s']),
        serverBin,
        progress,
      }),
    )
  }
  const table = fleetTable(results)
  const date = started.toISOString().slice(0, 10)
  const run = {
    command: `npm run bench -- fleet-boot ${argv.join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(),
    spire: `v${SPIRE_VERSION} (test-roots build, attestation rate limit off)`,
    throttling: !a['no-throttling'],
    resourceGraphLagS: Number(a['rg-lag-s']),
    mix: a.mix,
    sides: results,
    table,
  }
  const outFile = resolve(a.out ?? join(REPO_ROOT, 'bench/results', `fleet-boot-${date}.json`))
  const prior = existsSync(outFile)
    ? (JSON.parse(readFileSync(outFile, 'utf8')) as { runs?: unknown[] })
    : {}
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify({ runs: [...(prior.runs ?? []), run] }, null, 2) + '\n')
  progress(`fleet-boot: results appended to ${outFile}`)
  if (results.length === 2) {
    const chartFile = resolve(a.chart ?? join(REPO_ROOT, 'docs/images/fleet-boot.svg'))
    mkdirSync(dirname(chartFile), { recursive: true })
    writeFileSync(
      chartFile,
      fleetChart(results, `Fleet boot of ${vms} VMs through spire-server (Azure throttling on)`),
    )
    progress(`fleet-boot: chart written to ${chartFile}`)
  }
  process.stdout.write(table + '\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  })
