import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { createPublicKey } from 'node:crypto'
import type { Pki, Signer } from '../../azure-emulator/pki.js'
import {
  EKU_CLIENT_AUTH,
  EKU_SERVER_AUTH,
  issueCertificate,
  type KeyUsageFlag,
} from '../../azure-emulator/cert-builder.js'
import { signAttestedDocument } from '../../azure-emulator/attested-document.js'
import {
  verifyAttestedDocument,
  verifyDocumentSignatureAndChain,
  type DocumentExpectations,
} from '../../../server-plugin/azure-imds/verify-document.js'
import { decodeStdBase64 } from '../../../server-plugin/azure-imds/document.js'
import { cert, NONCE, NOW, poolFor, sign, SUBSCRIPTION_ID, testPki, VM_ID } from './pki-support.js'

const SIGNED_ATTRIBUTES_REFUSED =
  'failed to validate attested document: failed to parse PKCS7 signature: SignerInfo carries signed attributes, which Azure never sends'

let pki: Pki
before(async () => {
  pki = await testPki()
})

/** Trust as production sets it up, but anchored at the emulator's roots. */
function trust(overrides: Partial<DocumentExpectations> = {}) {
  const { pool, requests } = poolFor(pki)
  const expected: DocumentExpectations = {
    now: NOW,
    expectedNonce: NONCE,
    roots: [cert(pki.roots.digicertGlobalRootG2.cert), cert(pki.roots.tlsRsaRootG2.cert)],
    intermediates: pool,
    allowedDomains: ['metadata.azure.com'],
    ...overrides,
  }
  return { expected, requests }
}

describe('attested document: accepted shapes', () => {
  test('a public-cloud document verifies through AIA to the self-signed G2 root (one hop)', async () => {
    const { expected, requests } = trust()
    const v = await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    assert.equal(v.content.vmId, VM_ID)
    assert.equal(v.content.subscriptionId, SUBSCRIPTION_ID)
    assert.equal(v.content.nonce, NONCE)
    assert.deepEqual(
      v.chain.map((c) => c.subject.match(/CN=([^,]+)/)?.[1]),
      ['metadata.azure.com', 'Fake TLS G2 RSA CA OCSP 02', 'Fake TLS RSA Root G2'],
    )
    assert.equal(requests.length, 1)
    assert.equal(
      requests[0]?.url,
      'http://www.microsoft.com/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
    )
  })

  test('3-level chain: leaf → OCSP 02 → cross-signed G2 → DigiCert root, walking AIA twice', async () => {
    const { expected, requests } = trust({ roots: [cert(pki.roots.digicertGlobalRootG2.cert)] })
    const v = await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    assert.equal(v.chain.length, 4)
    assert.equal(v.chain[2]?.fingerprint, cert(pki.crossSigned.tlsRsaRootG2).fingerprint)
    assert.deepEqual(
      requests.map((r) => new URL(r.url).pathname),
      [
        '/pkiops/certs/Fake%20TLS%20G2%20RSA%20CA%20OCSP%2002.crt',
        '/pkiops/certs/Fake%20TLS%20RSA%20Root%20G2%20-%20xsign.crt',
      ],
    )
  })

  test('bundled intermediates are used before AIA; a verified chain fills the cache', async () => {
    const bundled = poolFor(pki, [pki.intermediates.tlsG2Ocsp02.cert])
    const { expected } = trust({ intermediates: bundled.pool })
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected)
    assert.equal(bundled.requests.length, 0)

    const learning = poolFor(pki)
    const opts = trust({ intermediates: learning.pool }).expected
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), opts)
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), opts)
    assert.equal(
      learning.requests.length,
      1,
      'the second verification reuses the remembered intermediate',
    )
  })

  test('the correct id-sha256 digest OID verifies as well as Azure’s quirk OID', async () => {
    const { expected } = trust()
    await verifyAttestedDocument(sign({ signer: pki.leaves.public, digestOid: 'sha256' }), expected)
  })

  test('US Government leaf verifies with metadata.azure.us allowed (chain via DigiCert xsign intermediate)', async () => {
    const { expected } = trust({ allowedDomains: ['metadata.azure.us'] })
    await verifyAttestedDocument(sign({ signer: pki.leaves.usgov }), expected)
  })

  test('China leaf verifies with metadata.azure.cn allowed (AIA on cacerts.digicert.cn)', async () => {
    const { expected, requests } = trust({ allowedDomains: ['metadata.azure.cn'] })
    await verifyAttestedDocument(sign({ signer: pki.leaves.china }), expected)
    assert.equal(new URL(requests[0]!.url).hostname, 'cacerts.digicert.cn')
  })
})

describe('attested document: forgeries and malformed input', () => {
  test('signer confusion: genuine Azure leaf first in the bag, content signed by an attacker certificate', async () => {
    // TestValidateAttestedDocumentRejectsContentSignedByNonAzureCertificate (upstream 1.15.1 fix)
    const { expected } = trust()
    const doc = sign({
      signer: pki.bad.rogueRoot,
      certificates: [pki.leaves.public.cert, pki.bad.rogueRoot.cert, pki.bad.rogueRootCert.cert],
    })
    await assert.rejects(
      verifyAttestedDocument(doc, expected),
      (err: { reason: string; message: string }) => {
        // the attacker's certificate is the one chain-checked, and it chains to nothing pinned
        assert.match(err.reason, /^(chain_untrusted|no_aia)$/)
        assert.match(
          err.message,
          /^failed to validate attested document: certificate chain validation failed: /,
        )
        return true
      },
    )
  })

  test('signer confusion: SignerInfo names the genuine leaf, but the signature is the attacker’s', async () => {
    const { expected } = trust()
    const doc = sign({
      signer: { ...pki.leaves.public, privateKey: pki.bad.rogueRootCert.privateKey },
    })
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'bad_signature' })
  })

  test('two SignerInfos are refused with upstream’s message', async () => {
    const { expected } = trust()
    const doc = sign({
      signer: pki.leaves.public,
      secondSigner: pki.bad.rogueRoot,
      certificates: [pki.leaves.public.cert, pki.bad.rogueRoot.cert],
    })
    await assert.rejects(verifyAttestedDocument(doc, expected), {
      reason: 'signer_not_resolved',
      message:
        'failed to validate attested document: expected exactly one signer certificate in PKCS7 signature',
    })
  })

  test('a SignerInfo naming a certificate that is not in the bag is refused', async () => {
    const { expected } = trust()
    const doc = sign({ signer: pki.leaves.public, certificates: [pki.leaves.usgov.cert] })
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'signer_not_resolved' })
  })

  test('tampered content fails the signature check', async () => {
    const { expected } = trust()
    const doc = signAttestedDocument({
      vmId: VM_ID,
      subscriptionId: SUBSCRIPTION_ID,
      nonce: NONCE,
      now: NOW,
      signer: pki.leaves.public,
      signedText: '{"vmId":"someone-else"}',
    }).body
    await assert.rejects(verifyAttestedDocument(doc, expected), {
      reason: 'bad_signature',
      message:
        'failed to validate attested document: signature verification failed: crypto/rsa: verification error',
    })
  })

  // Changed deliberately (issue #14): signed attributes were verified per CMS (a valid set was
  // accepted, a wrong digest was bad_signature); Azure never sends them, so any set is refused
  // before a digest is compared or a signature checked.
  test('attack: signed attributes smuggle a different message digest — refused', async () => {
    const { expected, requests } = trust()
    const doc = sign({ signer: pki.leaves.public, signedAttributes: 'wrong-digest' })
    await assert.rejects(verifyAttestedDocument(doc, expected), {
      reason: 'malformed_pkcs7',
      message: SIGNED_ATTRIBUTES_REFUSED,
    })
    assert.equal(requests.length, 0, 'refused before any AIA request')
  })

  test('attack: signed attributes with a matching digest and a valid signature (CMS, not Azure) — refused', async () => {
    const { expected, requests } = trust()
    const doc = sign({ signer: pki.leaves.public, signedAttributes: 'valid' })
    await assert.rejects(verifyAttestedDocument(doc, expected), {
      reason: 'malformed_pkcs7',
      message: SIGNED_ATTRIBUTES_REFUSED,
    })
    assert.equal(requests.length, 0, 'refused before any AIA request')
  })

  test('an ECDSA signer is refused (Azure signs with RSA only)', async () => {
    const { expected } = trust()
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.bad.ecdsa }), expected), {
      reason: 'unsupported_algorithm',
    })
  })

  for (const [name, variant] of [
    ['wrong SAN domain', 'wrongSan'],
    ['suffix attack metadata.azure.com.attacker.com', 'suffixAttack'],
    ['label suffix attack attackermetadata.azure.com', 'labelSuffixAttack'],
    ['CN only, no SAN', 'cnOnly'],
  ] as const) {
    test(`SAN: ${name} is refused`, async () => {
      const { expected, requests } = trust()
      await assert.rejects(
        verifyAttestedDocument(sign({ signer: pki.bad[variant] }), expected),
        (err: { reason: string; message: string }) => {
          assert.equal(err.reason, 'san_not_allowed')
          assert.match(
            err.message,
            /certificate does not have any valid domain in SAN \(found SANs=\[.*\], allowed domains=\[metadata\.azure\.com\]\)$/,
          )
          return true
        },
      )
      assert.equal(requests.length, 0, 'no AIA request for a certificate that fails the SAN check')
    })
  }

  test('a US Government leaf is refused under the default public-cloud domain', async () => {
    const { expected } = trust()
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.leaves.usgov }), expected), {
      reason: 'san_not_allowed',
    })
  })

  describe('KeyUsage of the signer', () => {
    /** A leaf like IMDS's under the real OCSP 02 intermediate (AIA included), KeyUsage as given. */
    const leafWith = (keyUsage: readonly KeyUsageFlag[] | undefined): Signer => {
      const real = pki.leaves.public
      const issuer = pki.intermediates.tlsG2Ocsp02
      return {
        name: `key-usage-${keyUsage?.join('-') ?? 'absent'}`,
        cert: issueCertificate({
          subject: [
            ['O', 'Microsoft Corporation'],
            ['CN', 'metadata.azure.com'],
          ],
          publicKey: createPublicKey(real.privateKey),
          issuer: issuer.cert,
          signingKey: issuer.privateKey,
          notBefore: new Date(NOW.getTime() - 86_400_000),
          notAfter: new Date(NOW.getTime() + 30 * 86_400_000),
          hash: 'sha256',
          ca: false,
          ...(keyUsage === undefined ? {} : { keyUsage }),
          extKeyUsage: [EKU_SERVER_AUTH, EKU_CLIENT_AUTH],
          dnsNames: ['eastus.metadata.azure.com', 'metadata.azure.com'],
          caIssuers: [...cert(real.cert).caIssuers],
        }),
        privateKey: real.privateKey,
        chain: [],
      }
    }

    test('attack: a leaf whose KeyUsage lacks digitalSignature (keyEncipherment only) signs the document — refused', async () => {
      const { expected, requests } = trust()
      await assert.rejects(
        verifyAttestedDocument(sign({ signer: leafWith(['keyEncipherment']) }), expected),
        {
          reason: 'signer_key_usage',
          message:
            'failed to validate attested document: signing certificate validation failed: certificate key usage does not allow digital signatures',
        },
      )
      assert.equal(requests.length, 0, 'refused before any AIA request')
    })

    test('attack: a leaf whose KeyUsage is keyCertSign only (no digitalSignature, not a CA) — refused', async () => {
      const { expected } = trust()
      await assert.rejects(
        verifyAttestedDocument(sign({ signer: leafWith(['keyCertSign']) }), expected),
        { reason: 'signer_key_usage' },
      )
    })

    test('the same leaf with digitalSignature verifies: the refusal is the KeyUsage alone', async () => {
      const { expected } = trust()
      const v = await verifyAttestedDocument(
        sign({ signer: leafWith(['digitalSignature', 'keyEncipherment']) }),
        expected,
      )
      assert.equal(v.chain.length, 3)
    })

    test('a leaf without a KeyUsage extension verifies (RFC 5280: every use allowed)', async () => {
      const { expected } = trust()
      await verifyAttestedDocument(sign({ signer: leafWith(undefined) }), expected)
    })
  })

  test('a leaf without the serverAuth EKU is refused', async () => {
    const { expected } = trust()
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.bad.noServerAuth }), expected), {
      reason: 'eku_not_server_auth',
    })
  })

  test('an expired leaf is refused at the injected time', async () => {
    const { expected } = trust()
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.bad.expired }), expected),
      (err: { reason: string; message: string }) => {
        assert.equal(err.reason, 'certificate_expired')
        assert.match(
          err.message,
          /certificate chain validation failed: x509: certificate has expired or is not yet valid: current time 2026-07-28T13:24:00Z is after /,
        )
        return true
      },
    )
  })

  test('a not-yet-valid leaf is refused', async () => {
    const { expected } = trust()
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.bad.notYetValid }), expected), {
      reason: 'certificate_not_yet_valid',
    })
  })

  for (const [name, variant] of [
    ['a disallowed host', 'aiaDisallowedHost'],
    ['an IP literal', 'aiaIpLiteral'],
    ['a non-80/443 port', 'aiaNonStandardPort'],
  ] as const) {
    test(`AIA pointing at ${name} is never fetched`, async () => {
      const { expected, requests } = trust()
      await assert.rejects(
        verifyAttestedDocument(sign({ signer: pki.bad[variant] }), expected),
        (err: { reason: string; message: string }) => {
          assert.equal(err.reason, 'aia_not_allowed')
          assert.match(
            err.message,
            /^failed to validate attested document: certificate chain validation failed: failed to get intermediate certificate: CA Issuers URL ".*" is not allowed: /,
          )
          return true
        },
      )
      assert.equal(requests.length, 0)
    })
  }

  test('a leaf without AIA and no bundled issuer cannot be chained', async () => {
    const { expected } = trust()
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.bad.noAia }), expected), {
      reason: 'no_aia',
    })
  })

  test('an intermediate without the CA bit cannot issue', async () => {
    const { expected } = trust()
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.bad.nonCaIntermediate }), expected),
      { reason: 'issuer_not_ca' },
    )
  })

  test('a self-signed attacker root planted in the bag is not trusted', async () => {
    const { expected } = trust()
    const doc = sign({
      signer: pki.bad.rogueRoot,
      certificates: [pki.bad.rogueRoot.cert, pki.bad.rogueRootCert.cert],
    })
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'no_aia' })
  })

  const malformed: {
    name: string
    doc: () => { encoding: string; signature: string }
    reason: string
    message?: string
  }[] = [
    {
      name: 'empty signature',
      doc: () => ({ encoding: 'pkcs7', signature: '' }),
      reason: 'missing_signature',
      message: 'failed to validate attested document: missing signature in attested document',
    },
    {
      name: 'encoding other than pkcs7',
      doc: () => ({ ...sign({ signer: pki.leaves.public }), encoding: 'json' }),
      reason: 'unsupported_encoding',
    },
    {
      name: 'invalid base64',
      doc: () => ({ encoding: 'pkcs7', signature: 'MIIL*kgYJ' }),
      reason: 'bad_base64',
      message:
        'failed to validate attested document: failed to decode signature: illegal base64 data at input byte 4',
    },
    {
      name: 'oversized signature',
      doc: () => ({ encoding: 'pkcs7', signature: 'A'.repeat(70_000) }),
      reason: 'document_too_large',
    },
    {
      name: 'not DER at all',
      doc: () => ({ encoding: 'pkcs7', signature: Buffer.from('hello world!').toString('base64') }),
      reason: 'malformed_pkcs7',
    },
  ]
  for (const c of malformed) {
    test(`malformed: ${c.name}`, async () => {
      const { expected } = trust()
      await assert.rejects(verifyAttestedDocument(c.doc(), expected), {
        reason: c.reason,
        ...(c.message === undefined ? {} : { message: c.message }),
      })
    })
  }
})

describe('attested document: content checks', () => {
  test('nonce mismatch (a document fetched for another challenge, or a replay)', async () => {
    const { expected } = trust()
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.leaves.public, nonce: 'somethingElse' }), expected),
      {
        reason: 'nonce_mismatch',
        message: 'nonce mismatch',
      },
    )
  })

  test('a document without a nonce (IMDS’s expiry stamp) is a mismatch', async () => {
    const { expected } = trust()
    const doc = signAttestedDocument({
      vmId: VM_ID,
      subscriptionId: SUBSCRIPTION_ID,
      now: NOW,
      signer: pki.leaves.public,
    }).body
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'nonce_mismatch' })
  })

  test('an expired document (expiresOn beyond the skew) is refused', async () => {
    const { expected } = trust()
    const doc = sign({
      signer: pki.leaves.public,
      now: new Date(NOW.getTime() - 6 * 3600_000 - 6 * 60_000),
    })
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'document_expired' })
  })

  test('a document inside the skew after expiry still verifies', async () => {
    const { expected } = trust()
    await verifyAttestedDocument(
      sign({ signer: pki.leaves.public, now: new Date(NOW.getTime() - 6 * 3600_000 - 4 * 60_000) }),
      expected,
    )
  })

  test('a document created in the future is refused', async () => {
    const { expected } = trust()
    const doc = sign({ signer: pki.leaves.public, now: new Date(NOW.getTime() + 10 * 60_000) })
    await assert.rejects(verifyAttestedDocument(doc, expected), {
      reason: 'document_not_yet_valid',
    })
  })

  test('a malformed timeStamp is refused', async () => {
    const { expected } = trust()
    const doc = sign({
      signer: pki.leaves.public,
      content: { timeStamp: { createdOn: '2026-07-28T13:24:00Z', expiresOn: '' } },
    })
    await assert.rejects(verifyAttestedDocument(doc, expected), { reason: 'invalid_timestamp' })
  })

  test('upstream’s order and messages: missing VM ID, missing subscription, invalid VM ID', async () => {
    const { expected } = trust()
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.leaves.public, vmId: '' }), expected),
      {
        message: 'missing VM ID in attested document',
      },
    )
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.leaves.public, subscriptionId: '' }), expected),
      {
        message: 'missing subscription ID in attested document',
      },
    )
    await assert.rejects(
      verifyAttestedDocument(sign({ signer: pki.leaves.public, vmId: 'not-a-uuid' }), expected),
      {
        reason: 'invalid_vm_id',
        message:
          'invalid VM ID: invalid UUID format: "not-a-uuid": uuid: incorrect UUID length 10 in string "not-a-uuid"',
      },
    )
    // the nonce is checked before the VM ID format, as upstream does
    await assert.rejects(
      verifyAttestedDocument(
        sign({ signer: pki.leaves.public, vmId: 'x', nonce: 'other' }),
        expected,
      ),
      {
        reason: 'nonce_mismatch',
      },
    )
  })

  test('restrict_to_subscriptions is an allow-list', async () => {
    const { expected } = trust({
      allowedSubscriptions: new Set(['00000000-0000-0000-0000-000000000001']),
    })
    await assert.rejects(verifyAttestedDocument(sign({ signer: pki.leaves.public }), expected), {
      reason: 'subscription_not_authorized',
      message: `subscription "${SUBSCRIPTION_ID}" is not authorized`,
    })
    const ok = trust({ allowedSubscriptions: new Set([SUBSCRIPTION_ID]) }).expected
    await verifyAttestedDocument(sign({ signer: pki.leaves.public }), ok)
  })

  test('content is only read after the signature and chain verified', async () => {
    const { expected } = trust({ now: new Date('2030-01-01T00:00:00Z') })
    await assert.rejects(
      verifyDocumentSignatureAndChain(sign({ signer: pki.leaves.public, nonce: 'x' }), expected),
      {
        reason: 'certificate_expired',
      },
    )
  })
})

test('base64 decoding follows Go’s StdEncoding', () => {
  assert.deepEqual(decodeStdBase64('aGk='), Buffer.from('hi'))
  assert.throws(() => decodeStdBase64('aGk'), { message: /illegal base64 data at input byte 0/ })
  assert.throws(() => decodeStdBase64('aG=k'), { message: /illegal base64 data at input byte 2/ })
  assert.throws(() => decodeStdBase64('aGk_'), { message: /illegal base64 data at input byte 3/ })
})
