// azure_msi's production dependencies (deps.ts: the REST transport, the Resource Graph batch and the
// call gate) attesting a booting fleet in process against the emulator with Azure's limits on. The
// first VM GET to reach ARM is held by the emulator until every other attestation has finished, so
// the others find a read in flight and are batched.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import { createAttestor } from '../../../server-plugin/azure-msi/attestor.js'
import { buildConfig } from '../../../server-plugin/azure-msi/config.js'
import { createDefaultDeps } from '../../../server-plugin/azure-msi/deps.js'
import {
  NOOP_LOGGER,
  NOOP_METRICS,
  Report,
  type AgentAttributes,
  type AttestIo,
} from '../../../shared/plugin/index.js'
import { startEmulator, type Emulator, type WorldSpec } from '../../azure-emulator/index.js'
import { serverHclFor } from '../../support/azure-msi-plugins.js'

const WORLD: WorldSpec = {
  seed: 'msi-batched-reads',
  tenants: [
    {
      name: 'contoso',
      apps: [{ name: 'spire-server', secret: 'spire-server-secret' }],
      subscriptions: [
        {
          name: 'prod',
          resourceGroups: [
            {
              name: 'fleet',
              networkSecurityGroups: [{ name: 'web' }],
              virtualNetworks: [
                {
                  name: 'vnet',
                  subnets: [{ name: 'default', networkSecurityGroup: 'web' }],
                },
              ],
              virtualMachines: Array.from({ length: 40 }, (_, i) => ({
                name: `vm-${i}`,
                identity: { systemAssigned: true },
              })),
              scaleSets: [
                {
                  name: 'flex',
                  orchestrationMode: 'Flexible',
                  capacity: 40,
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'default' },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
}

/** An emulator latency of HOLD_MS is held until released. */
const HOLD_MS = 3_600_000
let release: () => void = () => {}
const held = new Promise<void>((r) => (release = r))
let emu: Emulator

before(async () => {
  emu = await startEmulator({
    world: WORLD,
    throttling: true,
    sleep: (ms) => (ms === HOLD_MS ? held : Promise.resolve()),
  })
})
after(async () => {
  release()
  assert.deepEqual(emu.errors, [])
  await emu.stop()
})

const io = (): AttestIo => ({
  challenge: () => Promise.reject(new Error('azure_msi never challenges')),
  signal: new AbortController().signal,
  metadata: {},
})

test('80 VMs booting at once: one held per-VM read, the rest batched into Resource Graph queries (≤ 0.1 Azure requests per attestation)', async () => {
  const report = new Report()
  const cfg = buildConfig(
    serverHclFor(emu, [{ tenant: 'contoso' }]),
    { trustDomain: 'example.org' },
    report,
  )
  assert.ok(cfg, report.notes.join('\n'))
  const deps = createDefaultDeps({
    log: NOOP_LOGGER,
    metrics: NOOP_METRICS,
    agentStore: { isAttested: async () => false },
    hostServices: [],
  })
  const attestor = createAttestor(deps)
  const rg = emu.world.subscription('prod').resourceGroups[0]!
  const vms = [...rg.virtualMachines, ...rg.scaleSets[0]!.instances()]
  const tokens = await Promise.all(
    vms.map(async (vm) => (await emu.tokens.issueMsiToken({ vm: vm.key })).token),
  )
  const attest = (token: string): Promise<AgentAttributes> =>
    attestor.attest(encodeMsiPayload(token), cfg, io())

  // warm the signing keys with an attestation whose reads the counters then forget
  await attest(tokens[0]!)
  emu.counters.reset()
  emu.faults.set('arm.vm.get', { kind: 'latency', ms: HOLD_MS }, { times: 1 })
  // whichever attestation reaches ARM first is the one held (the others' token checks may overtake
  // it), so the hold is released once every attestation but one has finished
  const booting = tokens.slice(1)
  let finished = 0
  const all = await Promise.all(
    booting.map((token) =>
      attest(token).finally(() => {
        if (++finished === booting.length - 1) release()
      }),
    ),
  )
  assert.deepEqual(
    all.map((a) => a.selectorValues.find((v) => v.startsWith('vm-name:'))),
    vms.slice(1).map((vm) => `vm-name:fleet:${vm.name}`),
  )
  // Exact counts would depend on timing: a batch window (25 ms, a real timer) that catches a single
  // read on a loaded machine sends it to ARM (a VM and a NIC GET), and the gate's real 15 s attempt
  // timer may retry the held read. What does not: the fleet was batched, and it cost at most 0.1
  // Azure requests per attestation instead of 2 (a VM and a NIC GET each).
  const counts = JSON.stringify(emu.counters.snapshot())
  const gets = emu.counters.get('arm.vm.get')
  const nics = emu.counters.get('arm.nic.get')
  const graph = emu.counters.get('arm.resource-graph')
  assert.ok(gets >= 1, counts) // the held read
  assert.ok(nics <= gets, counts) // only VMs read from ARM had their NIC read from ARM
  assert.ok(graph >= 1, counts)
  assert.ok(gets + nics + graph <= booting.length / 10, counts)
})
