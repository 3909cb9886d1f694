import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { PluginProcess } from '../shared/host/index.js'

export interface StartupSample {
  handshakeMs: number
  rssMb: number
}

export interface HandshakeSample {
  /** Spawn → first stdout line, wall clock. */
  wallMs: number
  /** CPU the process had used by then (user + system): what the wall time is on an idle core. */
  cpuMs: number
}

/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ). */
const CLOCK_TICKS_PER_S = 100

function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // fields[11] is utime and fields[12] stime (fields 14 and 15 of proc(5), counted from the state)
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S
}

/** Spawn → first stdout line for one process started with SPIRE's environment. */
export function measureHandshake(command: string): Promise<HandshakeSample> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(command, [], {
      env: { ...process.env, NodeAttestor: 'NodeAttestor', PLUGIN_PROTOCOL_VERSIONS: '1' },
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    child.stdout.once('data', () => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
      const cpuMs = cpuMsOf(child.pid!)
      child.kill('SIGKILL')
      resolve({ wallMs, cpuMs })
    })
    child.once('error', reject)
  })
}

/** Resident set size of a loaded (Init + Configure), idle plugin, in MB. */
export async function measureIdleRss(
  command: string,
  side: 'server' | 'agent',
  hcl: string,
  idleMs = 1_000,
): Promise<number> {
  const plugin = await PluginProcess.load({ command, name: 'bench', side, hcl })
  try {
    await new Promise((r) => setTimeout(r, idleMs))
    const status = readFileSync(`/proc/${plugin.pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 'NaN')
    return kb / 1024
  } finally {
    await plugin.close()
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}
