#!/usr/bin/env node
// Issue 12 item 7(a): closed- and open-loop throughput and latency of one server plugin process
// through the host launcher (shared/host, as SPIRE's catalog drives an external plugin) against the
// Azure emulator, for: the null attestor (dist/test-bin cr-test-*: the runtime alone), our azure_msi
// and azure_imds (dist/bin), and upstream SPIRE's own azuremsi / azureimds served unchanged through
// spire-plugin-sdk's pluginmain (scripts/build-upstream-plugins.sh; its azure_imds is the TEST-ONLY
// build trusting the emulator's document roots through SPIRE_TEST_AZURE_IMDS_EXTRA_ROOTS). Every
// cell's agent side is our agent plugin (same payload on the wire as upstream's agent), one VM
// (frontend/blog), the launcher's AgentStore empty so TOFU never short-cuts.
//
//   npm run bench -- side-by-side [--count 2000] [--streams 16] [--rates 100,300] [--warmup 200]
//        [--cells null,ours-msi,ours-imds,upstream-msi,upstream-imds] [--out FILE]
//
// Closed loop: `--streams` attestations in flight, `--count` in all. Open loop: attestations started
// on a fixed schedule at each `--rates` value (per second), `--count` each, latency measured from the
// scheduled start (so a plugin that falls behind shows its queue, no coordinated omission). Reports
// attestations/s, p50/p90/p99/max, failures, the server plugin's CPU per attestation and RSS.
// Upstream's plugins call Azure's real host names, so the bench re-runs itself in a private network
// namespace where they are the emulator (bench/side-by-side-box.ts; needs root); every cell runs
// there. Heavy: run under `flock /tmp/spire-azure-bench.lock`. Results:
// bench/results/side-by-side-<date>.json (appended to: {runs: [...]}).
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { attestAgentToServer, PluginProcess } from '../shared/host/index.js'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import {
  agentHcl,
  IMDS_AGENT_MAIN,
  IMDS_SERVER_MAIN,
  serverHcl,
  tenantHcl,
} from '../test/support/azure-imds-plugins.js'
import {
  agentHclFor,
  MSI_AGENT_MAIN,
  MSI_SERVER_MAIN,
  serverHclFor,
} from '../test/support/azure-msi-plugins.js'
import { REPO_ROOT } from '../test/support/paths.js'
import { CR_AGENT_MAIN, CR_SECRET, CR_SERVER_MAIN } from '../test/support/plugins.js'
import { closedLoop, sampleProc, summarize, type LatencySummary } from './agent-load-run.js'
import { boxUnavailable, inBox, prepareBox, rerunInBox, trustEmulator } from './side-by-side-box.js'
import { sideBySideTable, type CellResult, type LoopFigures } from './side-by-side-report.js'
import { benchMachine } from './machine.js'

export const CELLS = ['null', 'ours-msi', 'ours-imds', 'upstream-msi', 'upstream-imds'] as const
export type CellName = (typeof CELLS)[number]

const VM = 'frontend/blog'
const TENANT = 'contoso'

export interface OpenLoopOptions {
  attempts: number
  ratePerS: number
  now(): number
  sleep(ms: number): Promise<void>
  attempt(index: number): Promise<void>
}

/**
 * Starts attempt i at start + i/rate (whatever the ones before are doing) and measures its latency
 * from that scheduled time. Clock and sleep injected.
 */
export async function openLoop(o: OpenLoopOptions): Promise<{
  ok: number
  failed: number
  firstFailure?: string
  latenciesMs: number[]
  wallMs: number
}> {
  const start = o.now()
  const latenciesMs: number[] = []
  let ok = 0
  let failed = 0
  let firstFailure: string | undefined
  const running: Promise<void>[] = []
  for (let i = 0; i < o.attempts; i++) {
    const at = start + (i * 1000) / o.ratePerS
    const wait = at - o.now()
    if (wait > 0) await o.sleep(wait)
    running.push(
      o.attempt(i).then(
        () => {
          latenciesMs.push(o.now() - at)
          ok++
        },
        (err: unknown) => {
          failed++
          firstFailure ??= err instanceof Error ? err.message : String(err)
        },
      ),
    )
  }
  await Promise.all(running)
  return {
    ok,
    failed,
    ...(firstFailure === undefined ? {} : { firstFailure }),
    latenciesMs,
    wallMs: o.now() - start,
  }
}

const procCpuMs = (pid: number): number => sampleProc(pid)?.cpuMs ?? NaN
const rssMb = (pid: number): number => sampleProc(pid)?.rssMb ?? NaN
const peakRssMb = (pid: number): number =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 'NaN') / 1024

/** Upstream's plugin executables (built on demand; undefined with the reason when they cannot be). */
export function upstreamPlugins(): { msi: string; imds: string } | { skip: string } {
  const r = spawnSync(join(REPO_ROOT, 'scripts/build-upstream-plugins.sh'), { encoding: 'utf8' })
  if (r.status === 3) return { skip: 'no Go toolchain to build upstream plugins' }
  if (r.status !== 0) return { skip: `build-upstream-plugins.sh failed: ${r.stderr.slice(-500)}` }
  const dir = r.stdout.trim().split('\n').pop()!
  return { msi: join(dir, 'upstream-azure-msi'), imds: join(dir, 'upstream-azure-imds') }
}

function upstreamHcl(emu: Emulator, attestor: 'msi' | 'imds'): string {
  const t = emu.world.tenant(TENANT)
  const app = t.apps[0]!
  return attestor === 'msi'
    ? `tenants = {\n  "${t.tenantId}" = {\n    subscription_id = "${t.subscriptions[0]!.subscriptionId}"\n    app_id = "${app.clientId}"\n    app_secret = "${app.secret}"\n  }\n}`
    : `tenants = {\n  "${t.domains[0]}" = {\n    secret_auth = { app_id = "${app.clientId}" app_secret = "${app.secret}" }\n  }\n}`
}

interface CellPlan {
  name: string
  server: { command: string; hcl: string }
  agent: { command: string; hcl: string }
}

function plan(cell: CellName, emu: Emulator, up: { msi: string; imds: string }): CellPlan {
  const crAgent = {
    command: CR_AGENT_MAIN,
    hcl: `secret = "${CR_SECRET}"\nidentity = "n"\nselectors = ["rack:r1"]`,
  }
  const msiAgent = { command: MSI_AGENT_MAIN, hcl: agentHclFor(emu, VM) }
  const imdsAgent = { command: IMDS_AGENT_MAIN, hcl: agentHcl(emu, VM) }
  switch (cell) {
    case 'null':
      return {
        name: 'cr_test',
        server: { command: CR_SERVER_MAIN, hcl: `secret = "${CR_SECRET}"` },
        agent: crAgent,
      }
    case 'ours-msi':
      return {
        name: 'azure_msi',
        server: { command: MSI_SERVER_MAIN, hcl: serverHclFor(emu, [{ tenant: TENANT }]) },
        agent: msiAgent,
      }
    case 'ours-imds':
      return {
        name: 'azure_imds',
        server: { command: IMDS_SERVER_MAIN, hcl: serverHcl(emu, tenantHcl(emu, TENANT)) },
        agent: imdsAgent,
      }
    case 'upstream-msi':
      return {
        name: 'azure_msi',
        server: { command: up.msi, hcl: upstreamHcl(emu, 'msi') },
        agent: msiAgent,
      }
    case 'upstream-imds':
      return {
        name: 'azure_imds',
        server: { command: up.imds, hcl: upstreamHcl(emu, 'imds') },
        agent: imdsAgent,
      }
  }
}

async function runCell(
  cell: CellName,
  up: { msi: string; imds: string },
  o: { count: number; streams: number; warmup: number; rates: number[] },
  progress: (l: string) => void,
): Promise<CellResult> {
  const emu = await startEmulator({ mode: 'box' })
  trustEmulator(emu.endpoints.caFile)
  const procs: PluginProcess[] = []
  try {
    const p = plan(cell, emu, up)
    const t0 = performance.now()
    const server = await PluginProcess.load({ ...p.server, name: p.name, side: 'server' })
    procs.push(server)
    const t1 = performance.now()
    const agent = await PluginProcess.load({ ...p.agent, name: p.name, side: 'agent' })
    procs.push(agent)
    const t2 = performance.now()
    await attestAgentToServer(agent, server)
    const t3 = performance.now()
    const firstMs = t3 - t0
    // where the first attestation's time goes: each launch (spawn, handshake, Init, Configure) and
    // the attestation itself with cold caches
    const firstAttestationPhasesMs = {
      serverLoad: Math.round(t1 - t0),
      agentLoad: Math.round(t2 - t1),
      attest: Math.round(t3 - t2),
    }
    const pid = server.pid!
    const one = async (): Promise<void> => void (await attestAgentToServer(agent, server))
    await closedLoop({
      attempts: o.warmup,
      concurrency: o.streams,
      now: () => performance.now(),
      attempt: one,
    })
    const figures = async (
      mode: string,
      run: () => Promise<{
        ok: number
        failed: number
        latenciesMs: number[]
        wallMs: number
        firstFailure?: string
      }>,
    ): Promise<LoopFigures> => {
      const before = emu.counters.snapshot()
      const c0 = procCpuMs(pid)
      const r = await run()
      const cpu = procCpuMs(pid) - c0
      const after = emu.counters.snapshot()
      let arm = 0
      for (const [route, n] of Object.entries(after))
        if (!route.startsWith('imds.')) arm += n - (before[route] ?? 0)
      const f: LoopFigures = {
        mode,
        ok: r.ok,
        failed: r.failed,
        ...(r.firstFailure === undefined ? {} : { firstFailure: r.firstFailure }),
        attestationsPerS: Math.round((r.ok * 10_000) / r.wallMs) / 10,
        latencyMs: summarize(r.latenciesMs) as LatencySummary,
        serverCpuMsPerAttestation: Math.round((cpu / Math.max(1, r.ok)) * 1000) / 1000,
        azureRequestsPerAttestation: Math.round((arm / Math.max(1, r.ok)) * 1000) / 1000,
        serverRssMb: Math.round(rssMb(pid) * 10) / 10,
        serverPeakRssMb: Math.round(peakRssMb(pid) * 10) / 10,
      }
      progress(
        `side-by-side ${cell} ${mode}: ${f.attestationsPerS}/s, p50 ${f.latencyMs.p50} ms, p99 ${f.latencyMs.p99} ms, ${f.failed} failed, ${f.serverCpuMsPerAttestation} ms CPU`,
      )
      return f
    }
    const loops: LoopFigures[] = []
    loops.push(
      await figures(`closed ${o.streams} streams`, async () => {
        let firstFailure: string | undefined
        const r = await closedLoop({
          attempts: o.count,
          concurrency: o.streams,
          now: () => performance.now(),
          attempt: () =>
            one().catch((err: unknown) => {
              firstFailure ??= err instanceof Error ? err.message : String(err)
              throw err
            }),
        })
        return { ...r, ...(firstFailure === undefined ? {} : { firstFailure }) }
      }),
    )
    for (const rate of o.rates)
      loops.push(
        await figures(`open ${rate}/s`, () =>
          openLoop({
            attempts: o.count,
            ratePerS: rate,
            now: () => performance.now(),
            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
            attempt: one,
          }),
        ),
      )
    return { cell, firstAttestationMs: Math.round(firstMs), firstAttestationPhasesMs, loops }
  } finally {
    for (const proc of procs.reverse()) await proc.close()
    await emu.stop()
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      count: { type: 'string', default: '2000' },
      streams: { type: 'string', default: '16' },
      rates: { type: 'string', default: '100,300' },
      warmup: { type: 'string', default: '200' },
      cells: { type: 'string', default: CELLS.join(',') },
      out: { type: 'string' },
    },
  })
  const cells = a.cells.split(',') as CellName[]
  for (const c of cells)
    if (!CELLS.includes(c)) throw new Error(`unknown cell ${c} (${CELLS.join(', ')})`)
  if (!inBox()) {
    const why = boxUnavailable()
    if (why !== undefined) throw new Error(`side-by-side: cannot make the bench box: ${why}`)
    process.exitCode = rerunInBox(fileURLToPath(import.meta.url), argv)
    return
  }
  prepareBox()
  const progress = (l: string): void => void process.stderr.write(`${l}\n`)
  const up = upstreamPlugins()
  const skipped: Record<string, string> = {}
  const results: CellResult[] = []
  const started = new Date()
  for (const c of cells) {
    if (c.startsWith('upstream') && 'skip' in up) {
      skipped[c] = up.skip
      continue
    }
    results.push(
      await runCell(
        c,
        'skip' in up ? { msi: '', imds: '' } : up,
        {
          count: Number(a.count),
          streams: Number(a.streams),
          warmup: Number(a.warmup),
          rates: a.rates.split(',').filter(Boolean).map(Number),
        },
        progress,
      ),
    )
  }
  const table = sideBySideTable(results)
  const run = {
    command: `npm run bench -- side-by-side ${argv.join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(),
    vm: VM,
    skipped,
    cells: results,
    table,
  }
  const outFile = resolve(
    a.out ??
      join(REPO_ROOT, 'bench/results', `side-by-side-${started.toISOString().slice(0, 10)}.json`),
  )
  const prior = existsSync(outFile)
    ? (JSON.parse(readFileSync(outFile, 'utf8')) as { runs?: unknown[] })
    : {}
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify({ runs: [...(prior.runs ?? []), run] }, null, 2) + '\n')
  progress(`side-by-side: results appended to ${outFile}`)
  process.stdout.write(table + '\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  })
