import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import {
  AgentSession,
  attestAgentToServer,
  PluginProcess,
  serverAttest,
} from '../../../shared/host/index.js'
import {
  agentHclFor,
  loadMsi,
  MSI_SERVER_MAIN,
  serverHclFor,
} from '../../support/azure-msi-plugins.js'
import { MSI_TENANTS as TENANTS, refused, useMsiHarness } from '../../support/azure-msi-harness.js'

/**
 * azure_msi end to end through the host launcher (the real plugin processes, SPIRE's side played by
 * shared/host) against the Azure emulator: identities, scale sets, tenants, token versions, clouds.
 */
const h = useMsiHarness()

describe('identities', () => {
  test('system-assigned VM: default agent ID and the full selector set', async () => {
    const vm = h.emu.world.vm('frontend/blog')
    const attrs = await h.attest('frontend/blog')
    assert.equal(attrs.spiffeId, h.agentId('contoso', vm.identity.system!.principalId))
    assert.equal(attrs.canReattest, false)
    assert.deepEqual(attrs.selectorValues, [
      'network-security-group:frontend:webservers',
      `principal-id:${vm.identity.system!.principalId}`,
      'resource-group:frontend',
      `subscription-id:${h.sub('contoso')}`,
      `tenant-id:${h.tid('contoso')}`,
      'virtual-network-subnet:frontend:vnet:default',
      'virtual-network:frontend:vnet',
      'vm-location:eastus',
      'vm-name:frontend:blog',
      'vm-tag:environment:production',
    ])
  })

  test('attestations are counted and timed through the Metrics host service', async () => {
    const server = await h.freshServer()
    await h.attest('frontend/blog', '', server)
    await assert.rejects(serverAttest(server, Buffer.from('{"token":"x.y"}')))
    const find = (rpc: string, key: string) =>
      server.metrics.calls.filter((c) => c.rpc === rpc && c.key.join('.') === key)
    // counters are summed and samples held per series, all sent within a second
    await server.metrics.until(
      () =>
        find('AddSample', 'azure_msi.attest.elapsed_ms').length >= 2 &&
        find('IncrCounter', 'azure_msi.attest').length >= 2,
    )
    const counters = find('IncrCounter', 'azure_msi.attest')
    assert.ok(counters.some((c) => c.labels.result === 'ok'))
    assert.ok(
      counters.some((c) => c.labels.result === 'refused' && c.labels.reason === 'malformed_token'),
      JSON.stringify(counters),
    )
  })

  test("the agent sends exactly upstream's payload bytes", async () => {
    const agent = await loadMsi('agent', agentHclFor(h.emu, 'frontend/plain'))
    h.track(agent)
    await assert.rejects(
      AgentSession.open(agent),
      refused('Internal', /^unable to fetch token: unexpected status code 400: /),
    )
    const agent2 = await loadMsi('agent', agentHclFor(h.emu, 'frontend/worker'))
    h.track(agent2)
    const { session, payload } = await AgentSession.open(agent2)
    session.close()
    assert.match(
      Buffer.from(payload).toString(),
      /^\{"token":"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"\}$/,
    )
  })

  test('user-assigned identity (the only one on the VM): resolved from xms_az_rid, validated against ARM', async () => {
    const uami = h.emu.world.vm('frontend/api').identity.userAssigned[0]!
    const before = h.emu.counters.get('arm.resources.list')
    const attrs = await h.attest('frontend/api')
    assert.equal(attrs.spiffeId, h.agentId('contoso', uami.principalId))
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:api'))
    // Defakto's attribute names: ARM lists a user-assigned identity's client ID, and the token agrees
    assert.ok(attrs.selectorValues.includes(`principal-id:${uami.principalId}`))
    assert.ok(attrs.selectorValues.includes(`client-id:${uami.clientId}`))
    assert.ok(attrs.selectorValues.includes(`tenant-id:${h.tid('contoso')}`))
    assert.equal(h.emu.counters.get('arm.resources.list'), before, 'no principal lookup')
  })

  test('several user-assigned identities: the agent must pick one (client_id); without it IMDS says 400', async () => {
    const agent = await loadMsi('agent', agentHclFor(h.emu, 'frontend/multi'))
    h.track(agent)
    await assert.rejects(
      AgentSession.open(agent),
      refused('Internal', /Multiple user assigned identities exist/),
    )
    const batch = h.emu.world
      .vm('frontend/multi')
      .identity.userAssigned.find((u) => u.name === 'batch-identity')!
    const attrs = await h.attest('frontend/multi', `client_id = "${batch.clientId}"`)
    assert.equal(attrs.spiffeId, h.agentId('contoso', batch.principalId))
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:multi'))
    assert.deepEqual(
      attrs.selectorValues.filter((v) => v.startsWith('client-id:')),
      [`client-id:${batch.clientId}`],
    )
  })

  test('msi_res_id and object_id select a user-assigned identity next to a system one', async () => {
    const worker = h.emu.world.vm('frontend/worker')
    const api = worker.identity.userAssigned.find((u) => u.name === 'api-identity')!
    // api-identity is shared with frontend/api, attested above: the default template gives the same ID
    await assert.rejects(
      h.attest('frontend/worker', `msi_res_id = "${api.id}"`),
      refused('PermissionDenied', 'attestation data has already been used to attest an agent'),
    )
    const attrs = await h.attest(
      'frontend/worker',
      `object_id = "${worker.identity.system!.principalId}"`,
    )
    assert.equal(attrs.spiffeId, h.agentId('contoso', worker.identity.system!.principalId))
    // the system-assigned identity: ARM lists no client ID for it, so there is no client-id
    assert.ok(!attrs.selectorValues.some((v) => v.startsWith('client-id:')))
    assert.ok(attrs.selectorValues.includes(`principal-id:${worker.identity.system!.principalId}`))
  })

  test('a shared user-assigned identity gets one agent ID per VM with a VM-qualified template', async () => {
    const s = await loadMsi(
      'server',
      serverHclFor(
        h.emu,
        TENANTS,
        'agent_path_template = "/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .ResourceGroup }}/{{ .VMName }}"',
      ),
    )
    h.track(s)
    const api = h.emu.world.vm('frontend/api').identity.userAssigned[0]!
    const a = await h.attest('frontend/api', '', s)
    const b = await h.attest('frontend/worker', `msi_res_id = "${api.id}"`, s)
    assert.equal(
      a.spiffeId,
      `spiffe://example.org/spire/agent/azure_msi/${h.tid('contoso')}/${h.sub('contoso')}/frontend/api`,
    )
    assert.equal(
      b.spiffeId,
      `spiffe://example.org/spire/agent/azure_msi/${h.tid('contoso')}/${h.sub('contoso')}/frontend/worker`,
    )
  })

  test('a VM without any identity cannot attest', async () => {
    await assert.rejects(
      h.attest('frontend/plain'),
      refused('Internal', /^unable to fetch token: unexpected status code 400: /),
    )
  })
})

describe('scale sets', () => {
  test('Flexible members: their own identities, one agent each, with vmss-name', async () => {
    const a = await h.attest('frontend/flex/0')
    const b = await h.attest('frontend/flex/1')
    assert.notEqual(a.spiffeId, b.spiffeId)
    for (const [attrs, i] of [
      [a, 0],
      [b, 1],
    ] as const) {
      const vm = h.emu.world.vm(`frontend/flex/${i}`)
      assert.ok(attrs.selectorValues.includes(`vm-name:frontend:${vm.name}`))
      assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
      assert.ok(attrs.selectorValues.includes('virtual-network-subnet:frontend:vnet:scale'))
    }
  })

  test('Uniform: the shared scale-set identity attests once (scale-set selectors); other members hit TOFU', async () => {
    const ss = h.emu.world.findScaleSet('frontend', 'web')!
    const attrs = await h.attest('frontend/web/0')
    assert.equal(attrs.spiffeId, h.agentId('contoso', ss.identity.system!.principalId))
    assert.deepEqual(attrs.selectorValues, [
      'network-security-group:frontend:webservers',
      `principal-id:${ss.identity.system!.principalId}`,
      'resource-group:frontend',
      `subscription-id:${h.sub('contoso')}`,
      `tenant-id:${h.tid('contoso')}`,
      'virtual-network-subnet:frontend:vnet:scale',
      'virtual-network:frontend:vnet',
      'vm-location:eastus',
      'vmss-name:web',
    ])
    // upstream limitation (spiffe/spire#2527) kept: the token cannot tell members apart
    await assert.rejects(
      h.attest('frontend/web/1'),
      refused('PermissionDenied', 'attestation data has already been used to attest an agent'),
    )
  })

  test('a same-named Uniform scale set in another resource group resolves to its own group', async () => {
    const attrs = await h.attest('backend/web/0')
    assert.ok(attrs.selectorValues.includes('resource-group:backend'))
    assert.ok(attrs.selectorValues.includes('vmss-name:web'))
    assert.ok(attrs.selectorValues.includes('vm-location:westus2'))
  })

  test('concurrent attestations of Uniform members share one scale-set read', async () => {
    const s = await loadMsi('server', serverHclFor(h.emu, TENANTS))
    h.track(s)
    const beforeVmss = h.emu.counters.get('arm.vmss.get')
    const agents = await Promise.all(
      [0, 1, 2].map((i) => loadMsi('agent', agentHclFor(h.emu, `frontend/web/${i}`))),
    )
    agents.forEach((a) => h.track(a))
    // no agent is recorded between them (SPIRE would record the first): all three pass TOFU
    const results = await Promise.all(agents.map((a) => attestAgentToServer(a, s)))
    assert.equal(new Set(results.map((r) => r.spiffeId)).size, 1)
    assert.equal(h.emu.counters.get('arm.vmss.get') - beforeVmss, 1)
  })
})

describe('tenants, token versions and clouds', () => {
  test('two tenants in one server; a tenant not configured is refused after TOFU', async () => {
    const nw = await h.attest('ops/nw-vm')
    assert.equal(
      nw.spiffeId,
      h.agentId('northwind', h.emu.world.vm('ops/nw-vm').identity.system!.principalId),
    )
    assert.ok(nw.selectorValues.includes(`subscription-id:${h.sub('northwind')}`))
    const only = await loadMsi('server', serverHclFor(h.emu, [{ tenant: 'contoso' }]))
    h.track(only)
    const agent = await loadMsi('agent', agentHclFor(h.emu, 'ops/nw-vm'))
    h.track(agent)
    await assert.rejects(
      attestAgentToServer(agent, only),
      refused('PermissionDenied', `tenant "${h.tid('northwind')}" is not authorized`),
    )
  })

  test('v2.0 tokens verify against the tenant v2 keys and the v2 issuer', async () => {
    const { token, claims } = await h.emu.tokens.issueMsiToken({
      vm: 'frontend/flex/2',
      version: '2.0',
    })
    assert.equal(claims['iss'], `https://login.microsoftonline.com/${h.tid('contoso')}/v2.0`)
    const attrs = await serverAttest(h.server, encodeMsiPayload(token))
    assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
    assert.ok(h.emu.counters.get('entra.openid-v2') >= 1)
  })

  test('a token for another audience than the configured one: upstream claim error', async () => {
    const { token } = await h.emu.tokens.issueMsiToken({
      vm: 'frontend/web/2',
      resource: 'https://vault.azure.net',
    })
    await assert.rejects(
      serverAttest(await h.freshServer(), encodeMsiPayload(token)),
      refused(
        'Internal',
        'unable to validate token claims: go-jose/go-jose/jwt: validation failed, invalid audience claim (aud)',
      ),
    )
  })

  test('US Government cloud: its ARM audience, sts.windows.net issuer, its ARM', async () => {
    const attrs = await h.attest(
      'gov/gov-vm',
      'resource_id = "https://management.usgovcloudapi.net/"',
    )
    assert.equal(
      attrs.spiffeId,
      h.agentId('fabrikam-gov', h.emu.world.vm('gov/gov-vm').identity.system!.principalId),
    )
    assert.ok(attrs.selectorValues.includes('vm-name:gov:gov-vm'))
    assert.ok(attrs.selectorValues.includes('vm-location:usgovvirginia'))
  })

  test('China cloud: its ARM audience and the sts.chinacloudapi.cn issuer', async () => {
    const attrs = await h.attest('cn/cn-vm', 'resource_id = "https://management.chinacloudapi.cn/"')
    assert.ok(attrs.selectorValues.includes('vm-name:cn:cn-vm'))
  })

  test("a sovereign VM's token with the public ARM audience is refused (audience is per cloud)", async () => {
    const { token } = await h.emu.tokens.issueMsiToken({
      vm: 'gov/gov-vm',
      resource: 'https://management.azure.com/',
      now: new Date(),
    })
    const s = await loadMsi('server', serverHclFor(h.emu, TENANTS.slice(2, 3)))
    h.track(s)
    await assert.rejects(
      serverAttest(s, encodeMsiPayload(token)),
      refused('Internal', /invalid audience claim/),
    )
  })
})

describe('plugin lifecycle through the launcher', () => {
  test('before Configure: FailedPrecondition "not configured"; Validate returns notes without configuring', async () => {
    const p = await PluginProcess.launch({
      command: process.execPath,
      args: [MSI_SERVER_MAIN],
      name: 'azure_msi',
      side: 'server',
    })
    h.track(p)
    await p.init()
    await assert.rejects(
      serverAttest(p, Buffer.from('{"token":"x"}')),
      refused('FailedPrecondition', 'not configured'),
    )
    const v = await p.validate('tenants = {}')
    assert.deepEqual(v, { valid: false, notes: ['configuration must have at least one tenant'] })
    await assert.rejects(
      p.configure('agent_path_template = "{{"'),
      /configuration must have at least one tenant/,
    )
  })

  test('malformed payloads are refused with upstream codes before any network call', async () => {
    const before = h.emu.counters.get('*')
    await assert.rejects(
      serverAttest(h.server, Buffer.from('{"token":""}')),
      refused('InvalidArgument', 'missing token from attestation data'),
    )
    await assert.rejects(
      serverAttest(h.server, Buffer.from('not json')),
      refused('InvalidArgument', /^failed to unmarshal data payload: /),
    )
    await assert.rejects(
      serverAttest(h.server, Buffer.from('{"token":"a.b"}')),
      refused(
        'InvalidArgument',
        'unable to parse token: go-jose/go-jose: compact JWS format must have three parts',
      ),
    )
    assert.equal(h.emu.counters.get('*'), before)
  })

  test('no line the plugins wrote would panic SPIRE, and no token was logged', () => {
    assert.deepEqual(h.server.hostPanics, [])
    assert.ok(!h.server.logs.some((l) => /eyJ[A-Za-z0-9_-]{20,}\./.test(l.raw)))
  })
})
