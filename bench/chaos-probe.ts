// Resource watch for the chaos fleet boot (bench/chaos.ts): each plugin process spire-server runs
// (both of them, in every server lifetime: a restart starts new ones) sampled from /proc — RSS and
// open file descriptors — and, through a probe Node loads into them (`NODE_OPTIONS=--require`, as
// spire-server passes its environment on to plugins), their active handles and timers as
// `process.getActiveResourcesInfo()` counts them (ref'd ones: those that keep the process alive).
// The probe only writes a small JSON file per process beside the run; it never prints (a plugin's
// stdout is the go-plugin handshake).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { childrenOf, sampleProc } from './agent-load-run.js'

/** The probe, loaded with --require into every Node process started with its environment. */
export const PROBE_SOURCE = `'use strict'
// chaos probe (bench/chaos-probe.ts): active resources of this process, every 250 ms, to a file
const dir = process.env.SPIRE_AZURE_CHAOS_PROBE_DIR
if (dir) {
  const { writeFileSync, renameSync } = require('node:fs')
  const file = dir + '/' + process.pid + '.json'
  const write = () => {
    const counts = {}
    for (const r of process.getActiveResourcesInfo()) counts[r] = (counts[r] || 0) + 1
    try {
      writeFileSync(file + '.tmp', JSON.stringify({ pid: process.pid, resources: counts }))
      renameSync(file + '.tmp', file)
    } catch {}
  }
  const t = setInterval(write, 250)
  t.unref()
  write()
}
`

export const PROBE_ENV = 'SPIRE_AZURE_CHAOS_PROBE_DIR'

/** Writes the probe into `dir` and returns the environment that loads it. */
export function probeEnv(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, 'chaos-probe.cjs')
  writeFileSync(file, PROBE_SOURCE)
  const inherited = process.env.NODE_OPTIONS ?? ''
  return { NODE_OPTIONS: `${inherited} --require ${file}`.trim(), [PROBE_ENV]: dir }
}

/** Open file descriptors of a live process; undefined once it is gone. */
export function countFds(pid: number, procRoot = '/proc'): number | undefined {
  try {
    return readdirSync(`${procRoot}/${pid}/fd`).length
  } catch {
    return undefined
  }
}

/** The probe's last counts for `pid`: handles (all ref'd resources) and timers (`Timeout`). */
export function readProbe(
  dir: string,
  pid: number,
): { handles: number; timers: number; resources: Record<string, number> } | undefined {
  try {
    const doc = JSON.parse(readFileSync(join(dir, `${pid}.json`), 'utf8')) as {
      resources: Record<string, number>
    }
    const handles = Object.values(doc.resources).reduce((a, b) => a + b, 0)
    return { handles, timers: doc.resources['Timeout'] ?? 0, resources: doc.resources }
  } catch {
    return undefined
  }
}

export interface Series {
  first: number
  max: number
  last: number
}

const series = (): Series => ({ first: NaN, max: NaN, last: NaN })
const add = (s: Series, x: number): void => {
  if (Number.isNaN(s.first)) s.first = x
  s.max = Number.isNaN(s.max) ? x : Math.max(s.max, x)
  s.last = x
}

export interface PluginFigures {
  name: string
  pid: number
  /** Which spire-server lifetime started it (1 before the restart, 2 after). */
  lifetime: number
  samples: number
  rssMb: Series
  fds: Series
  /** Absent when the probe did not load. */
  handles?: Series
  timers?: Series
  /** The probe's last resource counts by type. */
  lastResources?: Record<string, number>
  /** Whether the process still ran at the last sample (a stopped server's plugins must not). */
  alive: boolean
}

/**
 * Samples the plugin processes of whichever spire-server is current (`serverPid()`), keyed by pid,
 * so a restart's new plugins are new entries tagged with the server's lifetime.
 */
export class PluginWatch {
  readonly #byPid = new Map<number, PluginFigures>()
  readonly #probeDir: string | undefined
  readonly #serverPid: () => number
  readonly #lifetime: () => number

  constructor(o: { serverPid(): number; lifetime(): number; probeDir?: string }) {
    this.#serverPid = o.serverPid
    this.#lifetime = o.lifetime
    this.#probeDir = o.probeDir
  }

  sample(): void {
    for (const f of this.#byPid.values()) f.alive = isRunning(f.pid)
    for (const c of childrenOf(this.#serverPid())) {
      const proc = sampleProc(c.pid)
      const fds = countFds(c.pid)
      // a process that is exiting (a zombie) has no VmRSS line: nothing to measure, not a NaN sample
      if (proc === undefined || fds === undefined || !Number.isFinite(proc.rssMb)) continue
      let f = this.#byPid.get(c.pid)
      if (f === undefined) {
        f = {
          name: pluginName(c.cmd),
          pid: c.pid,
          lifetime: this.#lifetime(),
          samples: 0,
          rssMb: series(),
          fds: series(),
          alive: true,
        }
        this.#byPid.set(c.pid, f)
      }
      f.samples++
      add(f.rssMb, Math.round(proc.rssMb * 10) / 10)
      add(f.fds, fds)
      const probe = this.#probeDir === undefined ? undefined : readProbe(this.#probeDir, c.pid)
      if (probe !== undefined) {
        f.handles ??= series()
        f.timers ??= series()
        add(f.handles, probe.handles)
        add(f.timers, probe.timers)
        f.lastResources = probe.resources
      }
    }
  }

  figures(): PluginFigures[] {
    return [...this.#byPid.values()].sort(
      (a, b) => a.lifetime - b.lifetime || a.name.localeCompare(b.name),
    )
  }
}

/** A process that exists and is not a zombie. */
export function isRunning(pid: number, procRoot = '/proc'): boolean {
  try {
    const stat = readFileSync(`${procRoot}/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

function pluginName(cmd: string): string {
  const exe = cmd.split(' ').find((p) => /nodeattestor/.test(p)) ?? cmd
  return exe.slice(exe.lastIndexOf('/') + 1)
}
