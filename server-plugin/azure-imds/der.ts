/**
 * A minimal DER reader for the attested document's PKCS#7 envelope: tag, length and value offsets
 * over the received bytes, nothing decoded unless asked, nothing copied. It exists because it was
 * measured (issue #12): reading the envelope with pkijs/asn1js — ContentInfo and SignedData schemas,
 * then re-encoding each bag certificate — took 35–45% of the plugin's CPU per warm attestation
 * (2–3 ms), where reading Azure's fixed SignedData shape needs a few dozen offsets. Certificates
 * themselves are still parsed by node:crypto and pkijs (certificate.ts), once each (verify-cache.ts).
 *
 * Strict DER only: single-byte tags, definite lengths in their shortest form, values inside their
 * parent. Anything else is a DerError (the caller reports `malformed_pkcs7`).
 */

/** Tag bytes used by SignedData (class, constructed bit and number in one byte). */
export const TAG = {
  INTEGER: 0x02,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  OCTET_STRING_CONSTRUCTED: 0x24,
  SEQUENCE: 0x30,
  SET: 0x31,
  /** [0] primitive: SignerIdentifier's subjectKeyIdentifier. */
  CONTEXT_0: 0x80,
  /** [0] and [1] constructed: eContent, certificates, signedAttrs / crls, unsignedAttrs. */
  CONTEXT_0_CONSTRUCTED: 0xa0,
  CONTEXT_1_CONSTRUCTED: 0xa1,
} as const

export class DerError extends Error {
  override readonly name = 'DerError'
}

/** One element: `bytes.subarray(start, end)` is its whole encoding, `[valueStart, end)` its value. */
export interface Tlv {
  readonly tag: number
  readonly start: number
  readonly valueStart: number
  readonly end: number
}

/** Reads the element at `offset`, which must end at or before `limit`. */
export function readTlv(bytes: Uint8Array, offset: number, limit: number = bytes.length): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated element')
  const tag = bytes[offset]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here')
  const first = bytes[offset + 1]!
  let length: number
  let valueStart: number
  if (first < 0x80) {
    length = first
    valueStart = offset + 2
  } else {
    const n = first & 0x7f
    if (n === 0) throw new DerError('indefinite length is not DER')
    if (n > 4) throw new DerError('length too large')
    if (offset + 2 + n > limit) throw new DerError('truncated length')
    length = 0
    for (let i = 0; i < n; i++) length = length * 256 + bytes[offset + 2 + i]!
    if (bytes[offset + 2] === 0 || length < 0x80)
      throw new DerError('length not in its shortest form')
    valueStart = offset + 2 + n
  }
  const end = valueStart + length
  if (end > limit) throw new DerError('element runs past its container')
  return { tag, start: offset, valueStart, end }
}

/** Reads an element and checks its tag. */
export function expectTlv(
  bytes: Uint8Array,
  offset: number,
  limit: number,
  tag: number,
  what: string,
): Tlv {
  const tlv = readTlv(bytes, offset, limit)
  if (tlv.tag !== tag) throw new DerError(`${what}: unexpected tag 0x${tlv.tag.toString(16)}`)
  return tlv
}

/** The elements inside a constructed value, in order; they must fill it exactly. */
export function childrenOf(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = []
  for (let at = parent.valueStart; at < parent.end;) {
    const child = readTlv(bytes, at, parent.end)
    out.push(child)
    at = child.end
  }
  return out
}

/** An OBJECT IDENTIFIER's value as dotted decimal. */
export function oidText(bytes: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== TAG.OID || tlv.end === tlv.valueStart) throw new DerError('not an OID')
  const arcs: number[] = []
  let value = 0
  for (let i = tlv.valueStart; i < tlv.end; i++) {
    const b = bytes[i]!
    if (value === 0 && b === 0x80) throw new DerError('OID arc not in its shortest form')
    value = value * 128 + (b & 0x7f)
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError('OID arc too large')
    if ((b & 0x80) === 0) {
      if (arcs.length === 0)
        arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80)
      else arcs.push(value)
      value = 0
    }
  }
  if ((bytes[tlv.end - 1]! & 0x80) !== 0) throw new DerError('truncated OID')
  return arcs.join('.')
}

/** The value bytes of an element (a view, not a copy). */
export function valueOf(bytes: Uint8Array, tlv: Tlv): Uint8Array {
  return bytes.subarray(tlv.valueStart, tlv.end)
}
