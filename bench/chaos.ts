#!/usr/bin/env node
// Issue 14 item 4: chaos during a fleet boot.
//
//   npm run build && flock /tmp/spire-azure-bench.lock npm run bench -- chaos --vms 2000 \
//     [--concurrency C] [--ramp-s S] [--drop-every K] [--settle-s S] [--seed N] [--out FILE]
//     [--append] [--no-probe] [--bin-dir D] [--log-level L]
//
// Writes {runs: [{command, date, machine, source, spire, result}]} (--append adds to FILE's runs),
// prints the outcome table, and exits 1 if any agent failed or was attested wrongly.
//
// One spire-server v1.15.3 (test/support/spire.ts; rate limit off, disk KeyManager so its CA
// survives a restart, INFO logs) serves both of our server plugins (dist/bin) against the Azure
// emulator, whose world is a fleet of N VMs of the three kinds (bench/chaos-fleet.ts): half of
// them azure_msi agents (standalone and Flexible members), half azure_imds agents (standalone,
// Flexible and Uniform), no VM shared. The VMs power on evenly over a ramp (default 30 ms a VM, at
// least 15 s; at most C = 256 attesting at once) and each acts as spire-agent on its first attestation with the
// load generator's wire client (bench/agent-load-wire.ts; payloads from our agent plugins' own
// code, bench/agent-load-fleet.ts), retrying retriable errors with jittered exponential backoff
// (bench/chaos-outcome.ts). Meanwhile the emulator injects Entra ID and ARM faults in windows and
// spire-server is restarted once (bench/chaos-schedule.ts), and every K-th agent's first result is
// discarded as if lost in transit (default K = 39: odd, so it falls on both attestors in turn), so TOFU must refuse its retry.
//
// Each agent ends in one class: first-try, after-retry, tofu-after-lost-result, tofu-after-fault,
// wrong, failed. At the end `spire-server agent list` must hold every issued or TOFU-refused agent
// with exactly the selectors the fleet spec gives it (built from the emulator's world, not by the
// plugins' code) and nothing else. The plugin processes' RSS, open fds and (through a probe loaded
// with NODE_OPTIONS) ref'd handles and timers are sampled every 500 ms, and again after the run
// once idle (--settle-s, default 35: past the 30 s idle timeout of kept-alive connections).
//
// Reuse: runChaos(options) runs it and returns the figures (test/bench/chaos.test.ts runs 200 VMs).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { benchMachine } from './machine.js'
import { fileURLToPath } from 'node:url'
import type { ClientHttp2Session } from 'node:http2'
import { startEmulator, type Emulator } from '../test/azure-emulator/index.js'
import { REPO_ROOT } from '../test/support/paths.js'
import { ensureSpire, SPIRE_VERSION } from '../test/support/spire.js'
import { checkSvid, newAgentKey, parseBundle } from './agent-load-csr.js'
import { attestCallOf, fleetSpec, imdsSource, interleave, msiSource } from './agent-load-fleet.js'
import { closedLoop, failureKey, gitState } from './agent-load-run.js'
import { startLoadServer, type LoadServer } from './agent-load-server.js'
import {
  AgentApiError,
  attestAgent,
  closeConnection,
  openConnection,
  type ServerTarget,
} from './agent-load-wire.js'
import {
  chaosFleet,
  expectedAgentId,
  expectedSelectors,
  vmKind,
  type AzureAttestor,
} from './chaos-fleet.js'
import {
  agentOutcome,
  checkRecorded,
  classifyError,
  OUTCOMES,
  shouldRetry,
  type AgentRecord,
  type AttemptResult,
  type Outcome,
  type RecordCheck,
} from './chaos-outcome.js'
import { PluginWatch, probeEnv, type PluginFigures } from './chaos-probe.js'
import {
  DEFAULT_SCHEDULE,
  describeSchedule,
  runSchedule,
  type ChaosStep,
  type StepRecord,
} from './chaos-schedule.js'
import { seeded } from '../test/support/seeded.js'

export interface ChaosOptions {
  vms: number
  serverBin: string
  mix?: string
  /** Agents attesting at once (default 256). */
  concurrency?: number
  /** VMs power on evenly over this long (default 30 ms a VM, at least 15 s). */
  rampMs?: number
  schedule?: readonly ChaosStep[]
  /** Every K-th agent's first result is discarded (0: none; default 39: odd, so both attestors). */
  dropEvery?: number
  /** Attempts per agent (default 12). */
  maxAttempts?: number
  /** Backoff: base and cap (default 250 ms, 4 s), full jitter from `seed`. */
  backoffMs?: { base: number; cap: number }
  seed?: number
  /** Per-attempt bound (default 30 s). */
  attemptTimeoutMs?: number
  /** Idle wait after the boot before the final sample (default 35 s). */
  settleMs?: number
  /** Load the resource probe into the plugin processes (default true). */
  probe?: boolean
  binDir?: string
  logLevel?: string
  progress?(line: string): void
}

export interface AgentResult {
  attestor: AzureAttestor
  kind: 'standalone' | 'flexible' | 'uniform'
  vm: string
  outcome: Outcome
  attempts: number
  reason?: string
  /** Failure keys of the attempts before the last (retriable errors, lost results). */
  errors: string[]
}

export interface ChaosResult {
  vms: number
  fleet: Record<AzureAttestor, { standalone: number; flexible: number; uniform: number }>
  concurrency: number
  rampMs: number
  dropEvery: number
  maxAttempts: number
  backoffMs: { base: number; cap: number }
  seed: number
  schedule: ReturnType<typeof describeSchedule>
  steps: StepRecord[]
  outcomes: Record<Outcome, number>
  outcomesByAttestor: Record<AzureAttestor, Record<Outcome, number>>
  outcomesByKind: Record<string, Record<Outcome, number>>
  /** Retriable errors seen before a later success or TOFU refusal, by message. */
  retriedErrors: Record<string, number>
  /** Final failures (must be empty), by reason. */
  failures: Record<string, number>
  attemptsTotal: number
  maxAttemptsUsed: number
  recorded: RecordCheck & { agents: number }
  /** Attested with a wrong agent ID or selectors: unexpected IDs + selector mismatches + `wrong`. */
  wrongAttestations: number
  /** Emulator handler errors (must be none) and requests retried before their Retry-After. */
  emulator: {
    handlerErrors: number
    handlerErrorMessages: string[]
    earlyRetries: Record<string, number>
  }
  faultedRequests: Record<string, number>
  bootS: number
  plugins: PluginFigures[]
  probe: boolean
  settleMs: number
}

const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** Full-jitter exponential backoff before retry number `n` (1, 2, …). */
export function backoff(n: number, b: { base: number; cap: number }, rand: () => number): number {
  return Math.round(Math.min(b.cap, b.base * 2 ** (n - 1)) * (0.5 + rand() / 2))
}

/** failureKey, with timestamps, ports and scale-set member names masked too. */
export const errorKey = (message: string): string =>
  failureKey(
    message
      .replace(/\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<time>')
      .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:<port>')
      .replace(/\b(flex|uni)_[0-9a-f]+\b/g, '$1_<id>'),
  )

const emptyCounts = (): Record<Outcome, number> =>
  Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>

/** Runs the chaos fleet boot once and returns the figures (the caller asserts on them). */
export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const concurrency = o.concurrency ?? 256
  const rampMs = o.rampMs ?? Math.max(15_000, o.vms * 30)
  const dropEvery = o.dropEvery ?? 39
  const maxAttempts = o.maxAttempts ?? 12
  const backoffMs = o.backoffMs ?? { base: 250, cap: 4_000 }
  const seed = o.seed ?? 14
  const attemptTimeoutMs = o.attemptTimeoutMs ?? 30_000
  const settleMs = o.settleMs ?? 35_000
  const schedule = o.schedule ?? DEFAULT_SCHEDULE
  const probe = o.probe ?? true
  const rand = seeded(seed)
  const fleet = chaosFleet(o.vms, o.mix)
  const workDir = mkdtempSync(join(tmpdir(), 'chaos-'))
  let emu: Emulator | undefined
  let server: LoadServer | undefined
  let sampler: NodeJS.Timeout | undefined
  try {
    emu = await startEmulator({ world: fleetSpec(fleet.world) })
    const probeDir = join(workDir, 'probe')
    server = await startLoadServer({
      serverBin: o.serverBin,
      attestors: ['azure_msi', 'azure_imds'],
      emu,
      keyManager: 'disk',
      logLevel: o.logLevel ?? 'INFO',
      ...(probe ? { env: probeEnv(probeDir) } : {}),
      ...(o.binDir === undefined ? {} : { binDir: o.binDir }),
    })
    const srv = server
    const e = emu
    const target: ServerTarget = {
      address: srv.address,
      trustDomain: srv.trustDomain,
      bundle: parseBundle(srv.bundlePem),
    }
    const source = interleave([
      msiSource({
        emu: e,
        order: fleet.attestors.azure_msi.order,
        trustDomain: target.trustDomain,
      }),
      imdsSource({
        emu: e,
        order: fleet.attestors.azure_imds.order,
        trustDomain: target.trustDomain,
        perAttestation: false,
      }),
    ])
    const total = fleet.attestors.azure_msi.order.length + fleet.attestors.azure_imds.order.length
    // what each agent must get, from the world (and the load generator must agree on the ID)
    const expected = Array.from({ length: total }, (_, i) => {
      const agent = source(i)
      const attestor = agent.attestor as AzureAttestor
      const vm = e.world.vm(agent.label)
      const id = expectedAgentId(attestor, vm, target.trustDomain)
      if (id !== agent.agentId)
        throw new Error(`chaos: ${vm.key}: the fleet's agent ID ${agent.agentId} is not ${id}`)
      return { attestor, vm, id, selectors: expectedSelectors(attestor, vm) }
    })

    let lifetime = 1
    const watch = new PluginWatch({
      serverPid: () => srv.pid,
      lifetime: () => lifetime,
      ...(probe ? { probeDir } : {}),
    })
    await sleep(600) // the probe's first files
    watch.sample() // idle, after Configure: the baseline
    sampler = setInterval(() => watch.sample(), 500)

    const records: { attempts: AttemptResult[] }[] = Array.from({ length: total }, () => ({
      attempts: [],
    }))
    const attemptOnce = async (i: number, dropResult: boolean): Promise<AttemptResult> => {
      const agent = source(i)
      const abort = new AbortController()
      const timer = setTimeout(
        () => abort.abort(new Error(`attempt timed out after ${attemptTimeoutMs} ms`)),
        attemptTimeoutMs,
      )
      let session: ClientHttp2Session | undefined
      let destroy = false
      try {
        const key = newAgentKey()
        const payload = await agent.payload(abort.signal)
        session = await openConnection(target, abort.signal)
        const outcome = await attestAgent(
          session,
          attestCallOf(agent, payload, key.csr, abort.signal),
        )
        try {
          checkSvid(outcome.certChain, key, { agentId: expected[i]!.id }, target.bundle)
        } catch (err) {
          return { kind: 'wrong-svid', message: (err as Error).message }
        }
        if (dropResult) {
          destroy = true // the response never reaches the agent: the connection just dies
          return { kind: 'dropped' }
        }
        return { kind: 'issued' }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err)
        return {
          kind: 'error',
          ...(err instanceof AgentApiError && err.code !== undefined ? { code: err.code } : {}),
          message,
        }
      } finally {
        clearTimeout(timer)
        if (session !== undefined) {
          if (destroy) session.destroy()
          else await closeConnection(session)
        }
      }
    }

    let done = 0
    let bootOver = false
    let lastProgress = performance.now()
    const t0 = performance.now()
    const life = async (i: number): Promise<void> => {
      const powerOn = t0 + (i * rampMs) / total
      const wait = powerOn - performance.now()
      if (wait > 0) await sleep(wait)
      const attempts = records[i]!.attempts
      let dropped = false
      for (let n = 1; n <= maxAttempts; n++) {
        const drop = dropEvery > 0 && i % dropEvery === dropEvery - 1 && !dropped
        const r = await attemptOnce(i, drop)
        attempts.push(r)
        if (r.kind === 'dropped') dropped = true
        if (!shouldRetry(r) || n === maxAttempts) break
        await sleep(backoff(n, backoffMs, rand))
      }
      done++
      const now = performance.now()
      if (now - lastProgress > 5_000 || done === total) {
        lastProgress = now
        o.progress?.(`chaos: ${done}/${total} agents done, ${round((now - t0) / 1000)} s`)
      }
    }

    const scheduleRun = runSchedule(schedule, {
      rampMs,
      now: () => performance.now(),
      sleep,
      arm: (pattern, fault) => e.faults.set(pattern, fault),
      clear: (pattern) => e.faults.clear(pattern),
      restart: async () => {
        lifetime = 2
        await srv.restart()
      },
      stopped: () => bootOver,
      ...(o.progress ? { log: o.progress } : {}),
    })
    const countersBefore = e.counters.snapshot()
    await closedLoop({ attempts: total, concurrency, now: () => performance.now(), attempt: life })
    bootOver = true
    const bootS = round((performance.now() - t0) / 1000, 2)
    const steps = await scheduleRun
    const earlyRetries: Record<string, number> = {}
    for (const r of e.faults.earlyRetries) earlyRetries[r] = (earlyRetries[r] ?? 0) + 1
    e.faults.clear()
    const countersAfter = e.counters.snapshot()

    o.progress?.(`chaos: boot done in ${bootS} s; settling ${settleMs / 1000} s`)
    await sleep(settleMs)
    watch.sample()
    clearInterval(sampler)
    sampler = undefined

    const listed = await srv.agentList()
    const agents: AgentResult[] = []
    const judged: AgentRecord[] = []
    for (let i = 0; i < total; i++) {
      const attempts = records[i]!.attempts
      const verdict = agentOutcome(attempts)
      const x = expected[i]!
      judged.push({
        expectedId: x.id,
        expectedSelectors: x.selectors,
        outcome: verdict.outcome,
        ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
      })
      agents.push({
        attestor: x.attestor,
        kind: vmKind(x.vm),
        vm: x.vm.key,
        outcome: verdict.outcome,
        attempts: attempts.length,
        ...(verdict.reason === undefined ? {} : { reason: verdict.reason }),
        errors: attempts
          .slice(0, -1)
          .map((a) =>
            a.kind === 'dropped'
              ? 'result lost in transit (discarded by the load generator)'
              : a.kind === 'error'
                ? `${classifyError(a.code, a.message)}: ${errorKey(a.message)}`
                : a.kind,
          ),
      })
    }
    const recorded = checkRecorded(judged, listed)
    // an agent whose selectors are wrong in SPIRE is a wrong attestation, not a success
    const mismatched = new Set(recorded.selectorMismatches.map((m) => m.id))
    const missing = new Set(recorded.missing)
    for (const [i, a] of agents.entries()) {
      const id = expected[i]!.id
      if (mismatched.has(id)) {
        a.outcome = 'wrong'
        a.reason = 'selectors in SPIRE differ from the fleet spec'
      } else if (missing.has(id)) {
        a.outcome = 'failed'
        a.reason = 'issued or refused as attested, but SPIRE does not hold the agent'
      }
    }
    const outcomes = emptyCounts()
    const byAttestor = { azure_msi: emptyCounts(), azure_imds: emptyCounts() }
    const byKind: Record<string, Record<Outcome, number>> = {}
    const retriedErrors: Record<string, number> = {}
    const failures: Record<string, number> = {}
    for (const a of agents) {
      outcomes[a.outcome]++
      byAttestor[a.attestor][a.outcome]++
      ;(byKind[`${a.attestor} ${a.kind}`] ??= emptyCounts())[a.outcome]++
      for (const err of a.errors) retriedErrors[err] = (retriedErrors[err] ?? 0) + 1
      if (a.outcome === 'failed' || a.outcome === 'wrong') {
        const k = `${a.outcome}: ${errorKey(a.reason ?? '')}`
        failures[k] = (failures[k] ?? 0) + 1
      }
    }
    const faultedRequests: Record<string, number> = {}
    for (const [route, n] of Object.entries(countersAfter)) {
      const service = route.split('.')[0]!
      faultedRequests[service] = (faultedRequests[service] ?? 0) + n - (countersBefore[route] ?? 0)
    }
    return {
      vms: total,
      fleet: {
        azure_msi: fleet.attestors.azure_msi.counts,
        azure_imds: fleet.attestors.azure_imds.counts,
      },
      concurrency,
      rampMs,
      dropEvery,
      maxAttempts,
      backoffMs,
      seed,
      schedule: describeSchedule(schedule),
      steps: steps.map((s) => ({
        ...s,
        startMs: Math.round(s.startMs),
        endMs: Math.round(s.endMs),
        ...(s.restartMs === undefined ? {} : { restartMs: Math.round(s.restartMs) }),
      })),
      outcomes,
      outcomesByAttestor: byAttestor,
      outcomesByKind: byKind,
      retriedErrors: Object.fromEntries(Object.entries(retriedErrors).sort((a, b) => b[1] - a[1])),
      failures,
      attemptsTotal: agents.reduce((s, a) => s + a.attempts, 0),
      maxAttemptsUsed: Math.max(0, ...agents.map((a) => a.attempts)),
      recorded: { ...recorded, agents: listed.length },
      wrongAttestations:
        recorded.unexpectedIds.length + recorded.selectorMismatches.length + outcomes.wrong,
      emulator: {
        handlerErrors: e.errors.length,
        handlerErrorMessages: [
          ...new Set(
            e.errors.map((x) => failureKey(x instanceof Error ? (x.stack ?? x.message) : x)),
          ),
        ].slice(0, 5),
        earlyRetries,
      },
      faultedRequests,
      bootS,
      plugins: watch.figures(),
      probe,
      settleMs,
    }
  } finally {
    if (sampler !== undefined) clearInterval(sampler)
    await server?.stop()
    await emu?.stop()
    rmSync(workDir, { recursive: true, force: true })
  }
}

/** The outcome table (markdown) of a result. */
export function formatOutcomes(r: ChaosResult): string {
  const rows = (Object.entries(r.outcomesByKind) as [string, Record<Outcome, number>][]).map(
    ([k, c]) => `| ${k} | ${OUTCOMES.map((o) => c[o]).join(' | ')} |`,
  )
  return [
    `| agents | ${OUTCOMES.join(' | ')} |`,
    `|---|${OUTCOMES.map(() => '---').join('|')}|`,
    ...rows,
    `| **all ${r.vms}** | ${OUTCOMES.map((o) => `**${r.outcomes[o]}**`).join(' | ')} |`,
  ].join('\n')
}

function count(name: string, v: string | undefined, dflt: number): number {
  const n = v === undefined ? dflt : Number(v)
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} takes a non-negative number`)
  return n
}

/** The CLI: `npm run bench -- chaos …` (bench/run.ts) or `node dist/bench/chaos.js …`. */
export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      vms: { type: 'string', default: '2000' },
      mix: { type: 'string', default: '1:4.5:4.5' },
      concurrency: { type: 'string' },
      'ramp-s': { type: 'string' },
      'drop-every': { type: 'string' },
      'max-attempts': { type: 'string' },
      seed: { type: 'string' },
      'settle-s': { type: 'string' },
      'no-probe': { type: 'boolean', default: false },
      'log-level': { type: 'string', default: 'INFO' },
      'bin-dir': { type: 'string' },
      out: { type: 'string' },
      append: { type: 'boolean', default: false },
    },
  })
  const vms = count('vms', a.vms, 2000)
  if (!Number.isInteger(vms) || vms < 2) throw new Error('--vms takes an integer ≥ 2')
  const spire = ensureSpire()
  if ('skip' in spire) throw new Error(`chaos needs SPIRE: ${spire.skip}`)
  const started = new Date()
  const loadAtStart = loadavg()[0]
  const outFile = resolve(
    a.out ??
      join(REPO_ROOT, '.tmp', 'bench', `chaos-${started.toISOString().replace(/[:.]/g, '-')}.json`),
  )
  const r = await runChaos({
    vms,
    serverBin: spire.server,
    mix: a.mix!,
    ...(a.concurrency === undefined
      ? {}
      : { concurrency: count('concurrency', a.concurrency, 256) }),
    ...(a['ramp-s'] === undefined ? {} : { rampMs: count('ramp-s', a['ramp-s'], 0) * 1000 }),
    ...(a['drop-every'] === undefined
      ? {}
      : { dropEvery: count('drop-every', a['drop-every'], 39) }),
    ...(a['max-attempts'] === undefined
      ? {}
      : { maxAttempts: count('max-attempts', a['max-attempts'], 12) }),
    ...(a.seed === undefined ? {} : { seed: count('seed', a.seed, 14) }),
    ...(a['settle-s'] === undefined
      ? {}
      : { settleMs: count('settle-s', a['settle-s'], 35) * 1000 }),
    probe: !a['no-probe'],
    logLevel: a['log-level']!,
    ...(a['bin-dir'] === undefined ? {} : { binDir: resolve(a['bin-dir']) }),
    progress: (line) => process.stderr.write(`${line}\n`),
  })
  const run = {
    command: `npm run bench -- chaos ${argv.join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(loadAtStart),
    source: gitState(),
    spire: {
      version: SPIRE_VERSION,
      serverConfig: `rate limit off, log_level ${a['log-level']}, sqlite3 datastore, disk KeyManager; azure_msi and azure_imds in one server`,
    },
    result: r,
  }
  // --append: several runs (e.g. 200 and 2,000 VMs) in one file
  let runs: unknown[] = []
  if (a.append && existsSync(outFile))
    runs = (JSON.parse(readFileSync(outFile, 'utf8')) as { runs: unknown[] }).runs
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify({ runs: [...runs, run] }, null, 2) + '\n')
  process.stderr.write(`chaos: results written to ${outFile}\n`)
  process.stdout.write(formatOutcomes(r) + '\n')
  process.stdout.write(
    `wrong attestations: ${r.wrongAttestations}; failed: ${r.outcomes.failed}; SPIRE holds ${r.recorded.agents} agents\n`,
  )
  if (r.wrongAttestations > 0 || r.outcomes.failed > 0) process.exitCode = 1
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  await main(process.argv.slice(2))
