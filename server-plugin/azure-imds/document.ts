import { createHash, verify as verifySignature, constants as cryptoConstants } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { PluginError, type FailureReason } from '../../shared/plugin/index.js'
import { CertificateParseError, parseCertificate, type Cert } from './certificate.js'

/** Real documents are ~3 KiB of DER (~4 KiB of base64); anything far larger is not from IMDS. */
export const MAX_SIGNATURE_BASE64_CHARS = 64 * 1024
/** The signed JSON is ~300 bytes. */
export const MAX_CONTENT_BYTES = 16 * 1024
/** Azure's bag holds the leaf only; a few more are tolerated, many are not. */
export const MAX_BAG_CERTIFICATES = 8
export const MIN_RSA_BITS = 2048

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2'
const OID_DATA = '1.2.840.113549.1.7.1'
const OID_RSA = '1.2.840.113549.1.1.1'
const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3'
const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4'
type Hash = 'sha256' | 'sha384' | 'sha512'

/**
 * Digest OIDs accepted in a SignerInfo. Azure writes the sha256WithRSAEncryption *signature* OID
 * where the digest OID belongs (azure-facts §2.3); that quirk is normalised to the hash it names.
 */
const DIGESTS: Readonly<Record<string, Hash>> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
}
/** Signature OIDs accepted: RSA PKCS#1 v1.5 only (every Azure signer is RSA). */
const RSA_SIGNATURES: Readonly<Record<string, Hash | undefined>> = {
  [OID_RSA]: undefined,
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
}

/** The IMDS response the agent relays: `{"encoding":"pkcs7","signature":"<base64 DER>"}`. */
export interface AttestedDocument {
  encoding: string
  signature: string
}

/** A parsed SignedData whose signer was resolved from its one SignerInfo. */
export interface SignedDocument {
  /** The eContent bytes: the JSON Azure signed. */
  content: Buffer
  signer: Cert
  signerInfo: pkijs.SignerInfo
  /** The certificate bag; untrusted chain-building material at most. */
  bag: readonly Cert[]
}

/** `InvalidArgument "failed to validate attested document: <message>"` (upstream's wrapper). */
export function documentError(
  reason: FailureReason,
  message: string,
  cause?: unknown,
): PluginError {
  return new PluginError(
    'InvalidArgument',
    reason,
    `failed to validate attested document: ${message}`,
    cause === undefined ? undefined : { cause },
  )
}

/**
 * Structural checks on the document and the PKCS#7 parse, up to and including signer resolution.
 * The signer is the bag certificate the single SignerInfo names, never simply `certificates[0]`:
 * upstream shipped exactly that signer confusion (fixed in 1.15.1) and accepted forged documents.
 */
export function parseSignedDocument(doc: AttestedDocument): SignedDocument {
  // upstream parity: the first check and its message
  if (doc.signature === '')
    throw documentError('missing_signature', 'missing signature in attested document')
  // deviation: upstream does not check the encoding (docs/plugin_server_nodeattestor_azure_imds.md)
  if (doc.encoding !== 'pkcs7') {
    throw documentError(
      'unsupported_encoding',
      `unsupported encoding ${JSON.stringify(doc.encoding)} (expected "pkcs7")`,
    )
  }
  if (doc.signature.length > MAX_SIGNATURE_BASE64_CHARS) {
    throw documentError(
      'document_too_large',
      `signature exceeds ${MAX_SIGNATURE_BASE64_CHARS} characters`,
    )
  }
  const der = decodeStdBase64(doc.signature)
  const signedData = parsePkcs7(der)
  const rawCerts = signedData.certificates ?? []
  if (rawCerts.length === 0) {
    throw documentError('no_certificates', 'no certificates found in PKCS7 signature')
  }
  if (rawCerts.length > MAX_BAG_CERTIFICATES) {
    throw documentError(
      'too_many_certificates',
      `more than ${MAX_BAG_CERTIFICATES} certificates in PKCS7 signature`,
    )
  }
  const bag = rawCerts.map((c) => {
    if (!(c instanceof pkijs.Certificate)) {
      throw documentError(
        'malformed_pkcs7',
        'failed to parse PKCS7 signature: unsupported certificate choice in bag',
      )
    }
    try {
      return parseCertificate(Buffer.from(c.toSchema().toBER(false)))
    } catch (err) {
      const msg = err instanceof CertificateParseError ? err.message : String(err)
      throw documentError('malformed_pkcs7', `failed to parse PKCS7 signature: ${msg}`, err)
    }
  })
  const signerInfo = signedData.signerInfos.length === 1 ? signedData.signerInfos[0] : undefined
  const signer = signerInfo === undefined ? undefined : resolveSigner(signerInfo, bag)
  if (signerInfo === undefined || signer === undefined) {
    // upstream parity: GetOnlySigner's failure, whether there are 0, 2+ SignerInfos or no matching cert
    throw documentError(
      'signer_not_resolved',
      'expected exactly one signer certificate in PKCS7 signature',
    )
  }
  const eContent = signedData.encapContentInfo.eContent
  if (signedData.encapContentInfo.eContentType !== OID_DATA || eContent === undefined) {
    throw documentError(
      'malformed_pkcs7',
      'failed to parse PKCS7 signature: content is not attached data',
    )
  }
  const content = Buffer.from(eContent.getValue())
  if (content.length > MAX_CONTENT_BYTES) {
    throw documentError('document_too_large', `signed content exceeds ${MAX_CONTENT_BYTES} bytes`)
  }
  return { content, signer, signerInfo, bag }
}

/**
 * Verifies the SignerInfo's signature over the content with the resolved signer's key: directly
 * over the content (what Azure sends), or over the signed attributes after checking their
 * content-type and message-digest (CMS §5.4, what other signers produce).
 */
export function verifyDocumentSignature(doc: SignedDocument): void {
  const si = doc.signerInfo
  const digestOid = si.digestAlgorithm.algorithmId
  const hash = DIGESTS[digestOid]
  if (hash === undefined) {
    throw documentError(
      'unsupported_algorithm',
      `signature verification failed: unsupported digest algorithm ${digestOid}`,
    )
  }
  const sigOid = si.signatureAlgorithm.algorithmId
  if (!(sigOid in RSA_SIGNATURES)) {
    throw documentError(
      'unsupported_algorithm',
      `signature verification failed: unsupported signature algorithm ${sigOid}`,
    )
  }
  const sigHash = RSA_SIGNATURES[sigOid]
  if (sigHash !== undefined && sigHash !== hash) {
    throw documentError(
      'unsupported_algorithm',
      'signature verification failed: digest and signature algorithms disagree',
    )
  }
  const key = doc.signer.x509.publicKey
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (key.asymmetricKeyType !== 'rsa' || bits < MIN_RSA_BITS) {
    throw documentError(
      'unsupported_algorithm',
      `signature verification failed: signer key must be RSA of at least ${MIN_RSA_BITS} bits`,
    )
  }
  let signed: Buffer = doc.content
  if (si.signedAttrs !== undefined)
    signed = checkSignedAttributes(si.signedAttrs, doc.content, hash)
  const signature = Buffer.from(si.signature.valueBlock.valueHexView)
  const ok = verifySignature(
    hash,
    signed,
    { key, padding: cryptoConstants.RSA_PKCS1_PADDING },
    signature,
  )
  if (!ok)
    throw documentError(
      'bad_signature',
      'signature verification failed: crypto/rsa: verification error',
    )
}

function checkSignedAttributes(
  attrs: pkijs.SignedAndUnsignedAttributes,
  content: Buffer,
  hash: Hash,
): Buffer {
  const find = (oid: string): pkijs.Attribute | undefined =>
    attrs.attributes.find((a) => a.type === oid)
  const ct = find(OID_ATTR_CONTENT_TYPE)?.values[0]
  if (!(ct instanceof asn1js.ObjectIdentifier) || ct.valueBlock.toString() !== OID_DATA) {
    throw documentError(
      'bad_signature',
      'signature verification failed: content-type attribute missing or not data',
    )
  }
  const md = find(OID_ATTR_MESSAGE_DIGEST)?.values[0]
  const digest = createHash(hash).update(content).digest()
  if (
    !(md instanceof asn1js.OctetString) ||
    !digest.equals(Buffer.from(md.valueBlock.valueHexView))
  ) {
    throw documentError(
      'bad_signature',
      'signature verification failed: message digest attribute does not match the content',
    )
  }
  // the signature covers the attributes re-tagged from [0] IMPLICIT to a SET OF
  const encoded = Buffer.from(new Uint8Array(attrs.encodedValue))
  if (encoded.length === 0)
    throw documentError(
      'bad_signature',
      'signature verification failed: signed attributes not encoded',
    )
  encoded[0] = 0x31
  return encoded
}

function resolveSigner(si: pkijs.SignerInfo, bag: readonly Cert[]): Cert | undefined {
  const sid: unknown = si.sid
  let matches: Cert[]
  if (sid instanceof pkijs.IssuerAndSerialNumber) {
    const issuer = Buffer.from(sid.issuer.toSchema().toBER(false)).toString('hex')
    const serial = Buffer.from(sid.serialNumber.valueBlock.valueHexView)
      .toString('hex')
      .replace(/^(00)+(?=.)/, '')
    matches = bag.filter((c) => c.issuerKey === issuer && c.serialHex === serial)
  } else if (
    sid instanceof asn1js.BaseBlock &&
    sid.idBlock.tagClass === 3 &&
    sid.idBlock.tagNumber === 0
  ) {
    const ski = Buffer.from((sid as asn1js.Primitive).valueBlock.valueHexView).toString('hex')
    matches = bag.filter((c) => c.subjectKeyId === ski)
  } else {
    return undefined
  }
  // the same certificate twice is still one signer; two different ones are ambiguous
  const distinct = new Set(matches.map((c) => c.fingerprint))
  return distinct.size === 1 ? matches[0] : undefined
}

function parsePkcs7(der: Buffer): pkijs.SignedData {
  try {
    const info = pkijs.ContentInfo.fromBER(der)
    if (info.contentType !== OID_SIGNED_DATA)
      throw new Error(`content type ${info.contentType} is not signedData`)
    return new pkijs.SignedData({ schema: info.content })
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw documentError('malformed_pkcs7', `failed to parse PKCS7 signature: ${msg}`, err)
  }
}

/**
 * Go's base64.StdEncoding.DecodeString: the standard alphabet with padding, nothing else (CR and
 * LF are skipped, as Go does). The error names the first bad byte like Go's CorruptInputError.
 */
export function decodeStdBase64(text: string): Buffer {
  const clean = text.replace(/[\r\n]/g, '')
  const bad = /[^A-Za-z0-9+/=]/.exec(clean)
  let at = bad?.index
  if (at === undefined) {
    const pad = clean.indexOf('=')
    if (clean.length % 4 !== 0) at = clean.length - (clean.length % 4)
    else if (pad !== -1 && (pad < clean.length - 2 || !/^=*$/.test(clean.slice(pad)))) at = pad
  }
  if (at !== undefined) {
    throw documentError(
      'bad_base64',
      `failed to decode signature: illegal base64 data at input byte ${at}`,
    )
  }
  return Buffer.from(clean, 'base64')
}
