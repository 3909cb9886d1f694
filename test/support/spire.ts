import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { REPO_ROOT } from './paths.js'

export const SPIRE_VERSION = process.env.SPIRE_VERSION ?? '1.15.3'

export type SpireBinaries = { bin: string; server: string; agent: string } | { skip: string }

/**
 * Real SPIRE binaries from scripts/install-spire.sh (built once from the Go module proxy into a cache
 * outside git). On a machine without Go the caller reports the test as skipped, with this reason.
 */
export function ensureSpire(version = SPIRE_VERSION): SpireBinaries {
  const res = spawnSync('bash', [join(REPO_ROOT, 'scripts/install-spire.sh'), version], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 45 * 60_000,
  })
  if (res.status === 3) return { skip: `no Go toolchain to build SPIRE v${version}` }
  if (res.status !== 0) throw new Error(`install-spire.sh failed (status ${res.status})`)
  const bin = res.stdout.trim().split('\n').pop() ?? ''
  return { bin, server: join(bin, 'spire-server'), agent: join(bin, 'spire-agent') }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** One parsed line of SPIRE's JSON log (logrus). */
export interface SpireLogLine {
  level: string
  msg: string
  [field: string]: unknown
}

/** A SPIRE process whose JSON log lines are collected as they arrive. */
export class SpireProcess {
  readonly lines: SpireLogLine[] = []
  readonly raw: string[] = []
  readonly child: ChildProcess
  readonly exited: Promise<number | null>

  constructor(command: string, args: string[], cwd: string) {
    this.child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    for (const stream of [this.child.stdout!, this.child.stderr!]) {
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.raw.push(line)
        try {
          const parsed = JSON.parse(line) as SpireLogLine
          if (typeof parsed === 'object' && parsed !== null) this.lines.push(parsed)
        } catch {
          // SPIRE prints a few non-JSON lines (e.g. from the CLI wrapper)
        }
      })
    }
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  find(pred: (l: SpireLogLine) => boolean): SpireLogLine | undefined {
    return this.lines.find(pred)
  }

  async waitForLine(pred: (l: SpireLogLine) => boolean, timeoutMs: number, what: string): Promise<SpireLogLine> {
    const end = Date.now() + timeoutMs
    for (;;) {
      const hit = this.lines.find(pred)
      if (hit) return hit
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${what}; last log lines:\n${this.raw.slice(-25).join('\n')}`)
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode
    this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const code = await this.exited
    clearTimeout(timer)
    return code
  }
}

export function run(command: string, args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: res.status, stdout: res.stdout, stderr: res.stderr }
}

export function writeFile(path: string, text: string): string {
  mkdirSync(join(path, '..'), { recursive: true })
  writeFileSync(path, text)
  return path
}

/** PIDs of live processes whose command line contains `needle` (Linux /proc). */
export function pidsMatching(needle: string): number[] {
  const res = spawnSync('pgrep', ['-f', needle], { encoding: 'utf8' })
  return res.stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number)
    .filter((pid) => pid !== process.pid)
}
