import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { Pki, Signer } from '../../azure-emulator/pki.js'
import type { PluginError } from '../../../shared/plugin/index.js'
import { createAttestor } from '../../../server-plugin/azure-imds/attestor.js'
import {
  agentIo,
  ids,
  imdsTestDeps,
  OTHER_TENANT_ID,
  payloadOf,
  serverConfig,
  TENANT_DOMAIN,
  TENANT_ID,
  TRUST_DOMAIN,
  type TestDeps,
} from '../../support/azure-imds.js'
import { cert, NOW, poolFor, sign, SUBSCRIPTION_ID, testPki, VM_ID } from './pki-support.js'

const SUB = SUBSCRIPTION_ID
const HCL = `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" allowed_vm_tags = ["environment"] } }`
const AGENT_ID = `spiffe://${TRUST_DOMAIN}/spire/agent/azure_imds/${TENANT_ID}/${SUB}/${VM_ID}`
const NSG = ids.nsg(SUB, 'frontend', 'webservers')
const SUBNET = ids.subnet(SUB, 'NetRG', 'vnet', 'default')
const INITIAL = Buffer.from('non_empty_payload')

let pki: Pki
before(async () => {
  pki = await testPki()
})

function world(hcl = HCL): { deps: TestDeps; config: ReturnType<typeof serverConfig> } {
  const { pool } = poolFor(pki)
  const deps = imdsTestDeps({
    now: () => NOW.getTime(),
    roots: async () => [cert(pki.roots.tlsRsaRootG2.cert)],
    intermediates: () => pool,
  })
  deps.azure.subscriptions.set(SUB, TENANT_ID)
  deps.azure.addVm({
    sub: SUB,
    rg: 'Frontend',
    name: 'blog',
    vmId: VM_ID,
    tags: { environment: 'production', team: 'web' },
    nics: [{ nsgId: NSG, subnetIds: [SUBNET] }],
  })
  return { deps, config: serverConfig(hcl) }
}

/** The agent's answer: a document signed for the nonce, plus hints. */
const answer =
  (meta: Parameters<typeof payloadOf>[1] = {}, signer?: Signer) =>
  (nonce: string) =>
    payloadOf(sign({ signer: signer ?? pki.leaves.public, nonce }), meta)

const refused = (status: string, message: string | RegExp, reason?: string) => (err: unknown) => {
  const e = err as PluginError
  assert.equal(e.status, status, e.message)
  if (typeof message === 'string') assert.equal(e.message, message)
  else assert.match(e.message, message)
  if (reason !== undefined) assert.equal(e.reason, reason)
  return true
}

describe('azure_imds server attestor', () => {
  test('standalone VM, our agent (resourceId hint): one VM GET, one NIC GET, upstream’s selectors', async () => {
    const { deps, config } = world()
    const { io, challenges } = agentIo(answer({ resourceId: ids.vm(SUB, 'Frontend', 'blog') }))
    const attrs = await createAttestor(deps).attest(INITIAL, config, io)
    assert.match(challenges[0] ?? '', /^[A-Za-z0-9]{32}$/)
    assert.equal(attrs.spiffeId, AGENT_ID)
    assert.equal(attrs.canReattest, false)
    assert.deepEqual(attrs.selectorValues, [
      'network-security-group:frontend:webservers',
      'resource-group:frontend',
      `subscription-id:${SUB}`,
      `tenant-id:${TENANT_ID}`,
      'virtual-network-subnet:vnet:default',
      'virtual-network:vnet',
      `vm-id:${VM_ID}`,
      'vm-location:eastus',
      'vm-name:blog',
      'vm-tag:environment:production',
    ])
    assert.deepEqual(deps.azure.calls, [
      `subscription ${SUB}`,
      `vm ${ids.vm(SUB, 'Frontend', 'blog')}`,
      `nic ${ids.nic(SUB, 'Frontend', 'blog-nic0')}`,
    ])
    assert.deepEqual(deps.store.calls, [AGENT_ID])
    assert.equal(deps.nonces.outstanding, 0, 'the nonce was consumed')
  })

  test('standalone VM, upstream’s agent (no hint): found by vmId in Resource Graph', async () => {
    const { deps, config } = world()
    const attrs = await createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io)
    assert.equal(attrs.spiffeId, AGENT_ID)
    assert.deepEqual(deps.azure.calls.slice(0, 3), [
      `subscription ${SUB}`,
      `graph-vm ${VM_ID}`,
      `vm ${ids.vm(SUB, 'Frontend', 'blog')}`,
    ])
  })

  test('Uniform instance: by hint one GET; by upstream’s vmssName hint two graph queries and one GET', async () => {
    for (const meta of [
      { vmssName: 'web', resourceId: `${ids.vmss(SUB, 'backend', 'web')}/virtualMachines/7` },
      { vmssName: 'web' },
    ]) {
      const { deps, config } = world()
      deps.azure.vms.clear()
      // same-named scale set in another resource group must not interfere (upstream #7296)
      deps.azure.addScaleSetVm({
        sub: SUB,
        rg: 'frontend',
        scaleSet: 'web',
        instanceId: '7',
        vmId: '11111111-2222-4333-8444-555555555555',
      })
      deps.azure.addScaleSetVm({
        sub: SUB,
        rg: 'backend',
        scaleSet: 'web',
        instanceId: '7',
        vmId: VM_ID,
        tags: { environment: 'staging' },
        nics: [{ nsgId: NSG, subnetIds: [SUBNET] }],
      })
      const attrs = await createAttestor(deps).attest(INITIAL, config, agentIo(answer(meta)).io)
      assert.deepEqual(attrs.selectorValues, [
        'network-security-group:frontend:webservers',
        'resource-group:backend',
        `subscription-id:${SUB}`,
        `tenant-id:${TENANT_ID}`,
        'virtual-network-subnet:vnet:default',
        'virtual-network:vnet',
        `vm-id:${VM_ID}`,
        'vm-location:westeurope',
        'vm-name:web_7',
        'vm-tag:environment:staging',
        'vmss-name:web',
      ])
      const expected =
        'resourceId' in meta
          ? [`subscription ${SUB}`, `vmss-vm ${ids.vmss(SUB, 'backend', 'web')}/virtualMachines/7`]
          : [
              `subscription ${SUB}`,
              `graph-vm ${VM_ID}`,
              `graph-vmss-vm ${VM_ID}`,
              `vmss-vm ${ids.vmss(SUB, 'backend', 'web')}/virtualMachines/7`,
            ]
      assert.deepEqual(deps.azure.calls, expected)
    }
  })

  test('Flexible member: an ordinary VM; vmss-name comes from ARM', async () => {
    const { deps, config } = world()
    deps.azure.vms.clear()
    deps.azure.addVm({
      sub: SUB,
      rg: 'frontend',
      name: 'flex_0a1b2c3d',
      vmId: VM_ID,
      scaleSetId: ids.vmss(SUB, 'frontend', 'flex'),
    })
    const attrs = await createAttestor(deps).attest(
      INITIAL,
      config,
      agentIo(answer({ vmssName: 'flex' })).io,
    )
    assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
    assert.ok(attrs.selectorValues.includes('vm-name:flex_0a1b2c3d'))
    assert.deepEqual(deps.azure.calls, [
      `subscription ${SUB}`,
      `graph-vm ${VM_ID}`,
      `vm ${ids.vm(SUB, 'frontend', 'flex_0a1b2c3d')}`,
    ])
  })

  test('a resourceId hint naming another VM is refused (its ARM vmId is not the signed one)', async () => {
    const { deps, config } = world()
    deps.azure.addVm({
      sub: SUB,
      rg: 'frontend',
      name: 'other',
      vmId: '11111111-2222-4333-8444-555555555555',
    })
    const io = agentIo(answer({ resourceId: ids.vm(SUB, 'frontend', 'other') })).io
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, io),
      refused('PermissionDenied', /is not the attested VM/, 'resource_id_mismatch'),
    )
  })

  test('a resourceId hint outside the signed subscription, or malformed, is refused', async () => {
    const { deps, config } = world()
    for (const resourceId of [
      ids.vm('00000000-0000-4000-8000-000000000000', 'rg', 'x'),
      '/subscriptions/x/bogus',
    ]) {
      await assert.rejects(
        createAttestor(deps).attest(INITIAL, config, agentIo(answer({ resourceId })).io),
        refused('InvalidArgument', /resource ID hint/, 'invalid_resource_id'),
      )
    }
  })

  test('upstream’s VMSS name validation', async () => {
    const { deps, config } = world()
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer({ vmssName: '-bad' })).io),
      refused(
        'InvalidArgument',
        'invalid VMSS name: VMSS name must start with an alphanumeric character',
      ),
    )
  })

  test('VM unknown to ARM: NotFound "resource not found"', async () => {
    const { deps, config } = world()
    deps.azure.vms.clear()
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused('NotFound', 'resource not found'),
    )
  })

  test('tenant hint not configured: upstream’s PermissionDenied', async () => {
    const { deps, config } = world()
    await assert.rejects(
      createAttestor(deps).attest(
        INITIAL,
        config,
        agentIo(answer({ agentDomain: 'evil.example' })).io,
      ),
      refused('PermissionDenied', 'tenant "evil.example" is not authorized'),
    )
  })

  test('the tenant ID itself is accepted as the hint', async () => {
    const { deps, config } = world()
    const attrs = await createAttestor(deps).attest(
      INITIAL,
      config,
      agentIo(answer({ agentDomain: TENANT_ID.toUpperCase() })).io,
    )
    assert.equal(attrs.spiffeId, AGENT_ID)
  })

  test("Defakto's tenant-id is the tenant the attestor determined (looked up for a domain key)", async () => {
    const { deps, config } = world(`tenants = { "${TENANT_DOMAIN}" = {} }`)
    const looked: string[] = []
    deps.tenantId = async (t) => {
      looked.push(t.key)
      return OTHER_TENANT_ID
    }
    deps.azure.subscriptions.set(SUB, OTHER_TENANT_ID)
    const attrs = await createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io)
    assert.deepEqual(looked, [TENANT_DOMAIN])
    assert.deepEqual(
      attrs.selectorValues.filter((v) => v.startsWith('tenant-id:')),
      [`tenant-id:${OTHER_TENANT_ID}`],
    )
  })

  test("Defakto's vm-id is the signed document's vmId as signed (ARM's is matched case-insensitively)", async () => {
    const { deps, config } = world()
    const signed = VM_ID.toUpperCase()
    const { io } = agentIo((nonce) =>
      payloadOf(sign({ signer: pki.leaves.public, nonce, vmId: signed }), {
        resourceId: ids.vm(SUB, 'Frontend', 'blog'),
      }),
    )
    const attrs = await createAttestor(deps).attest(INITIAL, config, io)
    assert.deepEqual(
      attrs.selectorValues.filter((v) => v.startsWith('vm-id:')),
      [`vm-id:${signed}`],
    )
  })

  test('restrict_to_subscriptions', async () => {
    const { deps, config } = world(
      `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" restrict_to_subscriptions = ["00000000-0000-4000-8000-000000000000"] } }`,
    )
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused('PermissionDenied', `subscription "${SUB}" is not authorized`),
    )
  })

  test('tenant binding: a subscription of another tenant is refused even with the right hint', async () => {
    const { deps, config } = world()
    deps.azure.subscriptions.set(SUB, OTHER_TENANT_ID)
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused(
        'PermissionDenied',
        `subscription "${SUB}" does not belong to tenant "${TENANT_ID}"`,
        'subscription_not_in_tenant',
      ),
    )
    deps.azure.subscriptions.delete(SUB)
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused('PermissionDenied', /does not belong to tenant/),
    )
    assert.equal(deps.store.calls.length, 0, 'refused before TOFU')
  })

  test('TOFU: an attested agent ID is refused before any VM lookup', async () => {
    const { deps, config } = world()
    deps.store.attested.add(AGENT_ID)
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused('PermissionDenied', 'attestation data has already been used to attest an agent'),
    )
    assert.deepEqual(deps.azure.calls, [`subscription ${SUB}`])
  })

  test('a replayed document (signed for an earlier nonce) is a nonce mismatch', async () => {
    const { deps, config } = world()
    const old = payloadOf(
      sign({ signer: pki.leaves.public, nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }),
    )
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(() => old).io),
      refused('InvalidArgument', 'nonce mismatch'),
    )
  })

  test('upstream’s order: document before tenant, content before tenant, tenant before subscription', async () => {
    const { deps, config } = world(
      `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" restrict_to_subscriptions = ["00000000-0000-4000-8000-000000000000"] } }`,
    )
    const a = createAttestor(deps)
    const unknown = { agentDomain: 'evil.example' }
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(answer(unknown, pki.bad.wrongSan)).io),
      refused('InvalidArgument', /^failed to validate attested document: /),
    )
    await assert.rejects(
      a.attest(
        INITIAL,
        config,
        agentIo((n) => payloadOf(sign({ signer: pki.leaves.public, nonce: `${n}x` }), unknown)).io,
      ),
      refused('InvalidArgument', 'nonce mismatch'),
    )
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(answer(unknown)).io),
      refused('PermissionDenied', /^tenant /),
    )
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(answer()).io),
      refused('PermissionDenied', /^subscription .* is not authorized$/),
    )
  })

  test('malformed challenge responses: upstream’s messages', async () => {
    const { deps, config } = world()
    const a = createAttestor(deps)
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(() => Buffer.from('not json')).io),
      refused('InvalidArgument', /^failed to unmarshal data payload: /),
    )
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(() => Buffer.from('{"document":{"signature":5}}')).io),
      refused(
        'InvalidArgument',
        'failed to unmarshal data payload: json: cannot unmarshal number into Go struct field AttestedDocument.document.signature of type string',
      ),
    )
    await assert.rejects(
      a.attest(INITIAL, config, agentIo(() => Buffer.from('{}')).io),
      refused(
        'InvalidArgument',
        'failed to validate attested document: missing signature in attested document',
      ),
    )
  })

  test('agent_path_template: upstream’s fields, and a failure is Internal "unable to make agent ID"', async () => {
    const custom = world(
      `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" } }\nagent_path_template = "/{{ .PluginName }}/{{ .AttestedDocumentContent.SubscriptionID }}/{{ .VMID | upper }}"`,
    )
    const attrs = await createAttestor(custom.deps).attest(
      INITIAL,
      custom.config,
      agentIo(answer()).io,
    )
    assert.equal(
      attrs.spiffeId,
      `spiffe://${TRUST_DOMAIN}/spire/agent/azure_imds/${SUB}/${VM_ID.toUpperCase()}`,
    )
    const bad = world(
      `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" } }\nagent_path_template = "/{{ .Nope }}"`,
    )
    await assert.rejects(
      createAttestor(bad.deps).attest(INITIAL, bad.config, agentIo(answer()).io),
      refused('Internal', /^unable to make agent ID: /),
    )
    const empty = world(
      `tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" } }\nagent_path_template = "/x//{{ .VMID }}"`,
    )
    await assert.rejects(
      createAttestor(empty.deps).attest(INITIAL, empty.config, agentIo(answer()).io),
      refused(
        'Internal',
        /invalid agent path suffix "\/x\/\/.*": path cannot contain empty segments/,
      ),
    )
  })

  test('ARM failures are Internal with upstream’s prefixes', async () => {
    const { deps, config } = world()
    deps.azure.fail.set('nic', new Error('boom'))
    await assert.rejects(
      createAttestor(deps).attest(INITIAL, config, agentIo(answer()).io),
      refused('Internal', 'unable to get network interfaces: boom'),
    )
  })
})
