import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { PluginProcess } from '../shared/host/index.js'

export interface StartupSample {
  handshakeMs: number
  rssMb: number
}

/** Spawn → first stdout line, in ms, for one process started with SPIRE's environment. */
export function measureHandshake(command: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(command, [], {
      env: { ...process.env, NodeAttestor: 'NodeAttestor', PLUGIN_PROTOCOL_VERSIONS: '1' },
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    child.stdout.once('data', () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6
      child.kill('SIGKILL')
      resolve(ms)
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
