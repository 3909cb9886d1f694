// Work counting for azure_imds's certificate cache (issue #12): a warm attestation parses no
// certificate and builds no chain; a new certificate, a changed trust set, an expired entry or a
// refusal does; a cache hit never skips a check that depends on the document or the config.
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { Pki, Signer } from '../../azure-emulator/pki.js'
import { signAttestedDocument } from '../../azure-emulator/attested-document.js'
import { createAttestor } from '../../../server-plugin/azure-imds/attestor.js'
import { parseCertificate, type Cert } from '../../../server-plugin/azure-imds/certificate.js'
import {
  VerificationCache,
  type VerifyCacheStats,
} from '../../../server-plugin/azure-imds/verify-cache.js'
import {
  verifyAttestedDocument,
  verifyDocumentSignatureAndChain,
  type DocumentExpectations,
} from '../../../server-plugin/azure-imds/verify-document.js'
import {
  agentIo,
  ids,
  imdsTestDeps,
  payloadOf,
  serverConfig,
  TENANT_DOMAIN,
  TENANT_ID,
} from '../../support/azure-imds.js'
import { cert, NONCE, NOW, poolFor, sign, SUBSCRIPTION_ID, testPki, VM_ID } from './pki-support.js'

let pki: Pki
let roots: Cert[]
before(async () => {
  pki = await testPki()
  roots = [cert(pki.roots.digicertGlobalRootG2.cert), cert(pki.roots.tlsRsaRootG2.cert)]
})

/** Expectations anchored at the emulator's roots, with a fresh AIA pool and the given cache. */
function trust(cache: VerificationCache, overrides: Partial<DocumentExpectations> = {}) {
  const { pool, requests } = poolFor(pki)
  const expected: DocumentExpectations = {
    now: NOW,
    expectedNonce: NONCE,
    roots,
    intermediates: pool,
    allowedDomains: ['metadata.azure.com'],
    cache,
    ...overrides,
  }
  return { expected, requests }
}

/** How much of each kind of work happened while `run` ran. */
async function work(cache: VerificationCache, run: () => Promise<unknown>) {
  const before: VerifyCacheStats = { ...cache.stats }
  await run()
  const s = cache.stats
  return {
    certificateParses: s.certificateParses - before.certificateParses,
    certificateHits: s.certificateHits - before.certificateHits,
    chainBuilds: s.chainBuilds - before.chainBuilds,
    chainHits: s.chainHits - before.chainHits,
  }
}

const NONE = { certificateParses: 0, certificateHits: 0, chainBuilds: 0, chainHits: 0 }
const leafOf = (s: Signer): Cert => parseCertificate(s.cert.der)

describe('verification cache: warm attestations do no certificate work', () => {
  test('the second document from the same signer parses 0 certificates and builds 0 chains', async () => {
    const cache = new VerificationCache()
    const { expected, requests } = trust(cache)
    const first = await work(cache, () =>
      verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected),
    )
    assert.deepEqual(first, { ...NONE, certificateParses: 1, chainBuilds: 1 })
    assert.equal(requests.length, 1, 'one AIA fetch for the intermediate')
    const second = await work(cache, () =>
      verifyAttestedDocument(
        sign({ signer: pki.leaves.public, now: new Date(NOW.getTime() + 60_000) }),
        expected,
      ),
    )
    assert.deepEqual(second, { ...NONE, certificateHits: 1, chainHits: 1 })
    assert.equal(requests.length, 1, 'no AIA request on a warm attestation')
  })

  test('a different signer certificate is parsed and chained; the first stays warm', async () => {
    const cache = new VerificationCache()
    const { expected } = trust(cache)
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    const other = pki.leafFor('public', 'northeurope')
    assert.notEqual(leafOf(other).fingerprint, leafOf(pki.leaves.public).fingerprint)
    assert.deepEqual(
      await work(cache, () => verifyAttestedDocument(sign({ signer: other }), expected)),
      { ...NONE, certificateParses: 1, chainBuilds: 1 },
    )
    assert.deepEqual(
      await work(cache, () =>
        verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected),
      ),
      { ...NONE, certificateHits: 1, chainHits: 1 },
    )
  })

  test('through the attestor: one cache for every attestation of the plugin', async () => {
    const cache = new VerificationCache()
    const { pool, requests } = poolFor(pki)
    const deps = imdsTestDeps({
      now: () => NOW.getTime(),
      roots: async () => roots,
      intermediates: () => pool,
      verificationCache: cache,
    })
    deps.azure.subscriptions.set(SUBSCRIPTION_ID, TENANT_ID)
    deps.azure.addVm({ sub: SUBSCRIPTION_ID, rg: 'Frontend', name: 'blog', vmId: VM_ID })
    const config = serverConfig(`tenants = { "${TENANT_DOMAIN}" = { tenant_id = "${TENANT_ID}" } }`)
    const attestor = createAttestor(deps)
    const { io } = agentIo((nonce) =>
      payloadOf(sign({ signer: pki.leaves.public, nonce }), {
        resourceId: ids.vm(SUBSCRIPTION_ID, 'Frontend', 'blog'),
      }),
    )
    const once = () => attestor.attest(Buffer.from('x'), config, io)
    assert.deepEqual(await work(cache, once), { ...NONE, certificateParses: 1, chainBuilds: 1 })
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await work(cache, once), { ...NONE, certificateHits: 1, chainHits: 1 })
    }
    assert.equal(requests.length, 1)
  })
})

describe('verification cache: expiry, trust changes and bounds', () => {
  test('entries end at the earliest notAfter of the chain, on the injected clock', async () => {
    const cache = new VerificationCache()
    const { expected } = trust(cache)
    const verified = await verifyDocumentSignatureAndChain(
      sign({ signer: pki.leaves.public }),
      expected,
    )
    const until = Math.min(...verified.chain.map((c) => c.notAfter.getTime()))
    assert.equal(until, verified.signer.notAfter.getTime(), 'the leaf expires first')
    const at = (t: number) => ({ ...expected, now: new Date(t) })
    const doc = (t: number) => sign({ signer: pki.leaves.public, now: new Date(t) })
    assert.deepEqual(
      await work(cache, () => verifyDocumentSignatureAndChain(doc(until), at(until))),
      { ...NONE, certificateHits: 1, chainHits: 1 },
      'still valid at notAfter itself',
    )
    const after = await work(cache, () =>
      assert.rejects(verifyDocumentSignatureAndChain(doc(until + 1), at(until + 1)), {
        reason: 'certificate_expired',
      }),
    )
    assert.deepEqual(after, { ...NONE, certificateParses: 1, chainBuilds: 1 })
    assert.deepEqual(cache.size, { certificates: 0, chains: 0 }, 'expired entries are dropped')
  })

  test('a chain is not reused before its latest notBefore (a clock set back)', async () => {
    const cache = new VerificationCache()
    const { expected } = trust(cache)
    const verified = await verifyDocumentSignatureAndChain(
      sign({ signer: pki.leaves.public }),
      expected,
    )
    const from = Math.max(...verified.chain.map((c) => c.notBefore.getTime()))
    const early = new Date(from - 1)
    const spent = await work(cache, () =>
      assert.rejects(
        verifyDocumentSignatureAndChain(sign({ signer: pki.leaves.public, now: early }), {
          ...expected,
          now: early,
        }),
        { reason: 'certificate_not_yet_valid' },
      ),
    )
    assert.equal(spent.chainHits, 0)
    assert.equal(spent.chainBuilds, 1)
  })

  test('a changed trust set never reuses a verdict: the chain is rebuilt, or refused', async () => {
    const cache = new VerificationCache()
    const viaG2 = trust(cache, { roots: [cert(pki.roots.tlsRsaRootG2.cert)] }).expected
    const viaDigicert = trust(cache, { roots: [cert(pki.roots.digicertGlobalRootG2.cert)] })
    const untrusted = trust(cache, { roots: [cert(pki.bad.rogueRootCert.cert)] }).expected
    const doc = () => sign({ signer: pki.leaves.public })
    assert.equal((await verifyAttestedDocument(doc(), viaG2)).chain.length, 3)
    assert.deepEqual(
      await work(cache, async () => {
        const v = await verifyAttestedDocument(doc(), viaDigicert.expected)
        assert.equal(v.chain.length, 4, 'the cross-signed path to the other root')
      }),
      { ...NONE, certificateHits: 1, chainBuilds: 1 },
    )
    const refused = await work(cache, () =>
      assert.rejects(verifyAttestedDocument(doc(), untrusted), (err: { message: string }) => {
        assert.match(err.message, /certificate chain validation failed/)
        return true
      }),
    )
    assert.deepEqual(refused, { ...NONE, certificateHits: 1, chainBuilds: 1 })
    // the earlier trust sets are still warm
    assert.deepEqual(await work(cache, () => verifyAttestedDocument(doc(), viaG2)), {
      ...NONE,
      certificateHits: 1,
      chainHits: 1,
    })
  })

  test('bounded: the least recently used certificate and chain make room', async () => {
    const cache = new VerificationCache({ maxCertificates: 2, maxChains: 2 })
    const { expected } = trust(cache)
    const signers = ['r1', 'r2', 'r3'].map((r) => pki.leafFor('public', r))
    for (const s of signers) await verifyAttestedDocument(sign({ signer: s }), expected)
    assert.deepEqual(cache.size, { certificates: 2, chains: 2 })
    assert.deepEqual(
      await work(cache, () => verifyAttestedDocument(sign({ signer: signers[2]! }), expected)),
      { ...NONE, certificateHits: 1, chainHits: 1 },
    )
    assert.deepEqual(
      await work(cache, () => verifyAttestedDocument(sign({ signer: signers[0]! }), expected)),
      { ...NONE, certificateParses: 1, chainBuilds: 1 },
      'the oldest was evicted',
    )
    assert.deepEqual(cache.size, { certificates: 2, chains: 2 })
  })
})

describe('verification cache: only success is remembered', () => {
  test('a refused chain is rebuilt every time and leaves nothing behind', async () => {
    const cache = new VerificationCache()
    const { expected } = trust(cache, { roots: [cert(pki.bad.rogueRootCert.cert)] })
    for (let i = 0; i < 2; i++) {
      const spent = await work(cache, () =>
        assert.rejects(verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)),
      )
      assert.deepEqual(spent, { ...NONE, certificateParses: 1, chainBuilds: 1 })
    }
    assert.deepEqual(cache.size, { certificates: 0, chains: 0 })
  })

  test('certificates of refused documents are never remembered (no cache pollution)', async () => {
    const cache = new VerificationCache({ maxCertificates: 1 })
    const { expected } = trust(cache)
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    for (const signer of [pki.bad.wrongSan, pki.bad.expired, pki.bad.noServerAuth]) {
      await assert.rejects(verifyAttestedDocument(sign({ signer }), expected))
    }
    await assert.rejects(
      verifyAttestedDocument(
        sign({
          signer: pki.bad.rogueRoot,
          certificates: [pki.bad.rogueRoot.cert, pki.bad.rogueRootCert.cert],
        }),
        expected,
      ),
    )
    assert.deepEqual(cache.size, { certificates: 1, chains: 1 })
    assert.deepEqual(
      await work(cache, () =>
        verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected),
      ),
      { ...NONE, certificateHits: 1, chainHits: 1 },
    )
  })
})

describe('verification cache: a hit never skips a check on the document', () => {
  /** A cache already warm for pki.leaves.public. */
  async function warm() {
    const cache = new VerificationCache()
    const { expected } = trust(cache)
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    return { cache, expected }
  }

  test('tampered content: the cached signer still checks the signature', async () => {
    const { cache, expected } = await warm()
    const doc = signAttestedDocument({
      vmId: VM_ID,
      subscriptionId: SUBSCRIPTION_ID,
      nonce: NONCE,
      now: NOW,
      signer: pki.leaves.public,
      signedText: '{"vmId":"someone-else"}',
    }).body
    const spent = await work(cache, () =>
      assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'bad_signature' }),
    )
    assert.deepEqual(spent, { ...NONE, certificateHits: 1 })
  })

  test('the cached leaf named as signer, but the attacker’s signature', async () => {
    const { cache, expected } = await warm()
    const doc = sign({
      signer: { ...pki.leaves.public, privateKey: pki.bad.rogueRootCert.privateKey },
    })
    const spent = await work(cache, () =>
      assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'bad_signature' }),
    )
    assert.equal(spent.certificateHits, 1)
  })

  test('signer confusion: the cached genuine leaf first in the bag, content signed by a rogue', async () => {
    const { cache, expected } = await warm()
    const doc = sign({
      signer: pki.bad.rogueRoot,
      certificates: [pki.leaves.public.cert, pki.bad.rogueRoot.cert, pki.bad.rogueRootCert.cert],
    })
    const spent = await work(cache, () =>
      assert.rejects(verifyAttestedDocument(doc, expected), (err: { reason: string }) => {
        assert.match(err.reason, /^(chain_untrusted|no_aia)$/)
        return true
      }),
    )
    assert.deepEqual(spent, { ...NONE, certificateHits: 1, certificateParses: 2, chainBuilds: 1 })
  })

  test('SAN: the same cached signer is refused under a config that allows another domain', async () => {
    const { cache, expected } = await warm()
    const spent = await work(cache, () =>
      assert.rejects(
        verifyAttestedDocument(sign({ signer: pki.leaves.public }), {
          ...expected,
          allowedDomains: ['metadata.azure.us'],
        }),
        { reason: 'san_not_allowed' },
      ),
    )
    assert.deepEqual(spent, { ...NONE, certificateHits: 1 })
  })

  test('nonce, expiry and creation time of the document are checked on a warm cache', async () => {
    const { cache, expected } = await warm()
    const cases: [Parameters<typeof sign>[0], string][] = [
      [{ signer: pki.leaves.public, nonce: 'replayed' }, 'nonce_mismatch'],
      [
        { signer: pki.leaves.public, now: new Date(NOW.getTime() - 6 * 3600_000 - 6 * 60_000) },
        'document_expired',
      ],
      [
        { signer: pki.leaves.public, now: new Date(NOW.getTime() + 10 * 60_000) },
        'document_not_yet_valid',
      ],
    ]
    for (const [options, reason] of cases) {
      const spent = await work(cache, () =>
        assert.rejects(verifyAttestedDocument(sign(options), expected), { reason }),
      )
      assert.deepEqual(spent, { ...NONE, certificateHits: 1, chainHits: 1 }, reason)
    }
  })
})
