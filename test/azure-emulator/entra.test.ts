import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { ClientSecretCredential } from '@azure/identity'
import { createLocalJWKSet, decodeJwt, jwtVerify } from 'jose'
import type { JSONWebKeySet } from 'jose'
import { startEmulator } from './index.js'
import type { Emulator } from './index.js'
import { fetchRaw } from './test-helpers.js'

let emu: Emulator
before(async () => {
  emu = await startEmulator()
})
after(() => emu.stop())

const get = (path: string) =>
  fetchRaw(`${emu.endpoints.entra}${path}`, { ca: emu.endpoints.caCertPem })
const jwks = async (path = '/common/discovery/keys') =>
  createLocalJWKSet((await get(path)).json<JSONWebKeySet>())

test('v1 and v2 discovery per tenant, by id or domain, with real issuers', async () => {
  const contoso = emu.world.tenant('contoso')
  const v1 = (await get('/contoso.onmicrosoft.com/.well-known/openid-configuration')).json()
  assert.equal(v1.issuer, `https://sts.windows.net/${contoso.tenantId}/`)
  assert.equal(v1.jwks_uri, `${emu.endpoints.entra}/common/discovery/keys`)
  const v2 = (await get(`/${contoso.tenantId}/v2.0/.well-known/openid-configuration`)).json()
  assert.equal(v2.issuer, `https://login.microsoftonline.com/${contoso.tenantId}/v2.0`)
  assert.equal(v2.token_endpoint, `${emu.endpoints.entra}/${contoso.tenantId}/oauth2/v2.0/token`)
  const cn = emu.world.tenant('contoso-cn')
  assert.equal(
    (await get(`/${cn.tenantId}/.well-known/openid-configuration`)).json().issuer,
    `https://sts.chinacloudapi.cn/${cn.tenantId}/`,
  )
  assert.equal(
    (await get('/common/.well-known/openid-configuration')).json().issuer,
    'https://sts.windows.net/{tenantid}/',
  )
  const missing = await get('/nope.onmicrosoft.com/.well-known/openid-configuration')
  assert.equal(missing.status, 400)
  assert.match(String(missing.json().error_description), /^AADSTS90002/)
})

test('JWKS keys carry kid, x5t, use, x5c; v2 keys carry the issuer template', async () => {
  const keys = (await get('/common/discovery/keys')).json<{ keys: Record<string, unknown>[] }>()
    .keys
  assert.ok(keys.length >= 2)
  for (const k of keys) {
    assert.equal(k.kty, 'RSA')
    assert.equal(k.use, 'sig')
    assert.equal(k.kid, k.x5t)
    assert.ok(Array.isArray(k.x5c))
  }
  const v2 = (await get('/common/discovery/v2.0/keys')).json<{ keys: Record<string, unknown>[] }>()
    .keys
  assert.equal(v2[0]!.issuer, 'https://login.microsoftonline.com/{tenantid}/v2.0')
})

test('MSI tokens verify against the JWKS with jose', async () => {
  const { token } = await emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
  const tid = emu.world.tenant('contoso').tenantId
  const { payload } = await jwtVerify(token, await jwks(), {
    issuer: `https://sts.windows.net/${tid}/`,
    audience: 'https://management.azure.com/',
    algorithms: ['RS256'],
  })
  assert.equal(payload.tid, tid)
})

test('key rotation: new kid first, old kept unless dropped; per-tenant keys get their own jwks_uri', async () => {
  const before = await emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
  const kid = await emu.entra.rotateKeys()
  const after = await emu.tokens.issueMsiToken({ vm: 'frontend/blog' })
  const keys = (await get('/common/discovery/keys')).json<{ keys: { kid: string }[] }>().keys
  assert.equal(keys[0]!.kid, kid)
  await jwtVerify(before.token, await jwks())
  await jwtVerify(after.token, await jwks())
  await emu.entra.rotateKeys(undefined, { keepPrevious: false })
  await assert.rejects(jwtVerify(after.token, await jwks()), { code: 'ERR_JWKS_NO_MATCHING_KEY' })
  const gov = emu.world.tenant('fabrikam-gov')
  const govKid = await emu.entra.rotateKeys('fabrikam-gov')
  const disc = (await get(`/${gov.tenantId}/.well-known/openid-configuration`)).json()
  assert.equal(disc.jwks_uri, `${emu.endpoints.entra}/${gov.tenantId}/discovery/keys`)
  const govToken = await emu.tokens.issueMsiToken({ vm: 'gov/gov-vm' })
  assert.equal(
    (await get(`/${gov.tenantId}/discovery/keys`)).json<{ keys: { kid: string }[] }>().keys[0]!.kid,
    govKid,
  )
  await jwtVerify(govToken.token, await jwks(`/${gov.tenantId}/discovery/keys`))
})

test('outage switch: every Entra route answers 503 until cleared', async () => {
  emu.entra.setOutage(true)
  const res = await get('/common/discovery/keys')
  emu.entra.setOutage(false)
  assert.equal(res.status, 503)
  assert.equal((await get('/common/discovery/keys')).status, 200)
})

test('@azure/identity ClientSecretCredential gets a token from the emulator', async () => {
  const tenant = emu.world.tenant('contoso')
  const app = tenant.apps[0]!
  const cred = new ClientSecretCredential(tenant.tenantId, app.clientId, app.secret, {
    authorityHost: emu.endpoints.entra,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.endpoints.caCertPem },
  })
  const at = await cred.getToken('https://management.azure.com/.default')
  const claims = decodeJwt(at.token)
  // Entra maps `<resource>/.default` to `<resource>`; Go azidentity's `…//.default` keeps one slash
  assert.equal(claims.aud, 'https://management.azure.com')
  const goStyle = await cred.getToken('https://management.core.windows.net//.default')
  assert.equal(decodeJwt(goStyle.token).aud, 'https://management.core.windows.net/')
  assert.equal(claims.oid, app.objectId)
  assert.equal(claims.appid, app.clientId)
  assert.ok(emu.counters.get('entra.token') >= 1)
  const bad = new ClientSecretCredential(tenant.tenantId, app.clientId, 'wrong', {
    authorityHost: emu.endpoints.entra,
    disableInstanceDiscovery: true,
    tlsOptions: { ca: emu.endpoints.caCertPem },
  })
  await assert.rejects(bad.getToken('https://management.azure.com/.default'), /AADSTS7000215/)
})

test('v1 client-credentials token endpoint answers with string numbers', async () => {
  const tenant = emu.world.tenant('contoso')
  const app = tenant.apps[0]!
  const res = await fetchRaw(`${emu.endpoints.entra}/${tenant.tenantId}/oauth2/token`, {
    method: 'POST',
    ca: emu.endpoints.caCertPem,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: app.clientId,
      client_secret: app.secret,
      resource: 'https://management.azure.com/',
    }).toString(),
  })
  assert.equal(res.status, 200)
  assert.equal(typeof res.json().expires_in, 'string')
  assert.deepEqual(emu.errors, [])
})
