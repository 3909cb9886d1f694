import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArmError } from '../../../shared/azure/arm.js'
import { createResilientArm } from '../../../shared/azure/arm-resilient.js'
import { fromSdkError, type ArmRest } from '../../../shared/azure/arm-rest.js'
import { createRestArmClient } from '../../../shared/azure/arm-rest-reads.js'
import { isGuid, parseArmId, parseArmIdOf, sameArmId } from '../../../shared/azure/resource-id.js'
import { FakeArm, SUBSCRIPTION_ID, vmId } from '../../support/azure-fakes.js'
import { QUIET_LOGGER, recordingLogger } from '../../support/loggers.js'

function clock() {
  let t = 0
  const sleeps: number[] = []
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms)
      t += ms
    },
  }
}

describe('createResilientArm', () => {
  test('identical concurrent reads share one request; results are cached for the TTL', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'vm' })
    const c = clock()
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const slow = Object.create(fake) as FakeArm
    slow.getVirtualMachine = async (...a) => {
      await gate
      return fake.getVirtualMachine(...a)
    }
    const arm = createResilientArm(slow, {
      now: c.now,
      sleep: c.sleep,
      log: QUIET_LOGGER,
      cacheTtlMs: 1_000,
    })
    const reads = Promise.all(
      Array.from({ length: 25 }, () => arm.getVirtualMachine(SUBSCRIPTION_ID, 'RG', 'VM')),
    )
    release()
    await reads
    await arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'vm')
    assert.equal(fake.calls.length, 1, 'one ARM call for 26 reads (case-insensitive key)')
  })

  test('refresh-ahead: past ~80 % of the TTL a read is served from cache while ONE background read runs', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'vm' })
    const c = clock()
    let hang = false
    const upstream = Object.create(fake) as FakeArm
    upstream.getVirtualMachine = (...a) => {
      if (!hang) return fake.getVirtualMachine(...a)
      fake.calls.push('never answered')
      return new Promise(() => {})
    }
    // random 0.5: the refresh point is exactly 0.8 × 60 s
    const arm = createResilientArm(upstream, {
      now: c.now,
      sleep: c.sleep,
      log: QUIET_LOGGER,
      random: () => 0.5,
    })
    const read = () => arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'vm')
    await read()
    c.advance(47_999)
    await read()
    assert.equal(fake.calls.length, 1)
    // ARM stops answering: every read before the hard expiry is still served at once
    hang = true
    c.advance(1)
    const vms = await Promise.all(Array.from({ length: 25 }, read))
    assert.ok(vms.every((vm) => vm.name === 'vm'))
    c.advance(11_999)
    assert.equal((await read()).name, 'vm')
    assert.equal(fake.calls.length, 2, 'one background read for 26 reads')
    // only a read past the hard expiry waits, and it joins the read under way
    c.advance(1)
    let settled = false
    void read().finally(() => (settled = true))
    await new Promise((r) => setImmediate(r))
    assert.equal(settled, false)
    assert.equal(fake.calls.length, 2)
  })

  test('refresh-ahead: a failed background read keeps the cached VM until the TTL and is logged once', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'vm' })
    const c = clock()
    const log = recordingLogger()
    let down = false
    const upstream = Object.create(fake) as FakeArm
    upstream.getVirtualMachine = async (...a) => {
      if (down) {
        fake.calls.push('failed')
        throw new ArmError('403 AuthorizationFailed: x', { status: 403 })
      }
      return fake.getVirtualMachine(...a)
    }
    const arm = createResilientArm(upstream, {
      now: c.now,
      sleep: c.sleep,
      log,
      random: () => 0.5,
    })
    const read = () => arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'vm')
    await read()
    down = true
    c.advance(48_000)
    for (let i = 0; i < 20; i++) assert.equal((await read()).name, 'vm')
    await new Promise((r) => setImmediate(r))
    for (let i = 0; i < 20; i++) assert.equal((await read()).name, 'vm')
    assert.equal(fake.calls.length, 2)
    assert.deepEqual(
      log.lines.filter((l) => l.level === 'warn').map((l) => [l.message, l.fields['operation']]),
      [['Background refresh of a cached Azure read failed', 'vm']],
    )
    // past the hard expiry the failure is the reader's
    c.advance(12_000)
    await assert.rejects(read(), { status: 403 })
  })

  test('transient failures are retried with backoff; 404 is not', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'vm' })
    let failures = 2
    const flaky = Object.create(fake) as FakeArm
    flaky.getVirtualMachine = async (...a) => {
      if (failures-- > 0) throw new ArmError('500 InternalServerError: x', { status: 500 })
      return fake.getVirtualMachine(...a)
    }
    const c = clock()
    const arm = createResilientArm(flaky, {
      now: c.now,
      sleep: c.sleep,
      log: QUIET_LOGGER,
      random: () => 0.5,
    })
    await arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'vm')
    assert.deepEqual(c.sleeps, [500, 1000])
    await assert.rejects(arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'missing'), { status: 404 })
    assert.equal(fake.calls.filter((x) => x.includes('missing')).length, 1)
  })

  test('429 with Retry-After: the wait is honoured and holds back other calls of the client', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'a' })
    fake.addVm({ rg: 'rg', name: 'b' })
    let throttled = true
    const c = clock()
    const starts: number[] = []
    const inner = Object.create(fake) as FakeArm
    inner.getVirtualMachine = async (...a) => {
      starts.push(c.now())
      if (throttled) {
        throttled = false
        throw new ArmError('429 TooManyRequests', { status: 429, retryAfterMs: 3_000 })
      }
      return fake.getVirtualMachine(...a)
    }
    const arm = createResilientArm(inner, { now: c.now, sleep: c.sleep, log: QUIET_LOGGER })
    await arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'a')
    assert.deepEqual(starts, [0, 3_000])
  })

  test('a 429 storm fails fast once Retry-After exceeds the budget, without calling ARM', async () => {
    const fake = new FakeArm()
    fake.addVm({ rg: 'rg', name: 'a' })
    const c = clock()
    let armCalls = 0
    const inner = Object.create(fake) as FakeArm
    inner.getVirtualMachine = async () => {
      armCalls++
      throw new ArmError('429 TooManyRequests', { status: 429, retryAfterMs: 120_000 })
    }
    const arm = createResilientArm(inner, {
      now: c.now,
      sleep: c.sleep,
      log: QUIET_LOGGER,
      budgetMs: 30_000,
    })
    await assert.rejects(arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'a'), { status: 429 })
    assert.equal(armCalls, 1)
    for (let i = 0; i < 20; i++) {
      await assert.rejects(
        arm.getVirtualMachine(SUBSCRIPTION_ID, 'rg', `x${i}`),
        /throttled by ARM: retry after \d+s/,
      )
    }
    assert.equal(armCalls, 1, 'held back by the gate')
    assert.deepEqual(c.sleeps, [])
  })

  test('every operation goes through the wrapper', async () => {
    const fake = new FakeArm()
    const ss = fake.addScaleSet({ rg: 'rg', name: 'ss' })
    fake.addScaleSetVm(ss, '0')
    fake.addVm({
      rg: 'rg',
      name: 'vm',
      principalId: '11111111-1111-1111-1111-111111111111',
      nics: [{ name: 'n' }],
    })
    const c = clock()
    const arm = createResilientArm(fake, { now: c.now, sleep: c.sleep, log: QUIET_LOGGER })
    assert.equal((await arm.getScaleSet(SUBSCRIPTION_ID, 'rg', 'ss')).name, 'ss')
    assert.equal((await arm.getScaleSetVm(SUBSCRIPTION_ID, 'rg', 'ss', '0')).name, 'ss_0')
    assert.equal((await arm.getNetworkInterface(SUBSCRIPTION_ID, 'rg', 'n')).subnetIds.length, 0)
    assert.deepEqual(
      await arm.listVirtualMachinesByPrincipal(
        SUBSCRIPTION_ID,
        '11111111-1111-1111-1111-111111111111',
      ),
      [vmId('rg', 'vm')],
    )
  })
})

/** An ArmRest answering every GET with `body` (ARM's REST JSON: resource properties nested). */
const restReturning = (body: unknown): ArmRest => ({
  get: async () => body,
  getNextLink: async () => body,
  post: async () => body,
})

describe('ARM REST model conversion', () => {
  test('VM: identity (system + user-assigned), NIC ids (nil skipped), Flexible scale set', async () => {
    const vm = await createRestArmClient(
      restReturning({
        id: vmId('rg', 'web_1'),
        name: 'web_1',
        location: 'eastus',
        tags: { env: 'prod' },
        identity: {
          principalId: 'p',
          type: 'SystemAssigned, UserAssigned',
          userAssignedIdentities: { '/u/1': { principalId: 'up', clientId: 'uc' } },
        },
        properties: {
          vmId: 'v',
          networkProfile: { networkInterfaces: [{ id: '/nic/1' }, {}] },
          virtualMachineScaleSet: { id: '/vmss/web' },
        },
      }),
    ).getVirtualMachine(SUBSCRIPTION_ID, 'rg', 'web_1')
    assert.deepEqual(vm.identity, {
      principalId: 'p',
      userAssigned: [{ id: '/u/1', principalId: 'up', clientId: 'uc' }],
    })
    assert.deepEqual(vm.nicIds, ['/nic/1'])
    assert.equal(vm.scaleSetId, '/vmss/web')
  })

  test('scale set and scale-set VM: NIC configurations (NSG, subnets)', async () => {
    const configs = [
      {
        name: 'c',
        properties: {
          networkSecurityGroup: { id: '/nsg' },
          ipConfigurations: [
            { name: 'i', properties: { subnet: { id: '/sn' } } },
            { name: 'j', properties: {} },
          ],
        },
      },
    ]
    const ss = await createRestArmClient(
      restReturning({
        id: '/ss',
        name: 'ss',
        location: 'l',
        properties: {
          orchestrationMode: 'Uniform',
          virtualMachineProfile: { networkProfile: { networkInterfaceConfigurations: configs } },
        },
      }),
    ).getScaleSet(SUBSCRIPTION_ID, 'rg', 'ss')
    assert.deepEqual(ss.nicConfigs, [{ nsgId: '/nsg', subnetIds: ['/sn'] }])
    assert.equal(ss.orchestrationMode, 'Uniform')
    const inst = await createRestArmClient(
      restReturning({
        id: '/ss/virtualMachines/0',
        name: 'ss_0',
        location: 'l',
        properties: { networkProfileConfiguration: { networkInterfaceConfigurations: configs } },
      }),
    ).getScaleSetVm(SUBSCRIPTION_ID, 'rg', 'ss', '0')
    assert.deepEqual(inst.nicConfigs, [{ nsgId: '/nsg', subnetIds: ['/sn'] }])
    assert.equal(
      inst.scaleSetId,
      `/subscriptions/${SUBSCRIPTION_ID}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss`,
    )
  })

  test('NIC', async () => {
    assert.deepEqual(
      await createRestArmClient(
        restReturning({
          id: '/nic',
          properties: {
            networkSecurityGroup: { id: '/nsg' },
            ipConfigurations: [{ properties: { subnet: { id: '/a' } } }, { properties: {} }],
          },
        }),
      ).getNetworkInterface(SUBSCRIPTION_ID, 'rg', 'nic'),
      { id: '/nic', nsgId: '/nsg', subnetIds: ['/a'] },
    )
  })

  test('resources list by principal: every page, nextLink only on the ARM origin', async () => {
    const pages: unknown[] = [
      { value: [{ id: '/vm/1' }], nextLink: 'https://management.azure.com/next' },
      { value: [{ id: '/vm/2' }] },
    ]
    const asked: string[] = []
    const rest: ArmRest = {
      get: async (path, query) => {
        asked.push(`${path}?${new URLSearchParams(query)}`)
        return pages[0]
      },
      getNextLink: async (url) => {
        asked.push(url)
        return pages[1]
      },
      post: async () => undefined,
    }
    assert.deepEqual(
      await createRestArmClient(rest).listVirtualMachinesByPrincipal(SUBSCRIPTION_ID, 'p1'),
      ['/vm/1', '/vm/2'],
    )
    assert.match(asked[0]!, /identity%2FprincipalId\+eq\+%27p1%27/)
    assert.equal(asked[1], 'https://management.azure.com/next')
  })

  test('RestError → ArmError with status, code and Retry-After', () => {
    const restError = Object.assign(new Error('The request is being throttled'), {
      statusCode: 429,
      code: 'TooManyRequests',
      response: { headers: { get: (n: string) => (n === 'retry-after' ? '17' : undefined) } },
    })
    const e = fromSdkError(restError)
    assert.equal(e.status, 429)
    assert.equal(e.code, 'TooManyRequests')
    assert.equal(e.retryAfterMs, 17_000)
    assert.equal(e.transient, true)
    assert.equal(e.message, '429 TooManyRequests: The request is being throttled')
    const auth = Object.assign(new Error('AADSTS7000215: Invalid client secret'), {
      name: 'AuthenticationError',
    })
    assert.equal(fromSdkError(auth).status, 401)
    assert.equal(fromSdkError(auth).transient, false)
    assert.equal(fromSdkError(new Error('socket hang up')).transient, true)
  })
})

describe('ARM resource IDs', () => {
  const sub = SUBSCRIPTION_ID
  test('the shapes the attestors read, keywords case-insensitive, names kept', () => {
    assert.deepEqual(
      parseArmId(
        `/subscriptions/${sub}/resourcegroups/Default-RG/providers/Microsoft.Compute/virtualMachines/it-vm`,
      ),
      {
        kind: 'vm',
        subscriptionId: sub,
        resourceGroup: 'Default-RG',
        name: 'it-vm',
      },
    )
    assert.deepEqual(
      parseArmId(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/3`,
      ),
      {
        kind: 'vmss-vm',
        subscriptionId: sub,
        resourceGroup: 'rg',
        scaleSet: 'web',
        instanceId: '3',
      },
    )
    assert.equal(
      parseArmId(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web`,
      )?.kind,
      'vmss',
    )
    assert.equal(
      parseArmId(
        `/subscriptions/${sub}/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id`,
      )?.kind,
      'uami',
    )
    assert.equal(
      parseArmId(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n`,
      )?.kind,
      'nic',
    )
    assert.equal(
      parseArmId(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/w/virtualMachines/0/networkInterfaces/n`,
      )?.kind,
      'vmss-nic',
    )
    assert.equal(
      parseArmId(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/g`,
      )?.kind,
      'nsg',
    )
    assert.deepEqual(
      parseArmIdOf(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s`,
        'subnet',
      ),
      {
        kind: 'subnet',
        subscriptionId: sub,
        resourceGroup: 'rg',
        vnet: 'v',
        name: 's',
      },
    )
  })

  test('anything else is undefined', () => {
    for (const bad of [
      '',
      '/subscriptions/s/resourceGroups/rg',
      `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extra`,
      `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/..`,
      `subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm`,
      `/subscriptions/${sub}/resourceGroups/rg/providers/MicrosoftXCompute/virtualMachines/vm`,
    ])
      assert.equal(parseArmId(bad), undefined, bad)
    assert.equal(
      parseArmIdOf(
        `/subscriptions/${sub}/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/n`,
        'vm',
      ),
      undefined,
    )
  })

  test('helpers', () => {
    assert.ok(sameArmId('/A/b', '/a/B'))
    assert.ok(isGuid('D5B40D61-272E-48DA-BEB9-05F295C42BD6'))
    assert.ok(!isGuid("x' or 1 eq 1"))
  })
})
