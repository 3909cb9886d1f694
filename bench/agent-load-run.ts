// The load generator's pure parts (bench/agent-load.ts): the closed loop (C workers, N attempts,
// each worker starting the next as soon as its last one ends), latency percentiles, failures grouped
// by message, and reading a process's RSS and CPU time from /proc. The clock is injected.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { REPO_ROOT } from '../test/support/paths.js'

export interface LoopOptions {
  attempts: number
  concurrency: number
  /** Milliseconds, monotonic (performance.now in the bench, a fake in tests). */
  now(): number
  /** One attempt; throws (rejects) on failure. Index runs 0 … attempts-1, each exactly once. */
  attempt(index: number): Promise<void>
  /** Called after every attempt (progress). */
  onDone?(done: number, failed: number): void
}

export interface LoopResult {
  ok: number
  failed: number
  /** Failure messages with agent-specific parts masked, most frequent first. */
  failures: Record<string, number>
  /** Milliseconds per successful attempt, in completion order. */
  latenciesMs: number[]
  wallMs: number
}

export async function closedLoop(o: LoopOptions): Promise<LoopResult> {
  let next = 0
  let ok = 0
  let failed = 0
  const failures = new Map<string, number>()
  const latenciesMs: number[] = []
  const start = o.now()
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++
      if (i >= o.attempts) return
      const t0 = o.now()
      try {
        await o.attempt(i)
        latenciesMs.push(o.now() - t0)
        ok++
      } catch (err) {
        failed++
        const key = failureKey(err)
        failures.set(key, (failures.get(key) ?? 0) + 1)
      }
      o.onDone?.(ok + failed, failed)
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.attempts) }, worker))
  return {
    ok,
    failed,
    failures: Object.fromEntries([...failures].sort((a, b) => b[1] - a[1])),
    latenciesMs,
    wallMs: o.now() - start,
  }
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi

/** A failure's message with what differs per agent masked (IDs, GUIDs, numbers in names), ≤ 300 chars. */
export function failureKey(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err)
  return message
    .replace(/spiffe:\/\/[^\s"',)\]]+/g, '<spiffe-id>')
    .replace(GUID, '<guid>')
    .replace(/\b(vm-|flex\/|uni\/|agent-load-[a-z0-9]+-)\d+\b/g, '$1<n>')
    .slice(0, 300)
}

export interface LatencySummary {
  p50: number
  p90: number
  p99: number
  max: number
  mean: number
}

/** Nearest-rank percentiles. */
export function summarize(latenciesMs: readonly number[]): LatencySummary {
  if (latenciesMs.length === 0) return { p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN }
  const s = [...latenciesMs].sort((a, b) => a - b)
  const rank = (p: number): number =>
    s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
  const round = (x: number): number => Math.round(x * 10) / 10
  return {
    p50: round(rank(50)),
    p90: round(rank(90)),
    p99: round(rank(99)),
    max: round(s[s.length - 1]!),
    mean: round(s.reduce((a, b) => a + b, 0) / s.length),
  }
}

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ). */
const CLOCK_TICKS_PER_S = 100

export interface ProcSample {
  rssMb: number
  /** user + system CPU time so far, milliseconds */
  cpuMs: number
}

/** RSS and CPU time of a live process; undefined once it is gone. */
export function sampleProc(pid: number, procRoot = '/proc'): ProcSample | undefined {
  try {
    const status = readFileSync(`${procRoot}/${pid}/status`, 'utf8')
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8')
    return { rssMb: parseRssMb(status), cpuMs: parseCpuMs(stat) }
  } catch {
    return undefined
  }
}

export const parseRssMb = (status: string): number =>
  Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 'NaN') / 1024

/** utime + stime of a /proc/<pid>/stat line (fields 14 and 15, after the parenthesised name). */
export function parseCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S
}

/** Direct children of `pid` with their command lines (the plugin processes of spire-server). */
export function childrenOf(pid: number, procRoot = '/proc'): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = []
  for (const entry of readdirSync(procRoot)) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`${procRoot}/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid !== pid) continue
      const cmd = readFileSync(`${procRoot}/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean)
      out.push({ pid: Number(entry), cmd: cmd.join(' ') })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

export interface Peak {
  startMb: number
  maxMb: number
  endMb: number
}

/** Tracks one process's RSS (start, max, end) and CPU time over a phase. */
export class ProcWatch {
  readonly pid: number
  #start: ProcSample | undefined
  #last: ProcSample | undefined
  #max = 0

  constructor(pid: number) {
    this.pid = pid
  }

  sample(): void {
    const s = sampleProc(this.pid)
    if (s === undefined) return
    this.#start ??= s
    this.#last = s
    this.#max = Math.max(this.#max, s.rssMb)
  }

  rss(): Peak {
    const r = (x: number | undefined): number => Math.round((x ?? NaN) * 10) / 10
    return { startMb: r(this.#start?.rssMb), maxMb: r(this.#max), endMb: r(this.#last?.rssMb) }
  }

  /** CPU milliseconds between the first and the last sample. */
  cpuMs(): number {
    return (this.#last?.cpuMs ?? NaN) - (this.#start?.cpuMs ?? NaN)
  }
}

/** The commit and the files changed since, so a figure can be tied to the code it measured. */
export function gitState(): { head: string; changed: string[] } {
  const git = (...args: string[]): string =>
    spawnSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).stdout?.trim() ?? ''
  return {
    head: git('rev-parse', 'HEAD'),
    changed: git('status', '--porcelain')
      .split('\n')
      .filter((l) => l.trim() !== ''),
  }
}
