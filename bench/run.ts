#!/usr/bin/env node
// Benchmarks that are not timed tests: cold start and idle RSS of each plugin executable.
// Usage: npm run bench [-- --runs N] [--attest-runs N] [--out FILE] [--write-docs]
//        npm run bench -- <scenario> [options]: a scenario module's own CLI (SCENARIOS below), e.g.
//        `npm run bench -- agent-load --attestor cr_test` (bench/agent-load.ts documents its options)
// Prints the tables on stdout and writes the figures as JSON (default .tmp/bench/bench-<time>.json,
// untracked). Tracked files are never touched unless asked: --write-docs updates the tables in
// docs/performance.md.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { spawnSync } from 'node:child_process'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { REPO_ROOT } from '../test/support/paths.js'
import { benchAttestations } from './attest.js'
import { benchMachine } from './machine.js'
import { measureHandshake, measureIdleRss, median } from './startup.js'

interface Target {
  label: string
  command: string
  side: 'server' | 'agent'
  hcl: string
}

const bin = (name: string): string => join(REPO_ROOT, 'dist/bin', name)
const testBin = (name: string): string => join(REPO_ROOT, 'dist/test-bin', name)
const TENANT_ID = '0a1b2c3d-1111-2222-3333-444455556666'

const TARGETS: Target[] = [
  {
    label: 'azure_msi server',
    command: bin('spire-server-nodeattestor-azure-msi'),
    side: 'server',
    hcl: `tenants = { "${TENANT_ID}" = {} }`,
  },
  {
    label: 'azure_msi agent',
    command: bin('spire-agent-nodeattestor-azure-msi'),
    side: 'agent',
    hcl: '',
  },
  {
    label: 'azure_imds server',
    command: bin('spire-server-nodeattestor-azure-imds'),
    side: 'server',
    hcl: `tenants = { "contoso.onmicrosoft.com" = { tenant_id = "${TENANT_ID}" } }`,
  },
  {
    label: 'azure_imds agent',
    command: bin('spire-agent-nodeattestor-azure-imds'),
    side: 'agent',
    hcl: 'tenant_domain = "contoso.onmicrosoft.com"',
  },
  {
    label: 'test attestor (server, runtime only)',
    command: testBin('cr-test-server'),
    side: 'server',
    hcl: 'secret = "s"',
  },
  {
    label: 'test attestor (agent, runtime only)',
    command: testBin('cr-test-agent'),
    side: 'agent',
    hcl: 'secret = "s"\nidentity = "n"',
  },
]

const START_TARGET_MS = 200
const RSS_TARGET_MB = 60

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      runs: { type: 'string', default: '15' },
      'attest-runs': { type: 'string' },
      out: { type: 'string' },
      'write-docs': { type: 'boolean', default: false },
    },
  })
  const runs = Number(args.runs)
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a positive integer')
  const started = new Date()
  const outFile = resolve(
    args.out ??
      join(REPO_ROOT, '.tmp', 'bench', `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`),
  )
  const startup: Record<string, unknown>[] = []
  const rows: string[] = []
  for (const t of TARGETS) {
    await measureHandshake(t.command) // warm the page cache
    const samples = []
    for (let i = 0; i < runs; i++) samples.push(await measureHandshake(t.command))
    const starts = samples.map((x) => x.wallMs)
    const cpu = median(samples.map((x) => x.cpuMs))
    const rss: number[] = []
    for (let i = 0; i < Math.max(3, Math.floor(runs / 5)); i++)
      rss.push(await measureIdleRss(t.command, t.side, t.hcl))
    const s = median(starts)
    const r = median(rss)
    rows.push(
      `| ${t.label} | ${s.toFixed(0)} ms | ${Math.min(...starts).toFixed(0)}–${Math.max(...starts).toFixed(0)} ms | ${cpu.toFixed(0)} ms | ${r.toFixed(1)} MB | ${cpu <= START_TARGET_MS && r <= RSS_TARGET_MB ? 'yes' : 'NO'} |`,
    )
    process.stderr.write(
      `${t.label}: start ${s.toFixed(1)} ms (cpu ${cpu} ms), rss ${r.toFixed(1)} MB\n`,
    )
    startup.push({
      plugin: t.label,
      wallMsMedian: s,
      wallMsMin: Math.min(...starts),
      wallMsMax: Math.max(...starts),
      cpuMsMedian: cpu,
      idleRssMbMedian: r,
      withinTarget: cpu <= START_TARGET_MS && r <= RSS_TARGET_MB,
    })
  }
  const baseline = median(await nodeBaselineCpu(runs))
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${loadavg()[0]!.toFixed(1)} at the end; median of ${runs} cold starts (spawn → handshake line) and of idle RSS after Init + Configure + 1 s. Wall time depends on what else the machine runs; CPU time (user + system of the plugin process up to its handshake) is what the start costs on an idle core, and is what the target is checked against. For reference, \`node -e 0\` alone uses ${baseline.toFixed(0)} ms of CPU here.`,
    '',
    `| plugin | cold start wall (median) | wall range | cold start CPU (median) | idle RSS (median) | within ${START_TARGET_MS} ms / ${RSS_TARGET_MB} MB |`,
    '|---|---|---|---|---|---|',
    ...rows,
  ].join('\n')

  const attestRuns = Number(args['attest-runs'] ?? Math.max(50, runs * 10))
  if (!Number.isInteger(attestRuns) || attestRuns < 1)
    throw new Error('--attest-runs takes a positive integer')
  const results = await benchAttestations(attestRuns)
  const attestTable = [
    `Measured ${new Date().toISOString().slice(0, 10)}, load average ${loadavg()[0]!.toFixed(1)}; one server and one agent plugin process through the host launcher against the Azure emulator on loopback; the first attestation, then ${attestRuns} more of the same VM (the launcher's AgentStore stays empty, so TOFU never short-cuts the path).`,
    '',
    '| plugin | first attestation | warm median | warm p95 | ARM requests per warm attestation | Entra ID requests per warm attestation | server RSS after |',
    '|---|---|---|---|---|---|---|',
    ...results.map(
      (r) =>
        `| ${r.label} | ${r.coldMs.toFixed(0)} ms | ${r.warmMedianMs.toFixed(1)} ms | ${r.warmP95Ms.toFixed(1)} ms | ${r.armPerWarm.toFixed(2)} | ${r.entraPerWarm.toFixed(2)} | ${r.serverRssMb.toFixed(1)} MB |`,
    ),
  ].join('\n')
  const json = {
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(),
    targets: { startCpuMs: START_TARGET_MS, idleRssMb: RSS_TARGET_MB },
    nodeBaselineCpuMs: baseline,
    runs,
    startup,
    attest: { runs: attestRuns, results },
  }
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify(json, null, 2) + '\n')
  process.stderr.write(`bench: results written to ${outFile}\n`)
  if (args['write-docs']) {
    writeSection('startup', table)
    writeSection('attest', attestTable)
    process.stderr.write('bench: docs/performance.md updated\n')
  }
  process.stdout.write(table + '\n\n' + attestTable + '\n')
}

/** Replaces the text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`. */
function writeSection(name: string, text: string): void {
  const docPath = join(REPO_ROOT, 'docs/performance.md')
  const doc = readFileSync(docPath, 'utf8')
  const begin = `<!-- bench:${name}:begin -->`
  const end = `<!-- bench:${name}:end -->`
  const i = doc.indexOf(begin)
  const j = doc.indexOf(end)
  if (i < 0 || j < 0) throw new Error(`docs/performance.md lacks the bench:${name} markers`)
  writeFileSync(docPath, doc.slice(0, i + begin.length) + '\n' + text + '\n' + doc.slice(j))
}

/** CPU time of a bare `node -e 0`, via /usr/bin/time-free rusage of the child. */
async function nodeBaselineCpu(runs: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < runs; i++) {
    const res = spawnSync(process.execPath, [
      '-e',
      'const u=process.cpuUsage();process.stdout.write(String((u.user+u.system)/1000))',
    ])
    out.push(Number(res.stdout.toString()))
  }
  return out
}

/** Scenarios with their own CLI: `npm run bench -- <name> …` runs the module's main(argv). */
const SCENARIOS: Record<string, () => Promise<{ main(argv: string[]): Promise<void> }>> = {
  'agent-load': () => import('./agent-load.js'),
  'batched-reads': () => import('./batched-reads.js'),
  fuzz: () => import('./fuzz.js'),
  chaos: () => import('./chaos.js'),
  'fleet-boot': () => import('./fleet-boot.js'),
  'side-by-side': () => import('./side-by-side.js'),
}

const scenario = process.argv[2]
if (scenario !== undefined && !scenario.startsWith('-')) {
  const load = SCENARIOS[scenario]
  if (load === undefined)
    throw new Error(`bench: unknown scenario ${scenario} (${Object.keys(SCENARIOS).join(', ')})`)
  await (await load()).main(process.argv.slice(3))
} else await main()
