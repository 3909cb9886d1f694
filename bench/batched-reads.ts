#!/usr/bin/env node
// Light bench (issue 12 item 5): N distinct VMs' compute resolution, all at once, through both
// attestors' resolve paths with the production ARM transport and call gates, per-VM vs batched
// (shared/azure/resource-graph-batch.ts), against the emulator with its documented limits on
// (throttling: true). Counts Azure requests on the emulator; time is a virtual clock moved only by
// the plugins' own waits (Retry-After, Resource Graph quota). In process, no SPIRE.
//
//   npm run bench -- batched-reads [--vms 1000] [--lag-s 0] [--out FILE]
//
// --lag-s S: Resource Graph's indexing lag; with one, every VM was created when the boot starts.
// Fleet: 10% standalone VMs, 45% Flexible members, 45% Uniform instances.
// Default output: bench/results/batched-reads-<date>.json (appended to: {runs: [...]}).
// Run under `flock /tmp/spire-azure-bench.lock`.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { benchMachine } from './machine.js'
import { createResilientArm } from '../shared/azure/arm-resilient.js'
import { createArmRest } from '../shared/azure/arm-rest.js'
import { createRestArmClient } from '../shared/azure/arm-rest-reads.js'
import { createCallGate } from '../shared/azure/call-gate.js'
import { nodeHttp } from '../shared/azure/http.js'
import {
  batchedArmClient,
  batchedGate,
  createResourceGraphBatch,
  observeResourceGraph,
  type BatchStats,
  type ResourceGraphBatch,
} from '../shared/azure/resource-graph-batch.js'
import { NOOP_LOGGER } from '../shared/plugin/index.js'
import { createImdsAzure } from '../server-plugin/azure-imds/azure.js'
import { resolveCompute as resolveImds } from '../server-plugin/azure-imds/resolve.js'
import { resolveCompute as resolveMsi } from '../server-plugin/azure-msi/resolve.js'
import type { MsiClaims } from '../server-plugin/azure-msi/verify.js'
import { startEmulator, type WorldSpec } from '../test/azure-emulator/index.js'
import { REPO_ROOT } from '../test/support/paths.js'

export interface BatchedReadsRow {
  lagS: number
  plugin: 'azure_imds' | 'azure_msi'
  path: 'per-VM' | 'batched'
  vms: number
  /** Azure requests the emulator counted (`arm.*`: ARM GETs and Resource Graph queries). */
  requests: number
  requestsPerAttestation: number
  failed: number
  firstFailure: string | undefined
  /** Virtual time the plugins waited (Retry-After, Resource Graph quota), in seconds. */
  throttlingWaitS: number
  counters: unknown
  batch: Readonly<BatchStats> | undefined
}

/** The fleet: 10% standalone VMs, 45% Flexible members, the rest Uniform instances. */
export function fleetWorld(n: number): WorldSpec {
  const nStandalone = Math.round(n * 0.1)
  const nFlex = Math.round(n * 0.45)
  const nUni = n - nStandalone - nFlex
  const net = { virtualNetwork: 'vnet', subnet: 'scale', networkSecurityGroup: 'web' }
  return {
    seed: 'bench-batched',
    tenants: [
      {
        name: 'contoso',
        apps: [{ name: 'spire-server', secret: 's' }],
        subscriptions: [
          {
            name: 'prod',
            resourceGroups: [
              {
                name: 'Fleet',
                location: 'eastus',
                networkSecurityGroups: [{ name: 'web' }],
                virtualNetworks: [
                  {
                    name: 'vnet',
                    addressPrefix: '10.0.0.0/8',
                    subnets: [
                      {
                        name: 'default',
                        addressPrefix: '10.1.0.0/16',
                        networkSecurityGroup: 'web',
                      },
                      { name: 'scale', addressPrefix: '10.2.0.0/16' },
                    ],
                  },
                ],
                virtualMachines: Array.from({ length: nStandalone }, (_, i) => ({
                  name: `vm-${i}`,
                  identity: { systemAssigned: true },
                })),
                scaleSets: [
                  {
                    name: 'flex',
                    orchestrationMode: 'Flexible',
                    capacity: nFlex,
                    identity: { systemAssigned: true },
                    network: net,
                  },
                  {
                    name: 'uni',
                    orchestrationMode: 'Uniform',
                    capacity: nUni,
                    identity: { systemAssigned: true },
                    network: net,
                  },
                ],
              },
            ],
          },
        ],
      },
    ],
  }
}

/** Runs the four cells (both plugins × per-VM/batched) for one fleet size and lag. */
export async function runBatchedReads(
  n: number,
  lagS: number,
  progress: (line: string) => void = () => {},
): Promise<BatchedReadsRow[]> {
  const clock = { t: Date.UTC(2026, 11, 2, 7, 0, 0) }
  const now = (): number => clock.t
  // concurrent waits overlap: a wait moves the clock to its end, never by the sum of all waits
  const sleep = (ms: number): Promise<void> => {
    const target = clock.t + ms
    return new Promise((r) =>
      setImmediate(() => {
        clock.t = Math.max(clock.t, target)
        r()
      }),
    )
  }
  const emu = await startEmulator({
    world: fleetWorld(n),
    now: () => new Date(clock.t),
    throttling: true,
    sleep: () => Promise.resolve(),
  })
  try {
    const s = emu.world.subscription('prod')
    const sub = s.subscriptionId
    const tenantId = s.tenant.tenantId
    let tok: { token: string; expiresOn: number } | undefined
    const credential = {
      getToken: async () => ({ token: tok!.token, expiresOnTimestamp: tok!.expiresOn * 1000 }),
    }
    const rg = s.resourceGroups[0]!
    const vms = [...rg.virtualMachines, ...rg.scaleSets.flatMap((ss) => [...ss.instances()])]

    const stack = (batched: boolean) => {
      let b: ResourceGraphBatch | undefined
      const rest = createArmRest({
        credential,
        armEndpoint: emu.endpoints.arm,
        armScope: 'https://management.azure.com/.default',
        http: observeResourceGraph(nodeHttp, (h) => b?.observe(h)),
        now,
        extraCa: [emu.endpoints.caCertPem],
      })
      if (batched)
        b = createResourceGraphBatch({
          rest,
          now,
          sleep,
          setTimer: (fn, ms) => {
            const t = setTimeout(fn, ms)
            return () => clearTimeout(t)
          },
        })
      const common = { now, sleep, log: NOOP_LOGGER, refreshAhead: false }
      const plain = createRestArmClient(rest)
      const msi = createResilientArm(b ? batchedArmClient(plain, b) : plain, common)
      const reads = createCallGate({ ...common, cacheTtlMs: 60_000 })
      const lookups = createCallGate({ ...common, cacheTtlMs: 600_000 })
      const imds = createImdsAzure({
        rest,
        reads: b ? batchedGate(reads, b) : reads,
        lookups: b ? batchedGate(lookups, b) : lookups,
      })
      return { msi, imds, b }
    }
    const claims = (vm: (typeof vms)[number]): MsiClaims => ({
      tenantId,
      principalId: vm.identity.system!.principalId,
      issuer: undefined,
      audience: [],
      expiry: undefined,
      notBefore: undefined,
      issuedAt: undefined,
      jwtId: undefined,
      version: '1.0',
      objectId: undefined,
      clientId: undefined,
      identityType: undefined,
      delegated: false,
      identityResourceId: vm.systemIdentityResourceId,
      computeResourceId: undefined,
    })

    const results: BatchedReadsRow[] = []
    for (const plugin of ['azure_imds', 'azure_msi'] as const) {
      for (const batched of [false, true]) {
        clock.t += 3_600_000
        emu.throttling.reset()
        emu.counters.reset()
        tok = await emu.tokens.issueAppToken({ tenant: 'contoso' })
        const c = stack(batched)
        const start = clock.t
        emu.resourceGraph.setLag(lagS)
        emu.resourceGraph.setCreatedAt(lagS > 0 ? () => new Date(start) : undefined)
        const outcomes = await Promise.allSettled(
          vms.map((vm) =>
            plugin === 'azure_imds'
              ? resolveImds(c.imds, {
                  subscriptionId: sub,
                  vmId: vm.vmId,
                  untrustedVmssName: vm.scaleSet?.name ?? null,
                  untrustedResourceId: vm.id,
                })
              : resolveMsi({ arm: c.msi, claims: claims(vm), subscriptionId: sub }),
          ),
        )
        const failed = outcomes.filter((o) => o.status === 'rejected').length
        const rejected = outcomes.find((o) => o.status === 'rejected')
        const requests = emu.counters.get('arm.*')
        const row: BatchedReadsRow = {
          lagS,
          plugin,
          path: batched ? 'batched' : 'per-VM',
          vms: vms.length,
          requests,
          requestsPerAttestation: Math.round((requests / vms.length) * 1000) / 1000,
          failed,
          firstFailure:
            rejected === undefined
              ? undefined
              : rejected.reason instanceof Error
                ? rejected.reason.message
                : String(rejected.reason),
          throttlingWaitS: (clock.t - start) / 1000,
          counters: emu.counters.snapshot(),
          batch: c.b?.stats,
        }
        results.push(row)
        progress(JSON.stringify(row))
      }
    }
    return results
  } finally {
    await emu.stop()
  }
}

export async function main(argv: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args: argv,
    options: {
      vms: { type: 'string', default: '1000' },
      'lag-s': { type: 'string', default: '0' },
      out: { type: 'string' },
    },
  })
  const n = Number(a.vms)
  if (!Number.isInteger(n) || n < 1) throw new Error('--vms takes a positive integer')
  const lagS = Number(a['lag-s'])
  if (!Number.isFinite(lagS) || lagS < 0) throw new Error('--lag-s takes a number of seconds ≥ 0')
  const started = new Date()
  const rows = await runBatchedReads(n, lagS, (l) => void process.stdout.write(`${l}\n`))
  const run = {
    command: `npm run bench -- batched-reads ${argv.join(' ')}`.trim(),
    date: started.toISOString(),
    machine: benchMachine(),
    vms: n,
    lagS,
    rows,
  }
  const outFile = resolve(
    a.out ??
      join(REPO_ROOT, 'bench/results', `batched-reads-${started.toISOString().slice(0, 10)}.json`),
  )
  const prior = existsSync(outFile)
    ? (JSON.parse(readFileSync(outFile, 'utf8')) as { runs?: unknown[] })
    : {}
  mkdirSync(dirname(outFile), { recursive: true })
  writeFileSync(outFile, JSON.stringify({ runs: [...(prior.runs ?? []), run] }, null, 2) + '\n')
  process.stderr.write(`batched-reads: results appended to ${outFile}\n`)
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`)
    process.exit(1)
  })
