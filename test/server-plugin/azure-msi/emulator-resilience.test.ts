import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import { attestAgentToServer, serverAttest } from '../../../shared/host/index.js'
import { agentHclFor, loadMsi, serverHclFor } from '../../support/azure-msi-plugins.js'
import { MSI_TENANTS as TENANTS, refused, useMsiHarness } from '../../support/azure-msi-harness.js'

/**
 * azure_msi through the host launcher against the Azure emulator when Azure misbehaves: key
 * rotation, Entra ID outages, ARM throttling, and the credential choices.
 */
const h = useMsiHarness()

describe('Entra keys', () => {
  test('key rotation: a token signed by a new key is accepted after one coalesced refresh', async () => {
    const before = h.emu.counters.get('entra.jwks')
    await h.emu.entra.rotateKeys()
    h.emu.imds.clearTokenCache()
    await new Promise((r) => setTimeout(r, 1_100)) // the configured unknown-kid cooldown (1 s)
    const attrs = await h.attest('frontend/flex/2', '', await h.freshServer())
    assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
    assert.ok(h.emu.counters.get('entra.jwks') > before)
  })

  test("tenant-specific rotation: the tenant's discovery document moves to its own jwks_uri", async () => {
    await h.emu.entra.rotateKeys('contoso')
    h.emu.imds.clearTokenCache()
    await new Promise((r) => setTimeout(r, 1_100))
    const s = await h.freshServer()
    await h.attest('frontend/blog', '', s)
    assert.ok(h.emu.counters.get('entra.jwks') >= 1)
  })

  test('Entra outage: cached keys keep attestation working, stale keys are served (bounded) with a warning', async () => {
    const s = await loadMsi('server', serverHclFor(h.emu, TENANTS, 'jwks_cache_ttl = "1s"'))
    h.track(s)
    await h.attest('frontend/flex/0', '', s)
    h.emu.entra.setOutage(true)
    try {
      await new Promise((r) => setTimeout(r, 1_100))
      const attrs = await h.attest('frontend/flex/1', '', s)
      assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
      assert.ok(s.logs.some((l) => l.level === 'warn' && l.message === 'Unable to refresh key set'))
      assert.ok(
        s.logs.some((l) => l.level === 'warn' && l.message === 'Serving stale signing keys'),
      )
    } finally {
      h.emu.entra.setOutage(false)
    }
  })

  // Unavailable, not upstream's Internal: a deliberate change (shared/azure/transient.ts), Entra
  // answered 503; the message is upstream's
  test('Entra down and nothing cached: Unavailable "unable to obtain JWKS"', async () => {
    const s = await loadMsi('server', serverHclFor(h.emu, TENANTS))
    h.track(s)
    h.emu.entra.setOutage(true)
    try {
      const { token } = await h.emu.tokens.issueMsiToken({ vm: 'frontend/flex/0' })
      await assert.rejects(
        serverAttest(s, encodeMsiPayload(token)),
        refused('Unavailable', /^unable to obtain JWKS: unexpected status code 503: /),
      )
    } finally {
      h.emu.entra.setOutage(false)
    }
  })

  test('a forged token (right kid, wrong key) never reaches AgentStore or ARM', async () => {
    const { token } = await h.emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
    const [header, payload] = token.split('.')
    const forged = `${header}.${payload}.${Buffer.alloc(256, 7).toString('base64url')}`
    const calls = h.server.agentStore.calls.length
    const arm = h.emu.counters.get('arm.*')
    await assert.rejects(
      serverAttest(h.server, encodeMsiPayload(forged)),
      refused(
        'InvalidArgument',
        'unable to verify token: go-jose/go-jose: error in cryptographic primitive',
      ),
    )
    assert.equal(h.server.agentStore.calls.length, calls)
    assert.equal(h.emu.counters.get('arm.*'), arm)
  })
})

describe('ARM throttling', () => {
  test('a 429 with Retry-After is waited out and the attestation succeeds', async () => {
    const s = await h.freshServer()
    h.emu.faults.set('arm.vm.get', { kind: 'throttle', retryAfterS: 1 }, { times: 1 })
    const before = h.emu.counters.get('arm.vm.get')
    const attrs = await h.attest('frontend/blog', '', s)
    assert.ok(attrs.selectorValues.includes('vm-name:frontend:blog'))
    // throttled once, then asked again — and not before the Retry-After had passed (the emulator
    // counts any request that comes back inside the window it announced)
    assert.equal(h.emu.counters.get('arm.vm.get') - before, 2)
    assert.deepEqual(h.emu.faults.earlyRetries, [])
    assert.ok(
      s.logs.some(
        (l) => l.message === 'ARM throttled the request' && l.fields['retry_after_ms'] === 1_000,
      ),
    )
    h.emu.faults.clear()
  })

  test('a 429 storm: a long Retry-After fails attestations fast and holds back further ARM calls', async () => {
    const s = await h.freshServer()
    h.emu.faults.set('arm.*', { kind: 'throttle', retryAfterS: 120 })
    try {
      const before = h.emu.counters.get('arm.*')
      const agents = await Promise.all(
        ['frontend/flex/0', 'frontend/flex/1', 'frontend/flex/2', 'frontend/blog'].map((vm) =>
          loadMsi('agent', agentHclFor(h.emu, vm)),
        ),
      )
      agents.forEach((a) => h.track(a))
      const results = await Promise.allSettled(agents.map((a) => attestAgentToServer(a, s)))
      for (const r of results) {
        assert.equal(r.status, 'rejected')
        assert.match(String((r as PromiseRejectedResult).reason), /throttled|429/)
      }
      // fails fast instead of sleeping 120 s: the plugin saw the long Retry-After and never began a
      // retry wait (each retry is logged before its wait starts)
      assert.ok(
        s.logs.some(
          (l) =>
            l.message === 'ARM throttled the request' && l.fields['retry_after_ms'] === 120_000,
        ),
      )
      assert.equal(s.logs.filter((l) => l.message === 'Retrying ARM request').length, 0)
      // four attestations, one ARM request each at most before the gate closes, plus the one
      // Resource Graph query the three that arrived while the first was in flight were batched into
      // (its 429 asks for more than the batch may wait, so they fell back to the closed gate)
      assert.ok(
        h.emu.counters.get('arm.*') - before <= 4 + 1,
        String(h.emu.counters.get('arm.*') - before),
      )
      const again = await loadMsi('agent', agentHclFor(h.emu, 'frontend/flex/0'))
      h.track(again)
      const mid = h.emu.counters.get('arm.*')
      await assert.rejects(
        attestAgentToServer(again, s),
        // Unavailable (was Internal, as upstream): a deliberate change, throttling is transient
        refused('Unavailable', /throttled by ARM: retry after \d+s/),
      )
      assert.equal(h.emu.counters.get('arm.*'), mid, 'no ARM call while Retry-After is in force')
    } finally {
      h.emu.faults.clear()
    }
  })

  test('the emulator token bucket (throttling on): bursts are absorbed by retries', async () => {
    const s = await h.freshServer()
    h.emu.throttling.enable({ bucketSize: 3, refillPerSecond: 2 })
    try {
      const vms = ['frontend/flex/0', 'frontend/flex/1', 'frontend/flex/2', 'frontend/blog']
      const agents = await Promise.all(vms.map((vm) => loadMsi('agent', agentHclFor(h.emu, vm))))
      agents.forEach((a) => h.track(a))
      const results = await Promise.all(agents.map((a) => attestAgentToServer(a, s)))
      assert.equal(results.length, 4)
    } finally {
      h.emu.throttling.disable()
    }
  })
})

describe('credentials', () => {
  const envFor = (tenant: string) => {
    const t = h.emu.world.tenant(tenant)
    return {
      AZURE_TENANT_ID: t.tenantId,
      AZURE_CLIENT_ID: t.apps[0]!.clientId,
      AZURE_CLIENT_SECRET: t.apps[0]!.secret,
      AZURE_AUTHORITY_HOST: h.emu.endpoints.entra,
    }
  }

  test('DefaultAzureCredential with subscription_id (spiffe/spire#7104): no server IMDS needed', async () => {
    const hcl = serverHclFor(h.emu, [{ tenant: 'contoso', appCredentials: false }]).replace(
      /\n\s*imds = .*\n/,
      '\n',
    )
    const s = await loadMsi('server', hcl, { env: envFor('contoso') })
    h.track(s)
    const before = h.emu.counters.get('imds.instance')
    const attrs = await h.attest('frontend/flex/0', '', s)
    assert.ok(attrs.selectorValues.includes('vmss-name:flex'))
    assert.equal(h.emu.counters.get('imds.instance'), before)
  })

  test("no subscription_id: the server VM's own subscription, read once from its IMDS (upstream)", async () => {
    const t = h.emu.world.tenant('contoso')
    const hcl = serverHclFor(h.emu, [{ tenant: 'contoso', appCredentials: false }]).replace(
      `subscription_id = "${t.subscriptions[0]!.subscriptionId}"`,
      '',
    )
    const s = await loadMsi('server', hcl, { env: envFor('contoso') })
    h.track(s)
    const before = h.emu.counters.get('imds.instance')
    await h.attest('frontend/flex/1', '', s)
    await h.attest('frontend/flex/2', '', s)
    assert.equal(h.emu.counters.get('imds.instance') - before, 1)
  })

  test('a wrong app secret: Internal, with the credential error, and no retry storm', async () => {
    const hcl = serverHclFor(h.emu, [{ tenant: 'contoso' }]).replace(
      /app_secret = ".*"/,
      'app_secret = "wrong"',
    )
    const s = await loadMsi('server', hcl)
    h.track(s)
    const before = h.emu.counters.get('entra.token')
    const { token } = await h.emu.tokens.issueMsiToken({ vm: 'frontend/flex/0' })
    await assert.rejects(
      serverAttest(s, encodeMsiPayload(token)),
      refused(
        'Internal',
        /unable to get virtual machine .*unable to get an ARM access token: .*AADSTS7000215/s,
      ),
    )
    assert.ok(h.emu.counters.get('entra.token') - before <= 2)
  })
})

describe('IMDS on the agent side', () => {
  test('410 and 500 from IMDS are retried with backoff; the agent still attests', async () => {
    const s = await h.freshServer()
    h.emu.faults.set('imds.token', { kind: 'gone' }, { times: 1 })
    // the exact route's fault wins first; once used up, the prefix's applies
    h.emu.faults.set('imds.*', { kind: 'status', status: 500 }, { times: 1 })
    const before = h.emu.counters.get('imds.token')
    try {
      const attrs = await h.attest('frontend/blog', '', s)
      assert.ok(attrs.selectorValues.includes('vm-name:frontend:blog'))
      assert.equal(h.emu.counters.get('imds.token') - before, 3)
    } finally {
      h.emu.faults.clear()
    }
  })

  test('a hung IMDS request times out (request_timeout) and is retried', async () => {
    const s = await h.freshServer()
    h.emu.faults.set('imds.token', { kind: 'latency', ms: 5_000 }, { times: 1 })
    const before = h.emu.counters.get('imds.token')
    try {
      await h.attest('frontend/worker', 'request_timeout = "500ms"', s)
      // the first request hangs for 5 s, ten times request_timeout: had the agent waited it out, that
      // first request would have attested alone (one request); only the agent's own timeout ends it,
      // and a retry attested (a loaded machine may need more than one)
      const requests = h.emu.counters.get('imds.token') - before
      assert.ok(requests >= 2, `${requests} IMDS token requests`)
    } finally {
      h.emu.faults.clear()
    }
  })

  test('retries are bounded by retry_timeout', async () => {
    h.emu.faults.set('imds.token', { kind: 'status', status: 503 })
    try {
      const agent = h.track(
        await loadMsi(
          'agent',
          `imds_endpoint = "${h.emu.endpoints.imdsFor('frontend/blog')}"\nretry_timeout = "2s"`,
        ),
      )
      const before = h.emu.counters.get('imds.token')
      await assert.rejects(
        attestAgentToServer(agent, h.server),
        refused('Internal', /^unable to fetch token: unexpected status code 503: /),
      )
      // backoff waits are at least 0.8 s then 1.6 s, so a 2 s retry_timeout leaves room for two
      // requests at most (eight without it); a slow machine can only make it fewer
      const requests = h.emu.counters.get('imds.token') - before
      assert.ok(requests >= 1 && requests <= 2, `${requests} IMDS token requests`)
    } finally {
      h.emu.faults.clear()
    }
  })
})
