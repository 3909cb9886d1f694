import { readFileSync } from 'node:fs'
import { attestAgentToServer, type PluginProcess } from '../shared/host/index.js'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import {
  agentHcl,
  loadImdsAgent,
  loadImdsServer,
  serverHcl,
  tenantHcl,
} from '../test/support/azure-imds-plugins.js'
import { agentHclFor, loadMsi, serverHclFor } from '../test/support/azure-msi-plugins.js'
import { median } from './startup.js'

export interface AttestBenchResult {
  label: string
  coldMs: number
  warmMedianMs: number
  warmP95Ms: number
  /** Resource Manager + Resource Graph requests per warm attestation (caches at work). */
  armPerWarm: number
  /** Requests of any kind to Entra ID per warm attestation (signing keys, app tokens). */
  entraPerWarm: number
  serverRssMb: number
}

const rssMb = (pid: number | undefined): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 'NaN') / 1024

const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)]!

/**
 * One server and one agent plugin process against the emulator: the first attestation (cold JWKS,
 * ARM and credential caches) and `runs` more of the same VM (SPIRE would refuse those by TOFU; the
 * launcher's AgentStore stays empty so the whole path runs every time).
 */
async function measure(
  label: string,
  emu: Emulator,
  server: PluginProcess,
  agent: PluginProcess,
  runs: number,
): Promise<AttestBenchResult> {
  const t0 = performance.now()
  await attestAgentToServer(agent, server)
  const coldMs = performance.now() - t0
  const before = emu.counters.snapshot()
  const warm: number[] = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    await attestAgentToServer(agent, server)
    warm.push(performance.now() - t)
  }
  const after = emu.counters.snapshot()
  const delta = (prefix: string): number =>
    Object.entries(after)
      .filter(([route]) => route.startsWith(prefix))
      .reduce((n, [route, v]) => n + v - (before[route] ?? 0), 0)
  return {
    label,
    coldMs,
    warmMedianMs: median(warm),
    warmP95Ms: p95(warm),
    armPerWarm: delta('arm.') / runs,
    entraPerWarm: delta('entra.') / runs,
    serverRssMb: rssMb(server.pid),
  }
}

export async function benchAttestations(runs: number): Promise<AttestBenchResult[]> {
  const emu = await startEmulator()
  const procs: PluginProcess[] = []
  try {
    const msiServer = await loadMsi('server', serverHclFor(emu, [{ tenant: 'contoso' }]))
    const msiAgent = await loadMsi('agent', agentHclFor(emu, 'frontend/blog'))
    procs.push(msiServer, msiAgent)
    const imdsServer = await loadImdsServer(serverHcl(emu, tenantHcl(emu, 'contoso')))
    const imdsAgent = await loadImdsAgent(agentHcl(emu, 'frontend/blog'))
    procs.push(imdsServer, imdsAgent)
    return [
      await measure('azure_msi (standalone VM)', emu, msiServer, msiAgent, runs),
      await measure('azure_imds (standalone VM)', emu, imdsServer, imdsAgent, runs),
    ]
  } finally {
    await Promise.all(procs.map((p) => p.close()))
    await emu.stop()
  }
}
