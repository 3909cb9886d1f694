import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { PluginError } from '../../../shared/plugin/index.js'
import { resolveCompute } from '../../../server-plugin/azure-msi/resolve.js'
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
  vmId,
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

async function selectorsFor(arm: FakeArm, c: MsiClaims, tags: string[] = []): Promise<string[]> {
  const compute = await resolveCompute({ arm, claims: c, subscriptionId: SUBSCRIPTION_ID })
  return buildSelectors(compute, new Set(tags))
}

describe('selectors: upstream shapes', () => {
  test('system-assigned VM found by principal (no xms claims): upstream five plus ours, sorted', async () => {
    const arm = new FakeArm()
    blog(arm)
    const values = await selectorsFor(arm, claims())
    assert.deepEqual(
      values,
      sortBytes([...UPSTREAM_FIVE, 'resource-group:frontend', 'vm-location:eastus']),
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
