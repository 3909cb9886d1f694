// The agent's key and CSR for the load generator (bench/agent-load.ts), and the check of the X509-SVID
// spire-server answers with: what spire-agent does with `util.MakeCSRWithoutURISAN` (an ECDSA P-256
// key, subject C=US, O=SPIRE, signed with ecdsa-with-SHA256) and then with the result (the leaf's
// SPIFFE ID and key, its issuer in the trust bundle). A minimal DER encoder and reader, no ASN.1
// library and no X509Certificate per attestation: with OpenSSL 3, parsing a certificate or
// exporting a key in DER costs ~0.2 ms each, which would make the load generator, not the server,
// the bottleneck.
import {
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto'

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

/** One DER TLV. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content)
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body])
}

const SEQUENCE = 0x30
const SET = 0x31
/** 2.5.4.6 countryName */
const OID_COUNTRY = Buffer.from('0603550406', 'hex')
/** 2.5.4.10 organizationName */
const OID_ORGANIZATION = Buffer.from('060355040a', 'hex')
/** 1.2.840.10045.4.3.2 ecdsa-with-SHA256 */
const OID_ECDSA_SHA256 = Buffer.from('06082a8648ce3d040302', 'hex')
const PRINTABLE_STRING = 0x13

/** Go's pkix.Name{Country: ["US"], Organization: ["SPIRE"]} as x509 marshals it (PrintableString). */
const SPIRE_SUBJECT = tlv(
  SEQUENCE,
  tlv(SET, tlv(SEQUENCE, OID_COUNTRY, tlv(PRINTABLE_STRING, Buffer.from('US')))),
  tlv(SET, tlv(SEQUENCE, OID_ORGANIZATION, tlv(PRINTABLE_STRING, Buffer.from('SPIRE')))),
)

export interface AgentKey {
  privateKey: KeyObject
  /** SubjectPublicKeyInfo, DER: compared with the SVID's key. */
  spki: Buffer
  /** PKCS#10 CertificationRequest, DER: AgentX509SVIDParams.csr. */
  csr: Buffer
}

/** A fresh ECDSA P-256 key and its CSR, as spire-agent makes for its first attestation. */
export function newAgentKey(): AgentKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const spki = p256Spki(publicKey)
  return { privateKey, spki, csr: makeCsr(privateKey, spki) }
}

/** id-ecPublicKey, prime256v1, and the BIT STRING header of an uncompressed point. */
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex')

/** A P-256 public key's SubjectPublicKeyInfo, built from its JWK (cheaper than a DER export). */
export function p256Spki(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' })
  const coord = (v: string | undefined): Buffer => {
    const b = Buffer.from(v ?? '', 'base64url')
    if (b.length !== 32) throw new Error('not a P-256 key')
    return b
  }
  return Buffer.concat([P256_SPKI_PREFIX, Buffer.from([4]), coord(jwk.x), coord(jwk.y)])
}

export function makeCsr(privateKey: KeyObject, spki: Buffer): Buffer {
  const info = tlv(
    SEQUENCE,
    Buffer.from('020100', 'hex'), // version 0
    SPIRE_SUBJECT,
    spki,
    Buffer.from('a000', 'hex'), // attributes: none
  )
  const signature = sign('sha256', info, privateKey) // DER ECDSA-Sig-Value
  return tlv(
    SEQUENCE,
    info,
    tlv(SEQUENCE, OID_ECDSA_SHA256),
    tlv(0x03, Buffer.from([0]), signature),
  )
}

/** One DER element: its tag and where its header, content and end are in the buffer. */
export interface DerElement {
  tag: number
  start: number
  body: number
  end: number
}

/** Reads the DER element at `pos` (definite lengths only, as DER requires). */
export function derAt(buf: Uint8Array, pos: number): DerElement {
  const tag = buf[pos]
  let len = buf[pos + 1]
  if (tag === undefined || len === undefined) throw new Error('DER: truncated')
  let body = pos + 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4) throw new Error('DER: bad length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + (buf[body + i] ?? NaN)
    body += n
  }
  const end = body + len
  if (!(end <= buf.length)) throw new Error('DER: truncated')
  return { tag, start: pos, body, end }
}

/** The elements inside a constructed element. */
export function derChildren(buf: Uint8Array, el: DerElement): DerElement[] {
  const out: DerElement[] = []
  for (let pos = el.body; pos < el.end;) {
    const c = derAt(buf, pos)
    out.push(c)
    pos = c.end
  }
  return out
}

const bytes = (buf: Buffer, el: DerElement): Buffer => buf.subarray(el.start, el.end)

/** 2.5.29.17 subjectAltName */
const OID_SAN = Buffer.from('0603551d11', 'hex')
const SIGNATURE_HASHES: Record<string, string> = {
  '06082a8648ce3d040302': 'sha256', // ecdsa-with-SHA256
  '06082a8648ce3d040303': 'sha384', // ecdsa-with-SHA384
  '06092a864886f70d01010b': 'sha256', // sha256WithRSAEncryption
  '06092a864886f70d01010c': 'sha384', // sha384WithRSAEncryption
}

/** The parts of an X.509 certificate the SVID check reads, as DER slices. */
export interface CertParts {
  tbs: Buffer
  issuer: Buffer
  subject: Buffer
  spki: Buffer
  uris: string[]
  hash: string | undefined
  signature: Buffer
}

export function certParts(der: Buffer): CertParts {
  const cert = derAt(der, 0)
  const [tbsEl, algEl, sigEl] = derChildren(der, cert)
  if (tbsEl === undefined || algEl === undefined || sigEl === undefined)
    throw new Error('certificate: not a Certificate')
  const tbs = derChildren(der, tbsEl)
  const o = tbs[0]?.tag === 0xa0 ? 1 : 0
  const [issuer, , subject, spki] = [tbs[o + 2], tbs[o + 3], tbs[o + 4], tbs[o + 5]]
  if (issuer === undefined || subject === undefined || spki === undefined)
    throw new Error('certificate: short TBSCertificate')
  const uris: string[] = []
  const exts = tbs.find((e) => e.tag === 0xa3)
  if (exts !== undefined) {
    for (const ext of derChildren(der, derChildren(der, exts)[0]!)) {
      const parts = derChildren(der, ext)
      if (!bytes(der, parts[0]!).equals(OID_SAN)) continue
      const value = parts[parts.length - 1]!
      for (const name of derChildren(der, derAt(der, value.body)))
        if (name.tag === 0x86) uris.push(der.toString('latin1', name.body, name.end))
    }
  }
  const algOid = derChildren(der, algEl)[0]
  return {
    tbs: bytes(der, tbsEl),
    issuer: bytes(der, issuer),
    subject: bytes(der, subject),
    spki: bytes(der, spki),
    uris,
    hash: algOid === undefined ? undefined : SIGNATURE_HASHES[bytes(der, algOid).toString('hex')],
    signature: der.subarray(sigEl.body + 1, sigEl.end),
  }
}

/** A CA of the trust bundle, parsed once. */
export interface BundleCa {
  subject: Buffer
  key: KeyObject
}

/** The trust bundle's CA certificates (PEM, as `spire-server bundle show` prints). */
export function parseBundle(pem: string): BundleCa[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
  return blocks.map((b) => {
    const x = new X509Certificate(b)
    return { subject: certParts(x.raw).subject, key: x.publicKey }
  })
}

/** What the SVID check needs to know; `idPrefix` when the agent ID has a per-attestation part. */
export interface SvidExpectation {
  agentId: string
  /** Accept any ID that starts with agentId + '/' (an agent_path_template with `.Nonce`). */
  idPrefix?: boolean
}

/** Whether `issuer` (its subject and key) signed `cert`. */
export const signedBy = (cert: CertParts, issuer: BundleCa): boolean =>
  cert.hash !== undefined &&
  cert.issuer.equals(issuer.subject) &&
  verify(cert.hash, cert.tbs, issuer.key, cert.signature)

/**
 * Checks the X509-SVID chain an attestation returned: one URI SAN, the expected agent ID, the
 * agent's own key, and a leaf signed by a CA of the bundle (or by the chain's next certificate,
 * itself signed so up to the bundle). Returns the SPIFFE ID; throws with the reason.
 */
export function checkSvid(
  chain: readonly Uint8Array[],
  key: AgentKey,
  expect: SvidExpectation,
  bundle: readonly BundleCa[] | undefined,
): string {
  if (chain.length === 0) throw new Error('SVID check: empty certificate chain')
  const certs = chain.map((der) =>
    certParts(Buffer.from(der.buffer, der.byteOffset, der.byteLength)),
  )
  const leaf = certs[0]!
  if (leaf.uris.length !== 1) throw new Error(`SVID check: ${leaf.uris.length} URI SANs`)
  const id = leaf.uris[0]!
  const idOk = expect.idPrefix ? id.startsWith(`${expect.agentId}/`) : id === expect.agentId
  if (!idOk) throw new Error(`SVID check: agent ID ${id}, expected ${expect.agentId}`)
  if (!leaf.spki.equals(key.spki)) throw new Error('SVID check: the SVID is not for the CSR key')
  if (bundle !== undefined) {
    for (let i = 0; ; i++) {
      const cert = certs[i]!
      if (bundle.some((ca) => signedBy(cert, ca))) break
      const next = certs[i + 1]
      if (next === undefined || !signedBy(cert, { subject: next.subject, key: publicKeyOf(next) }))
        throw new Error('SVID check: not issued by the trust bundle')
    }
  }
  return id
}

/** An intermediate's key (rare: SPIRE with an UpstreamAuthority). */
function publicKeyOf(cert: CertParts): KeyObject {
  return createPublicKey({ key: cert.spki, format: 'der', type: 'spki' })
}
