// Batched compute reads for fleets (shared/azure/resource-graph-batch.ts) against the Azure emulator
// with its documented limits on (ARM token buckets, Resource Graph's 15 queries per 5 s, and its lag),
// through both attestors' compute resolution. One injected clock drives the emulator, the call gates
// and the batch's quota waits; the batch window is an injected timer. Costs are counted on the
// emulator, never timed.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import type { TokenCredential } from '@azure/identity'
import type { ArmClient } from '../../../shared/azure/arm.js'
import { createResilientArm } from '../../../shared/azure/arm-resilient.js'
import { createArmRest, type ArmRest } from '../../../shared/azure/arm-rest.js'
import { createRestArmClient } from '../../../shared/azure/arm-rest-reads.js'
import { createCallGate } from '../../../shared/azure/call-gate.js'
import { nodeHttp } from '../../../shared/azure/http.js'
import { queryResourceGraph } from '../../../shared/azure/resource-graph.js'
import {
  BATCH_MAX_WINDOW_MS,
  BATCH_MIN_VMS,
  BATCH_WINDOW_MS,
  batchedArmClient,
  batchedGate,
  createResourceGraphBatch,
  observeResourceGraph,
  scaleSetVmBatchQuery,
  vmBatchQuery,
  type ResourceGraphBatch,
  type ResourceGraphBatchOptions,
} from '../../../shared/azure/resource-graph-batch.js'
import { NOOP_LOGGER } from '../../../shared/plugin/index.js'
import { createImdsAzure, type ImdsAzure } from '../../../server-plugin/azure-imds/azure.js'
import { resolveCompute as resolveImds } from '../../../server-plugin/azure-imds/resolve.js'
import { buildSelectors as imdsSelectors } from '../../../server-plugin/azure-imds/selectors.js'
import { resolveCompute as resolveMsi } from '../../../server-plugin/azure-msi/resolve.js'
import { buildSelectors as msiSelectors } from '../../../server-plugin/azure-msi/selectors.js'
import type { MsiClaims } from '../../../server-plugin/azure-msi/verify.js'
import {
  startEmulator,
  type Emulator,
  type Vm,
  type WorldSpec,
} from '../../azure-emulator/index.js'

/** 60 standalone VMs, 80 Flexible members, 60 Uniform instances: 200 distinct VMs. */
const FLEET: WorldSpec = {
  seed: 'resource-graph-batch',
  tenants: [
    {
      name: 'contoso',
      apps: [{ name: 'spire-server', secret: 'spire-server-secret' }],
      subscriptions: [
        {
          name: 'prod',
          resourceGroups: [
            {
              // mixed case: Resource Graph lower-cases it, ARM keeps it
              name: 'Fleet',
              location: 'eastus',
              networkSecurityGroups: [{ name: 'web' }],
              virtualNetworks: [
                {
                  name: 'vnet',
                  addressPrefix: '10.8.0.0/16',
                  subnets: [
                    { name: 'default', addressPrefix: '10.8.0.0/20', networkSecurityGroup: 'web' },
                    { name: 'scale', addressPrefix: '10.8.16.0/20' },
                  ],
                },
              ],
              identities: [{ name: 'fleet-identity' }],
              virtualMachines: Array.from({ length: 60 }, (_, i) => ({
                name: `vm-${i}`,
                tags: { role: i % 2 === 0 ? 'even' : 'odd' },
                identity: { systemAssigned: true },
                ...(i % 10 === 0
                  ? {
                      networkInterfaces: [
                        { virtualNetwork: 'vnet', subnet: 'default', networkSecurityGroup: 'web' },
                        { name: `vm-${i}-second`, virtualNetwork: 'vnet', subnet: 'scale' },
                      ],
                    }
                  : {}),
              })),
              scaleSets: [
                {
                  name: 'flex',
                  orchestrationMode: 'Flexible',
                  capacity: 80,
                  tags: { tier: 'flex' },
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'scale', networkSecurityGroup: 'web' },
                },
                {
                  name: 'uni',
                  orchestrationMode: 'Uniform',
                  capacity: 60,
                  tags: { tier: 'uniform' },
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'scale', networkSecurityGroup: 'web' },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
}

/** The one clock (epoch ms): the emulator's, the gates' and the batch's; quota waits move it. */
const clock = { t: 0 }
const now = (): number => clock.t
let waits: number[] = []
const virtualSleep = (ms: number): Promise<void> => {
  waits.push(ms)
  clock.t += ms
  return Promise.resolve()
}
/** The batch window: fires once the reads started in this turn have all queued (no wall clock). */
const nextTurnTimer: ResourceGraphBatchOptions['setTimer'] = (fn) => {
  const t = setImmediate(fn)
  return () => clearImmediate(t)
}

let emu: Emulator
let sub: string
let tenantId: string
let credential: TokenCredential
const standalone: Vm[] = []
const flexible: Vm[] = []
const uniform: Vm[] = []

before(async () => {
  clock.t = Date.UTC(2026, 11, 2, 6, 0, 0)
  emu = await startEmulator({
    world: FLEET,
    now: () => new Date(clock.t),
    throttling: true,
    sleep: () => Promise.resolve(),
  })
  const s = emu.world.subscription('prod')
  sub = s.subscriptionId
  tenantId = s.tenant.tenantId
  const token = await emu.tokens.issueAppToken({ tenant: 'contoso' })
  credential = {
    getToken: async () => ({ token: token.token, expiresOnTimestamp: token.expiresOn * 1000 }),
  }
  const rg = s.resourceGroups[0]!
  standalone.push(...rg.virtualMachines)
  for (const ss of rg.scaleSets)
    (ss.orchestrationMode === 'Flexible' ? flexible : uniform).push(...ss.instances())
})
after(async () => {
  assert.deepEqual(emu.errors, [])
  await emu.stop()
})
beforeEach(() => {
  // a fresh minute: ARM buckets full, Resource Graph windows new, no lag unless a test sets one
  clock.t += 60_000
  emu.throttling.reset()
  emu.resourceGraph.reset()
  emu.counters.reset()
  waits = []
})

function rest(observe?: (h: Readonly<Record<string, string>>) => void): ArmRest {
  return createArmRest({
    credential,
    armEndpoint: emu.endpoints.arm,
    armScope: 'https://management.azure.com/.default',
    http: observe === undefined ? nodeHttp : observeResourceGraph(nodeHttp, observe),
    now,
    extraCa: [emu.endpoints.caCertPem],
  })
}

interface Clients {
  msi: ArmClient
  imds: ImdsAzure
  batch: ResourceGraphBatch | undefined
}

/** The production stacks (deps.ts) on the injected clock: batched unless `batch` is false. */
function clients(batch: Partial<ResourceGraphBatchOptions> | false = {}): Clients {
  let b: ResourceGraphBatch | undefined
  const r = rest((h) => b?.observe(h))
  if (batch !== false)
    b = createResourceGraphBatch({
      rest: r,
      now,
      setTimer: nextTurnTimer,
      sleep: virtualSleep,
      ...batch,
    })
  const plain = createRestArmClient(r)
  const common = { now, sleep: virtualSleep, log: NOOP_LOGGER, refreshAhead: false }
  const msi = createResilientArm(b === undefined ? plain : batchedArmClient(plain, b), common)
  const reads = createCallGate({ ...common, cacheTtlMs: 60_000 })
  const imds = createImdsAzure({
    rest: r,
    reads: b === undefined ? reads : batchedGate(reads, b),
    lookups:
      b === undefined
        ? createCallGate({ ...common, cacheTtlMs: 600_000 })
        : batchedGate(createCallGate({ ...common, cacheTtlMs: 600_000 }), b),
  })
  return { msi, imds, batch: b }
}

function claimsOf(vm: Vm): MsiClaims {
  return {
    tenantId,
    principalId: vm.identity.system!.principalId,
    issuer: undefined,
    audience: [],
    expiry: undefined,
    notBefore: undefined,
    issuedAt: undefined,
    jwtId: undefined,
    version: '1.0',
    objectId: vm.identity.system!.principalId,
    clientId: undefined,
    identityType: undefined,
    delegated: false,
    identityResourceId: vm.systemIdentityResourceId,
    computeResourceId: undefined,
  }
}

const msiOf = (c: Clients, vm: Vm) =>
  resolveMsi({ arm: c.msi, claims: claimsOf(vm), subscriptionId: sub })
const imdsOf = (c: Clients, vm: Vm) =>
  resolveImds(c.imds, {
    subscriptionId: sub,
    vmId: vm.vmId,
    untrustedVmssName: vm.scaleSet?.name ?? null,
    untrustedResourceId: vm.id,
  })
/** An upstream agent: no resource ID hint, so the VM is looked up by vmId in Resource Graph. */
const imdsNoHintOf = (c: Clients, vm: Vm) =>
  resolveImds(c.imds, {
    subscriptionId: sub,
    vmId: vm.vmId,
    untrustedVmssName: vm.scaleSet?.name ?? null,
    untrustedResourceId: null,
  })
const ALL_TAGS = new Set(['role', 'tier'])
/** Every Azure request the emulator answered (ARM and Resource Graph; tokens are issued in-process). */
const azureRequests = () => emu.counters.get('arm.*') + emu.counters.get('entra.*')

describe('a lone attestation keeps the per-VM path', () => {
  test('one attestation: one VM GET and one NIC GET, no Resource Graph query', async () => {
    const c = clients()
    await msiOf(c, standalone[1]!)
    assert.equal(emu.counters.get('arm.vm.get'), 1)
    assert.equal(emu.counters.get('arm.nic.get'), 1)
    assert.equal(emu.counters.get('arm.resource-graph'), 0)
    assert.equal(c.batch!.stats.queries, 0)
  })

  test('a handful of concurrent attestations: the first, alone, reads from ARM; the others share one query', async () => {
    const c = clients()
    const vms = standalone.slice(1, 6)
    const facts = await Promise.all(vms.map((vm) => imdsOf(c, vm)))
    assert.deepEqual(
      facts.map((f) => f.name),
      vms.map((vm) => vm.name),
    )
    assert.equal(emu.counters.get('arm.vm.get'), 1, 'the first read found nothing in flight')
    assert.equal(emu.counters.get('arm.nic.get'), 1)
    assert.equal(emu.counters.get('arm.resource-graph'), 1, 'the other four came with one query')
    assert.equal(c.batch!.stats.batched, vms.length - 1)
  })

  test('a window holding a single read of its kind sends it to ARM (BATCH_MIN_VMS = 2)', async () => {
    const c = clients({ directWhenIdle: false })
    await imdsOf(c, standalone[7]!)
    assert.equal(emu.counters.get('arm.resource-graph'), 0)
    assert.equal(emu.counters.get('arm.vm.get'), 1)
    assert.equal(c.batch!.stats.direct, 1)
    assert.equal(BATCH_MIN_VMS, 2)
  })
})

describe('windows are paced to spread the quota over its reset period', () => {
  test('before any quota header a window is BATCH_WINDOW_MS; then the time to reset divided by the queries left, bounded', async () => {
    const asked: number[] = []
    const recording: ResourceGraphBatchOptions['setTimer'] = (fn, ms) => {
      asked.push(ms)
      return nextTurnTimer(fn, ms)
    }
    const c = clients({ directWhenIdle: false, setTimer: recording })
    await Promise.all(standalone.slice(10, 14).map((vm) => imdsOf(c, vm)))
    assert.deepEqual(asked, [BATCH_WINDOW_MS], 'no quota seen yet: the short window')
    // the first query left 14 of 15 and a reset 5 s ahead: the next window spreads what is left
    await Promise.all(standalone.slice(14, 18).map((vm) => imdsOf(c, vm)))
    assert.equal(asked.length, 2)
    assert.equal(Math.round(asked[1]!), Math.round(5_000 / 14))
    assert.equal(emu.counters.get('arm.resource-graph'), 2, 'one query per window')
    // a window never stretches beyond BATCH_MAX_WINDOW_MS, whatever the quota says
    const spent = clients({ directWhenIdle: false, setTimer: recording, maxWindowMs: 100 })
    spent.batch!.observe({
      'x-ms-user-quota-remaining': '1',
      'x-ms-user-quota-resets-after': '00:00:05',
    })
    await Promise.all(standalone.slice(20, 24).map((vm) => imdsOf(spent, vm)))
    await Promise.all(standalone.slice(24, 28).map((vm) => imdsOf(spent, vm)))
    assert.equal(asked.at(-1), 100)
    assert.ok(BATCH_MAX_WINDOW_MS >= 1_000 && BATCH_MAX_WINDOW_MS <= 5_000)
  })
})

describe('a fleet boot is read in batches', () => {
  test('200 concurrent cold attestations (azure_imds hints) cost <= 0.1 Azure requests each; warm ones none', async () => {
    const c = clients()
    const fleet = [...standalone, ...flexible, ...uniform]
    assert.equal(fleet.length, 200)
    const facts = await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
    assert.deepEqual(
      facts.map((f) => f.name),
      fleet.map((vm) => vm.name),
    )
    const cold = azureRequests()
    assert.ok(
      cold / fleet.length <= 0.1,
      `${cold} requests: ${JSON.stringify(emu.counters.snapshot())}`,
    )
    assert.ok(c.batch!.stats.batched >= fleet.length - 2, JSON.stringify(c.batch!.stats))
    assert.equal(c.batch!.stats.fallbacks, 0)
    await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
    assert.equal(azureRequests(), cold, 'warm attestations are served from the caches')
  })

  test('200 concurrent cold attestations (azure_msi tokens) cost <= 0.1 Azure requests each', async () => {
    const c = clients()
    const fleet = [...standalone, ...flexible, ...uniform]
    const resolved = await Promise.all(fleet.map((vm) => msiOf(c, vm)))
    assert.equal(resolved.filter((r) => r.kind === 'vmss').length, uniform.length)
    const cold = azureRequests()
    assert.ok(
      cold / fleet.length <= 0.1,
      `${cold} requests: ${JSON.stringify(emu.counters.snapshot())}`,
    )
    // the Uniform scale set is read once for all its instances, as before
    assert.equal(emu.counters.get('arm.vmss.get'), 1)
  })
})

describe('lookups by vmId (agents that send no resource ID hint)', () => {
  test('200 concurrent cold lookups are batched too: <= 0.1 Azure requests each', async () => {
    const c = clients()
    const fleet = [...standalone, ...flexible, ...uniform]
    const facts = await Promise.all(fleet.map((vm) => imdsNoHintOf(c, vm)))
    assert.deepEqual(
      facts.map((f) => [f.id.toLowerCase(), f.foundBy]),
      fleet.map((vm) => [vm.id.toLowerCase(), 'resource-graph']),
    )
    const cold = azureRequests()
    assert.ok(
      cold / fleet.length <= 0.1,
      `${cold} requests: ${JSON.stringify(emu.counters.snapshot())}`,
    )
  })

  test('the same facts and selectors as per-VM lookups, and the same refusal for a VM Resource Graph lacks', async () => {
    const vms = [...standalone.slice(0, 10), ...flexible.slice(0, 10), ...uniform.slice(0, 10)]
    // an hour: the per-VM run spends Resource Graph's quota and waits out 429s on the clock
    emu.resourceGraph.setLag(3_600)
    emu.resourceGraph.created(standalone[5]!.key, new Date(clock.t))
    // the id found by vmId is Resource Graph's (its resource group lower-cased): ARM's casing comes
    // back only from a per-VM GET, so ids compare case-insensitively; selectors never use the id
    const settle = (ps: Promise<Awaited<ReturnType<typeof imdsNoHintOf>>>[]) =>
      Promise.allSettled(ps).then((rs) =>
        rs.map((r) =>
          r.status === 'fulfilled'
            ? { ...r.value, id: r.value.id.toLowerCase() }
            : (r.reason as Error).message,
        ),
      )
    const perVm = clients(false)
    // one at a time: 30 concurrent per-VM lookups would overrun Resource Graph's quota
    const expected = []
    for (const vm of vms) expected.push(...(await settle([imdsNoHintOf(perVm, vm)])))
    const batched = clients({ directWhenIdle: false, minBatch: 1 })
    const got = await settle(vms.map((vm) => imdsNoHintOf(batched, vm)))
    assert.deepEqual(got, expected)
    assert.equal(got[5], 'resource not found')
    assert.equal(got.filter((g) => typeof g === 'string').length, 1)
  })
})

describe('selectors are the same on both paths', () => {
  const forced = { directWhenIdle: false, minBatch: 1 }

  test('azure_imds: standalone, Flexible and Uniform VMs', async () => {
    const vms = [...standalone.slice(0, 12), ...flexible.slice(0, 12), ...uniform.slice(0, 12)]
    const perVm = clients(false)
    const expected: Awaited<ReturnType<typeof imdsOf>>[] = []
    for (const vm of vms) expected.push(await imdsOf(perVm, vm))
    emu.counters.reset()
    const batched = clients(forced)
    const got = await Promise.all(vms.map((vm) => imdsOf(batched, vm)))
    assert.equal(emu.counters.get('arm.vm.get') + emu.counters.get('arm.vmss-vm.get'), 0)
    assert.equal(emu.counters.get('arm.nic.get'), 0)
    assert.equal(batched.batch!.stats.batched, vms.length)
    assert.deepEqual(got, expected)
    const facts = (vm: Vm) => ({ tenantId, vmId: vm.vmId }) as Parameters<typeof imdsSelectors>[3]
    vms.forEach((vm, i) =>
      assert.deepEqual(
        imdsSelectors(sub, got[i]!, ALL_TAGS, facts(vm)),
        imdsSelectors(sub, expected[i]!, ALL_TAGS, facts(vm)),
      ),
    )
  })

  test('azure_msi: standalone (one and two NICs) and Flexible VMs, Uniform scale sets', async () => {
    const vms = [...standalone.slice(0, 12), ...flexible.slice(0, 12), uniform[0]!]
    const perVm = clients(false)
    const expected: Awaited<ReturnType<typeof msiOf>>[] = []
    for (const vm of vms) expected.push(await msiOf(perVm, vm))
    emu.counters.reset()
    const batched = clients(forced)
    const got = await Promise.all(vms.map((vm) => msiOf(batched, vm)))
    assert.equal(emu.counters.get('arm.vm.get'), 0)
    assert.equal(emu.counters.get('arm.nic.get'), 0)
    assert.deepEqual(got, expected)
    assert.equal(expected[0]!.resourceGroup, 'Fleet', "ARM's casing, on both paths")
    const identity = (vm: Vm) =>
      ({ tenantId, principalId: vm.identity.system!.principalId }) as Parameters<
        typeof msiSelectors
      >[2]
    vms.forEach((vm, i) =>
      assert.deepEqual(
        msiSelectors(got[i]!, ALL_TAGS, identity(vm)),
        msiSelectors(expected[i]!, ALL_TAGS, identity(vm)),
      ),
    )
  })
})

describe('Resource Graph lags ARM', () => {
  test('VMs created less than the lag ago fall back to ARM GETs, and all attest', async () => {
    emu.resourceGraph.setLag(60)
    const created = new Date(clock.t - 30_000)
    const fresh = new Set([...standalone.slice(0, 30), ...flexible.slice(0, 20)].map((v) => v.id))
    emu.resourceGraph.setCreatedAt((id) => (fresh.has(id) ? created : undefined))
    const c = clients()
    const fleet = [...standalone, ...flexible]
    const facts = await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
    assert.equal(facts.length, fleet.length)
    const s = c.batch!.stats
    // the first read went straight to ARM; every fresh VM the query did not return was read by GET
    assert.equal(s.batched + s.fallbacks + s.direct, fleet.length)
    assert.ok(s.fallbacks >= fresh.size - 1 && s.fallbacks <= fresh.size, JSON.stringify(s))
    assert.equal(emu.counters.get('arm.vm.get'), s.fallbacks + s.direct)
    assert.ok(emu.counters.get('arm.resource-graph') <= 2)
  })

  test('once the lag has passed, Resource Graph returns them', async () => {
    emu.resourceGraph.setLag(60)
    emu.resourceGraph.created(standalone[3]!.key, new Date(clock.t))
    const q = (r: ArmRest) =>
      queryResourceGraph(r, { subscriptions: [sub], query: vmBatchQuery([standalone[3]!.id]) })
    assert.equal((await q(rest())).length, 0)
    clock.t += 60_000
    const rows = await q(rest())
    assert.deepEqual(rows.map((r) => r['type']).sort(), [
      'microsoft.compute/virtualmachines',
      'microsoft.network/networkinterfaces',
    ])
  })
})

describe("Resource Graph's quota", () => {
  /** Spends the principal's 15 queries of this window, unseen by any batch. */
  async function exhaustQuota(): Promise<void> {
    const r = rest()
    for (let i = 0; i < 15; i++)
      await queryResourceGraph(r, {
        subscriptions: [sub],
        query: scaleSetVmBatchQuery([uniform[0]!.id]),
      })
    emu.counters.reset()
  }

  test('a 429 is waited out for its Retry-After (never retried early), then the batch is answered', async () => {
    await exhaustQuota()
    const c = clients()
    const fleet = [...standalone, ...flexible]
    await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
    const s = c.batch!.stats
    assert.equal(s.throttled, 1)
    assert.deepEqual(s.waits, [5_000])
    // one 429, then the query that succeeded: an early retry would have been a second 429
    assert.equal(emu.counters.get('arm.resource-graph'), 2)
    assert.equal(s.fallbacks, 0)
  })

  test('x-ms-user-quota-remaining: 0 stops queries until the window resets, with no 429', async () => {
    const c = clients()
    const r = rest((h) => c.batch!.observe(h))
    for (let i = 0; i < 15; i++)
      await queryResourceGraph(r, {
        subscriptions: [sub],
        query: scaleSetVmBatchQuery([uniform[0]!.id]),
      })
    emu.counters.reset()
    await Promise.all([...standalone, ...flexible].map((vm) => imdsOf(c, vm)))
    assert.equal(c.batch!.stats.throttled, 0)
    assert.equal(c.batch!.stats.waits.length, 1)
    assert.equal(emu.counters.get('arm.resource-graph'), 1)
  })

  test('Resource Graph answering 429 again and again: waits each Retry-After, then falls back; never early', async () => {
    emu.faults.set('arm.resource-graph', { kind: 'throttle', retryAfterS: 2 })
    try {
      const c = clients()
      const fleet = standalone.slice(0, 30)
      const facts = await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
      assert.equal(facts.length, fleet.length)
      const s = c.batch!.stats
      assert.equal(s.throttled, 3)
      assert.deepEqual(s.waits, [2_000, 2_000])
      assert.equal(emu.counters.get('arm.resource-graph'), 3)
      assert.equal(s.fallbacks, fleet.length - s.direct)
      assert.deepEqual(emu.faults.earlyRetries, [])
    } finally {
      emu.faults.clear()
    }
  })

  test('a wait beyond maxWaitMs falls back to per-VM ARM reads: all attest', async () => {
    await exhaustQuota()
    const c = clients({ maxWaitMs: 1_000 })
    const fleet = standalone.slice(0, 30)
    const facts = await Promise.all(fleet.map((vm) => imdsOf(c, vm)))
    assert.equal(facts.length, fleet.length)
    const s = c.batch!.stats
    assert.equal(s.throttled, 1)
    assert.deepEqual(s.waits, [])
    assert.equal(s.fallbacks, fleet.length - s.direct)
    assert.equal(emu.counters.get('arm.vm.get'), fleet.length)
  })
})
