import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { buildConfig as buildAgentConfig } from '../../../agent-plugin/azure-msi/config.js'
import { createDefaultAttestor as createAgent } from '../../../agent-plugin/azure-msi/attestor.js'
import { createAttestor } from '../../../server-plugin/azure-msi/attestor.js'
import { buildConfig, type MsiServerConfig } from '../../../server-plugin/azure-msi/config.js'
import { createDefaultDeps, type Deps } from '../../../server-plugin/azure-msi/deps.js'
import {
  msiTenantCandidates,
  previewMsi,
  type MsiVmRef,
} from '../../../server-plugin/azure-msi/preview.js'
import {
  NOOP_LOGGER,
  NOOP_METRICS,
  PluginError,
  Report,
  type AgentAttributes,
  type AgentStore,
} from '../../../shared/plugin/index.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import { agentHclFor, serverHclFor } from '../../support/azure-msi-plugins.js'

/**
 * previewMsi against the emulator: for each identity shape and compute kind, what the preview says
 * equals what the attestor (the same deps, in process) returns when that VM's agent attests.
 */
let emu: Emulator
const closers: (() => unknown)[] = []

/** AgentStore for the attestor: nobody attested yet. The preview must never call it. */
const freshStore: AgentStore = { isAttested: async () => false }
const forbiddenStore: AgentStore = {
  isAttested: () => Promise.reject(new Error('the preview called AgentStore')),
}

function deps(agentStore: AgentStore): Deps {
  return createDefaultDeps({
    log: NOOP_LOGGER,
    agentStore,
    metrics: NOOP_METRICS,
    hostServices: [],
  })
}

function config(extra = 'allowed_vm_tags = ["environment"]', hcl?: string): MsiServerConfig {
  const report = new Report()
  const built = buildConfig(
    hcl ?? serverHclFor(emu, [{ tenant: 'contoso' }], extra),
    {
      trustDomain: 'example.org',
    },
    report,
  )
  assert.ok(built, report.notes.join('\n'))
  return built
}

/** What the server attestor returns when the VM's agent (agent plugin code, in process) attests. */
async function attest(cfg: MsiServerConfig, vm: string, agentExtra = ''): Promise<AgentAttributes> {
  const report = new Report()
  const agentConfig = buildAgentConfig(
    agentHclFor(emu, vm, agentExtra),
    { trustDomain: 'example.org' },
    report,
  )
  assert.ok(agentConfig, report.notes.join('\n'))
  const signal = new AbortController().signal
  const ctx = { log: NOOP_LOGGER, agentStore: undefined, metrics: NOOP_METRICS, hostServices: [] }
  const payload = await createAgent(ctx).payload(agentConfig, { signal })
  return createAttestor(deps(freshStore)).attest(payload, cfg, {
    challenge: () => Promise.reject(new Error('azure_msi sends no challenge')),
    signal,
    metadata: {},
  })
}

async function preview(cfg: MsiServerConfig, ref: MsiVmRef) {
  const tenant = [...cfg.tenants.values()][0]!
  return previewMsi(cfg, tenant, ref, deps(forbiddenStore))
}

before(async () => {
  emu = await startEmulator()
})
after(async () => {
  for (const c of closers) await c()
  assert.deepEqual(emu?.errors, [], 'the emulator answered no request with an unexpected error')
  await emu?.stop()
})

/** The preview equals the attestation, selector for selector. */
async function same(
  vm: string,
  ref: MsiVmRef,
  agentExtra = '',
  cfg = config(),
): Promise<Awaited<ReturnType<typeof preview>>> {
  const [attrs, p] = await Promise.all([attest(cfg, vm, agentExtra), preview(cfg, ref)])
  assert.deepEqual(p.selectors, attrs.selectorValues)
  assert.equal(p.agentId, attrs.spiffeId)
  return p
}

describe('azure_msi preview equals the attestation', () => {
  test('standalone VM, system-assigned identity', async () => {
    const vm = emu.world.vm('frontend/blog')
    const p = await same('frontend/blog', { resourceId: vm.id })
    assert.equal(p.identity.kind, 'system-assigned')
    assert.equal(p.identity.principalId, vm.identity.system!.principalId)
    assert.equal(p.resolved.kind, 'vm')
    assert.ok(p.selectors.includes('vm-name:frontend:blog'))
    assert.ok(p.selectors.includes('vm-tag:environment:production'))
    assert.deepEqual(p.notes, [])
  })

  test('Flexible scale-set member (its own identity)', async () => {
    const vm = emu.world.vm('frontend/flex/0')
    const p = await same('frontend/flex/0', { resourceId: vm.id })
    assert.ok(p.selectors.includes('vmss-name:flex'))
    assert.ok(p.selectors.includes(`vm-name:frontend:${vm.name}`))
  })

  test('Uniform instance: the scale set identity and selectors, with a note', async () => {
    const vm = emu.world.vm('frontend/web/1')
    const p = await same('frontend/web/1', { resourceId: vm.id })
    assert.equal(p.resolved.kind, 'vmss')
    assert.equal(p.identity.resourceId.toLowerCase(), vm.scaleSet!.id.toLowerCase())
    assert.ok(p.selectors.includes('vmss-name:web'))
    assert.ok(!p.selectors.some((s) => s.startsWith('vm-name:')))
    assert.match(p.notes.join('\n'), /Uniform scale-set instance presents its scale set's identity/)
  })

  test('the only user-assigned identity, picked as IMDS picks it; client-id from ARM', async () => {
    const vm = emu.world.vm('frontend/api')
    const uami = vm.identity.userAssigned[0]!
    const p = await same('frontend/api', { resourceId: vm.id })
    assert.equal(p.identity.kind, 'user-assigned')
    assert.equal(p.identity.principalId, uami.principalId)
    assert.equal(p.identity.resourceId, uami.id)
    assert.ok(p.selectors.includes(`client-id:${uami.clientId}`), p.selectors.join('\n'))
    assert.ok(p.selectors.includes(`principal-id:${uami.principalId}`))
  })

  test('a user-assigned identity named by resource ID or client ID, with a VM-qualified template', async () => {
    const cfg = config(
      'agent_path_template = "/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .ResourceGroup }}/{{ .VMName }}/{{ .ClientID }}"',
    )
    const vm = emu.world.vm('frontend/worker')
    const batch = vm.identity.userAssigned.find((u) => u.name === 'batch-identity')!
    const byId = await same(
      'frontend/worker',
      { resourceId: vm.id, identity: { userAssigned: batch.id } },
      `msi_res_id = "${batch.id}"`,
      cfg,
    )
    assert.match(byId.agentId, /\/frontend\/worker\//)
    const byClient = await preview(cfg, {
      resourceId: vm.id,
      identity: { userAssigned: batch.clientId.toUpperCase() },
    })
    assert.equal(byClient.agentId, byId.agentId)
  })

  test('the system-assigned identity of a VM that also has user-assigned ones, by principal', async () => {
    const vm = emu.world.vm('frontend/worker')
    const sys = vm.identity.system!.principalId
    const p = await same(
      'frontend/worker',
      { resourceId: vm.id, identity: { principalId: sys } },
      `object_id = "${sys}"`,
    )
    assert.equal(p.identity.kind, 'system-assigned')
  })

  test('a tenant without subscription_id: the server subscription, else the VM one with a note', async () => {
    const t = emu.world.tenant('contoso')
    const e = emu.endpoints
    const open = config(
      '',
      `tenants = { "${t.tenantId}" = {} }
endpoints { authority_host = "${e.entra}" resource_manager = "${e.arm}" ca_file = "${e.caFile}" }`,
    )
    const tenant = [...open.tenants.values()][0]!
    assert.equal(tenant.subscriptionId, undefined)
    // the default credential chain cannot reach the emulator: ARM through the app's credential
    const d = deps(forbiddenStore)
    const withApp = [...config().tenants.values()][0]!
    const vm = emu.world.vm('frontend/blog')
    const expected = await preview(config(''), { resourceId: vm.id })
    const sub = t.subscriptions[0]!.subscriptionId
    let asked = 0
    const onServer = await previewMsi(
      open,
      tenant,
      { resourceId: vm.id },
      {
        armFor: () => d.armFor(withApp),
        serverSubscription: async () => (asked++, sub),
        now: d.now,
      },
    )
    assert.equal(asked, 1)
    assert.deepEqual(onServer.selectors, expected.selectors)
    assert.deepEqual(onServer.notes, [])
    const elsewhere = await previewMsi(
      open,
      tenant,
      { resourceId: vm.id },
      {
        armFor: () => d.armFor(withApp),
        serverSubscription: () => Promise.reject(new Error('IMDS unreachable')),
        now: d.now,
      },
    )
    assert.deepEqual(elsewhere.selectors, expected.selectors)
    assert.match(elsewhere.notes.join('\n'), /could not be read here \(IMDS unreachable\); assumed/)
  })
})

describe('azure_msi preview: refusals and what it cannot preview', () => {
  test('the principal allow-list refuses as the server does', async () => {
    const cfg = config(
      '',
      serverHclFor(emu, [
        { tenant: 'contoso', extra: `principal_ids = ["00000000-0000-0000-0000-000000000001"]` },
      ]),
    )
    const vm = emu.world.vm('frontend/blog')
    await assert.rejects(preview(cfg, { resourceId: vm.id }), (err: unknown) => {
      assert.ok(err instanceof PluginError)
      assert.equal(err.reason, 'principal_not_authorized')
      return true
    })
  })

  test('a VM of another subscription is refused with the server message', async () => {
    const other = '11111111-2222-3333-4444-555555555555'
    const cfg = config('', serverHclFor(emu, [{ tenant: 'contoso', subscription: other }]))
    const vm = emu.world.vm('frontend/blog')
    await assert.rejects(preview(cfg, { resourceId: vm.id }), (err: unknown) => {
      assert.ok(err instanceof PluginError)
      assert.equal(err.reason, 'subscription_not_authorized')
      return true
    })
  })

  test('an unknown VM is vm_not_found; several user-assigned identities need a choice', async () => {
    const vm = emu.world.vm('frontend/blog')
    await assert.rejects(preview(config(), { resourceId: `${vm.id}-gone` }), (err: unknown) => {
      assert.ok(err instanceof PluginError)
      assert.equal(err.reason, 'vm_not_found')
      return true
    })
    await assert.rejects(
      preview(config(), { resourceId: emu.world.vm('frontend/multi').id }),
      /2 user-assigned identities and no system-assigned one/,
    )
    await assert.rejects(
      preview(config(), { resourceId: emu.world.vm('frontend/plain').id }),
      /has no managed identity/,
    )
  })

  test('a template on per-token claims is flagged', async () => {
    const cfg = config(
      'agent_path_template = "/{{ .PluginName }}/{{ .PrincipalID }}/{{ .IssuedAt }}"',
    )
    const p = await preview(cfg, { resourceId: emu.world.vm('frontend/blog').id })
    assert.match(p.notes.join('\n'), /differs with every token/)
  })

  test('tenant candidates: by subscription_id, else the one without it', () => {
    const sub = emu.world.tenant('contoso').subscriptions[0]!.subscriptionId
    const cfg = config()
    assert.equal(msiTenantCandidates(cfg, sub).length, 1)
    assert.equal(msiTenantCandidates(cfg, sub.toUpperCase()).length, 1)
    // a lone tenant is kept even for another subscription (the preview shows the refusal)
    assert.equal(msiTenantCandidates(cfg, '11111111-2222-3333-4444-555555555555').length, 1)
  })
})
