// The side-by-side bench's result rows (bench/side-by-side.ts) and its markdown table: one row per
// cell and loop (closed at C streams, open at each offered rate), with upstream ÷ ours ratios.
import type { LatencySummary } from './agent-load-run.js'

export interface LoopFigures {
  /** `closed 16 streams`, `open 300/s` */
  mode: string
  ok: number
  failed: number
  firstFailure?: string
  attestationsPerS: number
  latencyMs: LatencySummary
  serverCpuMsPerAttestation: number
  /** Emulator requests other than IMDS (ARM, Resource Graph, Entra ID, AIA) per attestation. */
  azureRequestsPerAttestation: number
  serverRssMb: number
  /** The server plugin's peak RSS since it started (VmHWM), warm-up and earlier loops included. */
  serverPeakRssMb?: number
}

export interface CellResult {
  /** null | ours-msi | ours-imds | upstream-msi | upstream-imds */
  cell: string
  /** The first attestation's parts: server plugin load, agent plugin load, the attestation itself. */
  firstAttestationPhasesMs?: { serverLoad: number; agentLoad: number; attest: number }
  /** Launch + Init + Configure + the first attestation (cold caches). */
  firstAttestationMs: number
  loops: LoopFigures[]
}

const LABELS: Record<string, string> = {
  null: 'null attestor (runtime only)',
  'ours-msi': 'azure_msi (ours)',
  'ours-imds': 'azure_imds (ours)',
  'upstream-msi': 'azure_msi (upstream, pluginmain)',
  'upstream-imds': 'azure_imds (upstream, pluginmain, test roots)',
}

const n1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '—')

/** Markdown table, then one line per attestor with upstream ÷ ours for throughput and p99. */
export function sideBySideTable(cells: readonly CellResult[]): string {
  const lines = [
    '| plugin | loop | attestations/s | p50 | p90 | p99 | max | failed | server CPU / attestation | Azure requests / attestation | server RSS | first attestation |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
  ]
  for (const c of cells)
    for (const l of c.loops)
      lines.push(
        `| ${LABELS[c.cell] ?? c.cell} | ${l.mode} | ${n1(l.attestationsPerS)} | ${n1(l.latencyMs.p50)} ms | ${n1(l.latencyMs.p90)} ms | ${n1(l.latencyMs.p99)} ms | ${n1(l.latencyMs.max)} ms | ${l.failed} of ${l.ok + l.failed} | ${l.serverCpuMsPerAttestation.toFixed(2)} ms | ${l.azureRequestsPerAttestation.toFixed(2)} | ${n1(l.serverRssMb)} MB | ${c.firstAttestationMs} ms |`,
      )
  const ratios: string[] = []
  for (const kind of ['msi', 'imds']) {
    const ours = cells.find((c) => c.cell === `ours-${kind}`)
    const up = cells.find((c) => c.cell === `upstream-${kind}`)
    if (!ours || !up) continue
    for (const l of ours.loops) {
      const u = up.loops.find((x) => x.mode === l.mode)
      if (!u) continue
      ratios.push(
        `- azure_${kind}, ${l.mode}: ours ÷ upstream throughput ${(l.attestationsPerS / u.attestationsPerS).toFixed(2)}×, upstream ÷ ours p99 ${(u.latencyMs.p99 / l.latencyMs.p99).toFixed(2)}×, CPU per attestation ours ÷ upstream ${(l.serverCpuMsPerAttestation / u.serverCpuMsPerAttestation).toFixed(2)}×`,
      )
    }
  }
  return ratios.length > 0 ? `${lines.join('\n')}\n\n${ratios.join('\n')}` : lines.join('\n')
}
