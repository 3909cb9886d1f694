#!/usr/bin/env node
// Benchmarks that are not timed tests: cold start and idle RSS of each plugin executable.
// Usage: npm run bench [-- --runs N] ; writes the table into docs/performance.md.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpus } from 'node:os'
import { REPO_ROOT } from '../test/support/paths.js'
import { measureHandshake, measureIdleRss, median } from './startup.js'

interface Target {
  label: string
  command: string
  side: 'server' | 'agent'
  hcl: string
}

const TARGETS: Target[] = [
  {
    label: 'test attestor (server, runtime only)',
    command: join(REPO_ROOT, 'dist/bin/cr-test-server'),
    side: 'server',
    hcl: 'secret = "s"',
  },
  {
    label: 'test attestor (agent, runtime only)',
    command: join(REPO_ROOT, 'dist/bin/cr-test-agent'),
    side: 'agent',
    hcl: 'secret = "s"\nidentity = "n"',
  },
]

const START_TARGET_MS = 200
const RSS_TARGET_MB = 60

async function main(): Promise<void> {
  const runsArg = process.argv.indexOf('--runs')
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 15
  const rows: string[] = []
  for (const t of TARGETS) {
    await measureHandshake(t.command) // warm the page cache
    const starts: number[] = []
    for (let i = 0; i < runs; i++) starts.push(await measureHandshake(t.command))
    const rss: number[] = []
    for (let i = 0; i < Math.max(3, Math.floor(runs / 5)); i++) rss.push(await measureIdleRss(t.command, t.side, t.hcl))
    const s = median(starts)
    const r = median(rss)
    rows.push(
      `| ${t.label} | ${s.toFixed(0)} ms | ${Math.min(...starts).toFixed(0)}–${Math.max(...starts).toFixed(0)} ms | ${r.toFixed(1)} MB | ${s <= START_TARGET_MS && r <= RSS_TARGET_MB ? 'yes' : 'NO'} |`,
    )
    process.stderr.write(`${t.label}: start ${s.toFixed(1)} ms, rss ${r.toFixed(1)} MB\n`)
  }
  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, median of ${runs} cold starts (spawn → handshake line) and of idle RSS after Init + Configure + 1 s.`,
    '',
    `| plugin | cold start (median) | range | idle RSS (median) | within ${START_TARGET_MS} ms / ${RSS_TARGET_MB} MB |`,
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n')
  const docPath = join(REPO_ROOT, 'docs/performance.md')
  const doc = readFileSync(docPath, 'utf8')
  const begin = '<!-- bench:startup:begin -->'
  const end = '<!-- bench:startup:end -->'
  const i = doc.indexOf(begin)
  const j = doc.indexOf(end)
  if (i < 0 || j < 0) throw new Error('docs/performance.md lacks the bench markers')
  writeFileSync(docPath, doc.slice(0, i + begin.length) + '\n' + table + '\n' + doc.slice(j))
  process.stdout.write(table + '\n')
}

await main()
