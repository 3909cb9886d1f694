import assert from 'node:assert/strict'
import { generateKeyPairSync, KeyObject } from 'node:crypto'
import type { webcrypto } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { ClientAssertionCredential } from '@azure/identity'
import { base64url, decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { CryptoKey, JWK } from 'jose'
import { EKU_SERVER_AUTH, issueCertificate } from './cert-builder.js'
import { DEFAULT_WORLD } from './default-world.js'
import { FEDERATION_CACHE_TTL_MS } from './entra-federation.js'
import { startEmulator, World } from './index.js'
import type { Emulator, WorldSpec } from './index.js'
import { fetchRaw } from './test-helpers.js'
import type { HttpResult } from './test-helpers.js'

const AUDIENCE = 'api://AzureADTokenExchange'
const SUBJECT = 'spiffe://example.org/ns/prod/sa/workload'
const ARM_SCOPE = 'https://management.azure.com/.default'
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
const MINUTE_MS = 60_000

/** The demo world plus two app registrations in contoso for the federated workloads. */
function world(): WorldSpec {
  const spec = structuredClone(DEFAULT_WORLD)
  spec.tenants[0]!.apps = [
    ...(spec.tenants[0]!.apps ?? []),
    { name: 'workload' },
    { name: 'scratch' },
  ]
  return spec
}

interface RsaKey {
  privateKey: CryptoKey
  jwk: JWK
}

async function rsaKey(kid: string): Promise<RsaKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'RS256' } }
}

interface IssuerOptions {
  /** Serve http instead of https */
  http?: boolean
  /** TLS certificate chain and key (default: the emulator's) */
  tls?: { cert: string; key: string }
  /** Path prefix of the issuer URL, e.g. `/tenant-a` */
  prefix?: string
  /** Trailing slash on the issuer URL */
  trailingSlash?: boolean
  /** Host name in the issuer URL (default 127.0.0.1) */
  host?: string
}

/** A local OIDC issuer (what SPIRE's oidc-discovery-provider serves) that counts its requests. */
interface Issuer {
  url: string
  keys: JWK[]
  hits: { discovery: number; jwks: number }
  /** Overrides what the discovery document says its issuer is. */
  advertisedIssuer?: string
  /** Raw replacement bodies (and statuses) for the two documents. */
  discoveryReply?: { status: number; body: string }
  jwksReply?: { status: number; body: string }
  close(): Promise<void>
}

async function startIssuer(emu: Emulator, keys: JWK[], o: IssuerOptions = {}): Promise<Issuer> {
  const prefix = o.prefix ?? ''
  const issuer: Issuer = {
    url: '',
    keys,
    hits: { discovery: 0, jwks: 0 },
    close: () => Promise.resolve(),
  }
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const send = (reply: { status: number; body: string }) => {
      res.writeHead(reply.status, { 'content-type': 'application/json' })
      res.end(reply.body)
    }
    if (req.url === `${prefix}/.well-known/openid-configuration`) {
      issuer.hits.discovery++
      const base = issuer.url.replace(/\/$/, '')
      const doc = {
        issuer: issuer.advertisedIssuer ?? issuer.url,
        jwks_uri: `${base}/keys`,
        authorization_endpoint: `${base}/authorize`,
        response_types_supported: ['id_token'],
        subject_types_supported: [],
        id_token_signing_alg_values_supported: ['RS256', 'ES256', 'ES384'],
      }
      send(issuer.discoveryReply ?? { status: 200, body: JSON.stringify(doc) })
    } else if (req.url === `${prefix}/keys`) {
      issuer.hits.jwks++
      send(issuer.jwksReply ?? { status: 200, body: JSON.stringify({ keys: issuer.keys }) })
    } else send({ status: 404, body: '{}' })
  }
  const server: Server = o.http
    ? createHttpServer(handle)
    : createHttpsServer(
        {
          cert: o.tls?.cert ?? emu.pki.tls.chainPem,
          key: o.tls?.key ?? emu.pki.tls.keyPem,
        },
        handle,
      )
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  issuer.url = `${o.http ? 'http' : 'https'}://${o.host ?? '127.0.0.1'}:${port}${prefix}${o.trailingSlash ? '/' : ''}`
  issuer.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return issuer
}

interface AssertionInput {
  iss: string
  key?: RsaKey
  /** Header kid; null leaves it out. Default: the key's kid. */
  kid?: string | null
  sub?: string
  aud?: string | string[]
  /** Seconds relative to the emulator clock; null leaves the claim out. */
  iatOffset?: number | null
  nbfOffset?: number | null
  expOffset?: number | null
}

let emu: Emulator
let clock: Date
let k1: RsaKey
let k2: RsaKey
let issuer: Issuer
const closers: (() => Promise<void>)[] = []

const tenant = () => emu.world.tenant('contoso')
const appOf = (name: string) => emu.world.findApp(tenant(), name)!

before(async () => {
  clock = new Date()
  emu = await startEmulator({ world: world(), now: () => clock })
  ;[k1, k2] = await Promise.all([rsaKey('k1'), rsaKey('k2')])
  issuer = await startIssuer(emu, [k1.jwk])
  closers.push(() => issuer.close())
  emu.entra.addFederatedCredential('workload', { issuer: issuer.url, subject: SUBJECT })
})
after(async () => {
  await Promise.all(closers.map((c) => c()))
  await emu.stop()
})

async function sign(a: AssertionInput, key = a.key ?? k1): Promise<string> {
  const nowS = Math.floor(emu.now().getTime() / 1000)
  const at = (offset: number | null | undefined, dflt: number) =>
    offset === null ? undefined : nowS + (offset ?? dflt)
  const claims: Record<string, unknown> = {
    iss: a.iss,
    sub: a.sub ?? SUBJECT,
    aud: a.aud ?? AUDIENCE,
    iat: at(a.iatOffset, 0),
    nbf: at(a.nbfOffset, 0),
    exp: at(a.expOffset, 300),
  }
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k]
  const kid = a.kid === undefined ? key.jwk.kid : a.kid
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(kid === null ? {} : { kid }) })
    .sign(key.privateKey)
}

/** POSTs a client-credentials request with the assertion to the v2 token endpoint. */
function requestToken(assertion: string, app = 'workload', target: Emulator = emu) {
  const t = target.world.tenant('contoso')
  return fetchRaw(`${target.endpoints.entra}/${t.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    ca: target.endpoints.caCertPem,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: target.world.findApp(t, app)!.clientId,
      client_assertion_type: JWT_BEARER,
      client_assertion: assertion,
      scope: ARM_SCOPE,
    }).toString(),
  })
}

interface EntraErrorBody {
  error: string
  error_description: string
  error_codes: number[]
}

function assertRefused(
  res: HttpResult,
  status: number,
  error: string,
  code: number,
  description?: string,
): void {
  const body = res.json<EntraErrorBody>()
  assert.equal(res.status, status, res.text)
  assert.equal(body.error, error)
  assert.deepEqual(body.error_codes, [code])
  assert.ok(body.error_description.startsWith(`AADSTS${code}: `), body.error_description)
  if (description !== undefined) {
    const text = body.error_description.slice(`AADSTS${code}: `.length)
    assert.ok(text.startsWith(`${description} Trace ID: `), body.error_description)
  }
}

const HINT =
  'Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.'

test('a good assertion gets an app token that ARM accepts', async () => {
  const res = await requestToken(await sign({ iss: issuer.url }))
  assert.equal(res.status, 200, res.text)
  const body = res.json<{ access_token: string; token_type: string }>()
  assert.equal(body.token_type, 'Bearer')
  const claims = decodeJwt(body.access_token)
  const app = appOf('workload')
  assert.equal(claims.azp ?? claims.appid, app.clientId)
  assert.equal(claims.oid, app.objectId)
  assert.equal(claims.tid, tenant().tenantId)
  const subId = emu.world.subscription('prod').subscriptionId
  const arm = await fetchRaw(`${emu.endpoints.arm}/subscriptions/${subId}?api-version=2022-12-01`, {
    ca: emu.endpoints.caCertPem,
    headers: { authorization: `Bearer ${body.access_token}` },
  })
  assert.equal(arm.status, 200, arm.text)
  assert.equal(arm.json().subscriptionId, subId)
})

test('the audience may be an array that contains the credential audience', async () => {
  const res = await requestToken(
    await sign({ iss: issuer.url, aud: ['https://other.example', AUDIENCE] }),
  )
  assert.equal(res.status, 200, res.text)
})

test('discovery and JWKS are cached per issuer for 5 minutes of emulator time', async () => {
  const own = await startIssuer(emu, [k1.jwk], { prefix: '/cache' })
  closers.push(() => own.close())
  emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
  try {
    assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 1, jwks: 1 })
    assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 1, jwks: 1 }, 'second success fetched nothing')
    clock = new Date(clock.getTime() + FEDERATION_CACHE_TTL_MS + 1_000)
    assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 2, jwks: 2 }, 'expired on the emulator clock')
  } finally {
    emu.entra.removeFederatedCredentials('scratch')
  }
})

test('an unknown kid refetches once; a rotated key then verifies', async () => {
  const own = await startIssuer(emu, [k1.jwk], { prefix: '/rotate' })
  closers.push(() => own.close())
  emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
  try {
    assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 1, jwks: 1 })
    const unknown = await requestToken(await sign({ iss: own.url, kid: 'nope' }), 'scratch')
    assertRefused(
      unknown,
      401,
      'invalid_client',
      700027,
      `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: 'nope', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${appOf('scratch').clientId}'.]`,
    )
    assert.deepEqual(own.hits, { discovery: 2, jwks: 2 }, 'exactly one refetch')
    own.keys = [k2.jwk, k1.jwk]
    assert.equal((await requestToken(await sign({ iss: own.url, key: k2 }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 3, jwks: 3 })
    assert.equal((await requestToken(await sign({ iss: own.url, key: k2 }), 'scratch')).status, 200)
    assert.deepEqual(own.hits, { discovery: 3, jwks: 3 })
  } finally {
    emu.entra.removeFederatedCredentials('scratch')
  }
})

test('an unknown kid right after a fetch is not fetched again', async () => {
  const own = await startIssuer(emu, [k1.jwk], { prefix: '/fresh' })
  closers.push(() => own.close())
  emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
  try {
    const res = await requestToken(await sign({ iss: own.url, kid: 'nope' }), 'scratch')
    assertRefused(res, 401, 'invalid_client', 700027)
    assert.deepEqual(own.hits, { discovery: 1, jwks: 1 })
  } finally {
    emu.entra.removeFederatedCredentials('scratch')
  }
})

describe('refusals, by Entra code', () => {
  test('malformed JWT: 400 invalid_request AADSTS50027', async () => {
    for (const bad of ['not-a-jwt', 'a.b.c', `${base64url.encode('{"alg":"RS256"}')}.e30`]) {
      assertRefused(
        await requestToken(bad),
        400,
        'invalid_request',
        50027,
        'JWT token is invalid or malformed.',
      )
    }
  })

  test('ES256, PS256, HS256 and none are not supported: AADSTS5002738', async () => {
    const claims = { iss: issuer.url, sub: SUBJECT, aud: AUDIENCE }
    const exp = Math.floor(emu.now().getTime() / 1000) + 300
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const es256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setExpirationTime(exp)
      .sign(ec.privateKey)
    const ps256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'PS256', kid: 'k1' })
      .setExpirationTime(exp)
      .sign(KeyObject.from(k1.privateKey as webcrypto.CryptoKey))
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setExpirationTime(exp)
      .sign(new TextEncoder().encode('a shared secret of thirty-two bytes!'))
    const none = `${base64url.encode('{"alg":"none"}')}.${base64url.encode(JSON.stringify({ ...claims, exp }))}.`
    for (const [alg, jwt] of [
      ['ES256', es256],
      ['PS256', ps256],
      ['HS256', hs256],
      ['none', none],
    ] as const) {
      assertRefused(
        await requestToken(jwt),
        401,
        'invalid_client',
        5002738,
        `Invalid JWT token. '${alg}' is not a supported signature algorithm. Supported signing algorithms are: 'RS256'`,
      )
    }
  })

  test('an issuer no credential names: AADSTS700211, without fetching it', async () => {
    const before = { ...issuer.hits }
    const other = `${issuer.url}/`
    assertRefused(
      await requestToken(await sign({ iss: other })),
      401,
      'invalid_client',
      700211,
      `No matching federated identity record found for presented assertion issuer '${other}'. ${HINT}`,
    )
    assert.deepEqual(issuer.hits, before)
  })

  test('a discovery document naming another issuer: AADSTS700211', async () => {
    const own = await startIssuer(emu, [k1.jwk], { prefix: '/liar' })
    closers.push(() => own.close())
    own.advertisedIssuer = 'https://attacker.example'
    emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
    try {
      assertRefused(
        await requestToken(await sign({ iss: own.url }), 'scratch'),
        401,
        'invalid_client',
        700211,
        `No matching federated identity record found for presented assertion issuer '${own.url}'. ${HINT}`,
      )
      assert.deepEqual(own.hits, { discovery: 1, jwks: 0 })
    } finally {
      emu.entra.removeFederatedCredentials('scratch')
    }
  })

  test('an issuer with a trailing slash is fetched without it and matched exactly', async () => {
    const own = await startIssuer(emu, [k1.jwk], { prefix: '/slash', trailingSlash: true })
    closers.push(() => own.close())
    emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
    try {
      assert.ok(own.url.endsWith('/slash/'))
      assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
      assert.deepEqual(own.hits, { discovery: 1, jwks: 1 })
    } finally {
      emu.entra.removeFederatedCredentials('scratch')
    }
  })

  test('a loopback host name works like the address', async () => {
    const own = await startIssuer(emu, [k1.jwk], { prefix: '/named', host: 'localhost' })
    closers.push(() => own.close())
    emu.entra.addFederatedCredential('scratch', { issuer: own.url, subject: SUBJECT })
    try {
      assert.ok(own.url.startsWith('https://localhost:'))
      assert.equal((await requestToken(await sign({ iss: own.url }), 'scratch')).status, 200)
    } finally {
      emu.entra.removeFederatedCredentials('scratch')
    }
  })

  test('unreachable, untrusted, http, non-200 or non-JSON endpoints: AADSTS50166', async () => {
    const dead = await startIssuer(emu, [k1.jwk], { prefix: '/dead' })
    await dead.close()
    const plain = await startIssuer(emu, [k1.jwk], { http: true, prefix: '/plain' })
    const untrusted = await startIssuer(emu, [k1.jwk], { prefix: '/self', tls: selfSigned() })
    const badJson = await startIssuer(emu, [k1.jwk], { prefix: '/badjson' })
    badJson.discoveryReply = { status: 200, body: '{"issuer": ' }
    const noJwks = await startIssuer(emu, [k1.jwk], { prefix: '/nojwks' })
    noJwks.jwksReply = { status: 404, body: '{}' }
    const huge = await startIssuer(emu, [k1.jwk], { prefix: '/huge' })
    huge.jwksReply = {
      status: 200,
      body: JSON.stringify({ keys: [k1.jwk], pad: 'x'.repeat(300 * 1024) }),
    }
    const notKeys = await startIssuer(emu, [k1.jwk], { prefix: '/notkeys' })
    notKeys.jwksReply = { status: 200, body: '{"keys": "none"}' }
    const all = [plain, untrusted, badJson, noJwks, huge, notKeys]
    closers.push(() => Promise.all(all.map((i) => i.close())).then(() => undefined))
    try {
      // the emulated Entra fetches from loopback addresses only
      const outside = 'https://192.0.2.1/issuer'
      for (const url of [dead.url, ...all.map((i) => i.url), outside]) {
        emu.entra.addFederatedCredential('scratch', { issuer: url, subject: SUBJECT })
        assertRefused(
          await requestToken(await sign({ iss: url }), 'scratch'),
          401,
          'invalid_client',
          50166,
          'Request to External OIDC endpoint failed.',
        )
      }
      assert.equal(plain.hits.discovery, 0, 'an http issuer is never fetched')
      assert.deepEqual(noJwks.hits, { discovery: 1, jwks: 1 })
    } finally {
      emu.entra.removeFederatedCredentials('scratch')
    }
  })

  test('another subject: AADSTS700213', async () => {
    const sub = 'spiffe://example.org/ns/prod/sa/other'
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, sub })),
      401,
      'invalid_client',
      700213,
      `No matching federated identity record found for presented assertion subject '${sub}'. ${HINT}`,
    )
  })

  test('another audience: AADSTS700212', async () => {
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, aud: 'api://Other' })),
      401,
      'invalid_client',
      700212,
      `No matching federated identity record found for presented assertion audience 'api://Other'. ${HINT}`,
    )
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, aud: [] })),
      401,
      'invalid_client',
      700212,
    )
  })

  test('no kid: AADSTS700027, key not found', async () => {
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, kid: null })),
      401,
      'invalid_client',
      700027,
      `Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${appOf('workload').clientId}'.]`,
    )
  })

  test('a signature by another key under a known kid: AADSTS700027, signature mismatch', async () => {
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, key: k2, kid: 'k1' })),
      401,
      'invalid_client',
      700027,
      'Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]',
    )
  })

  test('expired, not yet valid or without exp: AADSTS700024 on the emulator clock', async () => {
    const saved = clock
    try {
      const jwt = await sign({ iss: issuer.url, expOffset: 600 })
      const iat = new Date(Math.floor(saved.getTime() / 1000) * 1000)
      // 4 minutes past exp is inside Entra's 5-minute skew; 6 minutes is not
      clock = new Date(saved.getTime() + 14 * MINUTE_MS)
      assert.equal((await requestToken(jwt)).status, 200)
      clock = new Date(saved.getTime() + 16 * MINUTE_MS)
      assertRefused(
        await requestToken(jwt),
        401,
        'invalid_client',
        700024,
        `Client assertion is not within its valid time range. Current time: ${entraTime(clock)}, assertion valid from ${entraTime(iat)}, expiry time of assertion ${entraTime(new Date(iat.getTime() + 10 * MINUTE_MS))}.`,
      )
      clock = saved
      const early = await sign({ iss: issuer.url, nbfOffset: 400, expOffset: 900 })
      assertRefused(await requestToken(early), 401, 'invalid_client', 700024)
      const noExp = await sign({ iss: issuer.url, expOffset: null })
      const res = await requestToken(noExp)
      assertRefused(res, 401, 'invalid_client', 700024)
      assert.match(res.json<EntraErrorBody>().error_description, /expiry time of assertion 0001-/)
      const noNbf = await sign({ iss: issuer.url, nbfOffset: null, iatOffset: 400 })
      assertRefused(await requestToken(noNbf), 401, 'invalid_client', 700024, undefined)
    } finally {
      clock = saved
    }
  })

  test('checks run in Entra order', async () => {
    const cases: [AssertionInput, number][] = [
      // unknown issuer beats everything after it
      [{ iss: 'https://127.0.0.1:1/nowhere', sub: 'x', kid: null, expOffset: -3600 }, 700211],
      // wrong subject beats wrong audience, unknown kid and expiry
      [{ iss: issuer.url, sub: 'x', aud: 'y', kid: 'nope', expOffset: -3600 }, 700213],
      // wrong audience beats unknown kid and expiry
      [{ iss: issuer.url, aud: 'y', kid: 'nope', expOffset: -3600 }, 700212],
      // unknown kid beats expiry
      [{ iss: issuer.url, kid: null, expOffset: -3600 }, 700027],
    ]
    for (const [input, code] of cases)
      assertRefused(await requestToken(await sign(input)), 401, 'invalid_client', code)
    // a bad signature beats expiry
    assertRefused(
      await requestToken(await sign({ iss: issuer.url, key: k2, kid: 'k1', expOffset: -3600 })),
      401,
      'invalid_client',
      700027,
      'Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]',
    )
  })
})

test('@azure/identity ClientAssertionCredential exchanges the assertion for an ARM token', async () => {
  const app = appOf('workload')
  let calls = 0
  const cred = new ClientAssertionCredential(
    tenant().tenantId,
    app.clientId,
    () => {
      calls++
      return sign({ iss: issuer.url })
    },
    {
      authorityHost: emu.endpoints.entra,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: emu.endpoints.caCertPem },
    },
  )
  const at = await cred.getToken(ARM_SCOPE)
  assert.ok(calls >= 1)
  const claims = decodeJwt(at.token)
  assert.equal(claims.aud, 'https://management.azure.com')
  assert.equal(claims.oid, app.objectId)
  const refused = new ClientAssertionCredential(
    tenant().tenantId,
    app.clientId,
    () => sign({ iss: issuer.url, sub: 'spiffe://example.org/intruder' }),
    {
      authorityHost: emu.endpoints.entra,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: emu.endpoints.caCertPem },
    },
  )
  await assert.rejects(refused.getToken(ARM_SCOPE), /AADSTS700213/)
})

test('apps without federated credentials keep the shape-only assertion check', async () => {
  const app = appOf('scratch')
  assert.deepEqual(emu.entra.federatedCredentials('scratch'), [])
  const unsigned = `${base64url.encode('{"alg":"RS256"}')}.${base64url.encode(JSON.stringify({ sub: app.clientId, iss: app.clientId }))}.c2ln`
  assert.equal((await requestToken(unsigned, 'scratch')).status, 200)
  emu.entra.addFederatedCredential('scratch', { issuer: issuer.url, subject: SUBJECT })
  try {
    // now a federated assertion: its issuer (the client id) names no credential
    assertRefused(await requestToken(unsigned, 'scratch'), 401, 'invalid_client', 700211)
    // the secret still works beside federated credentials
    const res = await fetchRaw(`${emu.endpoints.entra}/${tenant().tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      ca: emu.endpoints.caCertPem,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: app.clientId,
        client_secret: app.secret,
        scope: ARM_SCOPE,
      }).toString(),
    })
    assert.equal(res.status, 200)
  } finally {
    emu.entra.removeFederatedCredentials('scratch')
  }
  assert.equal((await requestToken(unsigned, 'scratch')).status, 200)
})

test('the runtime API: defaults, Entra rules, tenant choice; world-declared credentials', () => {
  assert.deepEqual(emu.entra.federatedCredentials('workload'), [
    { name: 'fic-1', issuer: issuer.url, subject: SUBJECT, audiences: [AUDIENCE] },
  ])
  assert.throws(
    () => emu.entra.addFederatedCredential('workload', { issuer: issuer.url, subject: SUBJECT }),
    /issuer and subject already used/,
  )
  assert.throws(
    () =>
      emu.entra.addFederatedCredential('workload', {
        name: 'FIC-1',
        issuer: issuer.url,
        subject: 'other',
      }),
    /name "FIC-1" is taken/,
  )
  assert.throws(
    () => emu.entra.addFederatedCredential('spire-server', { issuer: issuer.url, subject: 'x' }),
    /several tenants/,
  )
  emu.entra.addFederatedCredential(
    'spire-server',
    { name: 'gov', issuer: issuer.url, subject: 'x', audiences: ['a', 'b'] },
    'fabrikam-gov',
  )
  const gov = emu.world.tenant('fabrikam-gov')
  assert.deepEqual(emu.entra.federatedCredentials('spire-server', gov.tenantId), [
    { name: 'gov', issuer: issuer.url, subject: 'x', audiences: ['a', 'b'] },
  ])
  assert.deepEqual(emu.entra.federatedCredentials('spire-server', 'contoso'), [])
  emu.entra.removeFederatedCredentials('spire-server', 'fabrikam-gov')
  assert.deepEqual(emu.entra.federatedCredentials('spire-server', 'fabrikam-gov'), [])
  assert.throws(() => emu.entra.removeFederatedCredentials('nope'), /app "nope" not found/)

  const declared = new World({
    tenants: [
      {
        name: 't',
        apps: [
          {
            name: 'a',
            federatedCredentials: [
              { name: 'one', issuer: 'https://issuer.example', subject: 's' },
              { name: 'two', issuer: 'https://issuer.example', subject: 's2', audiences: ['x'] },
            ],
          },
        ],
      },
    ],
  })
  assert.deepEqual(declared.tenants[0]!.apps[0]!.federatedCredentials, [
    { name: 'one', issuer: 'https://issuer.example', subject: 's', audiences: [AUDIENCE] },
    { name: 'two', issuer: 'https://issuer.example', subject: 's2', audiences: ['x'] },
  ])
  assert.throws(
    () =>
      new World({
        tenants: [
          {
            name: 't',
            apps: [
              {
                name: 'a',
                federatedCredentials: [
                  { name: 'one', issuer: 'https://i.example', subject: 's' },
                  { name: 'two', issuer: 'https://i.example', subject: 's' },
                ],
              },
            ],
          },
        ],
      }),
    /issuer and subject already used/,
  )
})

test('federationCa and allowInsecureFederationIssuers widen what the emulated Entra fetches', async () => {
  const tls = selfSigned()
  const other = await startEmulator({
    world: world(),
    now: () => clock,
    federationCa: tls.ca,
    allowInsecureFederationIssuers: true,
  })
  const own = await startIssuer(emu, [k1.jwk], { prefix: '/own', tls })
  const plain = await startIssuer(emu, [k1.jwk], { http: true, prefix: '/plain' })
  try {
    for (const i of [own, plain]) {
      other.entra.addFederatedCredential('workload', { issuer: i.url, subject: SUBJECT })
      const res = await requestToken(await sign({ iss: i.url }), 'workload', other)
      assert.equal(res.status, 200, res.text)
      assert.deepEqual(i.hits, { discovery: 1, jwks: 1 })
    }
    assert.deepEqual(other.errors, [])
  } finally {
    await Promise.all([own.close(), plain.close(), other.stop()])
  }
})

test('no handler errors', () => {
  assert.deepEqual(emu.errors, [])
})

/** Entra's time format: 7 fractional digits. */
function entraTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$10000Z')
}

/** A self-signed CA and a leaf for 127.0.0.1 under it, valid by the wall clock (TLS checks it). */
function selfSigned(): { cert: string; key: string; ca: string } {
  const wall = new Date()
  const notBefore = new Date(wall.getTime() - 60 * MINUTE_MS)
  const notAfter = new Date(wall.getTime() + 24 * 60 * MINUTE_MS)
  const caKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const ca = issueCertificate({
    subject: [['CN', 'Federation Test Root']],
    publicKey: caKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    ca: {},
    keyUsage: ['keyCertSign', 'cRLSign'],
  })
  const leafKeys = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const leaf = issueCertificate({
    subject: [['CN', 'issuer.test']],
    publicKey: leafKeys.publicKey,
    issuer: ca,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    ca: false,
    keyUsage: ['digitalSignature'],
    extKeyUsage: [EKU_SERVER_AUTH],
    ipAddresses: ['127.0.0.1'],
  })
  return {
    cert: `${leaf.pem}${ca.pem}`,
    key: leafKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    ca: ca.pem,
  }
}
