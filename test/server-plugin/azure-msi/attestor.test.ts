import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { AttestIo, PluginError } from '../../../shared/plugin/index.js'
import { KeySourceError } from '../../../shared/azure/jwks.js'
import { encodeMsiPayload } from '../../../shared/azure/payloads.js'
import { createAttestor } from '../../../server-plugin/azure-msi/attestor.js'
import { makeAgentId } from '../../../server-plugin/azure-msi/agent-id.js'
import {
  BASIC_HCL,
  msiClaims,
  NOW_S,
  nsgId,
  OTHER_TENANT_ID,
  PRINCIPAL_ID,
  serverConfig,
  SUBSCRIPTION_ID,
  subnetId,
  TENANT_ID,
  testDeps,
  TestSigner,
  TRUST_DOMAIN,
  type TestDeps,
} from '../../support/azure-msi.js'

const AGENT_ID = `spiffe://${TRUST_DOMAIN}/spire/agent/azure_msi/${TENANT_ID}/${PRINCIPAL_ID}`
const io: AttestIo = {
  challenge: () => Promise.reject(new Error('azure_msi never challenges')),
  signal: new AbortController().signal,
  metadata: {},
}
const config = serverConfig(BASIC_HCL)

let signer: TestSigner
before(async () => {
  signer = await TestSigner.create('k1')
})

function world(): TestDeps {
  const deps = testDeps()
  deps.keys.add(signer.jwk)
  deps.arm.addVm({
    rg: 'frontend',
    name: 'blog',
    principalId: PRINCIPAL_ID,
    nics: [
      {
        name: 'nic',
        nsg: nsgId('frontend', 'webservers'),
        subnets: [subnetId('frontend', 'vnet', 'default')],
      },
    ],
  })
  return deps
}

async function payload(
  overrides: Record<string, unknown> = {},
  header: Record<string, unknown> = {},
) {
  return encodeMsiPayload(await signer.sign(msiClaims(overrides), header))
}

const refused = (status: string, message: string | RegExp) => (err: unknown) => {
  const e = err as PluginError
  assert.equal(e.status, status, e.message)
  if (typeof message === 'string') assert.equal(e.message, message)
  else assert.match(e.message, message)
  return true
}

describe('azure_msi server attestor', () => {
  test('attests: default agent ID, sorted selectors, can_reattest false, TOFU consulted', async () => {
    const deps = world()
    const attrs = await createAttestor(deps).attest(await payload(), config, io)
    assert.equal(attrs.spiffeId, AGENT_ID)
    assert.equal(attrs.canReattest, false)
    assert.deepEqual(attrs.selectorValues, [
      'network-security-group:frontend:webservers',
      `principal-id:${PRINCIPAL_ID}`,
      'resource-group:frontend',
      `subscription-id:${SUBSCRIPTION_ID}`,
      `tenant-id:${TENANT_ID}`,
      'virtual-network-subnet:frontend:vnet:default',
      'virtual-network:frontend:vnet',
      'vm-location:eastus',
      'vm-name:frontend:blog',
    ])
    assert.deepEqual(deps.store.calls, [AGENT_ID])
    assert.deepEqual(deps.keys.lookups, [
      {
        url: `https://login.microsoftonline.com/${TENANT_ID}/.well-known/openid-configuration`,
        kid: 'k1',
      },
    ])
  })

  test('payload problems: upstream codes and messages', async () => {
    const a = createAttestor(world())
    await assert.rejects(
      a.attest(Buffer.from('{"token":""}'), config, io),
      refused('InvalidArgument', 'missing token from attestation data'),
    )
    await assert.rejects(
      a.attest(Buffer.from('null'), config, io),
      refused('InvalidArgument', 'missing token from attestation data'),
    )
    await assert.rejects(
      a.attest(Buffer.from('{}'), config, io),
      refused('InvalidArgument', 'missing token from attestation data'),
    )
    await assert.rejects(
      a.attest(Buffer.from('{'), config, io),
      refused('InvalidArgument', /^failed to unmarshal data payload: /),
    )
    await assert.rejects(
      a.attest(Buffer.from('{"token":5}'), config, io),
      refused(
        'InvalidArgument',
        'failed to unmarshal data payload: json: cannot unmarshal number into Go struct field MSIAttestationData.token of type string',
      ),
    )
  })

  test('key set unavailable: Internal "unable to obtain JWKS: <err>"', async () => {
    const deps = world()
    deps.keys.failWith = 'unexpected status code 503: down'
    await assert.rejects(
      createAttestor(deps).attest(await payload(), config, io),
      refused('Internal', 'unable to obtain JWKS: unexpected status code 503: down'),
    )
  })

  test('key set unavailable because Entra answered 503: Unavailable, same message', async () => {
    // a deliberate change from upstream's Internal (shared/azure/transient.ts): the agent retries
    const deps = world()
    const keySourceError = new KeySourceError('unexpected status code 503: down', { status: 503 })
    deps.keysFor = () => ({ keysFor: () => Promise.reject(keySourceError) })
    await assert.rejects(
      createAttestor(deps).attest(await payload(), config, io),
      refused('Unavailable', 'unable to obtain JWKS: unexpected status code 503: down'),
    )
  })

  test('a v2 token uses the tenant v2 discovery document', async () => {
    const deps = world()
    await createAttestor(deps).attest(
      await payload({ ver: '2.0', iss: `https://login.microsoftonline.com/${TENANT_ID}/v2.0` }),
      config,
      io,
    )
    assert.equal(
      deps.keys.lookups[0]?.url,
      `https://login.microsoftonline.com/${TENANT_ID}/v2.0/.well-known/openid-configuration`,
    )
  })

  test('an unconfigured tenant is verified against the common keys, then refused before TOFU', async () => {
    const deps = world()
    const other = { tid: OTHER_TENANT_ID, iss: `https://sts.windows.net/${OTHER_TENANT_ID}/` }
    await assert.rejects(
      createAttestor(deps).attest(await payload(other), config, io),
      refused('PermissionDenied', `tenant "${OTHER_TENANT_ID}" is not authorized`),
    )
    assert.equal(
      deps.keys.lookups[0]?.url,
      'https://login.microsoftonline.com/common/.well-known/openid-configuration',
    )
    assert.deepEqual(deps.store.calls, [])
  })

  describe('order of checks (pinned)', () => {
    test('attack: probing TOFU with another tenant’s token — refused as a foreign tenant, AgentStore never asked', async () => {
      const deps = world()
      const other = { tid: OTHER_TENANT_ID, iss: `https://sts.windows.net/${OTHER_TENANT_ID}/` }
      deps.store.attested.add(
        `spiffe://${TRUST_DOMAIN}/spire/agent/azure_msi/${OTHER_TENANT_ID}/${PRINCIPAL_ID}`,
      )
      await assert.rejects(
        createAttestor(deps).attest(await payload(other), config, io),
        refused('PermissionDenied', `tenant "${OTHER_TENANT_ID}" is not authorized`),
      )
      assert.deepEqual(deps.store.calls, [])
    })

    test('attack: probing TOFU with an expired, mis-addressed or foreign-issuer token of an attested identity — each refused for itself, AgentStore never asked', async () => {
      const deps = world()
      deps.store.attested.add(AGENT_ID)
      const a = createAttestor(deps)
      await assert.rejects(
        a.attest(await payload({ exp: NOW_S - 3600 }), config, io),
        refused('Internal', /token is expired \(exp\)$/),
      )
      await assert.rejects(
        a.attest(await payload({ aud: 'api://someone-else' }), config, io),
        refused('Internal', /invalid audience claim \(aud\)$/),
      )
      await assert.rejects(
        a.attest(await payload({ iss: 'https://evil/' }), config, io),
        refused('PermissionDenied', /^token issuer /),
      )
      await assert.rejects(
        a.attest(await payload({ idtyp: 'user' }), config, io),
        refused('PermissionDenied', 'token is not a managed identity (application) token'),
      )
      assert.deepEqual(deps.store.calls, [])
      // a token that passes every check of its own does learn it: that is TOFU
      await assert.rejects(
        a.attest(await payload(), config, io),
        refused('PermissionDenied', 'attestation data has already been used to attest an agent'),
      )
      assert.equal(deps.store.calls.length, 1)
    })

    test('signature comes before TOFU: a forged token never reaches AgentStore', async () => {
      const deps = world()
      const forger = await TestSigner.create('k1')
      const forged = encodeMsiPayload(await forger.sign(msiClaims()))
      await assert.rejects(
        createAttestor(deps).attest(forged, config, io),
        refused('InvalidArgument', /^unable to verify token: /),
      )
      assert.deepEqual(deps.store.calls, [])
    })

    test('tenant before audience; audience before expiry; claims before issuer; issuer before ARM', async () => {
      const deps = world()
      const a = createAttestor(deps)
      const otherTenantBadAud = { tid: OTHER_TENANT_ID, aud: 'x' }
      await assert.rejects(
        a.attest(await payload(otherTenantBadAud), config, io),
        refused('PermissionDenied', /^tenant /),
      )
      await assert.rejects(
        a.attest(await payload({ aud: 'x', exp: 1 }), config, io),
        refused('Internal', /invalid audience claim/),
      )
      await assert.rejects(
        a.attest(await payload({ exp: 1, iss: 'https://evil/' }), config, io),
        refused('Internal', /token is expired/),
      )
      deps.arm.calls.length = 0
      await assert.rejects(
        a.attest(await payload({ iss: 'https://evil/' }), config, io),
        refused('PermissionDenied', /^token issuer /),
      )
      assert.deepEqual(deps.arm.calls, [])
    })

    test('agent ID failure (template) comes before TOFU', async () => {
      const deps = world()
      const cfg = serverConfig(`${BASIC_HCL}\nagent_path_template = "/{{ .VMName }}"`)
      await assert.rejects(
        createAttestor(deps).attest(await payload({ xms_mirid: undefined }), cfg, io),
        refused('Internal', /^unable to make agent ID: invalid agent path suffix "\/": /),
      )
      assert.deepEqual(deps.store.calls, [])
    })
  })

  test('principal allow-list refuses other identities before ARM is asked', async () => {
    const deps = world()
    const cfg = serverConfig(`tenants = { "${TENANT_ID}" = { subscription_id = "${SUBSCRIPTION_ID}"
      principal_ids = ["aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa"] } }`)
    await assert.rejects(
      createAttestor(deps).attest(await payload(), cfg, io),
      refused('PermissionDenied', `principal "${PRINCIPAL_ID}" is not authorized`),
    )
    assert.deepEqual(deps.arm.calls, [])
  })

  test('no subscription configured: the server VM subscription is used (upstream)', async () => {
    let asked = 0
    const deps = world()
    deps.serverSubscription = async () => {
      asked++
      return SUBSCRIPTION_ID
    }
    const cfg = serverConfig(`tenants = { "${TENANT_ID}" = {} }`)
    await createAttestor(deps).attest(await payload(), cfg, io)
    assert.equal(asked, 1)
  })

  test('custom template with the added VM fields gives one agent ID per VM for a shared identity', async () => {
    const cfg = serverConfig(
      `${BASIC_HCL}\nagent_path_template = "/{{ .PluginName }}/{{ .TenantID }}/{{ .SubscriptionID }}/{{ .ResourceGroup }}/{{ .VMName }}"`,
    )
    const claims = msiClaims({
      xms_mirid: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/ids/providers/Microsoft.ManagedIdentity/userAssignedIdentities/shared`,
      xms_az_rid: `/subscriptions/${SUBSCRIPTION_ID}/resourcegroups/frontend/providers/Microsoft.Compute/virtualMachines/blog`,
    })
    const token = await signer.sign(claims)
    const { verifyTokenSignature, parseMsiToken } =
      await import('../../../server-plugin/azure-msi/verify.js')
    const verified = await verifyTokenSignature(parseMsiToken(token), [signer.jwk])
    assert.equal(
      makeAgentId(cfg, verified),
      `spiffe://${TRUST_DOMAIN}/spire/agent/azure_msi/${TENANT_ID}/${SUBSCRIPTION_ID}/frontend/blog`,
    )
  })

  test('the token never appears in logs', async () => {
    const { recordingLogger } = await import('../../support/azure-msi.js')
    const log = recordingLogger()
    const deps = { ...world(), log }
    const p = await payload()
    const attrs = await createAttestor(deps).attest(p, config, io)
    const token = JSON.parse(Buffer.from(p).toString()).token as string
    // what reaches the log: the attestor's own lines, and the facts it hands the runtime's
    // "Agent attested" line (shared/plugin/attest-handlers.ts)
    const logged = [...log.lines, attrs.logFields]
    assert.ok(attrs.logFields !== undefined && Object.keys(attrs.logFields).length > 0)
    assert.ok(!JSON.stringify(logged).includes(token.split('.')[2]!))
  })
})
