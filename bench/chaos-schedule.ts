// The chaos fleet boot's fault schedule (bench/chaos.ts): Entra ID and ARM faults from the
// emulator's fault API (test/azure-emulator/faults.ts) armed for windows, and one spire-server
// restart, each at a fraction of the boot's ramp (the time over which the VMs power on). Steps
// run one after another, so two windows never arm the same route pattern at once; the clock and
// the sleep are injected (tests run the schedule without waiting).
import type { Fault } from '../test/azure-emulator/index.js'

export interface FaultArm {
  /** Emulator route pattern: `entra.*`, `arm.*`, or an exact route. */
  pattern: string
  fault: Fault
}

export type ChaosStep =
  | {
      kind: 'faults'
      name: string
      /** Fraction of the ramp at which the window opens. */
      at: number
      /** Window length, as a fraction of the ramp… */
      for: number
      /** …but at least this long (ms): e.g. past the plugins' own retries, so agents see it. */
      minMs?: number
      arms: FaultArm[]
    }
  | {
      kind: 'restart'
      name: string
      at: number
      /** Armed when the restart begins and kept until `for` (fraction of the ramp) after it ends. */
      arms: FaultArm[]
      for: number
      minMs?: number
    }

/**
 * The default schedule: a cold start under an Entra outage, ARM 5xx, a 429 storm with
 * Retry-After, connection resets from both services, spire-server restarted while Entra is down
 * (the new plugin processes start with cold caches), ARM hanging for 2 s a call, and a mixed
 * window of ARM 503 with Entra throttling.
 */
export const DEFAULT_SCHEDULE: readonly ChaosStep[] = [
  {
    kind: 'faults',
    name: 'Entra ID 503 at power-on (cold key and token caches)',
    at: 0,
    for: 0.08,
    arms: [{ pattern: 'entra.*', fault: { kind: 'status', status: 503 } }],
  },
  {
    kind: 'faults',
    name: "ARM 500 for 5 s or more (past the plugins' 4 ARM attempts in ~3.5 s)",
    at: 0.1,
    for: 0.08,
    minMs: 5_000,
    arms: [{ pattern: 'arm.*', fault: { kind: 'status', status: 500 } }],
  },
  {
    kind: 'faults',
    name: 'ARM 429 storm, Retry-After 1 s',
    at: 0.22,
    for: 0.08,
    arms: [{ pattern: 'arm.*', fault: { kind: 'throttle', retryAfterS: 1 } }],
  },
  {
    kind: 'faults',
    name: 'Entra ID and ARM connection resets',
    at: 0.34,
    for: 0.05,
    arms: [
      { pattern: 'entra.*', fault: { kind: 'reset' } },
      { pattern: 'arm.*', fault: { kind: 'reset' } },
    ],
  },
  {
    kind: 'restart',
    name: 'spire-server restarted (SIGTERM, same config and datastore) during an Entra ID 503 outage',
    at: 0.45,
    for: 0.06,
    arms: [{ pattern: 'entra.*', fault: { kind: 'status', status: 503 } }],
  },
  {
    kind: 'faults',
    name: 'ARM latency 2 s a call',
    at: 0.62,
    for: 0.08,
    arms: [{ pattern: 'arm.*', fault: { kind: 'latency', ms: 2000 } }],
  },
  {
    kind: 'faults',
    name: 'ARM 503 with Entra ID 429 (Retry-After 2 s)',
    at: 0.75,
    for: 0.08,
    arms: [
      { pattern: 'arm.*', fault: { kind: 'status', status: 503 } },
      { pattern: 'entra.*', fault: { kind: 'throttle', retryAfterS: 2 } },
    ],
  },
  {
    kind: 'faults',
    name: 'ARM 502 and 504',
    at: 0.88,
    for: 0.05,
    arms: [
      { pattern: 'arm.*', fault: { kind: 'status', status: 502 } },
      { pattern: 'arm.vm.*', fault: { kind: 'status', status: 504 } },
    ],
  },
]

export interface StepRecord {
  name: string
  kind: ChaosStep['kind']
  /** Milliseconds after the boot began (the injected clock). */
  startMs: number
  endMs: number
  /** restart: how long spire-server took to stop and come back. */
  restartMs?: number
  error?: string
}

export interface ScheduleDeps {
  rampMs: number
  now(): number
  sleep(ms: number): Promise<void>
  arm(pattern: string, fault: Fault): void
  clear(pattern: string): void
  restart(): Promise<void>
  /** True once the boot is over: the steps not begun yet are skipped. */
  stopped?(): boolean
  log?(line: string): void
}

/** Runs the steps in order from `now()` (the boot's start); resolves with what happened when. */
export async function runSchedule(
  steps: readonly ChaosStep[],
  d: ScheduleDeps,
): Promise<StepRecord[]> {
  const t0 = d.now()
  const at = (fraction: number): number => fraction * d.rampMs
  const out: StepRecord[] = []
  for (const step of steps) {
    const wait = t0 + at(step.at) - d.now()
    if (wait > 0) await d.sleep(wait)
    if (d.stopped?.() === true) break
    const start = d.now() - t0
    d.log?.(`chaos: ${step.name} (at ${Math.round(start)} ms)`)
    for (const a of step.arms) d.arm(a.pattern, a.fault)
    const record: StepRecord = { name: step.name, kind: step.kind, startMs: start, endMs: start }
    try {
      if (step.kind === 'restart') {
        const r0 = d.now()
        try {
          await d.restart()
        } catch (err) {
          record.error = err instanceof Error ? err.message : String(err)
        }
        record.restartMs = d.now() - r0
      }
      await d.sleep(Math.max(at(step.for), step.minMs ?? 0))
    } finally {
      for (const a of step.arms) d.clear(a.pattern)
      record.endMs = d.now() - t0
      out.push(record)
    }
    if (record.error !== undefined) break
  }
  return out
}

/** The schedule as a table for the docs and the results JSON. */
export function describeSchedule(steps: readonly ChaosStep[]): {
  name: string
  atFraction: number
  forFraction: number
  minMs?: number
  faults: string[]
}[] {
  return steps.map((s) => ({
    name: s.name,
    atFraction: s.at,
    forFraction: s.for,
    ...(s.minMs === undefined ? {} : { minMs: s.minMs }),
    faults: s.arms.map((a) => `${a.pattern} ${describeFault(a.fault)}`),
  }))
}

function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'status':
      return `status ${f.status}`
    case 'throttle':
      return `429 Retry-After ${f.retryAfterS ?? 1} s`
    case 'latency':
      return `latency ${f.ms} ms`
    default:
      return f.kind
  }
}
