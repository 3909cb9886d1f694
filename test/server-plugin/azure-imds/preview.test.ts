import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createDefaultAttestor as createAgent } from '../../../agent-plugin/azure-imds/attestor.js'
import { buildConfig as buildAgentConfig } from '../../../agent-plugin/azure-imds/config.js'
import { createAttestor } from '../../../server-plugin/azure-imds/attestor.js'
import { buildConfig, type ImdsServerConfig } from '../../../server-plugin/azure-imds/config.js'
import { createDefaultDeps, type Deps } from '../../../server-plugin/azure-imds/deps.js'
import {
  imdsTenantCandidates,
  NONCE_PLACEHOLDER,
  previewImds,
} from '../../../server-plugin/azure-imds/preview.js'
import {
  NOOP_LOGGER,
  NOOP_METRICS,
  PluginError,
  Report,
  type AgentAttributes,
  type AgentStore,
} from '../../../shared/plugin/index.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'
import { agentHcl, serverHcl, tenantHcl } from '../../support/azure-imds-plugins.js'

/**
 * previewImds against the emulator: for a standalone VM, a Flexible member and a Uniform instance,
 * what the preview says equals what the attestor (the same deps, in process) returns when that
 * VM's agent attests; tenant choice across clouds; the server's refusals.
 */
let emu: Emulator

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

function config(tenantExtra = 'allowed_vm_tags = ["environment"]', extra = ''): ImdsServerConfig {
  const tenants = [
    tenantHcl(emu, 'contoso', tenantExtra),
    tenantHcl(emu, 'fabrikam-gov'),
    tenantHcl(emu, 'contoso-cn'),
  ].join('\n  ')
  const report = new Report()
  const built = buildConfig(serverHcl(emu, tenants, extra), { trustDomain: 'example.org' }, report)
  assert.ok(built, report.notes.join('\n'))
  return built
}

/** What the server attestor returns when the VM's agent (agent plugin code, in process) attests. */
async function attest(cfg: ImdsServerConfig, vm: string, domain: string): Promise<AgentAttributes> {
  const report = new Report()
  const agentConfig = buildAgentConfig(
    agentHcl(emu, vm, domain),
    { trustDomain: 'example.org' },
    report,
  )
  assert.ok(agentConfig, report.notes.join('\n'))
  const signal = new AbortController().signal
  const ctx = { log: NOOP_LOGGER, agentStore: undefined, metrics: NOOP_METRICS, hostServices: [] }
  const agent = createAgent(ctx)
  const payload = await agent.payload(agentConfig, { signal })
  return createAttestor(deps(freshStore)).attest(payload, cfg, {
    challenge: (nonce) => agent.respond!(nonce, agentConfig, { signal }),
    signal,
    metadata: {},
  })
}

before(async () => {
  emu = await startEmulator()
})
after(async () => {
  assert.deepEqual(emu?.errors, [], 'the emulator answered no request with an unexpected error')
  await emu?.stop()
})

async function same(handle: string, cfg = config()) {
  const vm = emu.world.vm(handle)
  const d = deps(forbiddenStore)
  const sub = vm.resourceGroup.subscription.subscriptionId
  const candidates = await imdsTenantCandidates(cfg, sub, d)
  assert.equal(candidates.length, 1, candidates.map((t) => t.key).join(', '))
  const tenant = candidates[0]!
  const [attrs, p] = await Promise.all([
    attest(cfg, handle, tenant.key),
    previewImds(cfg, tenant, { resourceId: vm.id }, d),
  ])
  assert.deepEqual(p.selectors, attrs.selectorValues)
  assert.equal(p.agentId, attrs.spiffeId)
  assert.equal(p.vmId, vm.vmId)
  return p
}

describe('azure_imds preview equals the attestation', () => {
  test('standalone VM', async () => {
    const p = await same('frontend/blog')
    assert.equal(p.tenantKey, 'contoso.onmicrosoft.com')
    assert.ok(p.selectors.includes('vm-name:blog'))
    assert.ok(p.selectors.includes('vm-tag:environment:production'))
    assert.deepEqual(p.notes, [])
  })

  test('Flexible scale-set member', async () => {
    const vm = emu.world.vm('frontend/flex/1')
    const p = await same('frontend/flex/1')
    assert.ok(p.selectors.includes('vmss-name:flex'))
    assert.ok(p.selectors.includes(`vm-name:${vm.name}`))
  })

  test('Uniform instance', async () => {
    const p = await same('frontend/web/2')
    assert.ok(p.selectors.includes('vmss-name:web'))
    assert.ok(p.selectors.includes('vm-name:web_2'))
  })

  test('a VM of the US Government tenant: the tenant whose credential owns the subscription', async () => {
    const p = await same('gov/gov-vm')
    assert.equal(p.tenantKey, 'fabrikam.onmicrosoft.us')
  })

  test('a template on .Nonce is flagged and rendered with the placeholder', async () => {
    const cfg = config(
      undefined,
      'agent_path_template = "/{{ .PluginName }}/{{ .VMID }}/{{ .Nonce }}"',
    )
    const vm = emu.world.vm('frontend/blog')
    const tenant = (
      await imdsTenantCandidates(
        cfg,
        vm.resourceGroup.subscription.subscriptionId,
        deps(forbiddenStore),
      )
    )[0]!
    const p = await previewImds(cfg, tenant, { resourceId: vm.id }, deps(forbiddenStore))
    assert.equal(
      p.agentId,
      `spiffe://example.org/spire/agent/azure_imds/${vm.vmId}/${NONCE_PLACEHOLDER}`,
    )
    assert.match(p.notes.join('\n'), /uses \.Nonce: the agent ID differs with every attestation/)
  })
})

describe('azure_imds preview: refusals', () => {
  test('restrict_to_subscriptions refuses as the server does', async () => {
    const cfg = config('restrict_to_subscriptions = ["11111111-2222-3333-4444-555555555555"]')
    const vm = emu.world.vm('frontend/blog')
    const tenant = cfg.tenants.find((t) => t.key === 'contoso.onmicrosoft.com')!
    await assert.rejects(
      previewImds(cfg, tenant, { resourceId: vm.id }, deps(forbiddenStore)),
      (err: unknown) => {
        assert.ok(err instanceof PluginError)
        assert.equal(err.reason, 'subscription_not_authorized')
        return true
      },
    )
  })

  test("a tenant that does not own the VM's subscription is refused", async () => {
    const cfg = config()
    const vm = emu.world.vm('frontend/blog')
    const gov = cfg.tenants.find((t) => t.key === 'fabrikam.onmicrosoft.us')!
    await assert.rejects(
      previewImds(cfg, gov, { resourceId: vm.id }, deps(forbiddenStore)),
      (err: unknown) => {
        assert.ok(err instanceof PluginError)
        assert.equal(err.reason, 'subscription_not_in_tenant')
        return true
      },
    )
  })

  test('an unknown VM is vm_not_found', async () => {
    const cfg = config()
    const vm = emu.world.vm('frontend/web/0')
    const tenant = cfg.tenants[0]!
    const gone = vm.id.replace(/\/virtualMachines\/0$/, '/virtualMachines/99')
    await assert.rejects(
      previewImds(cfg, tenant, { resourceId: gone }, deps(forbiddenStore)),
      (err: unknown) => {
        assert.ok(err instanceof PluginError)
        assert.equal(err.reason, 'vm_not_found')
        return true
      },
    )
  })
})
