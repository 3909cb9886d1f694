import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import type { PluginError } from '../../../shared/plugin/index.js'
import {
  MSI_ALGORITHMS,
  parseMsiToken,
  verifyTokenSignature,
  type MsiClaims,
} from '../../../server-plugin/azure-msi/verify.js'
import {
  ARM_AUD,
  msiClaims,
  OTHER_TENANT_ID,
  PRINCIPAL_ID,
  TENANT_ID,
  TestSigner,
} from '../../support/azure-msi.js'

const pluginError =
  (status: string, reason: string, message?: string | RegExp) => (err: unknown) => {
    const e = err as PluginError
    assert.equal(e.name, 'PluginError', String(err))
    assert.equal(e.status, status, e.message)
    assert.equal(e.reason, reason, e.message)
    if (typeof message === 'string') assert.equal(e.message, message)
    else if (message) assert.match(e.message, message)
    return true
  }

let rs: TestSigner
let es: TestSigner
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

before(async () => {
  rs = await TestSigner.create('rs-key')
  es = await TestSigner.create('es-key', 'ES256')
})

async function verified(overrides: Record<string, unknown> = {}): Promise<MsiClaims> {
  const token = await rs.sign(msiClaims(overrides))
  return verifyTokenSignature(parseMsiToken(token), [rs.jwk])
}

describe('parseMsiToken (steps 6–7)', () => {
  test('accepts an RS256 token and exposes kid and unverified claims', async () => {
    const parsed = parseMsiToken(await rs.sign(msiClaims()))
    assert.equal(parsed.kid, 'rs-key')
    assert.equal(parsed.alg, 'RS256')
    assert.equal(parsed.untrustedClaims['tid'], TENANT_ID)
  })

  const header = (h: Record<string, unknown>) => `${b64(h)}.${b64(msiClaims())}.c2ln`
  const expected = `[${MSI_ALGORITHMS.map((a) => `"${a}"`).join(' ')}]`
  for (const c of [
    {
      name: 'two parts',
      token: 'a.b',
      message: 'unable to parse token: go-jose/go-jose: compact JWS format must have three parts',
    },
    {
      name: 'four parts (JWE-like)',
      token: 'a.b.c.d',
      message: 'unable to parse token: go-jose/go-jose: compact JWS format must have three parts',
    },
    {
      name: 'HS256 (key confusion)',
      token: header({ alg: 'HS256', kid: 'k' }),
      message: `unable to parse token: go-jose/go-jose: unexpected signature algorithm "HS256"; expected ${expected}`,
    },
    {
      name: 'alg none',
      token: header({ alg: 'none', kid: 'k' }),
      message: `unable to parse token: go-jose/go-jose: unexpected signature algorithm "none"; expected ${expected}`,
    },
    {
      name: 'no alg',
      token: header({ kid: 'k' }),
      message: `unable to parse token: go-jose/go-jose: unexpected signature algorithm ""; expected ${expected}`,
    },
    {
      name: 'header not base64url',
      token: `@@.${b64({})}.x`,
      message: /^unable to parse token: illegal base64 data/,
    },
    {
      name: 'header not JSON',
      token: `${Buffer.from('{x').toString('base64url')}.${b64({})}.x`,
      message: /^unable to parse token: /,
    },
    {
      name: 'oversized token',
      token: `${'a'.repeat(17_000)}.b.c`,
      message: /token exceeds 16384 bytes/,
    },
  ]) {
    test(`refuses ${c.name}: InvalidArgument`, () => {
      assert.throws(
        () => parseMsiToken(c.token),
        pluginError('InvalidArgument', 'malformed_token', c.message),
      )
    })
  }

  test('no kid: InvalidArgument "token missing key id"', () => {
    assert.throws(
      () => parseMsiToken(header({ alg: 'RS256' })),
      pluginError('InvalidArgument', 'missing_key_id', 'token missing key id'),
    )
    assert.throws(
      () => parseMsiToken(header({ alg: 'RS256', kid: '' })),
      pluginError('InvalidArgument', 'missing_key_id'),
    )
  })
})

describe('verifyTokenSignature (steps 8–11)', () => {
  test('verifies and decodes the claims', async () => {
    const c = await verified()
    assert.equal(c.tenantId, TENANT_ID)
    assert.equal(c.principalId, PRINCIPAL_ID)
    assert.deepEqual(c.audience, [ARM_AUD])
    assert.equal(c.clientId, msiClaims()['appid'])
    assert.equal(c.version, '1.0')
  })

  test('ES256 tokens verify against EC keys', async () => {
    const token = await es.sign(msiClaims())
    const c = await verifyTokenSignature(parseMsiToken(token), [es.jwk])
    assert.equal(c.tenantId, TENANT_ID)
  })

  test('kid not in the key set: InvalidArgument key id "<kid>" not found', async () => {
    const token = parseMsiToken(await rs.sign(msiClaims(), { kid: 'rotated' }))
    await assert.rejects(
      verifyTokenSignature(token, []),
      pluginError('InvalidArgument', 'unknown_key_id', 'key id "rotated" not found'),
    )
  })

  test('signature by another key under the same kid (forged token) is refused', async () => {
    const forger = await TestSigner.create('rs-key')
    const token = parseMsiToken(await forger.sign(msiClaims()))
    await assert.rejects(
      verifyTokenSignature(token, [rs.jwk]),
      pluginError(
        'InvalidArgument',
        'bad_signature',
        'unable to verify token: go-jose/go-jose: error in cryptographic primitive',
      ),
    )
  })

  test('tampered payload is refused', async () => {
    const [h, , s] = (await rs.sign(msiClaims())).split('.')
    const token = parseMsiToken(`${h}.${b64(msiClaims({ tid: OTHER_TENANT_ID }))}.${s}`)
    await assert.rejects(
      verifyTokenSignature(token, [rs.jwk]),
      pluginError('InvalidArgument', 'bad_signature'),
    )
  })

  test('an ES256 token checked against an RSA key is refused (alg/key mismatch)', async () => {
    const token = parseMsiToken(await es.sign(msiClaims(), { kid: 'rs-key' }))
    await assert.rejects(
      verifyTokenSignature(token, [rs.jwk]),
      pluginError('InvalidArgument', 'bad_signature', /^unable to verify token: /),
    )
  })

  test('the first key published under a kid is used, as upstream', async () => {
    const other = await TestSigner.create('rs-key')
    const token = parseMsiToken(await rs.sign(msiClaims()))
    await assert.rejects(
      verifyTokenSignature(token, [other.jwk, rs.jwk]),
      pluginError('InvalidArgument', 'bad_signature'),
    )
  })

  for (const c of [
    {
      claim: 'exp',
      value: '1700000000',
      message:
        'unable to verify token: json: cannot unmarshal string into Go struct field MSITokenClaims.exp of type jwt.NumericDate',
    },
    {
      claim: 'tid',
      value: 42,
      message:
        'unable to verify token: json: cannot unmarshal number into Go struct field MSITokenClaims.tid of type string',
    },
    {
      claim: 'aud',
      value: 7,
      message:
        'unable to verify token: go-jose/go-jose/jwt: expected string or array value to unmarshal to Audience',
    },
  ]) {
    test(`mistyped ${c.claim} fails the claims decode`, async () => {
      await assert.rejects(
        verified({ [c.claim]: c.value }),
        pluginError('InvalidArgument', 'bad_signature', c.message),
      )
    })
  }

  test('a signed non-JSON payload parses, and fails at the claims decode as in go-jose', async () => {
    const token = parseMsiToken(
      `${b64({ alg: 'RS256', kid: 'rs-key' })}.${Buffer.from('not json').toString('base64url')}.c2ln`,
    )
    assert.deepEqual(token.untrustedClaims, {})
    await assert.rejects(
      verifyTokenSignature(token, [rs.jwk]),
      pluginError('InvalidArgument', 'bad_signature', /^unable to verify token: /),
    )
  })

  test('missing tid: Internal "token missing tenant ID claim"', async () => {
    await assert.rejects(
      verified({ tid: undefined }),
      pluginError('Internal', 'missing_tenant', 'token missing tenant ID claim'),
    )
  })

  test('missing sub: Internal "token missing subject claim"', async () => {
    await assert.rejects(
      verified({ sub: undefined }),
      pluginError('Internal', 'missing_subject', 'token missing subject claim'),
    )
  })

  test('aud as an array is accepted', async () => {
    assert.deepEqual((await verified({ aud: ['x', ARM_AUD] })).audience, ['x', ARM_AUD])
  })
})
