import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ArmError } from '../../../shared/azure/arm.js'
import type { PluginError } from '../../../shared/plugin/index.js'
import { resolveCompute } from '../../../server-plugin/azure-msi/resolve.js'
import { buildSelectors, sortBytes } from '../../../server-plugin/azure-msi/selectors.js'
import type { MsiClaims } from '../../../server-plugin/azure-msi/verify.js'
import {
  FakeArm,
  nsgId,
  PRINCIPAL_ID,
  SUBSCRIPTION_ID,
  subnetId,
  TENANT_ID,
  UAMI_PRINCIPAL_ID,
  uamiId,
  vmId,
  vmssId,
} from '../../support/azure-msi.js'

const claims = (o: Partial<MsiClaims> = {}): MsiClaims => ({
  tenantId: TENANT_ID,
  principalId: PRINCIPAL_ID,
  issuer: undefined,
  audience: [],
  expiry: undefined,
  notBefore: undefined,
  issuedAt: undefined,
  jwtId: undefined,
  version: '1.0',
  objectId: PRINCIPAL_ID,
  clientId: undefined,
  identityType: 'app',
  delegated: false,
  identityResourceId: undefined,
  computeResourceId: undefined,
  ...o,
})

const lower = (id: string) => id.replace('/resourceGroups/', '/resourcegroups/')
const pluginError =
  (status: string, reason: string, message?: string | RegExp) => (err: unknown) => {
    const e = err as PluginError
    assert.equal(e.status, status, e.message)
    assert.equal(e.reason, reason, e.message)
    if (typeof message === 'string') assert.equal(e.message, message)
    else if (message) assert.match(e.message, message)
    return true
  }

/** The upstream doc's example VM: frontend/blog, NSG webservers, vnet/default. */
function blog(arm: FakeArm, extra: Partial<Parameters<FakeArm['addVm']>[0]> = {}) {
  return arm.addVm({
    rg: 'frontend',
    name: 'blog',
    principalId: PRINCIPAL_ID,
    nics: [
      {
        name: 'blog-nic',
        nsg: nsgId('frontend', 'webservers'),
        subnets: [subnetId('frontend', 'vnet', 'default')],
      },
    ],
    ...extra,
  })
}

const UPSTREAM_FIVE = [
  'network-security-group:frontend:webservers',
  `subscription-id:${SUBSCRIPTION_ID}`,
  'virtual-network-subnet:frontend:vnet:default',
  'virtual-network:frontend:vnet',
  'vm-name:frontend:blog',
]
/** Defakto's attribute names, for the default claims (system-assigned: no client-id). */
const DEFAKTO = [`tenant-id:${TENANT_ID}`, `principal-id:${PRINCIPAL_ID}`]

async function selectorsFor(arm: FakeArm, c: MsiClaims, tags: string[] = []): Promise<string[]> {
  const compute = await resolveCompute({ arm, claims: c, subscriptionId: SUBSCRIPTION_ID })
  return buildSelectors(compute, new Set(tags), {
    tenantId: c.tenantId,
    principalId: c.principalId,
  })
}

describe('resolution by principal: upstream errors', () => {
  const wrapped = (inner: string) =>
    `unable to get resource for principal "${PRINCIPAL_ID}": rpc error: code = Internal desc = ${inner}`
  test('not found', async () => {
    await assert.rejects(
      selectorsFor(new FakeArm(), claims()),
      pluginError(
        'Internal',
        'principal_lookup_failed',
        wrapped(`principal "${PRINCIPAL_ID}" not found`),
      ),
    )
  })
  test('more than one', async () => {
    const arm = new FakeArm()
    blog(arm)
    blog(arm, { name: 'blog2' })
    await assert.rejects(
      selectorsFor(arm, claims()),
      pluginError(
        'Internal',
        'principal_lookup_failed',
        wrapped(`expected one result for principal "${PRINCIPAL_ID}" at most`),
      ),
    )
  })
  // a transient ARM failure (429, 5xx) is Unavailable, not upstream's Internal: a deliberate change
  // (shared/azure/transient.ts); the message, `code = Internal` inside it included, stays upstream's
  test('list failure', async () => {
    const arm = new FakeArm()
    arm.fail.set('by-principal', new ArmError('429 TooManyRequests: throttled', { status: 429 }))
    await assert.rejects(
      selectorsFor(arm, claims()),
      pluginError(
        'Unavailable',
        'principal_lookup_failed',
        wrapped('unable to list virtual machine by principal: 429 TooManyRequests: throttled'),
      ),
    )
  })
  test('list failure, permanent (403): Internal', async () => {
    const arm = new FakeArm()
    arm.fail.set('by-principal', new ArmError('403 AuthorizationFailed: no', { status: 403 }))
    await assert.rejects(
      selectorsFor(arm, claims()),
      pluginError(
        'Internal',
        'principal_lookup_failed',
        wrapped('unable to list virtual machine by principal: 403 AuthorizationFailed: no'),
      ),
    )
  })
  test('VM get failure', async () => {
    const arm = new FakeArm()
    blog(arm)
    arm.fail.set('vm', new ArmError('500 InternalServerError: boom', { status: 500 }))
    await assert.rejects(
      selectorsFor(arm, claims()),
      pluginError(
        'Unavailable',
        'arm_lookup_failed',
        'unable to get virtual machine "frontend:blog": rpc error: code = Internal desc = unable to get virtual machine: 500 InternalServerError: boom',
      ),
    )
  })
  test('NIC get failure', async () => {
    const arm = new FakeArm()
    blog(arm)
    arm.fail.set('nic', new ArmError('404 NotFound: gone', { status: 404 }))
    await assert.rejects(
      selectorsFor(arm, claims()),
      pluginError(
        'Internal',
        'arm_lookup_failed',
        'unable to get network interface "frontend:blog-nic": rpc error: code = Internal desc = unable to get network interface: 404 NotFound: gone',
      ),
    )
  })
  test('a non-GUID principal never reaches the $filter (injection)', async () => {
    const arm = new FakeArm()
    await assert.rejects(
      selectorsFor(arm, claims({ principalId: "x' or 1 eq 1 or 'x" })),
      pluginError('Internal', 'principal_lookup_failed'),
    )
    assert.deepEqual(arm.calls, [])
  })
})

describe('resolution from xms_mirid / xms_az_rid', () => {
  test('system-assigned VM: read directly, no principal lookup', async () => {
    const arm = new FakeArm()
    blog(arm)
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: lower(vmId('frontend', 'blog')) }),
    )
    assert.ok(UPSTREAM_FIVE.every((v) => values.includes(v)))
    assert.ok(!arm.calls.some((c) => c.startsWith('by-principal')))
  })

  test('user-assigned identity on a VM (xms_az_rid): the UAMI must be attached with that principal', async () => {
    const arm = new FakeArm()
    const uami = uamiId('ids', 'shared-id')
    blog(arm, { principalId: undefined, uamis: [{ id: uami, principalId: UAMI_PRINCIPAL_ID }] })
    const c = claims({
      principalId: UAMI_PRINCIPAL_ID,
      identityResourceId: lower(uami),
      computeResourceId: lower(vmId('frontend', 'blog')),
    })
    assert.ok((await selectorsFor(arm, c)).includes('vm-name:frontend:blog'))
  })

  test('identity claimed for a VM it is not attached to (detached UAMI, stale token) is refused', async () => {
    const arm = new FakeArm()
    blog(arm, { principalId: undefined, uamis: [] })
    const c = claims({
      principalId: UAMI_PRINCIPAL_ID,
      identityResourceId: lower(uamiId('ids', 'shared-id')),
      computeResourceId: lower(vmId('frontend', 'blog')),
    })
    await assert.rejects(
      selectorsFor(arm, c),
      pluginError(
        'PermissionDenied',
        'identity_not_attached',
        /^principal ".*" is not an identity of "/,
      ),
    )
  })

  test("a token whose xms_mirid names another VM than the principal's is refused", async () => {
    const arm = new FakeArm()
    blog(arm, { principalId: 'eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee' })
    await assert.rejects(
      selectorsFor(arm, claims({ identityResourceId: vmId('frontend', 'blog') })),
      pluginError('PermissionDenied', 'identity_not_attached'),
    )
  })

  test('a VM in another subscription is refused', async () => {
    const arm = new FakeArm()
    const other = '11111111-1111-1111-1111-111111111111'
    blog(arm, { sub: other })
    await assert.rejects(
      selectorsFor(arm, claims({ identityResourceId: vmId('frontend', 'blog', other) })),
      pluginError(
        'PermissionDenied',
        'subscription_not_authorized',
        `subscription "${other}" is not authorized`,
      ),
    )
    assert.deepEqual(arm.calls, [])
  })

  test('Flexible scale-set member: a VM with its own identity, plus vmss-name', async () => {
    const arm = new FakeArm()
    blog(arm, { name: 'web_1a2b3c4d', scaleSetId: vmssId('frontend', 'web') })
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: vmId('frontend', 'web_1a2b3c4d') }),
    )
    assert.ok(values.includes('vm-name:frontend:web_1a2b3c4d'))
    assert.ok(values.includes('vmss-name:web'))
  })

  const nicConfigs = [
    {
      nsgId: nsgId('frontend', 'webservers'),
      subnetIds: [subnetId('frontend', 'vnet', 'default')],
    },
  ]

  test('Uniform scale set, system identity (xms_mirid is the scale set): scale-set selectors, no vm-name', async () => {
    const arm = new FakeArm()
    arm.addScaleSet({
      rg: 'frontend',
      name: 'web',
      principalId: PRINCIPAL_ID,
      nicConfigs,
      tags: { env: 'prod' },
    })
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: lower(vmssId('frontend', 'web')) }),
      ['env'],
    )
    assert.deepEqual(
      values,
      sortBytes([
        ...DEFAKTO,
        'network-security-group:frontend:webservers',
        'resource-group:frontend',
        `subscription-id:${SUBSCRIPTION_ID}`,
        'virtual-network-subnet:frontend:vnet:default',
        'virtual-network:frontend:vnet',
        'vm-location:westeurope',
        'vm-tag:env:prod',
        'vmss-name:web',
      ]),
    )
  })

  test('Uniform scale set, user-assigned identity (xms_az_rid is the scale set)', async () => {
    const arm = new FakeArm()
    const uami = uamiId('ids', 'pool')
    arm.addScaleSet({
      rg: 'frontend',
      name: 'web',
      uamis: [{ id: uami, principalId: UAMI_PRINCIPAL_ID }],
      nicConfigs,
    })
    const values = await selectorsFor(
      arm,
      claims({
        principalId: UAMI_PRINCIPAL_ID,
        identityResourceId: uami,
        computeResourceId: vmssId('frontend', 'web'),
      }),
    )
    assert.ok(values.includes('vmss-name:web'))
  })

  test('Uniform instance ID (…/virtualMachineScaleSets/web/virtualMachines/3): instance selectors', async () => {
    const arm = new FakeArm()
    const ss = arm.addScaleSet({
      rg: 'frontend',
      name: 'web',
      principalId: PRINCIPAL_ID,
      nicConfigs,
    })
    arm.addScaleSetVm(ss, '3')
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: `${vmssId('frontend', 'web')}/virtualMachines/3` }),
    )
    assert.ok(values.includes('vm-name:frontend:web_3'))
    assert.ok(values.includes('vmss-name:web'))
    assert.ok(values.includes('network-security-group:frontend:webservers'))
  })

  test('vm-tag only for allow-listed keys, exact case', async () => {
    const arm = new FakeArm()
    blog(arm, { tags: { env: 'prod', Env: 'x', secret: 'nope', 'team:x': 'y' } })
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: vmId('frontend', 'blog') }),
      ['env'],
    )
    assert.deepEqual(
      values.filter((v) => v.startsWith('vm-tag:')),
      ['vm-tag:env:prod'],
    )
  })

  test('unknown VM (404) is Internal with the ARM error', async () => {
    await assert.rejects(
      selectorsFor(new FakeArm(), claims({ identityResourceId: vmId('frontend', 'gone') })),
      pluginError(
        'Internal',
        'arm_lookup_failed',
        /^unable to get virtual machine "frontend:gone": rpc error: code = Internal desc = unable to get virtual machine: 404 ResourceNotFound/,
      ),
    )
  })

  test('an xms_mirid of an unknown shape falls back to the principal lookup', async () => {
    const arm = new FakeArm()
    blog(arm)
    const values = await selectorsFor(
      arm,
      claims({ identityResourceId: '/subscriptions/x/providers/Something/else' }),
    )
    assert.ok(values.includes('vm-name:frontend:blog'))
    assert.ok(arm.calls[0]!.startsWith('by-principal'))
  })
})
