import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ComputeManagementClient } from '@azure/arm-compute'
import { NetworkManagementClient } from '@azure/arm-network'
import { SubscriptionClient } from '@azure/arm-resources-subscriptions'
import { ClientSecretCredential } from '@azure/identity'
import type { TokenCredential } from '@azure/identity'
import { startEmulator } from './index.js'
import type { Emulator, WorldSpec } from './index.js'
import { DEFAULT_WORLD } from './default-world.js'
import { fetchRaw } from './test-helpers.js'

const ARM_SCOPE = 'https://management.azure.com/.default'
const API = 'api-version=2024-07-01'
const WORLD: WorldSpec = {
  ...DEFAULT_WORLD,
  tenants: DEFAULT_WORLD.tenants.map((t) =>
    t.name !== 'contoso'
      ? t
      : {
          ...t,
          subscriptions: [
            ...(t.subscriptions ?? []),
            {
              name: 'scale',
              resourceGroups: [
                {
                  name: 'fleet',
                  scaleSets: [{ name: 'big', capacity: 250, identity: { systemAssigned: true } }],
                },
              ],
            },
          ],
        },
  ),
}
let emu: Emulator
let cred: TokenCredential
let subId: string
let token: string

before(async () => {
  emu = await startEmulator({ world: WORLD, armPageSize: 100 })
  const tenant = emu.world.tenant('contoso')
  const app = tenant.apps[0]!
  cred = new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret, {
    authorityHost: emu.endpoints.entra,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.endpoints.caCertPem },
  })
  subId = emu.world.subscription('prod').subscriptionId
  token = (await emu.tokens.issueAppToken({ tenant: 'contoso' })).token
})
after(() => emu.stop())

const tls = () => ({ tlsOptions: { ca: emu.endpoints.caCertPem } })
const arm = (path: string, auth = `Bearer ${token}`) =>
  fetchRaw(`${emu.endpoints.arm}${path}`, {
    ca: emu.endpoints.caCertPem,
    headers: auth ? { authorization: auth } : {},
  })

test('@azure/arm-compute reads VMs, scale sets and scale-set VMs (paged)', async () => {
  const compute = new ComputeManagementClient(cred, subId, {
    endpoint: emu.endpoints.arm,
    credentials: { scopes: [ARM_SCOPE] },
    ...tls(),
  })
  const blog = emu.world.vm('frontend/blog')
  const vm = await compute.virtualMachines.get('FRONTEND', 'Blog', { expand: 'instanceView' })
  assert.equal(vm.id, blog.id)
  assert.equal(vm.vmId, blog.vmId)
  assert.equal(vm.identity?.principalId, blog.identity.system!.principalId)
  assert.equal(vm.networkProfile?.networkInterfaces?.[0]?.id, blog.networkInterfaces[0]!.id)
  const flex = emu.world.vm('frontend/flex/2')
  const fvm = await compute.virtualMachines.get('frontend', flex.name)
  assert.equal(fvm.virtualMachineScaleSet?.id, flex.scaleSet!.id)
  const ss = await compute.virtualMachineScaleSets.get('frontend', 'flex')
  assert.equal(ss.orchestrationMode, 'Flexible')
  const inst = await compute.virtualMachineScaleSetVMs.get('frontend', 'web', '1')
  assert.equal(inst.vmId, emu.world.vm('frontend/web/1').vmId)
  const scaleSub = emu.world.subscription('scale').subscriptionId
  const scale = new ComputeManagementClient(cred, scaleSub, {
    endpoint: emu.endpoints.arm,
    credentials: { scopes: [ARM_SCOPE] },
    ...tls(),
  })
  emu.counters.reset()
  const ids: string[] = []
  for await (const v of scale.virtualMachineScaleSetVMs.list('fleet', 'big'))
    ids.push(String(v.instanceId))
  assert.equal(ids.length, 250)
  assert.equal(emu.counters.get('arm.vmss-vm.list'), 3)
  await assert.rejects(
    compute.virtualMachines.get('frontend', 'nope'),
    (err: { statusCode?: number; code?: string }) =>
      err.statusCode === 404 && err.code === 'ResourceNotFound',
  )
})

test('@azure/arm-network reads NICs and scale-set NICs', async () => {
  const net = new NetworkManagementClient(cred, subId, {
    endpoint: emu.endpoints.arm,
    credentialScopes: [ARM_SCOPE],
    ...tls(),
  })
  const blog = emu.world.vm('frontend/blog')
  const nic = await net.networkInterfaces.get('frontend', 'blog-nic')
  assert.equal(nic.networkSecurityGroup?.id, blog.networkInterfaces[0]!.nsg!.id)
  assert.equal(nic.ipConfigurations?.[0]?.subnet?.id, blog.networkInterfaces[0]!.subnet.id)
  const uni = emu.world.vm('frontend/web/2')
  const snic = await net.networkInterfaces.getVirtualMachineScaleSetNetworkInterface(
    'frontend',
    'web',
    '2',
    'web-nic',
  )
  assert.equal(snic.id, uni.networkInterfaces[0]!.id)
  assert.equal(snic.ipConfigurations?.[0]?.privateIPAddress, uni.networkInterfaces[0]!.privateIp)
})

test('subscription GET (with tenantId) through @azure/arm-resources-subscriptions', async () => {
  const subs = new SubscriptionClient(cred, {
    endpoint: emu.endpoints.arm,
    credentialScopes: [ARM_SCOPE],
    ...tls(),
  })
  const s = await subs.subscriptions.get(subId)
  assert.equal(s.subscriptionId, subId)
  assert.equal(s.tenantId, emu.world.tenant('contoso').tenantId)
})

test('resource list filtered by identity/principalId finds the VM (upstream azure_msi)', async () => {
  const blog = emu.world.vm('frontend/blog')
  const filter = `resourceType eq 'Microsoft.Compute/virtualMachines' and identity/principalId eq '${blog.identity.system!.principalId}'`
  const res = await arm(
    `/subscriptions/${subId}/resources?$filter=${encodeURIComponent(filter)}&${API}`,
  )
  assert.equal(res.status, 200)
  assert.deepEqual(
    res.json<{ value: { id: string }[] }>().value.map((v) => v.id),
    [blog.id],
  )
  const bad = await arm(
    `/subscriptions/${subId}/resources?$filter=${encodeURIComponent('foo gt 1')}&${API}`,
  )
  assert.equal(bad.status, 400)
})

test('UAMI GET and Azure 404 bodies', async () => {
  const u = emu.world.vm('frontend/api').identity.userAssigned[0]!
  const res = await arm(`${u.id}?${API}`)
  assert.equal(
    res.json<{ properties: { principalId: string } }>().properties.principalId,
    u.principalId,
  )
  const missing = await arm(
    `/subscriptions/${subId}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines/ghost?${API}`,
  )
  assert.equal(missing.status, 404)
  assert.equal(missing.json<{ error: { code: string } }>().error.code, 'ResourceNotFound')
  assert.equal(
    (
      await arm(
        `/subscriptions/${subId}/resourceGroups/nope/providers/Microsoft.Compute/virtualMachines/x?${API}`,
      )
    ).json<{ error: { code: string } }>().error.code,
    'ResourceGroupNotFound',
  )
})

test('Resource Graph: the upstream azure_imds VM, NIC and VMSS queries', async () => {
  const blog = emu.world.vm('frontend/blog')
  const post = (query: string) =>
    fetchRaw(
      `${emu.endpoints.arm}/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01`,
      {
        method: 'POST',
        ca: emu.endpoints.caCertPem,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          subscriptions: [subId],
          query,
          options: { resultFormat: 'objectArray' },
        }),
      },
    )
  const vmRes = await post(
    `resources | where type =~ 'microsoft.compute/virtualmachines' | where properties.vmId == '${blog.vmId}' | project id, name, location, tags, vmId = properties.vmId, networkProfile = properties.networkProfile, resourceGroup`,
  )
  const rows = vmRes.json<{ data: Record<string, unknown>[] }>().data
  assert.equal(rows.length, 1)
  assert.equal(rows[0]!.vmId, blog.vmId)
  assert.equal(rows[0]!.resourceGroup, 'frontend')
  // the exact query upstream azure_imds sends (upstream-behavior §5.4)
  const nicQuery = `Resources
| where type == "microsoft.network/networkinterfaces"
| where tolower(properties.virtualMachine.id) == tolower("${blog.id}")
| mv-expand ipConfig = properties.ipConfigurations
| extend subnetId = tostring(ipConfig.properties.subnet.id)
| extend vnetName = extract(@"virtualNetworks/([^/]+)", 1, subnetId)
| extend subnetName = extract(@"subnets/([^/]+)$", 1, subnetId)
| extend subnetObj = bag_pack("vnet", vnetName, "name", subnetName)
| extend nsgId = tostring(properties.networkSecurityGroup.id)
| extend nsgRg = extract(@"resourceGroups/([^/]+)",1,nsgId)
| extend nsgName = extract(@"networkSecurityGroups/([^/]+)",1,nsgId)
| extend securityGroup = bag_pack("resourceGroup", nsgRg, "name",nsgName)
| summarize
    subnets = make_list(subnetObj)
    by id, name, resourceGroup, securityGroup_str = tostring(securityGroup)
| project name, resourceGroup, subnets, securityGroup = todynamic(securityGroup_str)`
  const nics = (await post(nicQuery)).json<{ data: Record<string, unknown>[] }>().data
  assert.deepEqual(nics, [
    {
      name: 'blog-nic',
      resourceGroup: 'frontend',
      subnets: [{ vnet: 'vnet', name: 'default' }],
      securityGroup: { resourceGroup: 'frontend', name: 'webservers' },
    },
  ])
  const vmss = (
    await post(
      `resources | where type =~ 'microsoft.compute/virtualmachinescalesets' | where name == 'web' | project id, name, location, resourceGroup, subscriptionId`,
    )
  ).json<{ data: unknown[] }>().data
  assert.equal(vmss.length, 2)
  assert.equal((await post('resources | frobnicate')).status, 400)
})

test('ARM requires a valid bearer token for the right tenant', async () => {
  assert.equal((await arm(`/subscriptions/${subId}?${API}`, '')).status, 401)
  assert.equal((await arm(`/subscriptions/${subId}?${API}`, 'Bearer not.a.token')).status, 401)
  const gov = (
    await emu.tokens.issueAppToken({
      tenant: 'fabrikam-gov',
      resource: 'https://management.usgovcloudapi.net/',
    })
  ).token
  const wrong = await arm(`/subscriptions/${subId}?${API}`, `Bearer ${gov}`)
  assert.equal(
    wrong.json<{ error: { code: string } }>().error.code,
    'InvalidAuthenticationTokenTenant',
  )
  const msi = (await emu.tokens.issueMsiToken({ vm: 'frontend/blog' })).token
  assert.equal((await arm(`/subscriptions/${subId}?${API}`, `Bearer ${msi}`)).status, 200)
  const graphAud = (
    await emu.tokens.issueMsiToken({
      vm: 'frontend/blog',
      resource: 'https://graph.microsoft.com/',
    })
  ).token
  assert.equal(
    (await arm(`/subscriptions/${subId}?${API}`, `Bearer ${graphAud}`)).json<{
      error: { code: string }
    }>().error.code,
    'InvalidAuthenticationTokenAudience',
  )
  assert.equal(
    (await arm(`/subscriptions/${subId}`)).json<{ error: { code: string } }>().error.code,
    'MissingApiVersionParameter',
  )
})

test('throttling: a token bucket per subscription answers 429 with Retry-After', async () => {
  emu.throttling.enable({ bucketSize: 3, refillPerSecond: 1 })
  const statuses: number[] = []
  let retryAfter: string | undefined
  for (let i = 0; i < 5; i++) {
    const r = await arm(`/subscriptions/${subId}?${API}`)
    statuses.push(r.status)
    if (r.status === 429) retryAfter = String(r.headers['retry-after'])
  }
  const otherSub = await arm(
    `/subscriptions/${emu.world.subscription('scale').subscriptionId}?${API}`,
  )
  emu.throttling.disable()
  assert.deepEqual(statuses.slice(0, 3), [200, 200, 200])
  assert.equal(statuses[4], 429)
  assert.equal(retryAfter, '1')
  assert.equal(otherSub.status, 200)
  assert.ok(emu.counters.get('arm.subscription.get') >= 6)
  assert.deepEqual(emu.errors, [])
})
