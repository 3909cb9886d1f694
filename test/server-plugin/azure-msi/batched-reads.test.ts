// azure_msi's production dependencies (deps.ts: the REST transport, the Resource Graph batch and the
// call gate) attesting a booting fleet in process against the emulator with Azure's limits on. The
// first attestation's VM GET is held by the emulator until every other attestation has finished, so
// the others are batched whatever the machine's speed: the counts below do not depend on timing
// (but for one retry of the held read, should the gate's real 15 s attempt timer give up on it).
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

test('80 VMs booting at once: one held per-VM read, the other 79 batched into Resource Graph queries', async () => {
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
  const first = attest(tokens[1]!)
  const others = await Promise.all(tokens.slice(2).map(attest))
  release()
  const all = [await first, ...others]
  assert.deepEqual(
    all.map((a) => a.selectorValues.find((v) => v.startsWith('vm-name:'))),
    vms.slice(1).map((vm) => `vm-name:fleet:${vm.name}`),
  )
  // the held read, plus its retry if the gate's 15 s attempt timer gave up on it on a loaded machine
  const gets = emu.counters.get('arm.vm.get')
  assert.ok(gets === 1 || gets === 2, JSON.stringify(emu.counters.snapshot()))
  assert.equal(emu.counters.get('arm.nic.get'), 1, JSON.stringify(emu.counters.snapshot()))
  const graph = emu.counters.get('arm.resource-graph')
  assert.ok(graph >= 1 && graph <= 10, JSON.stringify(emu.counters.snapshot()))
})
