import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ComputeFacts } from '../../../server-plugin/azure-imds/resolve.js'
import { buildSelectors } from '../../../server-plugin/azure-imds/selectors.js'

/** Unit tests of azure_imds's selector values, including Defakto's tenant-id and vm-id. */
const SUB = 'd5b40d61-272e-48da-beb9-05f295c42bd6'
const TENANT = '0a1b2c3d-1111-2222-3333-444455556666'
const VM_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301'

const compute = (o: Partial<ComputeFacts> = {}): ComputeFacts => ({
  id: `/subscriptions/${SUB}/resourceGroups/frontend/providers/Microsoft.Compute/virtualMachines/blog`,
  name: 'blog',
  location: 'eastus',
  resourceGroup: 'frontend',
  scaleSetName: undefined,
  tags: {},
  nics: [],
  foundBy: 'resource-id-hint',
  ...o,
})

describe('azure_imds selectors', () => {
  test("upstream's values plus Defakto's tenant-id and vm-id, sorted by bytes", () => {
    assert.deepEqual(buildSelectors(SUB, compute(), new Set(), { tenantId: TENANT, vmId: VM_ID }), [
      'resource-group:frontend',
      `subscription-id:${SUB}`,
      `tenant-id:${TENANT}`,
      `vm-id:${VM_ID}`,
      'vm-location:eastus',
      'vm-name:blog',
    ])
  })

  test('tenant-id and vm-id keep the casing they are given', () => {
    const values = buildSelectors(SUB, compute(), new Set(), {
      tenantId: TENANT.toUpperCase(),
      vmId: VM_ID.toUpperCase(),
    })
    assert.ok(values.includes(`tenant-id:${TENANT.toUpperCase()}`))
    assert.ok(values.includes(`vm-id:${VM_ID.toUpperCase()}`))
  })

  test('a Uniform instance: vmss-name, allow-listed tags, networks, and the new values', () => {
    const values = buildSelectors(
      SUB,
      compute({
        name: 'web_7',
        scaleSetName: 'web',
        tags: { environment: 'prod', secret: 'x' },
        nics: [
          {
            nsgId: `/subscriptions/${SUB}/resourceGroups/net/providers/Microsoft.Network/networkSecurityGroups/web`,
            subnetIds: [
              `/subscriptions/${SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet/subnets/default`,
            ],
          },
        ],
      }),
      new Set(['environment']),
      { tenantId: TENANT, vmId: VM_ID },
    )
    assert.deepEqual(values, [
      'network-security-group:net:web',
      'resource-group:frontend',
      `subscription-id:${SUB}`,
      `tenant-id:${TENANT}`,
      'virtual-network-subnet:vnet:default',
      'virtual-network:vnet',
      `vm-id:${VM_ID}`,
      'vm-location:eastus',
      'vm-name:web_7',
      'vm-tag:environment:prod',
      'vmss-name:web',
    ])
  })
})
