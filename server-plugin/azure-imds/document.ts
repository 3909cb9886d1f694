/**
 * The attested document's PKCS#7 envelope: Azure's fixed SignedData shape read with der.ts
 * (offsets into the received bytes; why is in der.ts), the signer resolved from the one SignerInfo,
 * and its signature directly over the content verified with node:crypto. A SignerInfo carrying
 * signed attributes is refused: Azure never sends them, and each one read would be one more
 * parser and digest comparison an attacker could aim at. Bag certificates become `Cert`s
 * through a reader, so a cache (verify-cache.ts) can answer them.
 */
import { verify as verifySignature, constants as cryptoConstants } from 'node:crypto'
import { PluginError, type FailureReason } from '../../shared/plugin/index.js'
import { CertificateParseError, parseCertificate, type Cert } from './certificate.js'
import { childrenOf, DerError, expectTlv, oidText, TAG, type Tlv } from './der.js'

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

/** The SignerInfo fields verification reads, as received. */
export interface SignerInfoFields {
  digestAlgorithm: { algorithmId: string }
  signatureAlgorithm: { algorithmId: string }
  /** Over the content itself: a SignerInfo with signed attributes never gets this far. */
  signature: Buffer
}

/** A parsed SignedData whose signer was resolved from its one SignerInfo. */
export interface SignedDocument {
  /** The eContent bytes: the JSON Azure signed. */
  content: Buffer
  signer: Cert
  signerInfo: SignerInfoFields
  /** The certificate bag; untrusted chain-building material at most. */
  bag: readonly Cert[]
}

/** How the bag's certificates become `Cert`s: parsed every time, or through a cache. */
export type CertificateReader = (der: Buffer) => Cert

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
 * `readCertificate` turns each bag certificate's DER into a `Cert` (a cache may answer it).
 */
export function parseSignedDocument(
  doc: AttestedDocument,
  readCertificate: CertificateReader = parseCertificate,
): SignedDocument {
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
  const rawCerts = signedData.certificates
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
    if (c.tag !== TAG.SEQUENCE) {
      throw documentError(
        'malformed_pkcs7',
        'failed to parse PKCS7 signature: unsupported certificate choice in bag',
      )
    }
    try {
      return readCertificate(der.subarray(c.start, c.end))
    } catch (err) {
      const msg = err instanceof CertificateParseError ? err.message : String(err)
      throw documentError('malformed_pkcs7', `failed to parse PKCS7 signature: ${msg}`, err)
    }
  })
  const signer = signedData.signerInfos.length === 1 ? signedData.signerInfos[0] : undefined
  const signerCert = signer === undefined ? undefined : resolveSigner(der, signer.sid, bag)
  if (signer === undefined || signerCert === undefined) {
    // upstream parity: GetOnlySigner's failure, whether there are 0, 2+ SignerInfos or no matching cert
    throw documentError(
      'signer_not_resolved',
      'expected exactly one signer certificate in PKCS7 signature',
    )
  }
  const content = signedData.eContent
  if (signedData.eContentType !== OID_DATA || content === undefined) {
    throw documentError(
      'malformed_pkcs7',
      'failed to parse PKCS7 signature: content is not attached data',
    )
  }
  if (content.length > MAX_CONTENT_BYTES) {
    throw documentError('document_too_large', `signed content exceeds ${MAX_CONTENT_BYTES} bytes`)
  }
  return { content, signer: signerCert, signerInfo: signer.fields, bag }
}

/**
 * Verifies the SignerInfo's signature directly over the content with the resolved signer's key
 * (what Azure sends; signed attributes were refused by the parse).
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
  const signer = doc.signer
  const key = signer.publicKey
  if (key === undefined || signer.keyType !== 'rsa' || (signer.keyBits ?? 0) < MIN_RSA_BITS) {
    throw documentError(
      'unsupported_algorithm',
      `signature verification failed: signer key must be RSA of at least ${MIN_RSA_BITS} bits`,
    )
  }
  const ok = verifySignature(
    hash,
    doc.content,
    { key, padding: cryptoConstants.RSA_PKCS1_PADDING },
    si.signature,
  )
  if (!ok)
    throw documentError(
      'bad_signature',
      'signature verification failed: crypto/rsa: verification error',
    )
}

/** The SignerInfo's sid: IssuerAndSerialNumber or a [0] subjectKeyIdentifier. */
function resolveSigner(der: Buffer, sid: Tlv, bag: readonly Cert[]): Cert | undefined {
  let matches: Cert[]
  if (sid.tag === TAG.SEQUENCE) {
    const parts = childrenOf(der, sid)
    const [issuerName, serialNumber] = parts
    if (
      parts.length !== 2 ||
      issuerName?.tag !== TAG.SEQUENCE ||
      serialNumber?.tag !== TAG.INTEGER
    ) {
      return undefined
    }
    const issuer = der.toString('hex', issuerName.start, issuerName.end)
    const serial = der
      .toString('hex', serialNumber.valueStart, serialNumber.end)
      .replace(/^(00)+(?=.)/, '')
    matches = bag.filter((c) => c.issuerKey === issuer && c.serialHex === serial)
  } else if (sid.tag === TAG.CONTEXT_0) {
    const ski = der.toString('hex', sid.valueStart, sid.end)
    matches = bag.filter((c) => c.subjectKeyId === ski)
  } else {
    return undefined
  }
  // the same certificate twice is still one signer; two different ones are ambiguous
  const distinct = new Set(matches.map((c) => c.fingerprint))
  return distinct.size === 1 ? matches[0] : undefined
}

/** What the envelope holds, as offsets into the DER where nothing needs decoding. */
interface ParsedSignedData {
  /** The bag's CertificateChoices elements. */
  certificates: readonly Tlv[]
  signerInfos: readonly { sid: Tlv; fields: SignerInfoFields }[]
  eContentType: string
  eContent: Buffer | undefined
}

function parsePkcs7(der: Buffer): ParsedSignedData {
  try {
    return readSignedData(der)
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err)
    throw documentError('malformed_pkcs7', `failed to parse PKCS7 signature: ${msg}`, err)
  }
}

/**
 * ContentInfo { contentType signedData, [0] EXPLICIT SignedData { version, digestAlgorithms,
 * encapContentInfo, [0] IMPLICIT certificates OPTIONAL, [1] IMPLICIT crls OPTIONAL, signerInfos } }
 * (RFC 5652 §5), every element checked for its place and tag, nothing after the ContentInfo.
 */
function readSignedData(der: Buffer): ParsedSignedData {
  const info = expectTlv(der, 0, der.length, TAG.SEQUENCE, 'ContentInfo')
  if (info.end !== der.length) throw new DerError('trailing data after ContentInfo')
  const [contentType, explicit, ...restInfo] = childrenOf(der, info)
  if (contentType === undefined) throw new DerError('ContentInfo: missing contentType')
  const type = oidText(der, contentType)
  if (type !== OID_SIGNED_DATA) throw new Error(`content type ${type} is not signedData`)
  if (explicit?.tag !== TAG.CONTEXT_0_CONSTRUCTED || restInfo.length > 0)
    throw new DerError('ContentInfo: content is not [0] EXPLICIT')
  const [sdTlv, ...restExplicit] = childrenOf(der, explicit)
  if (sdTlv?.tag !== TAG.SEQUENCE || restExplicit.length > 0)
    throw new DerError('SignedData is not a SEQUENCE')
  const fields = childrenOf(der, sdTlv)
  let i = 0
  const next = (tag: number, what: string): Tlv => {
    const f = fields[i++]
    if (f?.tag !== tag) throw new DerError(`SignedData: ${what} missing or mistagged`)
    return f
  }
  next(TAG.INTEGER, 'version')
  const digestAlgorithms = next(TAG.SET, 'digestAlgorithms')
  for (const alg of childrenOf(der, digestAlgorithms)) readAlgorithm(der, alg)
  const encap = next(TAG.SEQUENCE, 'encapContentInfo')
  let certificates: Tlv[] = []
  if (fields[i]?.tag === TAG.CONTEXT_0_CONSTRUCTED) certificates = childrenOf(der, fields[i++]!)
  if (fields[i]?.tag === TAG.CONTEXT_1_CONSTRUCTED) i++ // crls: never read
  const signerInfoSet = next(TAG.SET, 'signerInfos')
  if (i !== fields.length) throw new DerError('SignedData: unexpected trailing fields')
  const { eContentType, eContent } = readEncapsulatedContent(der, encap)
  const signerInfos = childrenOf(der, signerInfoSet).map((si) => readSignerInfo(der, si))
  return { certificates, signerInfos, eContentType, eContent }
}

/** EncapsulatedContentInfo { eContentType, [0] EXPLICIT OCTET STRING OPTIONAL }. */
function readEncapsulatedContent(
  der: Buffer,
  encap: Tlv,
): { eContentType: string; eContent: Buffer | undefined } {
  const [typeTlv, explicit, ...rest] = childrenOf(der, encap)
  if (typeTlv === undefined || rest.length > 0)
    throw new DerError('encapContentInfo: unexpected shape')
  const eContentType = oidText(der, typeTlv)
  if (explicit === undefined) return { eContentType, eContent: undefined }
  if (explicit.tag !== TAG.CONTEXT_0_CONSTRUCTED)
    throw new DerError('encapContentInfo: eContent is not [0] EXPLICIT')
  const [octets, ...more] = childrenOf(der, explicit)
  if (octets === undefined || more.length > 0) throw new DerError('eContent: unexpected shape')
  if (octets.tag === TAG.OCTET_STRING)
    return { eContentType, eContent: der.subarray(octets.valueStart, octets.end) }
  // BER's chunked form (what pkijs writes by default): primitive chunks, one level deep
  if (octets.tag === TAG.OCTET_STRING_CONSTRUCTED) {
    const chunks = childrenOf(der, octets).map((c) => {
      if (c.tag !== TAG.OCTET_STRING) throw new DerError('eContent: nested chunks')
      return der.subarray(c.valueStart, c.end)
    })
    return { eContentType, eContent: Buffer.concat(chunks) }
  }
  return { eContentType, eContent: undefined }
}

/**
 * SignerInfo { version, sid, digestAlgorithm, [0] IMPLICIT signedAttrs OPTIONAL,
 * signatureAlgorithm, signature OCTET STRING, [1] IMPLICIT unsignedAttrs OPTIONAL }, with
 * signedAttrs refused: Azure never sends them (deviation: upstream's pkcs7 verified them;
 * docs/plugin_server_nodeattestor_azure_imds.md).
 */
function readSignerInfo(der: Buffer, si: Tlv): { sid: Tlv; fields: SignerInfoFields } {
  if (si.tag !== TAG.SEQUENCE) throw new DerError('SignerInfo is not a SEQUENCE')
  const parts = childrenOf(der, si)
  let i = 0
  const version = parts[i++]
  if (version?.tag !== TAG.INTEGER) throw new DerError('SignerInfo: version missing')
  const sid = parts[i++]
  if (sid === undefined) throw new DerError('SignerInfo: sid missing')
  // an IssuerAndSerialNumber is read here, inside the parse, so that malformed DER in it is
  // malformed_pkcs7 and not a DerError escaping from resolveSigner (found by fuzzing, issue #14)
  if (sid.tag === TAG.SEQUENCE) childrenOf(der, sid)
  const digestAlgorithm = readAlgorithm(der, parts[i++])
  if (parts[i]?.tag === TAG.CONTEXT_0_CONSTRUCTED)
    throw new DerError('SignerInfo carries signed attributes, which Azure never sends')
  const signatureAlgorithm = readAlgorithm(der, parts[i++])
  const signature = parts[i++]
  if (signature?.tag !== TAG.OCTET_STRING) throw new DerError('SignerInfo: signature missing')
  if (parts[i]?.tag === TAG.CONTEXT_1_CONSTRUCTED) i++ // unsignedAttrs: never read
  if (i !== parts.length) throw new DerError('SignerInfo: unexpected trailing fields')
  return {
    sid,
    fields: {
      digestAlgorithm: { algorithmId: digestAlgorithm },
      signatureAlgorithm: { algorithmId: signatureAlgorithm },
      signature: der.subarray(signature.valueStart, signature.end),
    },
  }
}

/** AlgorithmIdentifier { algorithm OID, parameters ANY OPTIONAL }: the OID. */
function readAlgorithm(der: Buffer, alg: Tlv | undefined): string {
  if (alg?.tag !== TAG.SEQUENCE) throw new DerError('AlgorithmIdentifier missing')
  const [oid, , ...rest] = childrenOf(der, alg)
  if (oid === undefined || rest.length > 0) throw new DerError('AlgorithmIdentifier: bad shape')
  return oidText(der, oid)
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
