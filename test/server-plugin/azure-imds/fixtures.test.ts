import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, test } from 'node:test'
import * as pkijs from 'pkijs'
import type { HttpFetch } from '../../../shared/azure/http.js'
import { createAiaFetcher } from '../../../server-plugin/azure-imds/aia.js'
import { parsePemCertificates } from '../../../server-plugin/azure-imds/certificate.js'
import {
  parseSignedDocument,
  verifyDocumentSignature,
} from '../../../server-plugin/azure-imds/document.js'
import {
  bundledIntermediates,
  IntermediatePool,
  pinnedRoots,
} from '../../../server-plugin/azure-imds/roots.js'
import { verifyDocumentSignatureAndChain } from '../../../server-plugin/azure-imds/verify-document.js'
import {
  BUNDLED_INTERMEDIATE_PEMS,
  PINNED_ROOT_PEMS,
} from '../../../server-plugin/azure-imds/bundled-certs.js'
import { AZURE_FIXTURES_DIR, REPO_ROOT } from '../../support/paths.js'

interface Meta {
  name: string
  signed_content: { nonce: string; vmId: string; subscriptionId?: string }
  content_facts: { created_on_utc: string }
  pkcs7: { signer_digest_algorithm_oid: string }
  leaf: { aia_ca_issuers: string[]; sha256_fingerprint: string; not_after: string }
  chain: { completable_with_provided_files: boolean }
}

const DOCS_DIR = join(AZURE_FIXTURES_DIR, 'attested-documents')
const documents = readdirSync(DOCS_DIR)
  .filter((f) => f.endsWith('.meta.json'))
  .sort()
  .map((f) => {
    const meta = JSON.parse(readFileSync(join(DOCS_DIR, f), 'utf8')) as Meta
    const body = JSON.parse(readFileSync(join(DOCS_DIR, `${meta.name}.json`), 'utf8')) as {
      encoding: string
      signature: string
    }
    return { meta, body }
  })

/**
 * Every public intermediate of the kit, served by the path of its real download URL: the stand-in
 * for www.microsoft.com. Chain building still starts from the production bundle and roots.
 */
function kitAia() {
  const index = JSON.parse(readFileSync(join(AZURE_FIXTURES_DIR, 'index.json'), 'utf8')) as {
    certificates: { file: string; original_download_url: string }[]
  }
  const byPath = new Map<string, Buffer>()
  for (const c of index.certificates) {
    const [parsed] = parsePemCertificates(readFileSync(join(AZURE_FIXTURES_DIR, c.file), 'utf8'))
    if (parsed !== undefined) byPath.set(new URL(c.original_download_url).pathname, parsed.der)
  }
  const fetched: string[] = []
  const http: HttpFetch = async (req) => {
    fetched.push(req.url)
    const der = byPath.get(new URL(req.url).pathname)
    return der === undefined
      ? { status: 404, headers: {}, body: Buffer.alloc(0) }
      : { status: 200, headers: {}, body: der }
  }
  return { http, fetched }
}

function productionTrust(now: Date) {
  const { http, fetched } = kitAia()
  const pool = new IntermediatePool({
    bundled: bundledIntermediates(),
    fetcher: createAiaFetcher({ http, now: () => now.getTime() }),
    now: () => now.getTime(),
  })
  return {
    trust: {
      now,
      roots: pinnedRoots(),
      intermediates: pool,
      allowedDomains: ['metadata.azure.com'],
    },
    fetched,
  }
}

describe('real Azure attested documents (test/fixtures/azure)', () => {
  assert.ok(documents.length >= 4, 'the kit ships at least four documents')

  for (const { meta, body } of documents) {
    test(`${meta.name}: the signature verifies over the content, with Azure’s digest-OID quirk`, () => {
      const signed = parseSignedDocument(body)
      assert.equal(signed.signer.fingerprint, meta.leaf.sha256_fingerprint)
      assert.equal(signed.signerInfo.digestAlgorithm.algorithmId, '1.2.840.113549.1.1.11')
      verifyDocumentSignature(signed)
      assert.equal(JSON.parse(signed.content.toString('utf8')).nonce, meta.signed_content.nonce)
    })

    const createdOn = new Date(meta.content_facts.created_on_utc)
    if (meta.chain.completable_with_provided_files) {
      test(`${meta.name}: verifies to a pinned root with the clock at its creation time`, async () => {
        const { trust } = productionTrust(createdOn)
        const v = await verifyDocumentSignatureAndChain(body, trust)
        assert.equal(v.content.vmId, meta.signed_content.vmId)
        assert.equal(v.content.nonce, meta.signed_content.nonce)
        const root = v.chain[v.chain.length - 1]!
        assert.ok(pinnedRoots().some((r) => r.fingerprint === root.fingerprint))
      })
    } else {
      test(`${meta.name}: does not verify even at its creation time (its root is not pinned)`, async () => {
        const { trust } = productionTrust(createdOn)
        await assert.rejects(
          verifyDocumentSignatureAndChain(body, trust),
          (err: { reason: string }) => {
            assert.match(err.reason, /^(chain_untrusted|aia_not_allowed|no_aia)$/)
            return true
          },
        )
      })
    }

    test(`${meta.name}: fails today — its leaf has expired`, async () => {
      const today = new Date()
      assert.ok(today > new Date(meta.leaf.not_after))
      const { trust, fetched } = productionTrust(today)
      await assert.rejects(verifyDocumentSignatureAndChain(body, trust), {
        reason: 'certificate_expired',
      })
      assert.equal(fetched.length, 0, 'an expired leaf costs no AIA request')
    })
  }

  test('at least one kit document needs an AIA fetch (its intermediate is not bundled)', async () => {
    const old = documents.find((d) => d.meta.name.startsWith('2023-10-31'))
    assert.ok(old !== undefined)
    const { trust, fetched } = productionTrust(new Date(old.meta.content_facts.created_on_utc))
    await verifyDocumentSignatureAndChain(old.body, trust)
    assert.deepEqual(fetched, old.meta.leaf.aia_ca_issuers)
  })
})

describe('bundled certificates', () => {
  test('bundled-certs.ts matches certs/*.pem (regenerate with certs/generate.mjs)', async () => {
    const gen = (await import(
      pathToFileURL(join(REPO_ROOT, 'server-plugin/azure-imds/certs/generate.mjs')).href
    )) as {
      renderBundledCerts(): string
    }
    const current = readFileSync(
      join(REPO_ROOT, 'server-plugin/azure-imds/bundled-certs.ts'),
      'utf8',
    )
    assert.equal(current, gen.renderBundledCerts())
  })

  test('the pinned roots are exactly the four the issue names, all self-signed CAs', () => {
    assert.equal(PINNED_ROOT_PEMS.length, 4)
    const cns = pinnedRoots()
      .map((r) => /CN=([^,]+)/.exec(r.subject)?.[1])
      .sort()
    assert.deepEqual(cns, [
      'DigiCert Global Root CA',
      'DigiCert Global Root G2',
      'Microsoft RSA Root Certificate Authority 2017',
      'Microsoft TLS RSA Root G2',
    ])
    for (const r of pinnedRoots()) {
      assert.ok(r.selfIssued && r.isCa, r.subject)
      const cert = pkijs.Certificate.fromBER(r.der)
      assert.equal(cert.version, 2)
    }
  })

  test('every bundled intermediate is a CA that chains to a pinned root', () => {
    assert.equal(bundledIntermediates().length, BUNDLED_INTERMEDIATE_PEMS.length)
    for (const i of bundledIntermediates()) {
      assert.ok(i.isCa, i.subject)
      assert.ok(
        pinnedRoots().some((r) => r.subjectKey === i.issuerKey && i.x509.verify(r.x509.publicKey)),
        i.subject,
      )
    }
  })
})
