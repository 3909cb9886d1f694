// The hand-written PKCS#7 reader (der.ts, document.ts): strict DER, every field in its place, and
// the shapes the pkijs-based reader accepted (chunked eContent, a subjectKeyIdentifier sid).
import assert from 'node:assert/strict'
import { createHash, sign as signWith } from 'node:crypto'
import { before, describe, test } from 'node:test'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import type { Pki } from '../../azure-emulator/pki.js'
import { signAttestedDocument } from '../../azure-emulator/attested-document.js'
import {
  childrenOf,
  DerError,
  oidText,
  readTlv,
  TAG,
} from '../../../server-plugin/azure-imds/der.js'
import {
  parseSignedDocument,
  verifyDocumentSignature,
  type AttestedDocument,
} from '../../../server-plugin/azure-imds/document.js'
import { NONCE, NOW, sign, SUBSCRIPTION_ID, testPki, VM_ID } from './pki-support.js'

let pki: Pki
before(async () => {
  pki = await testPki()
})

const b64 = (der: Uint8Array): AttestedDocument => ({
  encoding: 'pkcs7',
  signature: Buffer.from(der).toString('base64'),
})
const OID_DATA = '1.2.840.113549.1.7.1'
const OID_CONTENT_TYPE = '1.2.840.113549.1.9.3'
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4'
const derOf = (doc: AttestedDocument): Buffer => Buffer.from(doc.signature, 'base64')

/** Re-encodes a signed document after `mutate` edits its pkijs form (signature left as it was). */
function reencode(doc: AttestedDocument, mutate: (sd: pkijs.SignedData) => void): Buffer {
  const info = pkijs.ContentInfo.fromBER(derOf(doc))
  const sd = new pkijs.SignedData({ schema: info.content })
  mutate(sd)
  const out = new pkijs.ContentInfo({
    contentType: info.contentType,
    content: sd.toSchema(true),
  })
  return Buffer.from(out.toSchema().toBER(false))
}

describe('der.ts', () => {
  test('short and long lengths, offsets into the input', () => {
    const short = Buffer.from([0x04, 0x02, 0xaa, 0xbb])
    assert.deepEqual(readTlv(short, 0), { tag: 0x04, start: 0, valueStart: 2, end: 4 })
    const long = Buffer.concat([Buffer.from([0x04, 0x81, 0x80]), Buffer.alloc(0x80)])
    assert.deepEqual(readTlv(long, 0), { tag: 0x04, start: 0, valueStart: 3, end: 0x83 })
  })

  for (const [name, bytes] of [
    ['indefinite length', [0x30, 0x80, 0x00, 0x00]],
    ['long form for a short length', [0x04, 0x81, 0x01, 0xaa]],
    ['a leading zero in a long length', [0x04, 0x82, 0x00, 0x81, ...new Array(0x81).fill(0)]],
    ['a value past the end', [0x04, 0x05, 0x01]],
    ['a truncated header', [0x04]],
    ['a multi-byte tag', [0x1f, 0x81, 0x01, 0x00]],
  ] as const) {
    test(`refuses ${name}`, () => {
      assert.throws(() => readTlv(Buffer.from(bytes), 0), DerError)
    })
  }

  test('children must fill their parent exactly', () => {
    const seq = Buffer.from([0x30, 0x05, 0x02, 0x01, 0x01, 0x05, 0x00])
    assert.deepEqual(
      childrenOf(seq, readTlv(seq, 0)).map((c) => c.tag),
      [TAG.INTEGER, TAG.NULL],
    )
    const overrun = Buffer.from([0x30, 0x04, 0x02, 0x01, 0x01, 0x05, 0x00])
    assert.throws(() => childrenOf(overrun, readTlv(overrun, 0)), DerError)
  })

  test('OIDs decode as asn1js decodes them', () => {
    for (const oid of [
      '1.2.840.113549.1.7.2',
      '1.2.840.113549.1.1.11',
      '2.16.840.1.101.3.4.2.1',
      '2.5.29.37.0',
      '0.9.2342.19200300.100.1.25',
      '2.999.3',
    ]) {
      const der = Buffer.from(new asn1js.ObjectIdentifier({ value: oid }).toBER(false))
      assert.equal(oidText(der, readTlv(der, 0)), oid)
    }
    const padded = Buffer.from([0x06, 0x03, 0x2a, 0x80, 0x01])
    assert.throws(() => oidText(padded, readTlv(padded, 0)), DerError)
    const truncated = Buffer.from([0x06, 0x02, 0x2a, 0x86])
    assert.throws(() => oidText(truncated, readTlv(truncated, 0)), DerError)
  })
})

describe('the PKCS#7 envelope', () => {
  test('Azure’s shape: content, signer and SignerInfo fields as sent', () => {
    const doc = signAttestedDocument({
      vmId: VM_ID,
      subscriptionId: SUBSCRIPTION_ID,
      nonce: NONCE,
      now: NOW,
      signer: pki.leaves.public,
    })
    const signed = parseSignedDocument(doc.body)
    assert.equal(signed.content.toString('utf8'), doc.contentText)
    assert.equal(signed.signerInfo.digestAlgorithm.algorithmId, '1.2.840.113549.1.1.11')
    assert.equal(signed.signerInfo.signatureAlgorithm.algorithmId, '1.2.840.113549.1.1.1')
    // changed deliberately (issue #14): a SignerInfo with signed attributes no longer parses, so
    // the parsed fields have no place for them (this asserted `signedAttrs` was undefined)
    assert.deepEqual(Object.keys(signed.signerInfo).sort(), [
      'digestAlgorithm',
      'signature',
      'signatureAlgorithm',
    ])
    assert.equal(signed.signerInfo.signature.length, 256)
    assert.equal(signed.bag.length, 1)
    assert.deepEqual(signed.signer.der, pki.leaves.public.cert.der)
    verifyDocumentSignature(signed)
  })

  test('BER’s chunked eContent (pkijs’s default encoding) is read whole', () => {
    const doc = sign({ signer: pki.leaves.public })
    const der = reencode(doc, (sd) => {
      const content = sd.encapContentInfo.eContent!.getValue()
      sd.encapContentInfo = new pkijs.EncapsulatedContentInfo({
        eContentType: sd.encapContentInfo.eContentType,
        eContent: new asn1js.OctetString({
          value: [
            new asn1js.OctetString({ valueHex: content.slice(0, 10) }),
            new asn1js.OctetString({ valueHex: content.slice(10) }),
          ],
        }),
      })
    })
    // ContentInfo → [0] → SignedData → encapContentInfo → [0] → the OCTET STRING's tag
    const [, explicit] = childrenOf(der, readTlv(der, 0))
    const [signedData] = childrenOf(der, explicit!)
    const [, , encap] = childrenOf(der, signedData!)
    const [, eContent] = childrenOf(der, encap!)
    assert.equal(childrenOf(der, eContent!)[0]?.tag, TAG.OCTET_STRING_CONSTRUCTED)
    const signed = parseSignedDocument(b64(der))
    assert.deepEqual(signed.content, parseSignedDocument(doc).content, 'chunks joined in order')
    verifyDocumentSignature(signed)
  })

  test('a subjectKeyIdentifier sid resolves the signer by SKI; an unknown SKI does not', () => {
    const doc = sign({ signer: pki.leaves.public })
    const withSki = (ski: Buffer) =>
      reencode(doc, (sd) => {
        sd.signerInfos[0]!.sid = new asn1js.Primitive({
          idBlock: { tagClass: 3, tagNumber: 0 },
          valueHex: ski,
        })
      })
    const signed = parseSignedDocument(b64(withSki(pki.leaves.public.cert.subjectKeyId)))
    assert.deepEqual(signed.signer.der, pki.leaves.public.cert.der)
    verifyDocumentSignature(signed)
    assert.throws(() => parseSignedDocument(b64(withSki(Buffer.alloc(20, 7)))), {
      reason: 'signer_not_resolved',
    })
  })

  const refusals: [string, (der: Buffer) => Buffer, string, RegExp?][] = [
    [
      'trailing bytes after the ContentInfo',
      (der) => Buffer.concat([der, Buffer.from([0x00])]),
      'malformed_pkcs7',
      /trailing data/,
    ],
    [
      'an indefinite-length (BER) ContentInfo',
      (der) => {
        const inner = der.subarray(readTlv(der, 0).valueStart)
        return Buffer.concat([Buffer.from([0x30, 0x80]), inner, Buffer.from([0, 0])])
      },
      'malformed_pkcs7',
      /indefinite length/,
    ],
    ['a truncated envelope', (der) => der.subarray(0, der.length - 40), 'malformed_pkcs7'],
  ]
  for (const [name, edit, reason, message] of refusals) {
    test(`refuses ${name}`, () => {
      const der = edit(derOf(sign({ signer: pki.leaves.public })))
      assert.throws(
        () => parseSignedDocument(b64(der)),
        (err: Error & { reason: string }) => {
          assert.equal(err.reason, reason)
          assert.match(err.message, /^failed to validate attested document: failed to parse PKCS7/)
          if (message !== undefined) assert.match(err.message, message)
          return true
        },
      )
    })
  }

  test('a ContentInfo that is not signedData is refused with its type', () => {
    const info = new pkijs.ContentInfo({
      contentType: '1.2.840.113549.1.7.1',
      content: new asn1js.OctetString({ valueHex: Buffer.from('{}') }),
    })
    assert.throws(() => parseSignedDocument(b64(Buffer.from(info.toSchema().toBER(false)))), {
      reason: 'malformed_pkcs7',
      message:
        'failed to validate attested document: failed to parse PKCS7 signature: content type 1.2.840.113549.1.7.1 is not signedData',
    })
  })

  test('detached content (no eContent) is refused', () => {
    const der = reencode(sign({ signer: pki.leaves.public }), (sd) => {
      sd.encapContentInfo = new pkijs.EncapsulatedContentInfo({
        eContentType: '1.2.840.113549.1.7.1',
      })
    })
    assert.throws(() => parseSignedDocument(b64(der)), {
      reason: 'malformed_pkcs7',
      message:
        'failed to validate attested document: failed to parse PKCS7 signature: content is not attached data',
    })
  })

  test('a bag entry that is not a certificate is refused', () => {
    const der = reencode(sign({ signer: pki.leaves.public }), (sd) => {
      sd.certificates = [
        ...(sd.certificates ?? []),
        new pkijs.OtherCertificateFormat({
          otherCertFormat: '1.2.3.4',
          otherCert: new asn1js.Null(),
        }),
      ]
    })
    assert.throws(() => parseSignedDocument(b64(der)), {
      reason: 'malformed_pkcs7',
      message:
        'failed to validate attested document: failed to parse PKCS7 signature: unsupported certificate choice in bag',
    })
  })

  test('a bag certificate that does not parse is refused', () => {
    const der = reencode(sign({ signer: pki.leaves.public }), (sd) => {
      // a SEQUENCE that is no certificate
      const junk = { toSchema: () => new asn1js.Sequence({ value: [new asn1js.Null()] }) }
      sd.certificates = [...(sd.certificates ?? []), junk as never]
    })
    assert.throws(() => parseSignedDocument(b64(der)), { reason: 'malformed_pkcs7' })
  })

  test('signed attributes that are not Attributes are refused as malformed', () => {
    const doc = sign({ signer: pki.leaves.public, signedAttributes: 'valid' })
    const der = reencode(doc, (sd) => {
      const si = sd.signerInfos[0]!
      const attrs = si.signedAttrs!
      si.signedAttrs = new pkijs.SignedAndUnsignedAttributes({
        type: 0,
        attributes: attrs.attributes,
      })
      // a bare OID among the attributes
      const bare = { toSchema: () => new asn1js.ObjectIdentifier({ value: '1.2.3' }) }
      si.signedAttrs.attributes.push(bare as never)
    })
    assert.throws(() => parseSignedDocument(b64(der)), { reason: 'malformed_pkcs7' })
  })

  describe('signed attributes (Azure never sends them)', () => {
    const SIGNED_ATTRIBUTES_REFUSED = {
      reason: 'malformed_pkcs7',
      message:
        'failed to validate attested document: failed to parse PKCS7 signature: SignerInfo carries signed attributes, which Azure never sends',
    }
    const attribute = (type: string, value: asn1js.BaseBlock) =>
      new pkijs.Attribute({ type, values: [value] })
    const contentType = () =>
      attribute(OID_CONTENT_TYPE, new asn1js.ObjectIdentifier({ value: OID_DATA }))
    const messageDigest = (of: Buffer) =>
      attribute(
        OID_MESSAGE_DIGEST,
        new asn1js.OctetString({ valueHex: createHash('sha256').update(of).digest() }),
      )
    /** Azure's document with `attributes` signed by the genuine leaf key, as CMS signs them. */
    const withSignedAttributes = (attributes: pkijs.Attribute[]): Buffer => {
      const doc = sign({ signer: pki.leaves.public })
      return reencode(doc, (sd) => {
        const si = sd.signerInfos[0]!
        si.signedAttrs = new pkijs.SignedAndUnsignedAttributes({ type: 0, attributes })
        const set = new asn1js.Set({ value: attributes.map((a) => a.toSchema()) }).toBER(false)
        const sig = signWith('sha256', Buffer.from(set), pki.leaves.public.privateKey)
        si.signature = new asn1js.OctetString({ valueHex: sig })
      })
    }

    test('attack: signed attributes smuggle a different message digest — refused', () => {
      const der = withSignedAttributes([
        contentType(),
        messageDigest(Buffer.from('{"vmId":"forged"}')),
      ])
      assert.throws(() => parseSignedDocument(b64(der)), SIGNED_ATTRIBUTES_REFUSED)
    })

    test('attack: a second message-digest attribute naming other content, behind a valid signature — refused', () => {
      // a reader that takes the first (or the last) value of each type disagrees with one that
      // takes the other: no reading of attributes means no such ambiguity
      const content = parseSignedDocument(sign({ signer: pki.leaves.public })).content
      const der = withSignedAttributes([
        contentType(),
        messageDigest(Buffer.from('{"vmId":"forged"}')),
        messageDigest(content),
      ])
      assert.throws(() => parseSignedDocument(b64(der)), SIGNED_ATTRIBUTES_REFUSED)
    })

    test('attack: genuine signed attributes over the real content, signed by the real leaf key — refused', () => {
      const content = parseSignedDocument(sign({ signer: pki.leaves.public })).content
      const der = withSignedAttributes([contentType(), messageDigest(content)])
      assert.throws(() => parseSignedDocument(b64(der)), SIGNED_ATTRIBUTES_REFUSED)
    })

    test('attack: an empty signed-attributes set — refused', () => {
      // pkijs will not encode an empty set: an empty [0] IMPLICIT in its place
      const der = reencode(sign({ signer: pki.leaves.public }), (sd) => {
        const empty = new asn1js.Constructed({ idBlock: { tagClass: 3, tagNumber: 0 }, value: [] })
        sd.signerInfos[0]!.signedAttrs = { toSchema: () => empty } as never
      })
      assert.throws(() => parseSignedDocument(b64(der)), SIGNED_ATTRIBUTES_REFUSED)
    })

    test('unsigned attributes are still never read: the document verifies', () => {
      const doc = sign({ signer: pki.leaves.public })
      const der = reencode(doc, (sd) => {
        sd.signerInfos[0]!.unsignedAttrs = new pkijs.SignedAndUnsignedAttributes({
          type: 1,
          attributes: [attribute('1.2.3.4', new asn1js.Null())],
        })
      })
      verifyDocumentSignature(parseSignedDocument(b64(der)))
    })
  })
})
