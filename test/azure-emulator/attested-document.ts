import { createHash, sign } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import type { IssuedCert } from './cert-builder.js'
import type { Signer } from './pki.js'

/** Real documents are valid for exactly 6 hours (azure-facts §2.4). */
export const DOCUMENT_LIFETIME_S = 6 * 3600
const OID_DATA = '1.2.840.113549.1.7.1'
const OID_SIGNED_DATA = '1.2.840.113549.1.7.2'
/** Azure's quirk: a signature OID where the digest OID belongs (azure-facts §2.3). */
export const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11'
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1'
const OID_RSA = '1.2.840.113549.1.1.1'
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2'

export interface AttestedContent {
  licenseType: string
  nonce: string
  plan: { name: string; product: string; publisher: string }
  sku: string
  subscriptionId: string
  timeStamp: { createdOn: string; expiresOn: string }
  vmId: string
}

export interface SignDocumentInput {
  vmId: string
  subscriptionId: string
  signer: Signer
  now: Date
  /** Omitted: IMDS puts the expiry stamp `YYYYMMDD-HHMMSS` here. */
  nonce?: string
  licenseType?: string
  plan?: AttestedContent['plan']
  sku?: string
  /** Field overrides applied after derivation (expired stamps, wrong nonce, …). */
  content?: Partial<AttestedContent>
  /** Exact eContent bytes, replacing the JSON (tests of unusual shapes). */
  contentText?: string
  /** Sign these bytes instead of the eContent: a tampered document. */
  signedText?: string
  /** 'azure' (default) writes the quirk OID; 'sha256' the correct one, like openssl/Go produce. */
  digestOid?: 'azure' | 'sha256'
  /** The certificate bag; default the signer's leaf only, as Azure sends. */
  certificates?: readonly IssuedCert[]
  /** Negative fixtures: signed attributes (Azure never sends them), a second SignerInfo. */
  signedAttributes?: 'none' | 'valid' | 'wrong-digest'
  secondSigner?: Signer
}

export interface AttestedDocument {
  /** The IMDS response body `{"encoding":"pkcs7","signature":"<base64 DER>"}` */
  body: { encoding: 'pkcs7'; signature: string }
  der: Buffer
  contentText: string
  content: AttestedContent
}

/** `MM/DD/YY HH:MM:SS -0000` in UTC. */
export function formatAzureTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${p(d.getUTCMonth() + 1)}/${p(d.getUTCDate())}/${p(d.getUTCFullYear() % 100)} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} -0000`
}

/** `YYYYMMDD-HHMMSS`, the nonce IMDS fills in when the caller sends none. */
export function formatNonceStamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0')
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`
}

export function buildAttestedContent(input: SignDocumentInput): AttestedContent {
  const created = new Date(Math.floor(input.now.getTime() / 1000) * 1000)
  const expires = new Date(created.getTime() + DOCUMENT_LIFETIME_S * 1000)
  // Key order is Azure's; JSON.stringify keeps insertion order.
  const content: AttestedContent = {
    licenseType: input.licenseType ?? '',
    nonce: input.nonce ?? formatNonceStamp(expires),
    plan: input.plan ?? { name: '', product: '', publisher: '' },
    sku: input.sku ?? '',
    subscriptionId: input.subscriptionId,
    timeStamp: {
      createdOn: formatAzureTimestamp(created),
      expiresOn: formatAzureTimestamp(expires),
    },
    vmId: input.vmId,
  }
  return { ...content, ...input.content }
}

/**
 * Signs a document exactly like IMDS (azure-facts §2.3, §9.2): SignedData v1, digest OID quirk,
 * no signed attributes, leaf-only bag, eContent as one primitive OCTET STRING, RSA PKCS#1 v1.5
 * over SHA-256 of the content bytes.
 */
export function signAttestedDocument(input: SignDocumentInput): AttestedDocument {
  const content = buildAttestedContent(input)
  const contentText = input.contentText ?? JSON.stringify(content)
  const data = Buffer.from(contentText, 'utf8')
  const signed = input.signedText === undefined ? data : Buffer.from(input.signedText, 'utf8')
  const digestOid = input.digestOid === 'sha256' ? OID_SHA256 : OID_SHA256_WITH_RSA
  const signerInfos = [
    buildSignerInfo(input.signer, signed, digestOid, input.signedAttributes ?? 'none'),
  ]
  if (input.secondSigner)
    signerInfos.push(buildSignerInfo(input.secondSigner, signed, digestOid, 'none'))
  const certificates = (input.certificates ?? [input.signer.cert]).map((c) =>
    pkijs.Certificate.fromBER(c.der),
  )
  const sd = new pkijs.SignedData({
    version: 1,
    digestAlgorithms: [digestAlgorithm(digestOid)],
    encapContentInfo: new pkijs.EncapsulatedContentInfo({
      eContentType: OID_DATA,
      eContent: new asn1js.OctetString({ valueHex: data }),
    }),
    certificates,
    signerInfos,
  })
  const schema = sd.toSchema(true)
  // pkijs writes eContent as a constructed (chunked) OCTET STRING; Azure writes one primitive.
  schema.valueBlock.value[2] = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: OID_DATA }),
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.OctetString({ valueHex: data })],
      }),
    ],
  })
  const info = new pkijs.ContentInfo({ contentType: OID_SIGNED_DATA, content: schema })
  const der = Buffer.from(info.toSchema().toBER(false))
  return {
    body: { encoding: 'pkcs7', signature: der.toString('base64') },
    der,
    contentText,
    content,
  }
}

function digestAlgorithm(oid: string): pkijs.AlgorithmIdentifier {
  return new pkijs.AlgorithmIdentifier({ algorithmId: oid, algorithmParams: new asn1js.Null() })
}

function buildSignerInfo(
  signer: Signer,
  data: Buffer,
  digestOid: string,
  attrs: 'none' | 'valid' | 'wrong-digest',
): pkijs.SignerInfo {
  const cert = signer.cert.pkijs
  const ec = signer.privateKey.asymmetricKeyType === 'ec'
  const signatureAlgorithm = ec
    ? new pkijs.AlgorithmIdentifier({ algorithmId: OID_ECDSA_SHA256 })
    : new pkijs.AlgorithmIdentifier({ algorithmId: OID_RSA, algorithmParams: new asn1js.Null() })
  const base = {
    version: 1,
    sid: new pkijs.IssuerAndSerialNumber({ issuer: cert.issuer, serialNumber: cert.serialNumber }),
    digestAlgorithm: digestAlgorithm(digestOid),
    signatureAlgorithm,
  }
  if (attrs === 'none') {
    const signature = sign('sha256', data, signer.privateKey)
    return new pkijs.SignerInfo({
      ...base,
      signature: new asn1js.OctetString({ valueHex: signature }),
    })
  }
  const digest = createHash('sha256')
    .update(attrs === 'valid' ? data : Buffer.from('tampered'))
    .digest()
  const attributes = [
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.3',
      values: [new asn1js.ObjectIdentifier({ value: OID_DATA })],
    }),
    new pkijs.Attribute({
      type: '1.2.840.113549.1.9.4',
      values: [new asn1js.OctetString({ valueHex: digest })],
    }),
  ]
  const signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes })
  // CMS signs the attributes re-tagged as a SET OF, not as the [0] IMPLICIT field.
  const setDer = new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }).toBER(false)
  const signature = sign('sha256', Buffer.from(setDer), signer.privateKey)
  return new pkijs.SignerInfo({
    ...base,
    signedAttrs,
    signature: new asn1js.OctetString({ valueHex: signature }),
  })
}
