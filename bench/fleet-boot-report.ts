// The fleet boot's pure parts (bench/fleet-boot.ts): the timeline of agents attested over time, the
// per-side figures, the markdown table with ours-vs-upstream ratios, and the chart's series.
import { lineChartSvg, type Series } from './svg-chart.js'

export type Side = 'ours' | 'upstream'

export interface FleetBootSide {
  side: Side
  /** What served the attestors (our executables, or SPIRE's built-ins in which build). */
  plugins: string
  vms: number
  attested: number
  /** Agents never attested within the bench's deadline. */
  notAttested: number
  /** Failed attempts (each retried after a backoff, as spire-agent does). */
  failedAttempts: number
  failures: Record<string, number>
  /** Seconds from the boot's start until the last agent was attested (or the deadline). */
  wallS: number
  /** Emulator requests per attested agent, by service (arm, entra, imds, issuers). */
  azureRequestsPerAttestation: Record<string, number>
  /** [seconds since start, agents attested so far], one point per bin. */
  timeline: [number, number][]
  agentCount?: number
}

/** Cumulative agents attested at the end of each `binS` bin, from 0 up to `endS` (inclusive). */
export function timeline(
  attestedAtS: readonly number[],
  endS: number,
  binS = 1,
): [number, number][] {
  const sorted = [...attestedAtS].sort((a, b) => a - b)
  const out: [number, number][] = [[0, 0]]
  let j = 0
  const bins = Math.max(1, Math.ceil(endS / binS))
  for (let i = 1; i <= bins; i++) {
    const t = Math.min(i * binS, endS)
    while (j < sorted.length && sorted[j]! <= t) j++
    out.push([Number(t.toFixed(3)), j])
  }
  return out
}

/** The server side's Azure requests (ARM, Resource Graph, Entra ID, AIA): the agents' own IMDS calls left out. */
export const serverRequests = (r: Record<string, number>): number =>
  Object.entries(r).reduce((n, [svc, v]) => (svc === 'imds' ? n : n + v), 0)
const total = serverRequests
const r2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : '—')

/** Markdown: one row per side, and a ratio line when both sides ran. */
export function fleetTable(sides: readonly FleetBootSide[]): string {
  const rows = sides.map((s) => {
    const req = s.azureRequestsPerAttestation
    const by = Object.entries(req)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${r2(n)}`)
      .join(', ')
    return `| ${s.side} (${s.plugins}) | ${s.vms} | ${s.attested} | ${s.notAttested} | ${s.failedAttempts} | ${s.wallS.toFixed(1)} s | ${s.wallS > 0 ? (s.attested / s.wallS).toFixed(1) : '—'} | ${r2(total(req))} (${by || 'none'}) |`
  })
  const lines = [
    '| side | VMs | attested | not attested | failed attempts | wall time to all attested | agents/s | Azure requests per attestation (server side; by service) |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ]
  const ours = sides.find((s) => s.side === 'ours')
  const up = sides.find((s) => s.side === 'upstream')
  if (ours && up) {
    lines.push(
      '',
      `Ratio upstream ÷ ours: wall time ${r2(up.wallS / ours.wallS)}×, Azure requests per attestation ${r2(total(up.azureRequestsPerAttestation) / total(ours.azureRequestsPerAttestation))}×.`,
    )
  }
  return lines.join('\n')
}

/** The boot's chart: agents attested over time, ours solid, upstream dashed. */
export function fleetChart(sides: readonly FleetBootSide[], title: string): string {
  const series: Series[] = sides.map((s) => ({
    name: s.side === 'ours' ? 'ours (spire-azure-attestor)' : 'upstream (SPIRE built-in)',
    points: s.timeline,
    color: s.side === 'ours' ? '#1f77b4' : '#d62728',
    dashed: s.side === 'upstream',
  }))
  return lineChartSvg({
    title,
    xLabel: 'seconds since the fleet booted',
    yLabel: 'agents attested',
    series,
  })
}
