/**
 * Compact JWS verification with `node:crypto` (managed-identity tokens, azure_msi).
 *
 * Hand-written on purpose (the project prefers libraries): jose's `compactVerify` goes through
 * WebCrypto, whose every `verify` is a job on libuv's thread pool — a promise, a thread hand-off and
 * its wake-up — where `crypto.verify` with a cached `KeyObject` is one synchronous call. Through the
 * host launcher that hand-off was 17% of azure_msi's server CPU profile (docs/performance.md, "azure_msi
 * without jose"). What jose checked is checked here too, and fails closed: the algorithm allow-list
 * (HS* and `none` never), the key type and curve the algorithm needs, RSA keys of 2048 bits or more,
 * WebCrypto's `use`/`key_ops` rules for a verification key, no `crit` header (nothing here
 * understands one), strict base64url, and PS* with a salt as long as the digest (RFC 7518 §3.5).
 */
import { constants, createPublicKey, verify, type KeyObject } from 'node:crypto'

/**
 * upstream parity: the asymmetric JWS algorithms SPIRE's Azure plugins accept (go-jose's RSA, ECDSA and
 * RSA-PSS families) — for managed-identity tokens (allowedJWTSignatureAlgorithms) and for the client
 * assertion files of `token_auth`. HS* and `none` are never among them.
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const
export type JwsAlgorithm = (typeof ASYMMETRIC_JWS_ALGORITHMS)[number]

/** A JSON Web Key as a JWKS publishes it; nothing in it is trusted beyond its key material. */
export type Jwk = Readonly<Record<string, unknown>>

/** Why a JWS did not verify. `signature` is the one outcome where every input was well formed. */
export class JwsError extends Error {
  constructor(
    readonly kind: 'signature' | 'key' | 'format',
    message: string,
  ) {
    super(message)
    this.name = 'JwsError'
  }
}

interface Scheme {
  kty: 'RSA' | 'EC'
  hash: 'sha256' | 'sha384' | 'sha512'
  pss?: true
  /** EC: the JWK curve, and the byte length of one IEEE P1363 signature (r || s). */
  crv?: 'P-256' | 'P-384' | 'P-521'
  sigBytes?: number
}

const SCHEMES: Readonly<Record<JwsAlgorithm, Scheme>> = {
  RS256: { kty: 'RSA', hash: 'sha256' },
  RS384: { kty: 'RSA', hash: 'sha384' },
  RS512: { kty: 'RSA', hash: 'sha512' },
  PS256: { kty: 'RSA', hash: 'sha256', pss: true },
  PS384: { kty: 'RSA', hash: 'sha384', pss: true },
  PS512: { kty: 'RSA', hash: 'sha512', pss: true },
  ES256: { kty: 'EC', hash: 'sha256', crv: 'P-256', sigBytes: 64 },
  ES384: { kty: 'EC', hash: 'sha384', crv: 'P-384', sigBytes: 96 },
  ES512: { kty: 'EC', hash: 'sha512', crv: 'P-521', sigBytes: 132 },
}

/** The smallest RSA modulus accepted (jose's and WebCrypto's rule for RS* and PS*). */
export const MIN_RSA_BITS = 2048

const BASE64URL = /^[A-Za-z0-9_-]*$/

/** Strict base64url (no padding, no other characters, no impossible length). */
export function decodeBase64Url(part: string, what: string): Buffer {
  if (!BASE64URL.test(part) || part.length % 4 === 1)
    throw new JwsError('format', `${what} is not base64url`)
  return Buffer.from(part, 'base64url')
}

/**
 * Imported keys by JWK object and algorithm. The JWK objects are the JWKS cache's own, so a key
 * rotation brings new objects and the old entries go with them (WeakMap). A refused key is kept
 * refused (the same object always fails the same way).
 */
const imported = new WeakMap<Jwk, Map<JwsAlgorithm, KeyObject | JwsError>>()

/** The key of `jwk` for `alg`, or the reason it cannot verify `alg` signatures. */
export function importVerifyKey(jwk: Jwk, alg: JwsAlgorithm): KeyObject {
  let byAlg = imported.get(jwk)
  if (byAlg === undefined) imported.set(jwk, (byAlg = new Map()))
  let key = byAlg.get(alg)
  if (key === undefined) {
    try {
      key = importKey(jwk, alg)
    } catch (err) {
      key =
        err instanceof JwsError
          ? err
          : new JwsError('key', `invalid key: ${err instanceof Error ? err.message : String(err)}`)
    }
    byAlg.set(alg, key)
  }
  if (key instanceof JwsError) throw key
  return key
}

function importKey(jwk: Jwk, alg: JwsAlgorithm): KeyObject {
  const scheme = SCHEMES[alg]
  const refuse = (why: string) => new JwsError('key', `key cannot verify ${alg}: ${why}`)
  if (jwk['kty'] !== scheme.kty) throw refuse(`its type is ${JSON.stringify(jwk['kty'] ?? '')}`)
  if (scheme.crv !== undefined && jwk['crv'] !== scheme.crv)
    throw refuse(`its curve is ${JSON.stringify(jwk['crv'] ?? '')}`)
  // a published private key is not a verification key (WebCrypto refuses it for `verify`)
  if (jwk['d'] !== undefined) throw refuse('it is a private key')
  // WebCrypto's import rules for a key used to verify
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') throw refuse('its "use" is not "sig"')
  const ops = jwk['key_ops']
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify')))
    throw refuse('its "key_ops" lack "verify"')
  const material: Record<string, unknown> =
    scheme.kty === 'RSA'
      ? { kty: 'RSA', n: jwk['n'], e: jwk['e'] }
      : { kty: 'EC', crv: jwk['crv'], x: jwk['x'], y: jwk['y'] }
  const key = createPublicKey({ key: material as never, format: 'jwk' })
  if (scheme.kty === 'RSA') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < MIN_RSA_BITS)
      throw refuse(`its modulus has ${bits} bits, fewer than ${MIN_RSA_BITS}`)
  }
  return key
}

/**
 * Verifies `compact` (three base64url parts; the header already parsed and its `alg` checked
 * against an allow-list by the caller) with `jwk` under `alg`, and returns the payload bytes.
 * Throws JwsError: `signature` when the signature does not verify, `key` when the key cannot verify
 * `alg`, `format` for anything malformed (including any `crit` header).
 */
export function verifyCompactJws(
  compact: string,
  header: Readonly<Record<string, unknown>>,
  alg: JwsAlgorithm,
  jwk: Jwk,
): Buffer {
  const scheme = SCHEMES[alg] as Scheme | undefined
  if (scheme === undefined || header['alg'] !== alg)
    throw new JwsError('format', `algorithm ${JSON.stringify(alg)} is not allowed`)
  if (header['crit'] !== undefined) throw new JwsError('format', 'unsupported "crit" header')
  const dot1 = compact.indexOf('.')
  const dot2 = compact.indexOf('.', dot1 + 1)
  if (dot1 < 0 || dot2 < 0 || compact.indexOf('.', dot2 + 1) >= 0)
    throw new JwsError('format', 'compact JWS must have three parts')
  if (!BASE64URL.test(compact.slice(0, dot1)))
    throw new JwsError('format', 'the header is not base64url')
  const signature = decodeBase64Url(compact.slice(dot2 + 1), 'the signature')
  const payload = decodeBase64Url(compact.slice(dot1 + 1, dot2), 'the payload')
  const key = importVerifyKey(jwk, alg)
  if (scheme.sigBytes !== undefined && signature.length !== scheme.sigBytes)
    throw new JwsError('signature', 'signature verification failed')
  let ok = false
  try {
    ok = verify(
      scheme.hash,
      Buffer.from(compact.slice(0, dot2), 'latin1'),
      scheme.kty === 'EC'
        ? { key, dsaEncoding: 'ieee-p1363' }
        : scheme.pss
          ? {
              key,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
            }
          : { key, padding: constants.RSA_PKCS1_PADDING },
      signature,
    )
  } catch {
    ok = false
  }
  if (!ok) throw new JwsError('signature', 'signature verification failed')
  return payload
}
