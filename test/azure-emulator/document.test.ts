import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { verify, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { AZURE_FIXTURES_DIR } from '../support/paths.js'
import { formatAzureTimestamp, OID_SHA256, OID_SHA256_WITH_RSA } from './attested-document.js'
import type { AttestedDocument } from './attested-document.js'
import { startEmulator } from './index.js'
import type { Emulator } from './index.js'

const FIXTURE = join(
  AZURE_FIXTURES_DIR,
  'attested-documents',
  '2025-04-23_azure-rsa-tls-issuing-ca-03.json',
)
const NOW = new Date('2026-07-28T13:24:00Z')
let emu: Emulator
let dir: string

before(async () => {
  emu = await startEmulator({ now: NOW })
  dir = mkdtempSync(join(tmpdir(), 'emu-doc-test-'))
})
after(async () => {
  await emu.stop()
  rmSync(dir, { recursive: true, force: true })
})

interface Shape {
  version: number
  digestAlgorithms: string[]
  eContentType: string
  eContentPrimitive: boolean
  certificates: number
  signerInfos: number
  signerVersion: number
  sidIsIssuerAndSerial: boolean
  signerDigest: string
  signerSignatureAlg: string
  signedAttrs: boolean
  signatureBytes: number
}

/** The structural facts of azure-facts §2.3, read straight from the DER. */
function shapeOf(der: Buffer): Shape {
  const ci = pkijs.ContentInfo.fromBER(der)
  assert.equal(ci.contentType, '1.2.840.113549.1.7.2')
  const sd = new pkijs.SignedData({ schema: ci.content })
  const si = sd.signerInfos[0]!
  // the [0] eContent wrapper holds either a primitive OCTET STRING or a constructed one
  const raw = asn1js.fromBER(der).result as asn1js.Sequence
  const signedData = (raw.valueBlock.value[1] as asn1js.Constructed).valueBlock
    .value[0] as asn1js.Sequence
  const encap = signedData.valueBlock.value[2] as asn1js.Sequence
  const wrapper = encap.valueBlock.value[1] as asn1js.Constructed
  const octets = wrapper.valueBlock.value[0]!
  return {
    version: sd.version,
    digestAlgorithms: sd.digestAlgorithms.map((a) => a.algorithmId),
    eContentType: sd.encapContentInfo.eContentType,
    eContentPrimitive: !octets.idBlock.isConstructed,
    certificates: sd.certificates?.length ?? 0,
    signerInfos: sd.signerInfos.length,
    signerVersion: si.version,
    sidIsIssuerAndSerial: si.sid instanceof pkijs.IssuerAndSerialNumber,
    signerDigest: si.digestAlgorithm.algorithmId,
    signerSignatureAlg: si.signatureAlgorithm.algorithmId,
    signedAttrs: si.signedAttrs !== undefined,
    signatureBytes: si.signature.valueBlock.valueHexView.byteLength,
  }
}

function contentOf(der: Buffer): Buffer {
  const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(der).content })
  return Buffer.from(sd.encapContentInfo.eContent!.getValue())
}

function write(name: string, data: string | Buffer): string {
  const p = join(dir, name)
  writeFileSync(p, data)
  return p
}

function opensslVerify(
  doc: AttestedDocument,
  caPems: string[],
  at: Date = NOW,
): { ok: boolean; out: string } {
  const docFile = write('doc.der', doc.der)
  const caFile = write('ca.pem', caPems.join(''))
  try {
    const out = execFileSync(
      'openssl',
      [
        'smime',
        '-verify',
        '-inform',
        'DER',
        '-in',
        docFile,
        '-CAfile',
        caFile,
        '-purpose',
        'sslserver',
        '-attime',
        String(Math.floor(at.getTime() / 1000)),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    return { ok: true, out: out.toString('utf8') }
  } catch (err) {
    return { ok: false, out: String((err as { stderr?: Buffer }).stderr ?? err) }
  }
}

test('emulator documents have the structure of a real Azure document', () => {
  const real = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { signature: string }
  const realShape = shapeOf(Buffer.from(real.signature, 'base64'))
  const ours = emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce: 'abc' })
  assert.deepEqual(shapeOf(ours.der), realShape)
  assert.deepEqual(realShape.digestAlgorithms, [OID_SHA256_WITH_RSA])
  assert.equal(realShape.eContentPrimitive, true)
  assert.equal(realShape.signedAttrs, false)
})

test('content is compact JSON in Azure key order with a 6-hour window', () => {
  const vm = emu.world.vm('frontend/blog')
  const doc = emu.documents.signAttestedDocument({ vm: vm.key, nonce: 'n0nce' })
  assert.equal(
    contentOf(doc.der).toString('utf8'),
    `{"licenseType":"","nonce":"n0nce","plan":{"name":"","product":"","publisher":""},"sku":"","subscriptionId":"${vm.resourceGroup.subscription.subscriptionId}","timeStamp":{"createdOn":"07/28/26 13:24:00 -0000","expiresOn":"07/28/26 19:24:00 -0000"},"vmId":"${vm.vmId}"}`,
  )
  assert.equal(formatAzureTimestamp(new Date('2001-02-03T04:05:06Z')), '02/03/01 04:05:06 -0000')
})

test('without a nonce IMDS stamps the expiry as the nonce', () => {
  const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog' })
  assert.equal(doc.content.nonce, '20260728-192400')
})

test('the signature is RSA PKCS#1 v1.5 over SHA-256 of the content (no signed attributes)', () => {
  const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce: 'x' })
  const sd = new pkijs.SignedData({ schema: pkijs.ContentInfo.fromBER(doc.der).content })
  const leaf = new X509Certificate(Buffer.from(sd.certificates![0]!.toSchema().toBER(false)))
  const sig = Buffer.from(sd.signerInfos[0]!.signature.valueBlock.valueHexView)
  assert.equal(verify('sha256', contentOf(doc.der), leaf.publicKey, sig), true)
  assert.equal(leaf.subjectAltName, 'DNS:eastus.metadata.azure.com, DNS:metadata.azure.com')
})

test('openssl smime -verify accepts it with a 2-level chain to the G2 root', () => {
  const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce: 'x' })
  const { pki } = emu
  const r = opensslVerify(doc, [
    pki.intermediates.tlsG2Ocsp02.cert.pem,
    pki.roots.tlsRsaRootG2.cert.pem,
  ])
  assert.ok(r.ok, r.out)
  assert.equal(r.out, doc.contentText)
})

test('openssl verifies the 3-level chain through the cross-signed root to the DigiCert root', () => {
  const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce: 'x' })
  const { pki } = emu
  const r = opensslVerify(doc, [
    pki.intermediates.tlsG2Ocsp02.cert.pem,
    pki.crossSigned.tlsRsaRootG2.pem,
    pki.roots.digicertGlobalRootG2.cert.pem,
  ])
  assert.ok(r.ok, r.out)
})

test('openssl rejects the chain without the root, and a 2-level US Gov chain verifies', () => {
  const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog', nonce: 'x' })
  assert.equal(opensslVerify(doc, [emu.pki.intermediates.tlsG2Ocsp02.cert.pem]).ok, false)
  const gov = emu.documents.signAttestedDocument({ vm: 'gov/gov-vm', nonce: 'x' })
  const leaf = emu.pki.leafFor('usgov', 'usgovvirginia')
  assert.match(leaf.cert.x509.subjectAltName ?? '', /usgovvirginia\.metadata\.azure\.us/)
  const r = opensslVerify(gov, [
    emu.pki.intermediates.azureRsaTlsIssuing03.cert.pem,
    emu.pki.roots.digicertGlobalRootG2.cert.pem,
  ])
  assert.ok(r.ok, r.out)
})

for (const c of [
  { name: 'expired', expect: /certificate has expired/ },
  { name: 'notYetValid', expect: /not yet valid/ },
  { name: 'nonCaIntermediate', expect: /invalid CA certificate|not a CA|unsuitable|invalid/ },
  { name: 'noServerAuth', expect: /unsuitable certificate purpose/ },
  { name: 'rogueRoot', expect: /unable to get local issuer|self-signed|self signed/ },
] as const) {
  test(`openssl rejects the ${c.name} signer`, () => {
    const signer = emu.pki.bad[c.name]
    const doc = emu.documents.signAttestedDocument({ vm: 'frontend/blog', signer, nonce: 'x' })
    // the attacker's root is never a trust anchor: only the emulator's real roots are
    const untrusted = signer.chain
      .filter((x) => x !== emu.pki.bad.rogueRootCert.cert)
      .map((x) => x.pem)
    const r = opensslVerify(doc, [...untrusted, emu.pki.roots.tlsRsaRootG2.cert.pem])
    assert.equal(r.ok, false)
    assert.match(r.out, c.expect)
  })
}

test('bad SAN variants carry exactly the attack names', () => {
  const san = (s: keyof typeof emu.pki.bad) => emu.pki.bad[s].cert.x509.subjectAltName
  assert.equal(san('suffixAttack'), 'DNS:metadata.azure.com.attacker.com')
  assert.equal(san('labelSuffixAttack'), 'DNS:attackermetadata.azure.com')
  assert.equal(san('cnOnly'), undefined)
  assert.equal(emu.pki.bad.noAia.cert.x509.infoAccess, undefined)
  assert.match(emu.pki.bad.aiaDisallowedHost.cert.x509.infoAccess ?? '', /attacker\.example\.com/)
})

test('the correct-OID and negative variants are available', () => {
  const correct = emu.documents.signAttestedDocument({ vm: 'frontend/blog', digestOid: 'sha256' })
  assert.deepEqual(shapeOf(correct.der).digestAlgorithms, [OID_SHA256])
  const attrs = emu.documents.signAttestedDocument({
    vm: 'frontend/blog',
    signedAttributes: 'wrong-digest',
  })
  assert.equal(shapeOf(attrs.der).signedAttrs, true)
  const two = emu.documents.signAttestedDocument({
    vm: 'frontend/blog',
    secondSigner: emu.pki.bad.rogueRoot,
  })
  assert.equal(shapeOf(two.der).signerInfos, 2)
  const tampered = emu.documents.signAttestedDocument({
    vm: 'frontend/blog',
    nonce: 'a',
    signedText: 'other',
  })
  assert.equal(
    opensslVerify(tampered, [
      emu.pki.intermediates.tlsG2Ocsp02.cert.pem,
      emu.pki.roots.tlsRsaRootG2.cert.pem,
    ]).ok,
    false,
  )
  // the signer-confusion shape: a trusted leaf first in the bag, content signed by an attacker's leaf
  const confused = emu.documents.signAttestedDocument({
    vm: 'frontend/blog',
    signer: emu.pki.bad.rogueRoot,
    certificates: [emu.pki.leaves.public.cert, emu.pki.bad.rogueRoot.cert],
  })
  assert.equal(shapeOf(confused.der).certificates, 2)
})

test('the issuers service serves every AIA target', async () => {
  for (const url of emu.pki.leaves.public.cert.x509
    .infoAccess!.match(/http:\/\/\S+/g)!
    .filter((u) => u.endsWith('.crt'))) {
    const res = await fetch(emu.issuerUrl(url))
    assert.equal(res.status, 200)
    const cert = new X509Certificate(Buffer.from(await res.arrayBuffer()))
    assert.equal(cert.subject.split('\n').at(-1), 'CN=Fake TLS G2 RSA CA OCSP 02')
  }
  const xsign = await fetch(
    emu.issuerUrl(
      'http://www.microsoft.com/pkiops/certs/Fake%20TLS%20RSA%20Root%20G2%20-%20xsign.crt',
    ),
  )
  assert.equal(
    new X509Certificate(Buffer.from(await xsign.arrayBuffer())).issuer.split('\n').at(-1),
    'CN=Fake DigiCert Global Root G2',
  )
  assert.ok(emu.counters.get('issuers.certificate') >= 2)
})
