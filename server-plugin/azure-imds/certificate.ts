import { createHash, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const EKU_ANY = '2.5.29.37.0'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'
const OID_EXT_KEY_USAGE = '2.5.29.37'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'
const OID_SUBJECT_KEY_ID = '2.5.29.14'
const OID_AUTHORITY_KEY_ID = '2.5.29.35'
const OID_AUTHORITY_INFO_ACCESS = '1.3.6.1.5.5.7.1.1'
const OID_CA_ISSUERS = '1.3.6.1.5.5.7.48.2'
/** digitalSignature is bit 0 of the KeyUsage BIT STRING, keyCertSign bit 5. */
const DIGITAL_SIGNATURE_BIT = 0
const KEY_CERT_SIGN_BIT = 5
/** A certificate larger than this is not one Azure or its CAs issue. */
export const MAX_CERT_BYTES = 16 * 1024

/**
 * One X.509 certificate with the facts the verifier reads, parsed once. `node:crypto` checks
 * signatures and dates; pkijs reads the extensions node does not expose (pathLen, keyCertSign, AKI).
 * Immutable: a cache (verify-cache.ts) shares one `Cert` between attestations.
 */
export interface Cert {
  readonly der: Buffer
  readonly x509: X509Certificate
  /**
   * The subject public key, extracted once (node builds a new KeyObject on every `x509.publicKey`);
   * undefined when node cannot use the key's algorithm.
   */
  readonly publicKey: KeyObject | undefined
  /** `rsa`, `ec`, …, and the RSA modulus length in bits (undefined for other key types). */
  readonly keyType: string | undefined
  readonly keyBits: number | undefined
  /** SHA-256 of the DER, hex: identity for caches and cycle detection. */
  readonly fingerprint: string
  /** DER of the subject and issuer Names, hex: exact name matching. */
  readonly subjectKey: string
  readonly issuerKey: string
  readonly subject: string
  readonly serialHex: string
  readonly subjectKeyId: string | undefined
  readonly authorityKeyId: string | undefined
  /** BasicConstraints cA; false when the extension is absent. */
  readonly isCa: boolean
  readonly pathLen: number | undefined
  /** undefined when the certificate has no KeyUsage extension (then every use is allowed). */
  readonly keyCertSign: boolean | undefined
  /** KeyUsage digitalSignature; undefined when the extension is absent. */
  readonly digitalSignature: boolean | undefined
  /** Extended key usage OIDs; undefined when the extension is absent. */
  readonly extKeyUsage: readonly string[] | undefined
  readonly dnsNames: readonly string[]
  /** AIA caIssuers URIs, in certificate order. */
  readonly caIssuers: readonly string[]
  readonly notBefore: Date
  readonly notAfter: Date
  readonly selfIssued: boolean
}

export class CertificateParseError extends Error {
  override readonly name = 'CertificateParseError'
}

/** Parses one DER certificate; throws CertificateParseError. */
export function parseCertificate(der: Uint8Array): Cert {
  if (der.length > MAX_CERT_BYTES)
    throw new CertificateParseError(`certificate exceeds ${MAX_CERT_BYTES} bytes`)
  const buf = Buffer.from(der)
  let x509: X509Certificate
  let cert: pkijs.Certificate
  try {
    x509 = new X509Certificate(buf)
    cert = pkijs.Certificate.fromBER(buf)
  } catch (err) {
    throw new CertificateParseError(err instanceof Error ? err.message : String(err))
  }
  // pkijs parses an extension's value lazily, on `parsedValue`: its errors (RangeError from a
  // malformed BMPString, found by fuzzing, issue #14) are this parser's errors too
  const ext = (oid: string): unknown => {
    const found = cert.extensions?.find((e) => e.extnID === oid)
    try {
      return found?.parsedValue as unknown
    } catch (err) {
      throw new CertificateParseError(
        `extension ${oid}: ${err instanceof Error ? err.message : String(err)}`,
      )
    }
  }
  const bc = ext(OID_BASIC_CONSTRAINTS)
  const ku = ext(OID_KEY_USAGE)
  const eku = ext(OID_EXT_KEY_USAGE)
  const san = ext(OID_SUBJECT_ALT_NAME)
  const ski = ext(OID_SUBJECT_KEY_ID)
  const aki = ext(OID_AUTHORITY_KEY_ID)
  const aia = ext(OID_AUTHORITY_INFO_ACCESS)
  const subjectKey = nameKey(cert.subject)
  const issuerKey = nameKey(cert.issuer)
  const basic = bc instanceof pkijs.BasicConstraints ? bc : undefined
  const pathLen = basic?.pathLenConstraint
  const publicKey = keyOf(x509)
  // node reports an unreadable validity time as the text "Bad time value" (found by fuzzing)
  const notBefore = new Date(x509.validFrom)
  const notAfter = new Date(x509.validTo)
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) {
    throw new CertificateParseError(
      `unreadable validity: notBefore ${JSON.stringify(x509.validFrom)}, notAfter ${JSON.stringify(x509.validTo)}`,
    )
  }
  return {
    der: buf,
    x509,
    publicKey,
    keyType: publicKey?.asymmetricKeyType,
    keyBits: publicKey?.asymmetricKeyDetails?.modulusLength,
    fingerprint: createHash('sha256').update(buf).digest('hex'),
    subjectKey,
    issuerKey,
    // node gives undefined, not "", for an empty subject (valid X.509 with a SAN; found by fuzzing)
    subject: ((x509.subject as string | undefined) ?? '').replace(/\n/g, ', '),
    serialHex: hex(cert.serialNumber.valueBlock.valueHexView).replace(/^(00)+(?=.)/, ''),
    subjectKeyId: ski instanceof asn1js.OctetString ? hex(ski.valueBlock.valueHexView) : undefined,
    authorityKeyId:
      aki instanceof pkijs.AuthorityKeyIdentifier && aki.keyIdentifier !== undefined
        ? hex(aki.keyIdentifier.valueBlock.valueHexView)
        : undefined,
    isCa: basic?.cA === true,
    pathLen:
      typeof pathLen === 'number'
        ? pathLen
        : pathLen instanceof asn1js.Integer
          ? pathLen.valueBlock.valueDec
          : undefined,
    keyCertSign: ku instanceof asn1js.BitString ? bitSet(ku, KEY_CERT_SIGN_BIT) : undefined,
    digitalSignature:
      ku instanceof asn1js.BitString ? bitSet(ku, DIGITAL_SIGNATURE_BIT) : undefined,
    extKeyUsage: eku instanceof pkijs.ExtKeyUsage ? [...eku.keyPurposes] : undefined,
    dnsNames: san instanceof pkijs.AltName ? generalNames(san.altNames, 2) : [],
    caIssuers:
      aia instanceof pkijs.InfoAccess
        ? aia.accessDescriptions
            .filter((d) => d.accessMethod === OID_CA_ISSUERS && d.accessLocation.type === 6)
            .map((d) => String(d.accessLocation.value))
        : [],
    notBefore,
    notAfter,
    selfIssued: subjectKey === issuerKey,
  }
}

/** Parses every `CERTIFICATE` block of a PEM text (other block types are ignored). */
export function parsePemCertificates(pem: string): Cert[] {
  const out: Cert[] = []
  const re = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g
  for (let m = re.exec(pem); m !== null; m = re.exec(pem)) {
    out.push(parseCertificate(Buffer.from((m[1] ?? '').replace(/\s+/g, ''), 'base64')))
  }
  return out
}

/** A fetched issuer certificate: DER, or PEM as a fallback (upstream parity). */
export function parseDerOrPem(body: Uint8Array): Cert {
  try {
    return parseCertificate(body)
  } catch (err) {
    const text = Buffer.from(body).toString('latin1')
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw err
    const [first] = parsePemCertificates(text)
    if (first === undefined) throw err
    return first
  }
}

/** True when `child` names `parent` as its issuer (exact DER name match, and AKI = SKI when both exist). */
export function namesIssuer(child: Cert, parent: Cert): boolean {
  if (child.issuerKey !== parent.subjectKey) return false
  if (child.authorityKeyId !== undefined && parent.subjectKeyId !== undefined) {
    return child.authorityKeyId === parent.subjectKeyId
  }
  return true
}

/** True when `parent`'s key produced `child`'s signature. */
export function signedBy(child: Cert, parent: Cert): boolean {
  try {
    return parent.publicKey !== undefined && child.x509.verify(parent.publicKey)
  } catch {
    return false
  }
}

export function validAt(cert: Cert, now: Date): boolean {
  const t = now.getTime()
  return cert.notBefore.getTime() <= t && t <= cert.notAfter.getTime()
}

function keyOf(x509: X509Certificate): KeyObject | undefined {
  try {
    return x509.publicKey
  } catch {
    return undefined
  }
}

function nameKey(name: pkijs.RelativeDistinguishedNames): string {
  return Buffer.from(name.toSchema().toBER(false)).toString('hex')
}

function hex(view: Uint8Array): string {
  return Buffer.from(view).toString('hex')
}

function bitSet(bits: asn1js.BitString, bit: number): boolean {
  const bytes = bits.valueBlock.valueHexView
  const byte = bytes[bit >> 3]
  return byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0
}

function generalNames(names: readonly pkijs.GeneralName[], type: number): string[] {
  return names.filter((n) => n.type === type).map((n) => String(n.value))
}
