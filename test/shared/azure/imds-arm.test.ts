// Unit tests of the shared Azure pieces the azure_imds server adds: Resource Graph, subscription
// tenants, tenant-domain lookup and the call gate.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArmError } from '../../../shared/azure/arm.js'
import type { ArmRest } from '../../../shared/azure/arm-rest.js'
import { createCallGate } from '../../../shared/azure/call-gate.js'
import {
  getNetworkInterface,
  getScaleSetVm,
  getVirtualMachine,
} from '../../../shared/azure/arm-rest-reads.js'
import { CLOUDS } from '../../../shared/azure/clouds.js'
import type { HttpFetch } from '../../../shared/azure/http.js'
import {
  queryResourceGraph,
  RESOURCE_GRAPH_MAX_PAGES,
  scaleSetVmByVmIdQuery,
  virtualMachineByVmIdQuery,
} from '../../../shared/azure/resource-graph.js'
import { getSubscriptionTenant } from '../../../shared/azure/subscriptions.js'
import { lookupTenantId, tenantFromIssuer } from '../../../shared/azure/tenant-lookup.js'
import { NOOP_LOGGER } from '../../../shared/plugin/index.js'

const VM_ID = 'b1310a36-d400-46f6-82cb-6217df846586'
const SUB = '8a205152-b25a-417f-a676-80465535a6c9'
const TID = '0a1b2c3d-1111-2222-3333-444455556666'

function fakeRest(
  handler: (method: string, path: string, body: unknown) => unknown,
): ArmRest & { calls: unknown[] } {
  const calls: unknown[] = []
  return {
    calls,
    async get(path, query) {
      calls.push({ method: 'GET', path, query })
      return handler('GET', path, undefined)
    },
    async getNextLink(url) {
      calls.push({ method: 'GET', url })
      return handler('GET', new URL(url).pathname, undefined)
    },
    async post(path, query, body) {
      calls.push({ method: 'POST', path, query, body })
      return handler('POST', path, body)
    },
  }
}

describe('Resource Graph', () => {
  test('queries are built only from GUIDs', () => {
    assert.match(
      virtualMachineByVmIdQuery(VM_ID),
      /^resources \| where type =~ 'microsoft.compute\/virtualmachines' \| where properties.vmId =~ 'b1310a36/,
    )
    assert.match(
      scaleSetVmByVmIdQuery(VM_ID),
      /^computeresources \| where type =~ 'microsoft.compute\/virtualmachinescalesets\/virtualmachines'/,
    )
    assert.throws(() => virtualMachineByVmIdQuery("x' or 1==1 or '"), ArmError)
  })

  test('objectArray results, scoped to the subscription, following $skipToken', async () => {
    const pages = [{ data: [{ id: 'a' }], $skipToken: 't1' }, { data: [{ id: 'b' }] }]
    const rest = fakeRest(() => pages.shift())
    const rows = await queryResourceGraph(rest, { subscriptions: [SUB], query: 'q' })
    assert.deepEqual(
      rows.map((r) => r['id']),
      ['a', 'b'],
    )
    assert.deepEqual(rest.calls[0], {
      method: 'POST',
      path: '/providers/Microsoft.ResourceGraph/resources',
      query: { 'api-version': '2021-03-01' },
      body: { subscriptions: [SUB], query: 'q', options: { resultFormat: 'objectArray' } },
    })
    assert.deepEqual((rest.calls[1] as { body: { options: unknown } }).body.options, {
      resultFormat: 'objectArray',
      $skipToken: 't1',
    })
  })

  test('endless paging is cut off', async () => {
    const rest = fakeRest(() => ({ data: [], $skipToken: 'again' }))
    await assert.rejects(queryResourceGraph(rest, { subscriptions: [SUB], query: 'q' }), ArmError)
    assert.equal(rest.calls.length, RESOURCE_GRAPH_MAX_PAGES)
  })
})

describe('subscription tenant', () => {
  test('the home tenant of a visible subscription', async () => {
    const rest = fakeRest(() => ({
      id: `/subscriptions/${SUB}`,
      subscriptionId: SUB,
      tenantId: TID.toUpperCase(),
    }))
    assert.deepEqual(await getSubscriptionTenant(rest, SUB), { visible: true, tenantId: TID })
  })

  test('404, 403 and a wrong-tenant 401 mean "not this tenant’s"; other failures throw', async () => {
    for (const [status, code] of [
      [404, 'SubscriptionNotFound'],
      [403, 'AuthorizationFailed'],
      [401, 'InvalidAuthenticationTokenTenant'],
    ] as const) {
      const rest = fakeRest(() => {
        throw new ArmError(`${status} ${code}`, { status, code })
      })
      assert.equal((await getSubscriptionTenant(rest, SUB)).visible, false)
    }
    const broken = fakeRest(() => {
      throw new ArmError('401 InvalidAuthenticationToken', {
        status: 401,
        code: 'InvalidAuthenticationToken',
      })
    })
    await assert.rejects(getSubscriptionTenant(broken, SUB), ArmError)
  })
})

describe('tenant domain lookup', () => {
  test('issuer forms per cloud', () => {
    assert.equal(tenantFromIssuer(`https://sts.windows.net/${TID}/`, CLOUDS.AzurePublicCloud), TID)
    assert.equal(
      tenantFromIssuer(`https://sts.chinacloudapi.cn/${TID}/`, CLOUDS.AzureChinaCloud),
      TID,
    )
    assert.equal(
      tenantFromIssuer(`https://sts.windows.net/${TID}/`, CLOUDS.AzureChinaCloud),
      undefined,
    )
    assert.equal(
      tenantFromIssuer('https://sts.windows.net/not-a-guid/', CLOUDS.AzurePublicCloud),
      undefined,
    )
  })

  test('discovery document → tenant ID, with upstream’s error wording', async () => {
    const answers: Parameters<HttpFetch>[0][] = []
    const http =
      (status: number, body: unknown): HttpFetch =>
      async (req) => {
        answers.push(req)
        return {
          status,
          headers: {},
          body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
        }
      }
    const base = {
      authorityHost: 'https://login.microsoftonline.com/',
      cloud: CLOUDS.AzurePublicCloud,
      domain: 'contoso.onmicrosoft.com',
    }
    assert.equal(
      await lookupTenantId({
        ...base,
        http: http(200, { issuer: `https://sts.windows.net/${TID}/` }),
      }),
      TID,
    )
    assert.equal(
      answers[0]?.url,
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/.well-known/openid-configuration',
    )
    await assert.rejects(lookupTenantId({ ...base, http: http(400, {}) }), {
      message: 'failed to fetch tenant ID, status: 400',
    })
    await assert.rejects(lookupTenantId({ ...base, http: http(200, 'nope') }), {
      message: /^failed to unmarshal tenant ID: /,
    })
    await assert.rejects(
      lookupTenantId({ ...base, http: http(200, { issuer: 'https://evil/' }) }),
      { message: 'malformed tenant ID: "https://evil/"' },
    )
  })
})

describe('call gate', () => {
  const gate = (now: { t: number }, slept: number[]) =>
    createCallGate({
      now: () => now.t,
      sleep: async (ms) => {
        slept.push(ms)
        now.t += ms
      },
      log: NOOP_LOGGER,
      cacheTtlMs: 60_000,
      budgetMs: 30_000,
      random: () => 0.5,
    })

  test('coalesces identical concurrent calls and caches successes', async () => {
    const now = { t: 0 }
    const g = gate(now, [])
    let calls = 0
    const call = async () => {
      calls++
      await new Promise((r) => setTimeout(r, 5))
      return 'x'
    }
    const results = await Promise.all([g('op', 'k', call), g('op', 'K', call), g('op', 'k', call)])
    assert.deepEqual(results, ['x', 'x', 'x'])
    await g('op', 'k', call)
    assert.equal(calls, 1)
  })

  test('a 429’s Retry-After holds back the retry and later calls; a wait past the budget fails fast', async () => {
    const now = { t: 0 }
    const slept: number[] = []
    const g = gate(now, slept)
    let n = 0
    const throttledOnce = async () => {
      if (n++ === 0) throw new ArmError('429 TooManyRequests', { status: 429, retryAfterMs: 7_000 })
      return 'ok'
    }
    assert.equal(await g('op', 'a', throttledOnce), 'ok')
    assert.deepEqual(
      slept.filter((ms) => ms > 0),
      [7_000],
    )
    const always = async () => {
      throw new ArmError('429 TooManyRequests', { status: 429, retryAfterMs: 120_000 })
    }
    await assert.rejects(g('op', 'b', always), (err: ArmError) => err.status === 429)
    await assert.rejects(
      g('op', 'c', async () => 'never'),
      /throttled by ARM: retry after/,
    )
  })

  test('non-ARM errors pass through unretried and uncached', async () => {
    const g = gate({ t: 0 }, [])
    class Empty extends Error {}
    let calls = 0
    const empty = async () => {
      calls++
      throw new Empty()
    }
    await assert.rejects(g('op', 'k', empty), Empty)
    await assert.rejects(g('op', 'k', empty), Empty)
    assert.equal(calls, 2)
  })
})

describe('compute and network reads over REST', () => {
  const vmPath = `/subscriptions/${SUB}/resourceGroups/Frontend/providers/Microsoft.Compute/virtualMachines/blog`

  test('a VM: vmId, tags, NIC ids, the Flexible scale set', async () => {
    const rest = fakeRest(() => ({
      id: vmPath,
      name: 'blog',
      location: 'eastus',
      tags: { env: 'prod', n: 1 },
      properties: {
        vmId: VM_ID,
        networkProfile: { networkInterfaces: [{ id: '/nic/a' }, {}, { id: '' }] },
        virtualMachineScaleSet: { id: '/vmss/flex' },
      },
    }))
    const vm = await getVirtualMachine(rest, SUB, 'Frontend', 'blog')
    assert.deepEqual(rest.calls[0], {
      method: 'GET',
      path: vmPath,
      query: { 'api-version': '2024-07-01' },
    })
    assert.equal(vm.vmId, VM_ID)
    assert.deepEqual(vm.tags, { env: 'prod' })
    assert.deepEqual(vm.nicIds, ['/nic/a'])
    assert.equal(vm.scaleSetId, '/vmss/flex')
  })

  test('a Uniform instance carries its NIC configuration; a NIC its NSG and subnets', async () => {
    const inst = await getScaleSetVm(
      fakeRest(() => ({
        id: 'x/virtualMachines/3',
        name: 'web_3',
        properties: {
          vmId: VM_ID,
          networkProfileConfiguration: {
            networkInterfaceConfigurations: [
              {
                name: 'c',
                properties: {
                  networkSecurityGroup: { id: '/nsg' },
                  ipConfigurations: [{ properties: { subnet: { id: '/s1' } } }, { properties: {} }],
                },
              },
            ],
          },
        },
      })),
      SUB,
      'rg',
      'web',
      '3',
    )
    assert.deepEqual(inst.nicConfigs, [{ nsgId: '/nsg', subnetIds: ['/s1'] }])
    assert.equal(
      inst.scaleSetId,
      `/subscriptions/${SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web`,
    )
    const nic = await getNetworkInterface(
      fakeRest(() => ({
        id: '/nic',
        properties: { ipConfigurations: [{ properties: { subnet: { id: '/s2' } } }] },
      })),
      SUB,
      'rg',
      'nic',
    )
    assert.deepEqual(nic, { id: '/nic', nsgId: undefined, subnetIds: ['/s2'] })
    await assert.rejects(
      getNetworkInterface(
        fakeRest(() => ({})),
        SUB,
        'rg',
        'nic',
      ),
      ArmError,
    )
  })
})
