// Issue 11 §6: what the standalone files (Node single-executable applications, scripts/build-standalone.mjs)
// cost against the npm-installed JS bundles: file sizes, and start-up (spawn → go-plugin handshake line)
// of each plugin in each form, N runs per form interleaved, medians. Writes one JSON document
// (command, machine, date, every sample) and prints the markdown tables docs/performance.md quotes.
//
//   npm run build && node dist/bench/standalone-startup.js [--runs 20] [--out FILE]
//   (FILE defaults to bench/results/standalone-<date>.json)
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { REPO_ROOT } from '../test/support/paths.js'
import { median } from './startup.js'

const PLUGINS = [
  'spire-server-nodeattestor-azure-msi',
  'spire-agent-nodeattestor-azure-msi',
  'spire-server-nodeattestor-azure-imds',
  'spire-agent-nodeattestor-azure-imds',
] as const
const CLI = 'spire-azure'
/** Linux clock ticks per second for /proc/<pid>/stat (USER_HZ). */
const CLOCK_TICKS_PER_S = 100
const WARM_UP_RUNS = 2

interface Built {
  node: { version: string; path: string }
  files: { name: string; path: string; bytes: number }[]
}

interface Form {
  label: string
  command: string
  args: string[]
}

interface Sample {
  wallMs: number
  cpuMs: number
  /** VmRSS: anonymous memory plus the pages of mapped files (the executable) it has touched. */
  rssMb: number
  /** RssAnon: the process's own memory (heap, stacks), without file pages the kernel can reclaim. */
  anonMb: number
}

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    out: { type: 'string' },
  },
})
const runs = Number(values.runs)
const date = new Date().toISOString().slice(0, 10)
const out = values.out ?? join(REPO_ROOT, 'bench', 'results', `standalone-${date}.json`)

const work = mkdtempSync(join(tmpdir(), 'bench-sea-'))
try {
  // a copy of the bundles, so a rebuild of dist/ meanwhile changes nothing measured
  const bin = join(work, 'bin')
  cpSync(join(REPO_ROOT, 'dist', 'bin'), bin, { recursive: true })
  const standard = build(bin, join(work, 'default'), [])
  const withCodeCache = build(bin, join(work, 'code-cache'), ['--code-cache'])
  const hostNode = spawnSync('node', ['--version'], { encoding: 'utf8' }).stdout.trim()
  const seaNode = `v${standard.node.version}`
  const formsOf = (name: string): Form[] => {
    const bundle = join(bin, name)
    const file = (b: Built): string => b.files.find((f) => f.name === name)!.path
    return [
      { label: `JS bundle, node ${hostNode} on PATH`, command: bundle, args: [] },
      { label: `JS bundle, node ${seaNode}`, command: standard.node.path, args: [bundle] },
      { label: `standalone (${seaNode})`, command: file(standard), args: [] },
      {
        label: `standalone (${seaNode}, --code-cache)`,
        command: file(withCodeCache),
        args: [],
      },
    ]
  }

  const sizes = [...PLUGINS, CLI].map((name) => {
    const standalone = standard.files.find((f) => f.name === name)!
    return {
      name,
      jsBytes: statSync(join(bin, name)).size,
      standaloneBytes: standalone.bytes,
      standaloneGzipBytes: gzipSync(readFileSync(standalone.path)).length,
      codeCacheBytes: withCodeCache.files.find((f) => f.name === name)!.bytes,
    }
  })
  const nodeBytes = statSync(standard.node.path).size

  const startup: { plugin: string; form: string; samples: Sample[] }[] = []
  for (const name of PLUGINS) {
    const forms = formsOf(name)
    const samples = forms.map(() => [] as Sample[])
    for (const f of forms) for (let i = 0; i < WARM_UP_RUNS; i++) await toHandshake(f)
    // round robin, so a busy moment on the machine spreads over every form
    for (let i = 0; i < runs; i++)
      for (const [k, f] of forms.entries()) samples[k]!.push(await toHandshake(f))
    for (const [k, f] of forms.entries())
      startup.push({ plugin: name, form: f.label, samples: samples[k]! })
  }
  const cli = formsOf(CLI).map((f) => ({ form: f.label, wallMs: [] as number[] }))
  for (let i = 0; i < runs; i++)
    for (const [k, f] of formsOf(CLI).entries()) cli[k]!.wallMs.push(await toExit(f, ['--help']))

  const result = {
    command: `node dist/bench/standalone-startup.js --runs ${runs}`,
    date: new Date().toISOString(),
    machine: {
      cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
      loadAverageAtEnd: Number(loadavg()[0]!.toFixed(2)),
      hostNode,
      standaloneNode: seaNode,
    },
    runs,
    warmUpRuns: WARM_UP_RUNS,
    nodeBinaryBytes: nodeBytes,
    sizes,
    startup: startup.map((s) => ({ ...s, ...summary(s.samples) })),
    cli: cli.map((c) => ({ ...c, medianWallMs: round(median(c.wallMs)) })),
  }
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`)
  printTables(result)
  process.stderr.write(`wrote ${out}\n`)
} finally {
  rmSync(work, { recursive: true, force: true })
}

function build(bin: string, dir: string, extra: string[]): Built {
  const res = spawnSync(
    process.execPath,
    [
      join(REPO_ROOT, 'scripts', 'build-standalone.mjs'),
      '--from',
      bin,
      '--out',
      dir,
      '--json',
      ...extra,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  )
  if (res.status !== 0) throw new Error(`build-standalone exited ${res.status}`)
  return JSON.parse(res.stdout) as Built
}

function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S
}

function memoryMbOf(pid: number): { rssMb: number; anonMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 'NaN')
  return { rssMb: kb('VmRSS') / 1024, anonMb: kb('RssAnon') / 1024 }
}

/** Spawn → first stdout line (go-plugin's handshake) with SPIRE's environment; then SIGKILL. */
function toHandshake(f: Form): Promise<Sample> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(f.command, f.args, {
      env: { ...process.env, NodeAttestor: 'NodeAttestor', PLUGIN_PROTOCOL_VERSIONS: '1' },
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    child.stdout.once('data', () => {
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6
      const sample = { wallMs, cpuMs: cpuMsOf(child.pid!), ...memoryMbOf(child.pid!) }
      child.once('exit', () => resolve(sample))
      child.kill('SIGKILL')
    })
    child.once('error', reject)
  })
}

/** Spawn → exit, for the CLI. */
function toExit(f: Form, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn(f.command, [...f.args, ...args], { stdio: 'ignore' })
    child.once('exit', (code) =>
      code === 0
        ? resolve(Number(process.hrtime.bigint() - t0) / 1e6)
        : reject(new Error(`${f.label} exited ${code}`)),
    )
    child.once('error', reject)
  })
}

function round(x: number): number {
  return Math.round(x * 10) / 10
}

interface Summary {
  medianWallMs: number
  minWallMs: number
  maxWallMs: number
  medianCpuMs: number
  medianRssMb: number
  medianAnonMb: number
}

function summary(samples: Sample[]): Summary {
  const wall = samples.map((s) => s.wallMs)
  return {
    medianWallMs: round(median(wall)),
    minWallMs: round(Math.min(...wall)),
    maxWallMs: round(Math.max(...wall)),
    medianCpuMs: round(median(samples.map((s) => s.cpuMs))),
    medianRssMb: round(median(samples.map((s) => s.rssMb))),
    medianAnonMb: round(median(samples.map((s) => s.anonMb))),
  }
}

function printTables(r: {
  sizes: {
    name: string
    jsBytes: number
    standaloneBytes: number
    standaloneGzipBytes: number
    codeCacheBytes: number
  }[]
  nodeBinaryBytes: number
  startup: (Summary & { plugin: string; form: string })[]
  cli: { form: string; medianWallMs: number }[]
}): void {
  const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`
  const kb = (b: number): string => `${Math.round(b / 1e3)} kB`
  const lines = [
    `| executable | JS bundle (dist/bin) | standalone (dist/standalone) | standalone, gzip | of which Node binary |`,
    `|---|---|---|---|---|`,
    ...r.sizes.map(
      (s) =>
        `| ${s.name} | ${kb(s.jsBytes)} | ${mb(s.standaloneBytes)} | ${mb(s.standaloneGzipBytes)} | ${mb(r.nodeBinaryBytes)} |`,
    ),
    '',
    `| plugin | form | handshake wall (median) | wall range | CPU (median) | RSS at handshake (median) | of which anonymous |`,
    `|---|---|---|---|---|---|---|`,
    ...r.startup.map(
      (s) =>
        `| ${s.plugin.replace('spire-', '').replace('-nodeattestor-', ' ')} | ${s.form} | ${s.medianWallMs} ms | ${s.minWallMs}–${s.maxWallMs} ms | ${s.medianCpuMs} ms | ${s.medianRssMb} MB | ${s.medianAnonMb} MB |`,
    ),
    '',
    `| spire-azure --help | spawn → exit (median) |`,
    `|---|---|`,
    ...r.cli.map((c) => `| ${c.form} | ${c.medianWallMs} ms |`),
  ]
  process.stdout.write(`${lines.join('\n')}\n`)
}
