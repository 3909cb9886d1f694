import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { PluginError } from '../../../shared/plugin/index.js'
import { agreedClientId, resolveCompute } from '../../../server-plugin/azure-msi/resolve.js'
import {
  buildSelectors,
  networkSelectors,
  sortBytes,
} from '../../../server-plugin/azure-msi/selectors.js'
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

describe('selectors: upstream shapes', () => {
  test('system-assigned VM found by principal (no xms claims): upstream five plus ours, sorted', async () => {
    const arm = new FakeArm()
    blog(arm)
    const values = await selectorsFor(arm, claims())
    assert.deepEqual(
      values,
      sortBytes([...UPSTREAM_FIVE, ...DEFAKTO, 'resource-group:frontend', 'vm-location:eastus']),
    )
    assert.deepEqual(arm.calls, [
      `by-principal ${SUBSCRIPTION_ID} ${PRINCIPAL_ID}`,
      `vm ${vmId('frontend', 'blog')}`,
      `nic /subscriptions/${SUBSCRIPTION_ID}/resourceGroups/frontend/providers/Microsoft.Network/networkInterfaces/blog-nic`,
    ])
  })

  test('duplicates across NICs are removed; NICs without NSG or subnets add nothing', async () => {
    const arm = new FakeArm()
    arm.addVm({
      rg: 'frontend',
      name: 'blog',
      principalId: PRINCIPAL_ID,
      nics: [
        {
          name: 'a',
          nsg: nsgId('frontend', 'webservers'),
          subnets: [
            subnetId('frontend', 'vnet', 'default'),
            subnetId('frontend', 'vnet', 'default'),
          ],
        },
        { name: 'b', subnets: [subnetId('net', 'vnet', 'other')] },
        { name: 'c' },
      ],
    })
    const values = await selectorsFor(arm, claims())
    assert.equal(values.filter((v) => v === 'virtual-network:frontend:vnet').length, 1)
    assert.ok(values.includes('virtual-network-subnet:net:vnet:other'))
    assert.ok(values.includes('virtual-network:net:vnet'))
    assert.deepEqual(values, sortBytes([...new Set(values)]))
  })

  test('networkSelectors: malformed IDs are Internal with upstream messages', () => {
    assert.throws(
      () => networkSelectors('/bad/nsg', []),
      pluginError('Internal', 'malformed_id', 'malformed network security group ID "/bad/nsg"'),
    )
    assert.throws(
      () => networkSelectors(undefined, ['/bad/subnet']),
      pluginError('Internal', 'malformed_id', 'malformed virtual network subnet ID "/bad/subnet"'),
    )
    assert.deepEqual(networkSelectors(undefined, []), [])
  })

  test('sortBytes orders like Go sort.Strings (UTF-8 bytes, not UTF-16 units)', () => {
    assert.deepEqual(sortBytes(['b', 'a', 'B', '\u{ff5e}', '\u{1f600}']), [
      'B',
      'a',
      'b',
      '\u{ff5e}',
      '\u{1f600}',
    ])
  })
})

describe("selectors: Defakto's attribute names (tenant-id, principal-id, client-id)", () => {
  const UAMI = uamiId('ids', 'shared-id')
  const UAMI_CLIENT_ID = '7d6c5b4a-aaaa-4bbb-8ccc-0123456789ab'
  /** blog with only a user-assigned identity, whose client ID ARM lists unless `null`. */
  const uamiBlog = (arm: FakeArm, clientId: string | null = UAMI_CLIENT_ID) =>
    blog(arm, {
      principalId: undefined,
      uamis: [
        {
          id: UAMI,
          principalId: UAMI_PRINCIPAL_ID,
          ...(clientId === null ? {} : { clientId }),
        },
      ],
    })
  const uamiClaims = (o: Partial<MsiClaims> = {}) =>
    claims({
      principalId: UAMI_PRINCIPAL_ID,
      objectId: UAMI_PRINCIPAL_ID,
      identityResourceId: UAMI,
      computeResourceId: vmId('frontend', 'blog'),
      ...o,
    })
  const uamiSet = (...extra: string[]) =>
    sortBytes([
      ...UPSTREAM_FIVE,
      `tenant-id:${TENANT_ID}`,
      `principal-id:${UAMI_PRINCIPAL_ID}`,
      'resource-group:frontend',
      'vm-location:eastus',
      ...extra,
    ])

  test("user-assigned identity whose token client ID equals ARM's: client-id with ARM's value", async () => {
    const arm = new FakeArm()
    uamiBlog(arm)
    const values = await selectorsFor(arm, uamiClaims({ clientId: UAMI_CLIENT_ID.toUpperCase() }))
    assert.deepEqual(values, uamiSet(`client-id:${UAMI_CLIENT_ID}`))
  })

  test("user-assigned identity, token without a client ID claim: client-id with ARM's value", async () => {
    const arm = new FakeArm()
    uamiBlog(arm)
    const values = await selectorsFor(arm, uamiClaims({ clientId: undefined }))
    assert.deepEqual(values, uamiSet(`client-id:${UAMI_CLIENT_ID}`))
  })

  test('user-assigned identity whose token names another client ID than ARM: no client-id, not refused', async () => {
    const arm = new FakeArm()
    uamiBlog(arm)
    const values = await selectorsFor(
      arm,
      uamiClaims({ clientId: '00000000-0000-4000-8000-000000000001' }),
    )
    assert.deepEqual(values, uamiSet())
  })

  test('user-assigned identity whose client ID ARM does not list: no client-id', async () => {
    const arm = new FakeArm()
    uamiBlog(arm, null)
    const values = await selectorsFor(arm, uamiClaims({ clientId: UAMI_CLIENT_ID }))
    assert.deepEqual(values, uamiSet())
  })

  test('system-assigned identity (xms_mirid is the VM), even with appid in the token: no client-id', async () => {
    const arm = new FakeArm()
    blog(arm, {
      uamis: [{ id: UAMI, principalId: UAMI_PRINCIPAL_ID, clientId: UAMI_CLIENT_ID }],
    })
    const values = await selectorsFor(
      arm,
      claims({
        identityResourceId: vmId('frontend', 'blog'),
        clientId: '5a5a5a5a-1111-4222-8333-444455556666',
      }),
    )
    assert.deepEqual(
      values,
      sortBytes([...UPSTREAM_FIVE, ...DEFAKTO, 'resource-group:frontend', 'vm-location:eastus']),
    )
    assert.ok(!values.some((v) => v.startsWith('client-id:')))
  })

  test('user-assigned identity on a Uniform scale set and on one of its instances: client-id', async () => {
    const arm = new FakeArm()
    const ss = arm.addScaleSet({
      rg: 'frontend',
      name: 'web',
      uamis: [{ id: UAMI, principalId: UAMI_PRINCIPAL_ID, clientId: UAMI_CLIENT_ID }],
    })
    arm.addScaleSetVm(ss, '3')
    for (const compute of [
      vmssId('frontend', 'web'),
      `${vmssId('frontend', 'web')}/virtualMachines/3`,
    ]) {
      const values = await selectorsFor(arm, uamiClaims({ computeResourceId: compute }))
      assert.ok(values.includes(`client-id:${UAMI_CLIENT_ID}`), compute)
      assert.ok(values.includes(`principal-id:${UAMI_PRINCIPAL_ID}`), compute)
    }
  })

  test("tenant and principal IDs keep the token's casing; client-id keeps ARM's", async () => {
    const arm = new FakeArm()
    uamiBlog(arm, UAMI_CLIENT_ID.toUpperCase())
    const values = await selectorsFor(
      arm,
      uamiClaims({
        tenantId: TENANT_ID.toUpperCase(),
        principalId: UAMI_PRINCIPAL_ID.toUpperCase(),
        clientId: UAMI_CLIENT_ID,
      }),
    )
    assert.ok(values.includes(`tenant-id:${TENANT_ID.toUpperCase()}`))
    assert.ok(values.includes(`principal-id:${UAMI_PRINCIPAL_ID.toUpperCase()}`))
    assert.ok(values.includes(`client-id:${UAMI_CLIENT_ID.toUpperCase()}`))
  })

  test("resolveCompute reports the bound identity's client ID (identityClientId)", async () => {
    const arm = new FakeArm()
    uamiBlog(arm)
    const uami = await resolveCompute({
      arm,
      claims: uamiClaims(),
      subscriptionId: SUBSCRIPTION_ID,
    })
    assert.equal(uami.identityClientId, UAMI_CLIENT_ID)
    const sysArm = new FakeArm()
    blog(sysArm)
    const sys = await resolveCompute({
      arm: sysArm,
      claims: claims(),
      subscriptionId: SUBSCRIPTION_ID,
    })
    assert.equal(sys.identityClientId, undefined)
  })

  test("agreedClientId: ARM's value unless the token names another one", () => {
    const bound = { id: UAMI, principalId: UAMI_PRINCIPAL_ID, clientId: 'AbC' }
    assert.equal(agreedClientId(bound, { clientId: undefined }), 'AbC')
    assert.equal(agreedClientId(bound, { clientId: '' }), 'AbC')
    assert.equal(agreedClientId(bound, { clientId: 'abc' }), 'AbC')
    assert.equal(agreedClientId(bound, { clientId: 'abd' }), undefined)
    assert.equal(agreedClientId({ ...bound, clientId: undefined }, { clientId: 'abc' }), undefined)
    assert.equal(agreedClientId({ ...bound, clientId: '' }, { clientId: undefined }), undefined)
    assert.equal(agreedClientId(undefined, { clientId: 'abc' }), undefined)
  })

  test('buildSelectors adds tenant-id and principal-id as given, sorted by bytes', () => {
    const values = buildSelectors(
      {
        kind: 'vm',
        subscriptionId: SUBSCRIPTION_ID,
        resourceGroup: 'rg',
        name: 'vm',
        location: undefined,
        tags: {},
        scaleSetName: undefined,
        networks: [],
        identityClientId: 'c',
      },
      new Set(),
      { tenantId: 't', principalId: 'p' },
    )
    assert.deepEqual(values, [
      'client-id:c',
      'principal-id:p',
      'resource-group:rg',
      `subscription-id:${SUBSCRIPTION_ID}`,
      'tenant-id:t',
      'vm-name:rg:vm',
    ])
  })
})
