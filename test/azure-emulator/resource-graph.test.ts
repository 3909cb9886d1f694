// The emulator's Resource Graph skips, before building rows, the resources a leading `where` cannot
// match by id, NIC attachment or vmId (resource-graph.ts candidateKeys). The answers must be exactly
// those of a full scan: each query here is compared with the same query written so that no key can
// be read from it (`not(not(…))`), which the emulator answers by reading every resource.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  scaleSetVmBatchQuery,
  vmBatchQuery,
  vmIdBatchQuery,
} from '../../shared/azure/resource-graph-batch.js'
import { runGraphQuery, type GraphRequest } from './resource-graph.js'
import { World, type WorldSpec } from './world.js'

const SPEC: WorldSpec = {
  seed: 'graph-candidates',
  tenants: [
    {
      name: 'contoso',
      subscriptions: [
        {
          name: 'prod',
          resourceGroups: [
            {
              name: 'Fleet',
              networkSecurityGroups: [{ name: 'web' }],
              virtualNetworks: [
                { name: 'vnet', subnets: [{ name: 'default', networkSecurityGroup: 'web' }] },
              ],
              virtualMachines: Array.from({ length: 12 }, (_, i) => ({
                name: `vm-${i}`,
                identity: { systemAssigned: true },
              })),
              scaleSets: [
                {
                  name: 'flex',
                  orchestrationMode: 'Flexible',
                  capacity: 30,
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'default' },
                },
                {
                  name: 'uni',
                  orchestrationMode: 'Uniform',
                  capacity: 30,
                  identity: { systemAssigned: true },
                  network: { virtualNetwork: 'vnet', subnet: 'default' },
                },
              ],
            },
          ],
        },
      ],
    },
  ],
}

const world = new World(SPEC)
const sub = world.subscription('prod')
const rg = sub.resourceGroups[0]!
const [flex, uni] = rg.scaleSets as [(typeof rg.scaleSets)[0], (typeof rg.scaleSets)[0]]

/** The same query with every leading `where` hidden from the key reader. */
function fullScan(query: string): string {
  return query
    .split(' | ')
    .map((stage) => stage.replace(/^where (.*)$/s, 'where not(not($1))'))
    .join(' | ')
}

function answer(query: string): unknown {
  const req: GraphRequest = { query, options: { $top: 1000 } }
  const reply = runGraphQuery([sub], world.seed, req)
  assert.equal(reply.status, 200, JSON.stringify(reply.body))
  return reply.body
}

function sameAsFullScan(query: string, minRows: number): void {
  const keyed = answer(query) as { data: unknown[] }
  assert.deepEqual(keyed, answer(fullScan(query)))
  assert.ok(keyed.data.length >= minRows, `${keyed.data.length} rows for ${query}`)
}

test('the batched VM query (VMs and their NICs by id): the rows of a full scan', () => {
  const vms = [rg.virtualMachines[3]!, flex.instance(7), flex.instance(29)]
  // casing as callers send it, a VM that does not exist, and a Uniform instance (not in `resources`)
  const ids = [
    ...vms.map((vm) => vm.id),
    vms[0]!.id.toUpperCase(),
    vms[0]!.id.replace('vm-3', 'vm-99'),
    uni.instance(2).id,
  ]
  sameAsFullScan(vmBatchQuery(ids), 2 * vms.length)
})

test('the batched Uniform-instance query and the vmId lookups: the rows of a full scan', () => {
  sameAsFullScan(scaleSetVmBatchQuery([uni.instance(0).id, uni.instance(17).id]), 2)
  sameAsFullScan(vmIdBatchQuery('vm', [rg.virtualMachines[0]!.vmId, flex.instance(4).vmId]), 2)
  sameAsFullScan(vmIdBatchQuery('vmss-vm', [uni.instance(5).vmId.toUpperCase()]), 1)
})

test('keys under or / and / not, and a where after a project: the rows of a full scan', () => {
  const a = rg.virtualMachines[1]!
  const b = flex.instance(3)
  for (const q of [
    `resources | where id =~ '${a.id}' or properties.vmId == '${b.vmId}'`,
    `resources | where type =~ 'microsoft.compute/virtualmachines' and id in~ ('${a.id}', '${b.id}')`,
    // an `or` with one side that pins no key reads everything
    `resources | where id =~ '${a.id}' or name startswith 'vm-1'`,
    `resources | where not(id =~ '${a.id}') | where type =~ 'microsoft.network/networksecuritygroups'`,
    `resources | project id, name | where id =~ '${a.id}'`,
    // an empty literal matches every resource that lacks the column: no key can be read from it
    `resources | where properties.vmId == ''`,
    `resources | where tostring(properties.virtualMachine.id) in~ ('', '${a.id}')`,
  ]) {
    sameAsFullScan(q, 1)
  }
})
