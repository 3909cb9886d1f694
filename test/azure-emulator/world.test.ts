import assert from 'node:assert/strict'
import { test } from 'node:test'
import { DEFAULT_WORLD } from './default-world.js'
import { UUID_RE } from './ids.js'
import { World } from './world.js'
import type { WorldSpec } from './world-spec.js'

const SCALE_WORLD = (capacity: number): WorldSpec => ({
  tenants: [
    {
      name: 'big',
      subscriptions: [
        {
          name: 'sub',
          resourceGroups: [
            {
              name: 'rg',
              scaleSets: [
                { name: 'uni', capacity, identity: { systemAssigned: true } },
                {
                  name: 'flex',
                  orchestrationMode: 'Flexible',
                  capacity,
                  identity: { systemAssigned: true },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
})

test('ids are deterministic and shaped like Azure ids', () => {
  const a = new World(DEFAULT_WORLD)
  const b = new World(DEFAULT_WORLD)
  const blog = a.vm('frontend/blog')
  assert.equal(blog.vmId, b.vm('frontend/blog').vmId)
  assert.match(blog.vmId, UUID_RE)
  const sub = blog.resourceGroup.subscription.subscriptionId
  assert.equal(
    blog.id,
    `/subscriptions/${sub}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines/blog`,
  )
  assert.equal(
    a.vm('frontend/web/2').id,
    `/subscriptions/${sub}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/2`,
  )
  const flex = a.vm('frontend/flex/0')
  assert.match(flex.name, /^flex_[0-9a-f]{8}$/)
  assert.equal(
    flex.id,
    `/subscriptions/${sub}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines/${flex.name}`,
  )
  assert.equal(flex.scaleSet?.orchestrationMode, 'Flexible')
})

test('a different seed gives different ids', () => {
  const other = new World({ ...DEFAULT_WORLD, seed: 'other' })
  assert.notEqual(other.vm('frontend/blog').vmId, new World(DEFAULT_WORLD).vm('frontend/blog').vmId)
})

test('same-named scale sets in two resource groups stay distinct', () => {
  const w = new World(DEFAULT_WORLD)
  const front = w.findScaleSet('frontend', 'web')!
  const back = w.findScaleSet('BACKEND', 'WEB')!
  assert.notEqual(front.id, back.id)
  assert.notEqual(w.vm('frontend/web/0').vmId, w.vm('backend/web/0').vmId)
  assert.throws(() => w.vm('web_0'), /not found/)
})

test('lookups by key, ARM id (any case), vmId and principal agree', () => {
  const w = new World(DEFAULT_WORLD)
  const flex = w.vm('frontend/flex/1')
  assert.equal(
    w.findVm(flex.id.toUpperCase().replace('/SUBSCRIPTIONS/', '/subscriptions/'))?.key,
    flex.key,
  )
  assert.equal(w.findVm(flex.vmId)?.key, flex.key)
  assert.equal(w.findVm(`frontend/${flex.name}`)?.key, flex.key)
  assert.equal(w.findVm('blog')?.key, 'frontend/blog')
  const uniform = w.vm('frontend/web/1')
  const p = w.findPrincipal(uniform.identity.system!.principalId)
  assert.equal(p?.kind, 'vmss-system')
  const fp = w.findPrincipal(flex.identity.system!.principalId)
  assert.equal(fp?.kind === 'vm-system' && fp.vm.key, flex.key)
  const uami = w.vm('frontend/api').identity.userAssigned[0]!
  assert.equal(w.findPrincipal(uami.principalId)?.kind, 'uami')
  const nic = w.findArm(uniform.networkInterfaces[0]!.id)
  assert.equal(nic?.type, 'nic')
})

test('identities: system, user-assigned, shared for Uniform, own for Flexible', () => {
  const w = new World(DEFAULT_WORLD)
  assert.ok(w.vm('frontend/blog').identity.system)
  assert.equal(w.vm('frontend/api').identity.userAssigned.length, 1)
  assert.equal(w.vm('frontend/multi').identity.system, undefined)
  assert.equal(
    w.vm('frontend/web/0').identity.system!.principalId,
    w.vm('frontend/web/2').identity.system!.principalId,
  )
  assert.notEqual(
    w.vm('frontend/flex/0').identity.system!.principalId,
    w.vm('frontend/flex/2').identity.system!.principalId,
  )
  assert.equal(
    w.vm('frontend/web/0').systemIdentityResourceId,
    w.findScaleSet('frontend', 'web')!.id,
  )
})

test('clouds and tenants come from the spec', () => {
  const w = new World(DEFAULT_WORLD)
  assert.equal(w.vm('gov/gov-vm').resourceGroup.subscription.tenant.cloud.name, 'usgov')
  assert.equal(w.findTenant('contoso.example')?.name, 'contoso')
  assert.equal(w.tenant('contoso-cn').cloud.metadataDomain, 'metadata.azure.cn')
})

/** Members derived so far, over every scale set: the cost of a world, counted rather than timed. */
const derived = (w: World): number => [...w.scaleSets()].reduce((n, ss) => n + ss.derivedCount, 0)

test('a 1,000-instance scale set costs nothing to declare and one pass to index', () => {
  const w = new World(SCALE_WORLD(1_000))
  assert.equal(derived(w), 0, 'declaring derives no instance')
  const last = w.vm('rg/uni/999')
  assert.equal(derived(w), 1, 'a lookup by name derives only that instance')
  const flex = w.vm('rg/flex/999')
  const byVmId = w.findVmByVmId(flex.vmId)
  assert.equal(byVmId?.key, 'rg/flex/999')
  assert.equal(last.name, 'uni_999')
  assert.equal(derived(w), 2_000, 'the vmId index derives each instance once')
  assert.equal(new Set([...w.vms()].map((v) => v.vmId)).size, 2_000)
  assert.equal(derived(w), 2_000, 'walking again reuses them')
})

test('100,000 instances are declared lazily', () => {
  const w = new World(SCALE_WORLD(100_000))
  assert.equal(w.vm('rg/uni/99999').instanceId, '99999')
  assert.equal(derived(w), 1)
})

test('bad references fail at build time with the name', () => {
  const spec: WorldSpec = {
    tenants: [
      {
        name: 't',
        subscriptions: [
          {
            name: 's',
            resourceGroups: [
              {
                name: 'rg',
                virtualMachines: [{ name: 'v', identity: { userAssigned: ['nope'] } }],
              },
            ],
          },
        ],
      },
    ],
  }
  assert.throws(() => new World(spec), /user-assigned identity "nope" not found/)
})
