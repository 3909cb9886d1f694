import { createHash, randomBytes, sign, X509Certificate } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'

/** DN attributes in encoding order, e.g. `[['C', 'US'], ['O', 'Microsoft Corporation'], ['CN', 'x']]`. */
export type Dn = readonly (readonly [DnAttr, string])[]
export type DnAttr = 'C' | 'ST' | 'L' | 'O' | 'OU' | 'CN'
export type KeyUsageFlag = 'digitalSignature' | 'keyEncipherment' | 'keyCertSign' | 'cRLSign'
export type CertHash = 'sha256' | 'sha384'

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1'
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'

export interface CertSpec {
  subject: Dn
  publicKey: KeyObject
  /** Omit for self-signed (then `signingKey` is the subject's own private key). */
  issuer?: IssuedCert
  signingKey: KeyObject
  notBefore: Date
  notAfter: Date
  hash?: CertHash
  serial?: Uint8Array
  ca?: { pathLength?: number } | false
  /** Omit BasicConstraints entirely (a leaf that says nothing) */
  omitBasicConstraints?: boolean
  keyUsage?: readonly KeyUsageFlag[]
  extKeyUsage?: readonly string[]
  dnsNames?: readonly string[]
  ipAddresses?: readonly string[]
  caIssuers?: readonly string[]
  ocsp?: readonly string[]
  crl?: readonly string[]
  policies?: readonly string[]
}

/** A certificate plus what signing with it (or chaining to it) needs. */
export interface IssuedCert {
  der: Buffer
  pem: string
  x509: X509Certificate
  pkijs: pkijs.Certificate
  subjectKeyId: Buffer
}

const ATTR_OIDS: Record<DnAttr, string> = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
}
const KU_BITS: Record<KeyUsageFlag, number> = {
  digitalSignature: 0,
  keyEncipherment: 2,
  keyCertSign: 5,
  cRLSign: 6,
}
const SIG_OIDS: Record<string, string> = {
  'rsa-sha256': '1.2.840.113549.1.1.11',
  'rsa-sha384': '1.2.840.113549.1.1.12',
  'ec-sha256': '1.2.840.10045.4.3.2',
  'ec-sha384': '1.2.840.10045.4.3.3',
}

const PRINTABLE_RE = /^[A-Za-z0-9 '()+,\-./:=?]*$/

/** One attribute per RDN, as CAs encode names (pkijs would put them all in one SET). */
export function buildName(dn: Dn): pkijs.RelativeDistinguishedNames {
  const seq = new asn1js.Sequence({
    value: dn.map(
      ([attr, value]) =>
        new asn1js.Set({
          value: [
            new asn1js.Sequence({
              value: [
                new asn1js.ObjectIdentifier({ value: ATTR_OIDS[attr] }),
                PRINTABLE_RE.test(value)
                  ? new asn1js.PrintableString({ value })
                  : new asn1js.Utf8String({ value }),
              ],
            }),
          ],
        }),
    ),
  })
  return pkijs.RelativeDistinguishedNames.fromBER(seq.toBER(false))
}

/** A Microsoft-style serial: 19 bytes starting 0x33, positive. */
export function msSerial(): Uint8Array {
  const s = randomBytes(19)
  s[0] = 0x33
  return s
}

export function subjectKeyId(publicKey: KeyObject): Buffer {
  const spki = pkijs.PublicKeyInfo.fromBER(publicKey.export({ type: 'spki', format: 'der' }))
  return createHash('sha1').update(spki.subjectPublicKey.valueBlock.valueHexView).digest()
}

export function issueCertificate(spec: CertSpec): IssuedCert {
  const hash = spec.hash ?? 'sha384'
  const sigAlg = algorithm(
    SIG_OIDS[`${spec.signingKey.asymmetricKeyType === 'ec' ? 'ec' : 'rsa'}-${hash}`]!,
    spec.signingKey,
  )
  const ski = subjectKeyId(spec.publicKey)
  const cert = new pkijs.Certificate()
  cert.version = 2
  cert.serialNumber = new asn1js.Integer({ valueHex: spec.serial ?? msSerial() })
  cert.signature = sigAlg
  cert.issuer = spec.issuer ? spec.issuer.pkijs.subject : buildName(spec.subject)
  cert.subject = buildName(spec.subject)
  cert.notBefore = new pkijs.Time({ type: timeType(spec.notBefore), value: spec.notBefore })
  cert.notAfter = new pkijs.Time({ type: timeType(spec.notAfter), value: spec.notAfter })
  cert.subjectPublicKeyInfo = pkijs.PublicKeyInfo.fromBER(
    spec.publicKey.export({ type: 'spki', format: 'der' }),
  )
  cert.extensions = buildExtensions(spec, ski)
  cert.tbsView = new Uint8Array(cert.encodeTBS().toBER(false))
  const signature = sign(hash, cert.tbsView, spec.signingKey)
  cert.signatureAlgorithm = algorithm(sigAlg.algorithmId, spec.signingKey)
  cert.signatureValue = new asn1js.BitString({ valueHex: signature })
  const der = Buffer.from(cert.toSchema(false).toBER(false))
  const x509 = new X509Certificate(der)
  return {
    der,
    pem: x509.toString(),
    x509,
    pkijs: pkijs.Certificate.fromBER(der),
    subjectKeyId: ski,
  }
}

function algorithm(oid: string, key: KeyObject): pkijs.AlgorithmIdentifier {
  // RSA signature algorithms carry NULL parameters; ECDSA ones carry none.
  return key.asymmetricKeyType === 'ec'
    ? new pkijs.AlgorithmIdentifier({ algorithmId: oid })
    : new pkijs.AlgorithmIdentifier({ algorithmId: oid, algorithmParams: new asn1js.Null() })
}

function timeType(d: Date): 0 | 1 {
  return d.getUTCFullYear() < 2050 && d.getUTCFullYear() >= 1950 ? 0 : 1
}

function ext(
  extnID: string,
  critical: boolean,
  value: { toSchema(): asn1js.AsnType } | asn1js.AsnType,
): pkijs.Extension {
  const schema = 'toSchema' in value ? value.toSchema() : value
  return new pkijs.Extension({ extnID, critical, extnValue: schema.toBER(false) })
}

function uri(value: string): pkijs.GeneralName {
  return new pkijs.GeneralName({ type: 6, value })
}

function keyUsageBits(flags: readonly KeyUsageFlag[]): asn1js.BitString {
  let bits = 0
  for (const f of flags) bits |= 0x80 >> KU_BITS[f]
  const bytes = bits === 0 ? new Uint8Array([0]) : new Uint8Array([bits])
  let unused = 0
  while (unused < 7 && (bits & (1 << unused)) === 0) unused++
  return new asn1js.BitString({ valueHex: bytes, unusedBits: unused })
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return new Uint8Array(ip.split('.').map(Number))
  const full = ip.includes('::') ? expandV6(ip) : ip.split(':')
  const out = new Uint8Array(16)
  full.forEach((h, i) => {
    const v = parseInt(h || '0', 16)
    out[i * 2] = v >> 8
    out[i * 2 + 1] = v & 0xff
  })
  return out
}

function expandV6(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string]
  const h = head ? head.split(':') : []
  const t = tail ? tail.split(':') : []
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
}

function buildExtensions(spec: CertSpec, ski: Buffer): pkijs.Extension[] {
  const out: pkijs.Extension[] = []
  if (spec.caIssuers?.length || spec.ocsp?.length) {
    const descriptions = [
      ...(spec.caIssuers ?? []).map((u) => ({
        accessMethod: '1.3.6.1.5.5.7.48.2',
        accessLocation: uri(u),
      })),
      ...(spec.ocsp ?? []).map((u) => ({
        accessMethod: '1.3.6.1.5.5.7.48.1',
        accessLocation: uri(u),
      })),
    ].map((d) => new pkijs.AccessDescription(d))
    out.push(
      ext('1.3.6.1.5.5.7.1.1', false, new pkijs.InfoAccess({ accessDescriptions: descriptions })),
    )
  }
  out.push(ext('2.5.29.14', false, new asn1js.OctetString({ valueHex: ski })))
  if (spec.keyUsage?.length) out.push(ext('2.5.29.15', true, keyUsageBits(spec.keyUsage)))
  const names = [
    ...(spec.dnsNames ?? []).map((value) => new pkijs.GeneralName({ type: 2, value })),
    ...(spec.ipAddresses ?? []).map(
      (ip) =>
        new pkijs.GeneralName({
          type: 7,
          value: new asn1js.OctetString({ valueHex: ipBytes(ip) }),
        }),
    ),
  ]
  if (names.length > 0) out.push(ext('2.5.29.17', false, new pkijs.AltName({ altNames: names })))
  if (!spec.omitBasicConstraints) {
    const bc = spec.ca
      ? new pkijs.BasicConstraints({
          cA: true,
          ...(spec.ca.pathLength === undefined ? {} : { pathLenConstraint: spec.ca.pathLength }),
        })
      : new pkijs.BasicConstraints({})
    out.push(ext('2.5.29.19', true, bc))
  }
  if (spec.crl?.length) {
    const points = spec.crl.map((u) => new pkijs.DistributionPoint({ distributionPoint: [uri(u)] }))
    out.push(
      ext('2.5.29.31', false, new pkijs.CRLDistributionPoints({ distributionPoints: points })),
    )
  }
  if (spec.policies?.length) {
    const infos = spec.policies.map((p) => new pkijs.PolicyInformation({ policyIdentifier: p }))
    out.push(ext('2.5.29.32', false, new pkijs.CertificatePolicies({ certificatePolicies: infos })))
  }
  if (spec.issuer) {
    const aki = new pkijs.AuthorityKeyIdentifier({
      keyIdentifier: new asn1js.OctetString({ valueHex: spec.issuer.subjectKeyId }),
    })
    out.push(ext('2.5.29.35', false, aki))
  }
  if (spec.extKeyUsage?.length) {
    out.push(ext('2.5.29.37', false, new pkijs.ExtKeyUsage({ keyPurposes: [...spec.extKeyUsage] })))
  }
  return out
}
