// shared/azure/jws.ts: compact JWS verification with node:crypto. Every algorithm verifies what jose
// signs (jose is the reference: it is what this module replaced), and every rule jose and WebCrypto
// applied to the key and the token is refused here too.
import assert from 'node:assert/strict'
import { constants, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { describe, test } from 'node:test'
import { CompactSign, exportJWK } from 'jose'
import {
  ASYMMETRIC_JWS_ALGORITHMS,
  decodeBase64Url,
  importVerifyKey,
  JwsError,
  verifyCompactJws,
  type Jwk,
  type JwsAlgorithm,
} from '../../../shared/azure/jws.js'

const CURVES = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const

function keyPair(alg: JwsAlgorithm, rsaBits = 2048): { privateKey: KeyObject; jwk: Jwk } {
  const pair =
    alg in CURVES
      ? generateKeyPairSync('ec', { namedCurve: CURVES[alg as keyof typeof CURVES] })
      : generateKeyPairSync('rsa', { modulusLength: rsaBits })
  return { privateKey: pair.privateKey, jwk: pair.publicKey.export({ format: 'jwk' }) }
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const headerOf = (compact: string) =>
  JSON.parse(Buffer.from(compact.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>

async function joseSign(alg: JwsAlgorithm, privateKey: KeyObject, payload: string) {
  return new CompactSign(new TextEncoder().encode(payload))
    .setProtectedHeader({ alg, kid: 'k' })
    .sign(privateKey)
}

const refused = (kind: JwsError['kind'], message?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof JwsError, String(err))
  assert.equal(err.kind, kind, err.message)
  if (message) assert.match(err.message, message)
  return true
}

describe('verifyCompactJws', () => {
  for (const alg of ASYMMETRIC_JWS_ALGORITHMS) {
    test(`${alg}: what jose signs verifies; a tampered payload or another key does not`, async () => {
      const { privateKey, jwk } = keyPair(alg)
      const token = await joseSign(alg, privateKey, '{"sub":"x"}')
      const payload = verifyCompactJws(token, headerOf(token), alg, jwk)
      assert.equal(payload.toString(), '{"sub":"x"}')

      const [h, , s] = token.split('.')
      const tampered = `${h}.${b64({ sub: 'y' })}.${s}`
      assert.throws(
        () => verifyCompactJws(tampered, headerOf(tampered), alg, jwk),
        refused('signature'),
      )
      const other = keyPair(alg).jwk
      assert.throws(
        () => verifyCompactJws(token, headerOf(token), alg, other),
        refused('signature'),
      )
    })
  }

  test('the header must name the algorithm asked for; none, HS256 and unknown ones are refused', async () => {
    const { privateKey, jwk } = keyPair('RS256')
    const token = await joseSign('RS256', privateKey, '{}')
    assert.throws(
      () => verifyCompactJws(token, headerOf(token), 'RS384', jwk),
      refused('format', /not allowed/),
    )
    for (const alg of ['none', 'HS256', 'XX1'])
      assert.throws(
        () => verifyCompactJws(token, { alg }, alg as JwsAlgorithm, jwk),
        refused('format', /not allowed/),
      )
  })

  test('a crit header is refused, even over a valid signature', () => {
    const { privateKey, jwk } = keyPair('RS256')
    const header = { alg: 'RS256', kid: 'k', crit: ['b64'], b64: false }
    const input = `${b64(header)}.${b64({})}`
    const sig = sign('sha256', Buffer.from(input), privateKey).toString('base64url')
    assert.throws(
      () => verifyCompactJws(`${input}.${sig}`, header, 'RS256', jwk),
      refused('format', /crit/),
    )
  })

  test('malformed compact forms and base64url are refused before any key is used', async () => {
    const { privateKey, jwk } = keyPair('RS256')
    const token = await joseSign('RS256', privateKey, '{}')
    const [h, p, s] = token.split('.') as [string, string, string]
    const header = headerOf(token)
    for (const bad of [
      `${h}.${p}`,
      `${h}.${p}.${s}.x`,
      `${h}.${p}.${s}=`,
      `${h}.${p}.${s.slice(0, -1)}+`,
      `${h}.${p}.${s.slice(0, -1)}`, // 341 characters: no base64 has that length
      `${h}.${p}!.${s}`,
      `${h}=.${p}.${s}`,
    ]) {
      assert.throws(() => verifyCompactJws(bad, header, 'RS256', jwk), JwsError, bad)
    }
    assert.throws(() => decodeBase64Url('abcde', 'x'), refused('format'))
    assert.deepEqual(decodeBase64Url('', 'x'), Buffer.alloc(0))
  })

  test('PS256 needs a salt as long as the digest (RFC 7518 §3.5)', () => {
    const { privateKey, jwk } = keyPair('PS256')
    const input = `${b64({ alg: 'PS256' })}.${b64({})}`
    const signWith = (saltLength: number) =>
      sign('sha256', Buffer.from(input), {
        key: privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength,
      }).toString('base64url')
    assert.doesNotThrow(() =>
      verifyCompactJws(`${input}.${signWith(32)}`, { alg: 'PS256' }, 'PS256', jwk),
    )
    assert.throws(
      () => verifyCompactJws(`${input}.${signWith(0)}`, { alg: 'PS256' }, 'PS256', jwk),
      refused('signature'),
    )
  })

  test('an ES256 signature of the wrong length (DER, not r||s) is refused', () => {
    const { privateKey, jwk } = keyPair('ES256')
    const input = `${b64({ alg: 'ES256' })}.${b64({})}`
    const der = sign('sha256', Buffer.from(input), privateKey).toString('base64url')
    assert.throws(
      () => verifyCompactJws(`${input}.${der}`, { alg: 'ES256' }, 'ES256', jwk),
      refused('signature'),
    )
  })
})

describe('importVerifyKey: what jose and WebCrypto refused', () => {
  const rsa = keyPair('RS256').jwk
  const ec = keyPair('ES256').jwk
  const cases: { name: string; jwk: Jwk; alg: JwsAlgorithm; message: RegExp }[] = [
    { name: 'an RSA key for ES256', jwk: rsa, alg: 'ES256', message: /type is "RSA"/ },
    { name: 'an EC key for RS256', jwk: ec, alg: 'RS256', message: /type is "EC"/ },
    { name: 'a P-256 key for ES384', jwk: ec, alg: 'ES384', message: /curve is "P-256"/ },
    {
      name: 'a 1024-bit RSA key',
      jwk: keyPair('RS256', 1024).jwk,
      alg: 'RS256',
      message: /1024 bits, fewer than 2048/,
    },
    {
      name: 'a private key',
      jwk: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
      alg: 'RS256',
      message: /private key/,
    },
    { name: 'use "enc"', jwk: { ...rsa, use: 'enc' }, alg: 'RS256', message: /"use"/ },
    {
      name: 'key_ops without verify',
      jwk: { ...rsa, key_ops: ['encrypt'] },
      alg: 'RS256',
      message: /key_ops/,
    },
    {
      name: 'key_ops not an array',
      jwk: { ...rsa, key_ops: 'verify' },
      alg: 'RS256',
      message: /key_ops/,
    },
    {
      name: 'a symmetric key',
      jwk: { kty: 'oct', k: 'c2VjcmV0' },
      alg: 'RS256',
      message: /type is "oct"/,
    },
    {
      name: 'an RSA key without a modulus',
      jwk: { kty: 'RSA', e: 'AQAB' },
      alg: 'RS256',
      message: /invalid key/,
    },
  ]
  for (const c of cases) {
    test(`${c.name} is refused, and stays refused`, () => {
      assert.throws(() => importVerifyKey(c.jwk, c.alg), refused('key', c.message))
      assert.throws(() => importVerifyKey(c.jwk, c.alg), refused('key', c.message))
    })
  }

  test('use "sig" and key_ops ["verify"] are accepted; one import per JWK object and algorithm', async () => {
    const { privateKey, jwk } = keyPair('RS256')
    const marked = { ...jwk, use: 'sig', key_ops: ['verify'], alg: 'RS512' }
    const token = await joseSign('RS256', privateKey, '{}')
    // the JWK's own `alg` is not consulted (as before: jose imported `{ ...jwk, alg }`)
    assert.ok(verifyCompactJws(token, headerOf(token), 'RS256', marked))
    assert.equal(importVerifyKey(marked, 'RS256'), importVerifyKey(marked, 'RS256'))
    assert.notEqual(importVerifyKey(marked, 'RS256'), importVerifyKey({ ...marked }, 'RS256'))
  })
})

test('exportJWK of jose agrees with the keys node:crypto imports', async () => {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-521' })
  const jwk = await exportJWK(publicKey)
  assert.equal(importVerifyKey(jwk as Jwk, 'ES512').asymmetricKeyDetails?.namedCurve, 'secp521r1')
})
