// Fault matrix, azure_msi server through the host launcher (issue 14 item 3): the bundled plugin
// process, driven as SPIRE drives it, while Configure races attestations, a bad config is pushed,
// and the AgentStore host service fails. ARM reads are held open by the emulator (an injected
// latency the test releases), so "in flight" is a state the test sets, not a race it hopes for.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { status as GrpcStatus } from '@grpc/grpc-js'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import {
  serverAttest,
  type PluginProcess,
  type RecordingMetrics,
} from '../../../shared/host/index.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import { refused } from '../../support/azure-msi-harness.js'
import { loadMsi, serverHclFor } from '../../support/azure-msi-plugins.js'

/** An injected latency of HOLD_MS holds the request until the test releases it. */
const HOLD_MS = 3_600_000
let holding = { entered: 0, release: () => {}, gate: Promise.resolve() }
function holdRequests(): void {
  let release = (): void => {}
  const gate = new Promise<void>((r) => (release = r))
  holding = { entered: 0, release, gate }
}

let emu: Emulator
const open: PluginProcess[] = []
before(async () => {
  emu = await startEmulator({
    sleep: (ms) => {
      if (ms !== HOLD_MS) return new Promise((r) => setTimeout(r, ms).unref())
      holding.entered++
      return holding.gate
    },
  })
})
after(async () => {
  holding.release()
  await Promise.all(open.map((p) => p.close().catch(() => {})))
  assert.deepEqual(emu.errors, [], 'the emulator answered no request with an unexpected error')
  await emu.stop()
})
beforeEach(() => emu.faults.clear())

/** Waits (event loop turns, no clock in any assertion) until `cond` holds; a hang guard bounds it. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3_000; i++) {
    if (cond()) return
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error(`never happened: ${what}`)
}

const tid = (): string => emu.world.tenant('contoso').tenantId
const principal = (vm: string): string => emu.world.vm(vm).identity.system!.principalId

/** Config X: upstream's agent path, the environment tag as a selector. */
const X = (): string =>
  serverHclFor(emu, [{ tenant: 'contoso' }], 'allowed_vm_tags = ["environment"]')
/** Config Y: another agent path, no tag selectors. */
const Y = (): string =>
  serverHclFor(
    emu,
    [{ tenant: 'contoso' }],
    'agent_path_template = "/{{ .PluginName }}/y/{{ .TenantID }}/{{ .PrincipalID }}"',
  )
const idX = (vm: string): string =>
  `spiffe://example.org/spire/agent/azure_msi/${tid()}/${principal(vm)}`
const idY = (vm: string): string =>
  `spiffe://example.org/spire/agent/azure_msi/y/${tid()}/${principal(vm)}`

/** The `azure_msi.attest` counter for a result (and reason), summed over what the plugin sent. */
function attestCount(m: RecordingMetrics, result: string, reason?: string): number {
  return m
    .find('IncrCounter', 'azure_msi.attest')
    .filter(
      (c) =>
        c.labels['result'] === result && (reason === undefined || c.labels['reason'] === reason),
    )
    .reduce((n, c) => n + Number(c.value), 0)
}

async function attestVm(server: PluginProcess, vm: string) {
  const { token } = await emu.tokens.issueMsiToken({ vm })
  return serverAttest(server, encodeMsiPayload(token))
}

describe('fault matrix: Configure (azure_msi server, host launcher)', { timeout: 120_000 }, () => {
  test('Configure racing attestations: each in-flight attestation keeps the config it started with', async () => {
    const server = await loadMsi('server', X())
    open.push(server)
    await attestVm(server, 'frontend/worker') // credential and key set warm; blog's VM not cached
    holdRequests()
    emu.faults.set('arm.vm.get', { kind: 'latency', ms: HOLD_MS })
    // six attestations of the same VM, a Configure (alternately X and Y) before each; each is in
    // flight (past its AgentStore lookup, waiting on the one held ARM read) before the next Configure
    const configs = [X, Y, X, Y, X, Y]
    const started: Promise<Awaited<ReturnType<typeof attestVm>>>[] = []
    for (const [i, cfg] of configs.entries()) {
      await server.configure(cfg())
      const calls = server.agentStore.calls.length
      started.push(attestVm(server, 'frontend/blog'))
      await until(() => server.agentStore.calls.length > calls, `attestation ${i} in flight`)
    }
    await until(() => holding.entered >= 1, 'the ARM read held')
    // the six share one ARM read (coalesced), so one result, read under alternating configs
    assert.equal(holding.entered, 1)
    holding.release()
    emu.faults.clear()
    const results = await Promise.all(started)
    for (const [i, r] of results.entries()) {
      if (configs[i] === X) {
        assert.equal(r.spiffeId, idX('frontend/blog'), `attestation ${i}`)
        assert.ok(r.selectorValues.includes('vm-tag:environment:production'), `attestation ${i}`)
      } else {
        assert.equal(r.spiffeId, idY('frontend/blog'), `attestation ${i}`)
        assert.ok(!r.selectorValues.some((s) => s.startsWith('vm-tag:')), `attestation ${i}`)
      }
    }
    // the AgentStore lookups were made with each attestation's own agent ID, too
    assert.deepEqual(
      server.agentStore.calls.slice(-6),
      configs.map((c) => (c === X ? idX('frontend/blog') : idY('frontend/blog'))),
    )
  })

  test('bad config reload: Configure with invalid plugin_data is refused (InvalidArgument) and the old config keeps working', async () => {
    const server = await loadMsi('server', Y())
    open.push(server)
    const before = await attestVm(server, 'frontend/blog')
    assert.equal(before.spiffeId, idY('frontend/blog'))
    const bad = [
      ['not HCL', 'tenants = {'],
      ['no tenants', 'tenants = {}'],
      ['bad template', `${X()}\nagent_path_template = "/{{ .Nope "`],
      ['bad duration', `${X()}\njwks_cache_ttl = "forever"`],
    ] as const
    for (const [what, hcl] of bad) {
      await assert.rejects(server.configure(hcl), refused('InvalidArgument', /./), what)
      // still config Y: same agent path, no tag selectors
      const r = await attestVm(server, 'frontend/blog')
      assert.equal(r.spiffeId, idY('frontend/blog'), what)
      assert.ok(!r.selectorValues.some((s) => s.startsWith('vm-tag:')), what)
    }
    // a good Configure still takes effect afterwards
    await server.configure(X())
    assert.equal((await attestVm(server, 'frontend/blog')).spiffeId, idX('frontend/blog'))
    // every attestation was counted ok (counters are summed per series and sent once a second)
    await server.metrics.until((m) => attestCount(m, 'ok') === 1 + bad.length + 1)
  })
})

describe('fault matrix: AgentStore (azure_msi server, host launcher)', { timeout: 60_000 }, () => {
  test('AgentStore errors through the host: refused with the host code (fails closed), counted agent_store_failed, no ARM read', async () => {
    const server = await loadMsi('server', X())
    open.push(server)
    await attestVm(server, 'frontend/blog')
    const arm = emu.counters.get('arm.*')
    server.agentStore.failWith = { code: GrpcStatus.UNAVAILABLE, details: 'datastore down' }
    try {
      await assert.rejects(
        attestVm(server, 'frontend/worker'),
        refused('Unavailable', 'unable to get agent info: datastore down'),
      )
    } finally {
      server.agentStore.failWith = undefined
    }
    assert.equal(emu.counters.get('arm.*'), arm, 'refused before any ARM read')
    await server.metrics.until((m) => attestCount(m, 'refused', 'agent_store_failed') === 1)
    // recovery: the host answers again
    const r = await attestVm(server, 'frontend/worker')
    assert.equal(r.spiffeId, idX('frontend/worker'))
  })
})
