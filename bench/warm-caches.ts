#!/usr/bin/env node
// Warm caches and reused connections (issue 12, deliverable 4), before against after:
//
//  1. CPU per ARM read with a `ca_file` (the emulator's CA): the ARM REST client an attestor uses,
//     uncached, M sequential and then M concurrent reads of distinct VMs.
//  2. Latency through cache refresh waves: the real azure_msi server attestor in process (its
//     default deps; only the ARM cache TTL is shortened, and `jwks_cache_ttl` likewise, so several
//     expiry waves fall inside the run) attesting a fleet of emulated VMs, closed loop, after a
//     warm-up that loads every VM's entries at once — so they all expire together, as after a
//     fleet boot. A run with a TTL longer than the run gives the steady baseline.
//
//   flock /tmp/spire-azure-bench.lock node dist/bench/warm-caches.js \
//     --impl before=/tmp/warm-before/dist --impl after=dist [--vms 120] [--concurrency 16] \
//     [--duration-s 40] [--ttl-ms 8000] [--arm-latency-ms 50] [--reads 200] [--out FILE]
//
// Each implementation is a built tree (`dist/` of a checkout; the bench loads its modules by path)
// measured in a child process of its own, so the CPU figures are the client's alone; the emulator
// runs in this process. Wall-clock figures here are measurements, never test assertions.
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { buildConfig as buildAgentConfig } from '../agent-plugin/azure-msi/config.js'
import { createDefaultAttestor as createAgent } from '../agent-plugin/azure-msi/attestor.js'
import { NOOP_LOGGER, NOOP_METRICS, Report } from '../shared/plugin/index.js'
import { startEmulator, type Emulator, type WorldSpec } from '../test/azure-emulator/index.js'
import { agentHclFor, serverHclFor } from '../test/support/azure-msi-plugins.js'

const TRUST_DOMAIN = 'example.org'

/** One resource group of `n` VMs with system-assigned identities, each with one NIC in an NSG'd subnet. */
function fleetWorld(n: number): WorldSpec {
  return {
    seed: 'warm-caches-bench',
    tenants: [
      {
        name: 'contoso',
        cloud: 'public',
        apps: [{ name: 'spire-server', secret: 'spire-server-secret' }],
        subscriptions: [
          {
            name: 'prod',
            resourceGroups: [
              {
                name: 'fleet',
                location: 'eastus',
                networkSecurityGroups: [{ name: 'nodes' }],
                virtualNetworks: [
                  {
                    name: 'vnet',
                    addressPrefix: '10.8.0.0/16',
                    subnets: [
                      {
                        name: 'default',
                        addressPrefix: '10.8.0.0/18',
                        networkSecurityGroup: 'nodes',
                      },
                    ],
                  },
                ],
                virtualMachines: Array.from({ length: n }, (_, i) => ({
                  name: `vm-${String(i).padStart(4, '0')}`,
                  tags: { environment: 'production' },
                  identity: { systemAssigned: true },
                })),
              },
            ],
          },
        ],
      },
    ],
  }
}

/** What the parent hands a child (as a JSON file). */
interface ChildInput {
  mode: 'arm-reads' | 'attest-loop'
  impl: string
  serverHcl: string
  /** base64 azure_msi payloads, one per VM */
  payloads: string[]
  vms: { sub: string; rg: string; name: string }[]
  concurrency: number
  durationMs: number
  ttlMs: number
  reads: number
  /** false: the ARM cache without refresh-ahead (an ablation; older trees ignore the option) */
  refreshAhead: boolean
}

interface Latencies {
  count: number
  p50: number
  p90: number
  p99: number
  max: number
}

function latencies(xs: number[]): Latencies {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number): number =>
    round(s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? NaN)
  return { count: s.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round(s.at(-1) ?? NaN) }
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d
const cpuMs = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000

// ---------------------------------------------------------------- child: one implementation

async function child(inputPath: string): Promise<void> {
  const input = JSON.parse(readFileSync(inputPath, 'utf8')) as ChildInput
  const I = async <T>(path: string): Promise<T> =>
    (await import(pathToFileURL(join(input.impl, path)).href)) as T
  // the implementation under test is loaded by path: its types are not this build's
  type Any = Record<string, any>
  const plugin = await I<Any>('shared/plugin/index.js')
  const { createAttestor } = await I<Any>('server-plugin/azure-msi/attestor.js')
  const { buildConfig } = await I<Any>('server-plugin/azure-msi/config.js')
  const { createDefaultDeps } = await I<Any>('server-plugin/azure-msi/deps.js')
  const { createResilientArm } = await I<Any>('shared/azure/arm-resilient.js')
  const { createArmRest } = await I<Any>('shared/azure/arm-rest.js')
  const { createRestArmClient } = await I<Any>('shared/azure/arm-rest-reads.js')
  const { armScope } = await I<Any>('shared/azure/clouds.js')
  const { nodeHttp } = await I<Any>('shared/azure/http.js')
  const { sleep } = await I<Any>('shared/azure/retry.js')
  const { createFileLoader, makeCredential, withCaFile } = await I<Any>(
    'shared/azure/tenant-access.js',
  )

  const report = new plugin.Report()
  const config = buildConfig(input.serverHcl, { trustDomain: TRUST_DOMAIN }, report)
  if (config === undefined) throw new Error(`config rejected: ${report.errors.join('; ')}`)
  const tenant = [...config.tenants.values()][0]
  const files = createFileLoader(() => Date.now())

  /** The ARM client exactly as the plugin's deps build it (deps.ts makeRestArm). */
  const restArm = async (): Promise<Any> => {
    const caFile = tenant.endpoints.caFile as string | undefined
    const ca = caFile === undefined ? undefined : [await files.readCa(caFile)]
    const credential = await makeCredential(
      tenant.tenantId,
      tenant.cloud,
      tenant.endpoints,
      tenant.credential,
      ca,
    )
    return createRestArmClient(
      createArmRest({
        credential,
        armEndpoint: tenant.endpoints.armEndpoint,
        armScope: armScope(tenant.cloud.armResourceId),
        http: withCaFile(nodeHttp, caFile, files),
        now: plugin.systemClock,
        ...(ca === undefined ? {} : { extraCa: ca }),
      }),
    )
  }

  if (input.mode === 'arm-reads') {
    const arm = await restArm()
    const read = (i: number) => {
      const vm = input.vms[i % input.vms.length]!
      return arm.getVirtualMachine(vm.sub, vm.rg, vm.name)
    }
    await read(0) // the credential's token, and the first connection
    const seqCpu = process.cpuUsage()
    const seqT0 = performance.now()
    for (let i = 0; i < input.reads; i++) await read(i)
    const seq = { cpuMs: cpuMs(process.cpuUsage(seqCpu)), wallMs: performance.now() - seqT0 }
    const conCpu = process.cpuUsage()
    const conT0 = performance.now()
    let next = 0
    await Promise.all(
      Array.from({ length: input.concurrency }, async () => {
        while (next < input.reads) await read(next++)
      }),
    )
    const con = { cpuMs: cpuMs(process.cpuUsage(conCpu)), wallMs: performance.now() - conT0 }
    emit({
      reads: input.reads,
      sequential: {
        cpuMsPerRead: round(seq.cpuMs / input.reads, 3),
        wallMsPerRead: round(seq.wallMs / input.reads, 3),
      },
      concurrent: {
        concurrency: input.concurrency,
        cpuMsPerRead: round(con.cpuMs / input.reads, 3),
        readsPerSecond: round(input.reads / (con.wallMs / 1000), 1),
      },
    })
    return
  }

  // attest-loop: the real attestor, default deps, the ARM cache TTL shortened
  const ctx = {
    log: plugin.NOOP_LOGGER,
    agentStore: { isAttested: async () => false },
    metrics: plugin.NOOP_METRICS,
    hostServices: [],
  }
  const base = createDefaultDeps(ctx)
  let arm: Any | undefined
  const deps = {
    ...base,
    armFor() {
      if (arm === undefined) {
        let inner: Promise<Any> | undefined
        const get = () => (inner ??= restArm())
        const lazy = {
          getVirtualMachine: async (...a: unknown[]) => (await get()).getVirtualMachine(...a),
          getScaleSet: async (...a: unknown[]) => (await get()).getScaleSet(...a),
          getScaleSetVm: async (...a: unknown[]) => (await get()).getScaleSetVm(...a),
          getNetworkInterface: async (...a: unknown[]) => (await get()).getNetworkInterface(...a),
          listVirtualMachinesByPrincipal: async (...a: unknown[]) =>
            (await get()).listVirtualMachinesByPrincipal(...a),
        }
        arm = createResilientArm(lazy, {
          now: () => Date.now(),
          sleep,
          log: plugin.NOOP_LOGGER,
          cacheTtlMs: input.ttlMs,
          refreshAhead: input.refreshAhead,
        })
      }
      return arm
    },
  }
  const attestor = createAttestor(deps)
  const payloads = input.payloads.map((p) => Buffer.from(p, 'base64'))
  // each attestation its own signal, as the plugin runtime gives it
  const io = () => ({
    challenge: () => Promise.reject(new Error('azure_msi sends no challenge')),
    signal: new AbortController().signal,
    metadata: {},
  })
  let failures = 0
  const firstErrors: string[] = []
  const attest = async (i: number): Promise<number> => {
    const t = performance.now()
    try {
      await attestor.attest(payloads[i % payloads.length], config, io())
    } catch (err) {
      failures++
      if (firstErrors.length < 3) firstErrors.push(String(err))
    }
    return performance.now() - t
  }

  // warm-up: every VM once, all at about the same moment (a fleet boot): their entries expire together
  let cursor = 0
  await Promise.all(
    Array.from({ length: input.concurrency }, async () => {
      while (cursor < payloads.length) await attest(cursor++)
    }),
  )
  const warmupFailures = failures
  failures = 0

  const samples: { at: number; ms: number }[] = []
  const t0 = performance.now()
  const cpu0 = process.cpuUsage()
  let k = 0
  await Promise.all(
    Array.from({ length: input.concurrency }, async () => {
      while (performance.now() - t0 < input.durationMs) {
        const at = performance.now() - t0
        // round-robin over the fleet: every VM's entries are read throughout the run
        const ms = await attest(k++)
        samples.push({ at, ms })
      }
    }),
  )
  const wall = performance.now() - t0
  const cpu = cpuMs(process.cpuUsage(cpu0))
  // per-second windows: a refresh wave shows as the worst second
  const bySecond = new Map<number, number[]>()
  for (const s of samples) {
    const sec = Math.floor(s.at / 1000)
    bySecond.set(sec, [...(bySecond.get(sec) ?? []), s.ms])
  }
  const seconds = [...bySecond.entries()]
    .sort(([a], [b]) => a - b)
    .map(([sec, xs]) => ({ second: sec, ...latencies(xs) }))
  const worst = seconds.reduce((w, s) => (s.p99 > w.p99 ? s : w), seconds[0]!)
  emit({
    attestations: samples.length,
    perSecond: round(samples.length / (wall / 1000), 1),
    failures,
    warmupFailures,
    firstErrors,
    cpuMsPerAttestation: round(cpu / samples.length, 3),
    latencyMs: latencies(samples.map((s) => s.ms)),
    worstSecond: worst,
    secondsOver100ms: seconds.filter((s) => s.max > 100).length,
    perSecondP99: seconds.map((s) => s.p99),
  })
}

function emit(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`)
}

// ---------------------------------------------------------------- parent

function runChild(
  input: ChildInput,
  dir: string,
  profileDir: string | undefined,
): Promise<Record<string, unknown>> {
  const file = join(dir, `input-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(file, JSON.stringify(input))
  return new Promise((resolvePromise, reject) => {
    const prof = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
    const p = spawn(process.execPath, [...prof, fileURLToPath(import.meta.url), '--child', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    p.stdout.on('data', (c: Buffer) => (out += c.toString()))
    p.on('error', reject)
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`child ${input.mode} exited ${code}`))
      else
        resolvePromise(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>)
    })
  })
}

async function payloadFor(emu: Emulator, vm: string): Promise<string> {
  const report = new Report()
  const cfg = buildAgentConfig(agentHclFor(emu, vm), { trustDomain: TRUST_DOMAIN }, report)
  if (cfg === undefined) throw new Error(report.errors.join('; '))
  const ctx = { log: NOOP_LOGGER, agentStore: undefined, metrics: NOOP_METRICS, hostServices: [] }
  const payload = await createAgent(ctx).payload(cfg, { signal: new AbortController().signal })
  return Buffer.from(payload).toString('base64')
}

function armRequests(emu: Emulator, before: Record<string, number>): number {
  const after = emu.counters.snapshot()
  return Object.entries(after)
    .filter(([route]) => route.startsWith('arm.'))
    .reduce((n, [route, v]) => n + v - (before[route] ?? 0), 0)
}

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    options: {
      impl: { type: 'string', multiple: true },
      vms: { type: 'string', default: '120' },
      concurrency: { type: 'string', default: '16' },
      'duration-s': { type: 'string', default: '40' },
      'ttl-ms': { type: 'string', default: '8000' },
      'arm-latency-ms': { type: 'string', default: '50' },
      reads: { type: 'string', default: '200' },
      'steady-s': { type: 'string', default: '30' },
      /** also run the last implementation's ARM cache without refresh-ahead */
      ablation: { type: 'boolean', default: false },
      /** run that ablation first instead of last (to see what the run order does on a busy machine) */
      'ablation-first': { type: 'boolean', default: false },
      /** write a CPU profile of each child (implementation run) into this directory */
      profile: { type: 'string' },
      out: { type: 'string' },
      child: { type: 'string' },
    },
  })
  if (args.child !== undefined) return child(args.child)
  const impls = (args.impl ?? ['after=dist']).map((s) => {
    const [label, path] = s.includes('=') ? (s.split('=', 2) as [string, string]) : [s, s]
    return { label, path: resolve(path) }
  })
  const n = Number(args.vms)
  const concurrency = Number(args.concurrency)
  const durationMs = Number(args['duration-s']) * 1000
  const ttlMs = Number(args['ttl-ms'])
  const armLatencyMs = Number(args['arm-latency-ms'])
  const dir = mkdtempSync(join(tmpdir(), 'warm-caches-'))
  const loadBefore = loadavg()
  const emu = await startEmulator({ world: fleetWorld(n) })
  try {
    const vmKeys = Array.from({ length: n }, (_, i) => `fleet/vm-${String(i).padStart(4, '0')}`)
    const payloads: string[] = []
    for (const vm of vmKeys) payloads.push(await payloadFor(emu, vm))
    const sub = emu.world.tenant('contoso').subscriptions[0]!.subscriptionId
    const vms = vmKeys.map((k) => ({ sub, rg: 'fleet', name: k.split('/')[1]! }))
    const hcl = (ttl: number) =>
      serverHclFor(
        emu,
        [{ tenant: 'contoso' }],
        `jwks_cache_ttl = "${Math.max(1, Math.round(ttl / 1000))}s"`,
      )
    const common = { payloads, vms, concurrency, reads: Number(args.reads), refreshAhead: true }
    const steadyMs = Number(args['steady-s']) * 1000
    const results: Record<string, unknown>[] = []
    const runs: { label: string; path: string; refreshAhead: boolean }[] = impls.map((i) => ({
      ...i,
      refreshAhead: true,
    }))
    const last = impls.at(-1)
    if (args.ablation && last !== undefined) {
      const off = {
        label: `${last.label}, ARM refresh-ahead off`,
        path: last.path,
        refreshAhead: false,
      }
      if (args['ablation-first']) runs.unshift(off)
      else runs.push(off)
    }
    for (const impl of runs) {
      const base = {
        ...common,
        impl: impl.path,
        durationMs,
        ttlMs,
        refreshAhead: impl.refreshAhead,
      }
      if (impl.refreshAhead) {
        // 1. CPU per ARM read with ca_file (no injected latency: CPU is the point)
        emu.faults.clear()
        const before = emu.counters.snapshot()
        const reads = await runChild(
          { ...base, mode: 'arm-reads', serverHcl: hcl(ttlMs) },
          dir,
          args.profile,
        )
        results.push({
          scenario: 'arm-reads-ca-file',
          impl: impl.label,
          ...reads,
          armRequests: armRequests(emu, before),
        })
        console.error(`${impl.label} arm-reads`, JSON.stringify(reads))
      }
      // 2. latency through refresh waves, then the steady baseline (no expiry inside the run)
      emu.faults.set('arm.*', { kind: 'latency', ms: armLatencyMs })
      const scenarios: [string, number, number][] = [['refresh-waves', ttlMs, durationMs]]
      if (impl.refreshAhead) scenarios.push(['steady', 3_600_000, steadyMs])
      for (const [scenario, ttl, ms] of scenarios) {
        const before = emu.counters.snapshot()
        const r = await runChild(
          {
            ...base,
            mode: 'attest-loop',
            ttlMs: ttl,
            durationMs: ms,
            serverHcl: hcl(Math.min(ttl, 86_400_000)),
          },
          dir,
          args.profile,
        )
        results.push({
          scenario,
          impl: impl.label,
          ttlMs: ttl,
          ...r,
          armRequests: armRequests(emu, before),
        })
        const { perSecondP99: _omit, ...brief } = r
        console.error(`${impl.label} ${scenario}`, JSON.stringify(brief))
      }
      emu.faults.clear()
    }
    const doc = {
      bench: 'warm-caches',
      command: `node dist/bench/warm-caches.js ${process.argv.slice(2).join(' ')}`,
      date: new Date().toISOString(),
      machine: {
        cpus: cpus().length,
        model: cpus()[0]?.model,
        node: process.version,
        // the machine is shared: other work shows here
        loadavgAtStart: loadBefore.map((x) => round(x)),
        loadavgAtEnd: loadavg().map((x) => round(x)),
      },
      parameters: {
        vms: n,
        concurrency,
        durationMs,
        steadyMs,
        ttlMs,
        armLatencyMs,
        reads: common.reads,
      },
      results,
    }
    const text = `${JSON.stringify(doc, null, 2)}\n`
    if (args.out !== undefined) writeFileSync(args.out, text)
    else process.stdout.write(text)
  } finally {
    await emu.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
