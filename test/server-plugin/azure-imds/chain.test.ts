import assert from 'node:assert/strict'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { describe, test } from 'node:test'
import {
  issueCertificate,
  EKU_CLIENT_AUTH,
  type IssuedCert,
} from '../../azure-emulator/cert-builder.js'
import type { HttpFetch, HttpRequest, HttpResponse } from '../../../shared/azure/http.js'
import {
  checkAiaUrl,
  createAiaFetcher,
  AIA_MAX_BYTES,
} from '../../../server-plugin/azure-imds/aia.js'
import { parseCertificate, type Cert } from '../../../server-plugin/azure-imds/certificate.js'
import { MAX_AIA_FETCHES, verifyChain } from '../../../server-plugin/azure-imds/chain.js'
import { IntermediatePool } from '../../../server-plugin/azure-imds/roots.js'

const NOW = new Date('2026-07-28T13:24:00Z')
const DAY = 86_400_000

const key = (): { privateKey: KeyObject; publicKey: KeyObject } =>
  generateKeyPairSync('ec', { namedCurve: 'P-256' })

function ca(
  name: string,
  k: { publicKey: KeyObject },
  signer: KeyObject,
  issuer?: IssuedCert,
  extra: Record<string, unknown> = {},
): IssuedCert {
  return issueCertificate({
    subject: [
      ['O', 'Chain Test'],
      ['CN', name],
    ],
    publicKey: k.publicKey,
    signingKey: signer,
    ...(issuer === undefined ? {} : { issuer }),
    ca: {},
    keyUsage: ['keyCertSign', 'cRLSign'],
    notBefore: new Date(NOW.getTime() - 10 * DAY),
    notAfter: new Date(NOW.getTime() + 100 * DAY),
    hash: 'sha256',
    ...extra,
  })
}

function leafOf(issuer: IssuedCert, signer: KeyObject, caIssuers: string[] = []): IssuedCert {
  return issueCertificate({
    subject: [['CN', 'metadata.azure.com']],
    publicKey: key().publicKey,
    signingKey: signer,
    issuer,
    dnsNames: ['metadata.azure.com'],
    keyUsage: ['digitalSignature'],
    notBefore: new Date(NOW.getTime() - DAY),
    notAfter: new Date(NOW.getTime() + 10 * DAY),
    hash: 'sha256',
    caIssuers,
  })
}

const c = (i: IssuedCert): Cert => parseCertificate(i.der)

function pool(bundled: IssuedCert[], http?: HttpFetch) {
  const requests: HttpRequest[] = []
  const transport: HttpFetch =
    http ??
    (async (req) => {
      requests.push(req)
      return { status: 404, headers: {}, body: Buffer.alloc(0) }
    })
  return {
    pool: new IntermediatePool({
      bundled: bundled.map(c),
      fetcher: createAiaFetcher({ http: transport, now: () => NOW.getTime() }),
      now: () => NOW.getTime(),
    }),
    requests,
  }
}

describe('chain building edge cases', () => {
  test('cycle detection: two CAs that issued each other end the walk', async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    const [ka, kb] = [key(), key()]
    const bName = ca('B', kb, kb.privateKey)
    const a = ca('A', ka, kb.privateKey, bName)
    const b = ca('B', kb, ka.privateKey, a)
    const leaf = leafOf(a, ka.privateKey)
    const { pool: p } = pool([a, b])
    await assert.rejects(verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW }), {
      reason: 'chain_cycle',
    })
  })

  test('the walk stops after MAX_CHAIN_INTERMEDIATES', async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    let issuer = root
    let issuerKey = rootK.privateKey
    const chain: IssuedCert[] = []
    for (let i = 7; i >= 1; i--) {
      const k = key()
      issuer = ca(`I${i}`, k, issuerKey, issuer)
      issuerKey = k.privateKey
      chain.push(issuer)
    }
    const leaf = leafOf(issuer, issuerKey)
    const { pool: p } = pool(chain)
    await assert.rejects(verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW }), {
      reason: 'chain_too_long',
    })
  })

  test('backtracking: an expired twin is skipped for a valid one with the same name and key', async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    const k = key()
    const expired = ca('Issuing', k, rootK.privateKey, root, {
      notBefore: new Date(NOW.getTime() - 400 * DAY),
      notAfter: new Date(NOW.getTime() - 30 * DAY),
    })
    const valid = ca('Issuing', k, rootK.privateKey, root)
    const leaf = leafOf(valid, k.privateKey)
    const { pool: p } = pool([expired, valid])
    const chain = await verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW })
    assert.equal(chain[1]?.fingerprint, c(valid).fingerprint)
    const { pool: only } = pool([expired])
    await assert.rejects(
      verifyChain(c(leaf), { roots: [c(root)], intermediates: only, now: NOW }),
      { reason: 'certificate_expired' },
    )
  })

  test('pathLen is enforced', async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    const k1 = key()
    const i1 = ca('I1', k1, rootK.privateKey, root, { ca: { pathLength: 0 } })
    const k2 = key()
    const i2 = ca('I2', k2, k1.privateKey, i1)
    const leaf = leafOf(i2, k2.privateKey)
    const { pool: p } = pool([i1, i2])
    await assert.rejects(verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW }), {
      reason: 'path_length_exceeded',
    })
  })

  test('an intermediate restricted to clientAuth cannot issue a server certificate', async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    const k1 = key()
    const i1 = ca('I1', k1, rootK.privateKey, root, { extKeyUsage: [EKU_CLIENT_AUTH] })
    const leaf = leafOf(i1, k1.privateKey)
    const { pool: p } = pool([i1])
    await assert.rejects(verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW }), {
      reason: 'issuer_eku',
    })
  })

  test(`one verification makes at most ${MAX_AIA_FETCHES} AIA requests`, async () => {
    const rootK = key()
    const root = ca('Root', rootK, rootK.privateKey)
    const k1 = key()
    const i1 = ca('I1', k1, rootK.privateKey, root)
    const urls = Array.from(
      { length: 8 },
      (_, n) => `http://www.microsoft.com/pkiops/certs/missing-${n}.crt`,
    )
    const leaf = leafOf(i1, k1.privateKey, urls)
    const { pool: p, requests } = pool([])
    await assert.rejects(verifyChain(c(leaf), { roots: [c(root)], intermediates: p, now: NOW }), {
      reason: 'aia_fetch_failed',
    })
    assert.equal(requests.length, MAX_AIA_FETCHES)
  })
})

describe('AIA policy', () => {
  const allowed = [
    'http://www.microsoft.com/pkiops/certs/Microsoft%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
    'https://caissuers.microsoft.com/pkiops/certs/x.crt',
    'http://cacerts.digicert.com/DigiCertGlobalRootG2.crt',
    'http://cacerts.digicert.cn/DigiCertBasicRSACNCAG2.crt',
    'http://WWW.MICROSOFT.COM:80/pkiops/certs/x.crt',
    'https://www.microsoft.com:443/pkiops/certs/x.crt',
  ]
  for (const url of allowed) test(`allowed: ${url}`, () => assert.ok(checkAiaUrl(url)))

  const refused = [
    ['http://attacker.example.com/pkiops/certs/x.crt', /not an allowed issuer host/],
    ['http://127.0.0.1/pkiops/certs/x.crt', /IP literals/],
    ['http://[::1]/pkiops/certs/x.crt', /IP literals/],
    ['http://169.254.169.254/metadata/instance', /IP literals/],
    ['http://www.microsoft.com:8080/pkiops/certs/x.crt', /port must be 80 or 443/],
    ['http://user:pw@www.microsoft.com/pkiops/certs/x.crt', /userinfo/],
    ['ftp://www.microsoft.com/pkiops/certs/x.crt', /scheme/],
    ['file:///etc/passwd', /scheme/],
    ['http://www.microsoft.com/en-us/x.crt', /path must start with \/pkiops\/certs\//],
    ['http://www.microsoft.com.attacker.com/pkiops/certs/x.crt', /not an allowed issuer host/],
    ['not a url', /not a valid URL/],
  ] as const
  for (const [url, why] of refused) {
    test(`refused: ${url}`, () =>
      assert.throws(() => checkAiaUrl(url), { reason: 'aia_not_allowed', message: why }))
  }

  test('the fetcher follows no redirect, caps the size, falls back to PEM and caches by URL', async () => {
    const k = key()
    const cert = ca('X', k, k.privateKey)
    const seen: HttpRequest[] = []
    let mode: 'redirect' | 'pem' | 'huge' = 'redirect'
    const http: HttpFetch = async (req): Promise<HttpResponse> => {
      seen.push(req)
      if (mode === 'redirect')
        return { status: 301, headers: { location: 'http://127.0.0.1/' }, body: Buffer.alloc(0) }
      if (mode === 'huge')
        return { status: 200, headers: {}, body: Buffer.alloc(AIA_MAX_BYTES + 1) }
      return { status: 200, headers: {}, body: Buffer.from(cert.pem) }
    }
    const f = createAiaFetcher({
      http,
      now: () => NOW.getTime(),
      issuerOverride: 'http://127.0.0.1:9999/',
    })
    const url = 'http://www.microsoft.com/pkiops/certs/X.crt'
    await assert.rejects(f.fetch(url), { reason: 'aia_fetch_failed', message: /status: 301/ })
    assert.equal(seen.length, 1)
    assert.equal(
      seen[0]?.url,
      'http://127.0.0.1:9999/pkiops/certs/X.crt',
      'the emulator override keeps the path',
    )
    assert.equal(seen[0]?.maxBytes, AIA_MAX_BYTES)
    assert.match(seen[0]?.headers?.['user-agent'] ?? '', /^spire-azure-attestor\//)
    mode = 'huge'
    await assert.rejects(f.fetch(url), { reason: 'aia_fetch_failed' })
    mode = 'pem'
    assert.equal((await f.fetch(url)).fingerprint, c(cert).fingerprint)
    await f.fetch(url)
    assert.equal(seen.length, 3, 'a success is cached; failures are not')
  })
})
