// The long fuzz run (issue #14): every target of test/support/fuzz.ts for N generated inputs from a
// seed, each in its own watched worker (hangs, crashes, heap blow-ups and unhandled rejections are
// findings), in chunks so one finding does not end a target's run. `npm test` runs the same targets
// with a fixed seed and a few hundred inputs each.
// Usage: npm run bench -- fuzz [--runs N] [--seed S] [--targets a,b] [--chunk N] [--stall-ms MS]
//        [--out FILE] [--findings-dir DIR]
// Writes JSON (default bench/results/fuzz-2026-12-02.json): runs, outcomes and findings per target;
// each finding's input is also written to --findings-dir (default .tmp/fuzz-findings/<target>/).
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { benchMachine } from './machine.js'
import { REPO_ROOT } from '../test/support/paths.js'
import {
  DEFAULT_FUZZ_SEED,
  FUZZ_TARGET_INFO,
  FUZZ_TARGET_NAMES,
  runFuzzIsolated,
  type FuzzReport,
  type FuzzTargetName,
} from '../test/support/fuzz.js'

export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '100000' },
      seed: { type: 'string', default: String(DEFAULT_FUZZ_SEED) },
      targets: { type: 'string', default: FUZZ_TARGET_NAMES.join(',') },
      chunk: { type: 'string', default: '5000' },
      'stall-ms': { type: 'string', default: '60000' },
      out: { type: 'string' },
      'findings-dir': { type: 'string' },
    },
  })
  const runs = positive(a.runs, '--runs')
  const chunk = positive(a.chunk, '--chunk')
  const stallMs = positive(a['stall-ms'], '--stall-ms')
  const seed = Number(a.seed)
  if (!Number.isInteger(seed)) throw new Error('--seed takes an integer')
  const targets = a.targets.split(',').map((t) => t.trim())
  for (const t of targets)
    if (!(FUZZ_TARGET_NAMES as readonly string[]).includes(t))
      throw new Error(`fuzz: unknown target ${t} (${FUZZ_TARGET_NAMES.join(', ')})`)
  const outFile = resolve(a.out ?? join(REPO_ROOT, 'bench', 'results', 'fuzz-2026-12-02.json'))
  const findingsDir = resolve(a['findings-dir'] ?? join(REPO_ROOT, '.tmp', 'fuzz-findings'))
  const started = new Date()
  const results: (FuzzReport & { covers: string; typed: string; wallSeconds: number })[] = []
  // written after every target, so an interrupted run keeps what it measured
  const write = (): { totalFindings: number } => {
    const json = {
      command: `npm run bench -- fuzz ${argv.join(' ')}`.trim(),
      date: started.toISOString(),
      machine: benchMachine(),
      seed,
      runsPerTarget: runs,
      chunk,
      stallMs,
      property:
        'every input ends in a result or one of the target’s own typed errors; no hang (no progress for stallMs), crash, heap limit (1 GiB) or unhandled rejection; ok output size bounded by the target’s limit for its input size',
      totalRuns: results.reduce((n, r) => n + r.runs, 0),
      totalFindings: results.reduce((n, r) => n + r.findings.length, 0),
      targets: results,
    }
    mkdirSync(dirname(outFile), { recursive: true })
    writeFileSync(outFile, JSON.stringify(json, null, 2) + '\n')
    return json
  }
  for (const target of targets as FuzzTargetName[]) {
    const t0 = process.hrtime.bigint()
    const report = await runFuzzIsolated({ target, runs, seed, chunk }, { stallMs })
    const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9
    results.push({ ...report, ...FUZZ_TARGET_INFO[target], wallSeconds })
    report.findings.forEach((f, i) => {
      const dir = join(findingsDir, target)
      mkdirSync(dir, { recursive: true })
      writeFileSync(join(dir, `${f.kind}-${seed}-${i}.bin`), Buffer.from(f.inputBase64, 'base64'))
    })
    process.stderr.write(
      `fuzz ${target}: ${report.runs} runs (${report.executed} executions) in ${wallSeconds.toFixed(0)} s, ` +
        `${report.ok} results, ${report.typedErrors} typed errors, ${report.findings.length} findings\n`,
    )
    write()
  }
  const json = write()
  process.stderr.write(`fuzz: results written to ${outFile}\n`)
  process.stdout.write(
    [
      '| target | runs | results | typed errors | findings | wall |',
      '|---|---|---|---|---|---|',
      ...results.map(
        (r) =>
          `| ${r.target} | ${r.runs} | ${r.ok} | ${r.typedErrors} | ${r.findings.length} | ${r.wallSeconds.toFixed(0)} s |`,
      ),
    ].join('\n') + '\n',
  )
  if (json.totalFindings > 0) process.exitCode = 1
}

function positive(text: string, name: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive integer`)
  return n
}
