import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { JWK } from 'jose'
import { CLOUDS } from '../../../shared/azure/clouds.js'
import type { PluginError } from '../../../shared/plugin/index.js'
import {
  authorizePrincipal,
  authorizeTenant,
  checkIssuer,
  checkTokenClaims,
  checkTokenType,
  parseMsiToken,
  verifyTokenSignature,
  type MsiClaims,
} from '../../../server-plugin/azure-msi/verify.js'
import {
  ARM_AUD,
  BASIC_HCL,
  msiClaims,
  NOW,
  NOW_S,
  OTHER_TENANT_ID,
  PRINCIPAL_ID,
  serverConfig,
  TENANT_ID,
  TestSigner,
} from '../../support/azure-msi.js'

const pluginError =
  (status: string, reason: string, message?: string | RegExp) => (err: unknown) => {
    const e = err as PluginError
    assert.equal(e.name, 'PluginError', String(err))
    assert.equal(e.status, status, e.message)
    assert.equal(e.reason, reason, e.message)
    if (typeof message === 'string') assert.equal(e.message, message)
    else if (message) assert.match(e.message, message)
    return true
  }

let rs: TestSigner
const keyWithIssuer = (issuer: string): JWK => ({ kty: 'RSA', ...{ issuer } })

before(async () => {
  rs = await TestSigner.create('rs-key')
})

async function verified(overrides: Record<string, unknown> = {}): Promise<MsiClaims> {
  const token = await rs.sign(msiClaims(overrides))
  return verifyTokenSignature(parseMsiToken(token), [rs.jwk])
}

describe('checkTokenClaims (step 15, go-jose order and 5 minute leeway)', () => {
  const audiences = [ARM_AUD]
  const fails = (reason: string, what: string) =>
    pluginError('Internal', reason, `unable to validate token claims: go-jose/go-jose/jwt: ${what}`)
  const cases: {
    name: string
    claims: Record<string, unknown>
    now?: Date
    fail?: [string, string]
  }[] = [
    { name: 'fresh token', claims: {} },
    {
      name: 'wrong audience',
      claims: { aud: 'https://graph.microsoft.com/' },
      fail: ['invalid_audience', 'validation failed, invalid audience claim (aud)'],
    },
    {
      name: 'audience without the trailing slash (exact match)',
      claims: { aud: 'https://management.azure.com' },
      fail: ['invalid_audience', 'validation failed, invalid audience claim (aud)'],
    },
    {
      name: 'missing audience',
      claims: { aud: undefined },
      fail: ['invalid_audience', 'validation failed, invalid audience claim (aud)'],
    },
    { name: 'expired 5 min ago (inside leeway)', claims: { exp: NOW_S - 300 } },
    {
      name: 'expired 5 min 1 s ago',
      claims: { exp: NOW_S - 301 },
      fail: ['token_expired', 'validation failed, token is expired (exp)'],
    },
    {
      name: 'upstream boundary: exp=now+1m checked at now+6m passes',
      claims: { exp: NOW_S + 60 },
      now: new Date(NOW.getTime() + 360_000),
    },
    {
      name: 'upstream boundary: exp=now+1m checked at now+6m1s fails',
      claims: { exp: NOW_S + 60 },
      now: new Date(NOW.getTime() + 361_000),
      fail: ['token_expired', 'validation failed, token is expired (exp)'],
    },
    { name: 'nbf 5 min ahead (inside leeway)', claims: { nbf: NOW_S + 300, iat: NOW_S } },
    {
      name: 'nbf 5 min 1 s ahead',
      claims: { nbf: NOW_S + 301, iat: NOW_S },
      fail: ['token_not_yet_valid', 'validation failed, token not valid yet (nbf)'],
    },
    {
      name: 'iat 5 min 1 s ahead',
      claims: { nbf: NOW_S, iat: NOW_S + 301 },
      fail: ['token_issued_in_future', 'validation field, token issued in the future (iat)'],
    },
    {
      name: 'no nbf, iat (unchecked, as upstream)',
      claims: { nbf: undefined, iat: undefined },
    },
    {
      name: 'aud checked before exp',
      claims: { aud: 'x', exp: NOW_S - 1000 },
      fail: ['invalid_audience', 'validation failed, invalid audience claim (aud)'],
    },
    {
      name: 'nbf checked before exp',
      claims: { nbf: NOW_S + 1000, exp: NOW_S - 1000 },
      fail: ['token_not_yet_valid', 'validation failed, token not valid yet (nbf)'],
    },
  ]
  for (const c of cases) {
    test(c.name, async () => {
      const claims = await verified(c.claims)
      const run = () => checkTokenClaims(claims, { audiences, now: c.now ?? NOW })
      if (c.fail) assert.throws(run, fails(...c.fail))
      else assert.doesNotThrow(run)
    })
  }

  test('any configured audience is accepted', async () => {
    const claims = await verified({ aud: 'api://spire' })
    assert.doesNotThrow(() =>
      checkTokenClaims(claims, { audiences: [ARM_AUD, 'api://spire'], now: NOW }),
    )
  })

  test('attack: a token without exp — a credential that never expires — is refused (upstream accepts it)', async () => {
    for (const omitted of [
      { exp: undefined },
      { exp: undefined, nbf: undefined, iat: undefined },
    ]) {
      const claims = await verified(omitted)
      assert.throws(
        () => checkTokenClaims(claims, { audiences, now: NOW }),
        pluginError('PermissionDenied', 'missing_expiry', 'token has no expiry (exp)'),
      )
    }
  })

  test('attack: a token also addressed to another service — aud arrays must hold configured audiences only', async () => {
    const audFail = fails('invalid_audience', 'validation failed, invalid audience claim (aud)')
    const check = async (aud: unknown, configured: string[]) =>
      checkTokenClaims(await verified({ aud }), { audiences: configured, now: NOW })
    // accepted: exactly the configured audience, alone or repeated, or several configured ones
    await check([ARM_AUD], audiences)
    await check([ARM_AUD, ARM_AUD], audiences)
    await check([ARM_AUD, 'api://spire'], [ARM_AUD, 'api://spire'])
    // refused: any entry that is not configured (go-jose would accept these), or none at all
    await assert.rejects(check([ARM_AUD, 'api://other-service'], audiences), audFail)
    await assert.rejects(check(['api://other-service', ARM_AUD], audiences), audFail)
    await assert.rejects(check([], audiences), audFail)
  })
})

describe('tenant, issuer, token type and principal checks', () => {
  const config = serverConfig(BASIC_HCL)
  const tenant = config.tenants.get(TENANT_ID)!

  test('unknown tenant: PermissionDenied tenant "<tid>" is not authorized', async () => {
    const claims = await verified({
      tid: OTHER_TENANT_ID,
      iss: `https://sts.windows.net/${OTHER_TENANT_ID}/`,
    })
    assert.throws(
      () => authorizeTenant(config, claims),
      pluginError(
        'PermissionDenied',
        'tenant_not_authorized',
        `tenant "${OTHER_TENANT_ID}" is not authorized`,
      ),
    )
  })

  test('a configured tenant is found, whatever the case of its GUID', async () => {
    assert.equal(
      authorizeTenant(config, await verified({ tid: TENANT_ID.toUpperCase() })).tenantId,
      TENANT_ID,
    )
  })

  const v2 = `https://login.microsoftonline.com/${TENANT_ID}/v2.0`
  for (const c of [
    { name: 'v1 issuer of the tenant', claims: {}, ok: true },
    { name: 'v2 issuer of the tenant', claims: { ver: '2.0', iss: v2 }, ok: true },
    {
      name: "another tenant's issuer (iss bound to tid)",
      claims: { iss: `https://sts.windows.net/${OTHER_TENANT_ID}/` },
      ok: false,
    },
    { name: 'v2 issuer on a v1 token', claims: { iss: v2 }, ok: false },
    { name: 'v1 issuer on a v2 token', claims: { ver: '2.0' }, ok: false },
    { name: 'an attacker-controlled issuer', claims: { iss: 'https://evil.example/' }, ok: false },
    { name: 'no issuer', claims: { iss: undefined }, ok: false },
    {
      name: 'China issuer in the public cloud',
      claims: { iss: `https://sts.chinacloudapi.cn/${TENANT_ID}/` },
      ok: false,
    },
  ]) {
    test(`issuer: ${c.name}`, async () => {
      const claims = await verified(c.claims)
      const run = () => checkIssuer(claims, tenant, undefined)
      if (c.ok) assert.doesNotThrow(run)
      else
        assert.throws(
          run,
          pluginError(
            'PermissionDenied',
            'issuer_mismatch',
            /^token issuer ".*" is not valid for tenant "/,
          ),
        )
    })
  }

  test('issuer per sovereign cloud', async () => {
    const china = { ...tenant, cloud: CLOUDS.AzureChinaCloud }
    const gov = { ...tenant, cloud: CLOUDS.AzureUSGovernmentCloud }
    const cn1 = await verified({ iss: `https://sts.chinacloudapi.cn/${TENANT_ID}/` })
    assert.doesNotThrow(() => checkIssuer(cn1, china, undefined))
    const cn2 = await verified({
      ver: '2.0',
      iss: `https://login.partner.microsoftonline.cn/${TENANT_ID}/v2.0`,
    })
    assert.doesNotThrow(() => checkIssuer(cn2, china, undefined))
    const gov1 = await verified({})
    assert.doesNotThrow(() => checkIssuer(gov1, gov, undefined))
    const gov2 = await verified({
      ver: '2.0',
      iss: `https://login.microsoftonline.us/${TENANT_ID}/v2.0`,
    })
    assert.doesNotThrow(() => checkIssuer(gov2, gov, undefined))
    assert.throws(
      () => checkIssuer(gov2, tenant, undefined),
      pluginError('PermissionDenied', 'issuer_mismatch'),
    )
  })

  test("a v2 key's issuer template must agree with the token", async () => {
    const claims = await verified({ ver: '2.0', iss: v2 })
    assert.doesNotThrow(() =>
      checkIssuer(
        claims,
        tenant,
        keyWithIssuer('https://login.microsoftonline.com/{tenantid}/v2.0'),
      ),
    )
    assert.throws(
      () =>
        checkIssuer(
          claims,
          tenant,
          keyWithIssuer(`https://login.microsoftonline.com/${OTHER_TENANT_ID}/v2.0`),
        ),
      pluginError('PermissionDenied', 'issuer_mismatch'),
    )
  })

  test('token type: app tokens pass, delegated or user tokens do not', async () => {
    checkTokenType(await verified())
    const user = await verified({ idtyp: 'user' })
    assert.throws(() => checkTokenType(user), pluginError('PermissionDenied', 'not_an_app_token'))
    const delegated = await verified({ idtyp: undefined, scp: 'user_impersonation' })
    assert.throws(
      () => checkTokenType(delegated),
      pluginError('PermissionDenied', 'not_an_app_token'),
    )
    checkTokenType(await verified({ idtyp: undefined }))
  })

  test('principal allow-list', async () => {
    const allow =
      serverConfig(`tenants = { "${TENANT_ID}" = { subscription_id = "${'d5b40d61-272e-48da-beb9-05f295c42bd6'}"
      principal_ids = ["${PRINCIPAL_ID.toUpperCase()}"] } }`).tenants.get(TENANT_ID)!
    authorizePrincipal(allow, await verified())
    const other = await verified({ sub: 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa' })
    assert.throws(
      () => authorizePrincipal(allow, other),
      pluginError(
        'PermissionDenied',
        'principal_not_authorized',
        'principal "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa" is not authorized',
      ),
    )
    authorizePrincipal(tenant, other)
  })
})
