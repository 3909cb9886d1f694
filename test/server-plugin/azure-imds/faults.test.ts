// Fault matrix, azure_imds server through the host launcher (issue 14 item 3): the bundled server
// and agent plugins against the emulator when Resource Manager fails with 5xx and when the
// AgentStore host service fails. (The ARM retry and Retry-After policy is the call gate azure_msi
// uses too; its time bounds are checked on an injected clock in test/server-plugin/azure-msi/faults.test.ts.)
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { status as GrpcStatus } from '@grpc/grpc-js'
import {
  attestAgentToServer,
  HostCallError,
  type PluginProcess,
} from '../../../shared/host/index.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import {
  agentHcl,
  loadImdsAgent,
  loadImdsServer,
  serverHcl,
  tenantHcl,
} from '../../support/azure-imds-plugins.js'

let emu: Emulator
let server: PluginProcess
const open: PluginProcess[] = []
before(async () => {
  emu = await startEmulator()
  server = await loadImdsServer(serverHcl(emu, tenantHcl(emu, 'contoso')))
  open.push(server)
})
after(async () => {
  await Promise.all(open.map((p) => p.close().catch(() => {})))
  assert.deepEqual(emu.errors, [], 'the emulator answered no request with an unexpected error')
  await emu.stop()
})
beforeEach(() => emu.faults.clear())

async function attest(vm: string) {
  const agent = await loadImdsAgent(agentHcl(emu, vm))
  try {
    return await attestAgentToServer(agent, server)
  } finally {
    await agent.close()
  }
}

const refused = (code: string, message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof HostCallError, String(err))
  assert.equal(err.code, code, err.message)
  assert.match(err.details, message)
  return true
}

/** Refusals counted with this reason (counters are summed per series and sent once a second). */
const refusals = (reason: string): number =>
  server.metrics
    .find('IncrCounter', 'azure_imds.attest')
    .filter((c) => c.labels['result'] === 'refused' && c.labels['reason'] === reason)
    .reduce((n, c) => n + Number(c.value), 0)

describe(
  'fault matrix: Resource Manager and AgentStore (azure_imds server, host launcher)',
  { timeout: 120_000 },
  () => {
    // Unavailable, not upstream's Internal: a deliberate change (shared/azure/transient.ts) so the
    // agent retries and an operator reads "try again"; the message and reason are unchanged
    test('ARM 5xx: bounded retries (4 requests), refused Unavailable arm_failed, recovery with no negative cache', async () => {
      await attest('frontend/worker') // credential, subscription and tenant reads warm
      emu.faults.set('arm.vm.get', { kind: 'status', status: 500 })
      const before = emu.counters.get('arm.vm.get')
      await assert.rejects(
        attest('frontend/blog'),
        refused('Unavailable', /^unable to get virtual machine: 500 /),
      )
      assert.equal(emu.counters.get('arm.vm.get') - before, 4)
      await server.metrics.until(() => refusals('arm_failed') === 1)
      emu.faults.clear()
      const after = emu.counters.get('arm.vm.get')
      const attrs = await attest('frontend/blog')
      assert.ok(attrs.selectorValues.includes('vm-name:blog'), attrs.selectorValues.join())
      assert.equal(emu.counters.get('arm.vm.get') - after, 1)
    })

    test('permanent ARM failures stay Internal arm_failed: 403 (one request) and a malformed response', async () => {
      await attest('frontend/worker')
      // VMs no other test reads (a VM read is cached for 60 s)
      const counted = refusals('arm_failed')
      emu.faults.set('arm.vm.get', { kind: 'status', status: 403 })
      let before = emu.counters.get('arm.vm.get')
      await assert.rejects(
        attest('frontend/multi'),
        refused('Internal', /^unable to get virtual machine: 403 /),
      )
      assert.equal(emu.counters.get('arm.vm.get') - before, 1, 'a 403 is not retried')
      // a 200 that is no VM: malformed, Internal (the gate retries it like a transport failure)
      emu.faults.set('arm.vm.get', { kind: 'status', status: 200, body: { name: 'blog' } })
      before = emu.counters.get('arm.vm.get')
      await assert.rejects(
        attest('frontend/plain'),
        refused('Internal', /^unable to get virtual machine: virtual machine response has no id$/),
      )
      await server.metrics.until(() => refusals('arm_failed') === counted + 2)
      emu.faults.clear()
      await attest('frontend/multi')
      await attest('frontend/plain')
    })

    test('tenant lookup: Entra 503 refused Unavailable, 400 Internal (tenant_lookup_failed), recovery after', async () => {
      // a server of its own: the tenant is keyed by domain and the lookup's result is kept for
      // the life of the process once it succeeds
      const fresh = await loadImdsServer(serverHcl(emu, tenantHcl(emu, 'contoso')))
      open.push(fresh)
      const attestTo = async (vm: string) => {
        const agent = await loadImdsAgent(agentHcl(emu, vm))
        try {
          return await attestAgentToServer(agent, fresh)
        } finally {
          await agent.close()
        }
      }
      // Unavailable, not upstream's Internal: a deliberate change (shared/azure/transient.ts)
      emu.faults.set('entra.openid-v1', { kind: 'status', status: 503 })
      await assert.rejects(
        attestTo('frontend/blog'),
        refused(
          'Unavailable',
          /^unable to lookup tenant ID: failed to fetch tenant ID, status: 503$/,
        ),
      )
      emu.faults.set('entra.openid-v1', { kind: 'status', status: 400 })
      await assert.rejects(
        attestTo('frontend/blog'),
        refused('Internal', /^unable to lookup tenant ID: failed to fetch tenant ID, status: 400$/),
      )
      emu.faults.clear()
      const attrs = await attestTo('frontend/blog')
      assert.ok(attrs.selectorValues.includes('vm-name:blog'), attrs.selectorValues.join())
    })

    test('AgentStore errors: refused with the host code, counted agent_store_failed (fails closed), no VM read; recovery after', async () => {
      await attest('frontend/worker')
      const vmReads = emu.counters.get('arm.vm.get') + emu.counters.get('arm.resource-graph')
      server.agentStore.failWith = { code: GrpcStatus.UNAVAILABLE, details: 'datastore down' }
      try {
        await assert.rejects(
          attest('frontend/blog'),
          refused('Unavailable', /^unable to get agent info: datastore down$/),
        )
      } finally {
        server.agentStore.failWith = undefined
      }
      assert.equal(
        emu.counters.get('arm.vm.get') + emu.counters.get('arm.resource-graph'),
        vmReads,
        'refused before the VM is read',
      )
      await server.metrics.until(() => refusals('agent_store_failed') === 1)
      await attest('frontend/blog')
    })
  },
)
