import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  generateNonce,
  NONCE_ALPHABET,
  NONCE_LENGTH,
  NONCE_TTL_MS,
  NonceRegistry,
} from '../../../server-plugin/azure-imds/nonce.js'

test('nonces are 32 characters of [A-Za-z0-9] and differ', () => {
  const seen = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const n = generateNonce()
    assert.match(n, /^[A-Za-z0-9]{32}$/)
    seen.add(n)
  }
  assert.equal(seen.size, 200)
})

test('bytes that would bias the alphabet are discarded (rejection sampling, no modulo bias)', () => {
  // 248..255 would map to 'a'..'h' a second time under `% 62`
  const feed = [248, 249, 250, 251, 252, 253, 254, 255, 0, 61]
  let calls = 0
  const random = (n: number): Buffer => {
    calls++
    const out = Buffer.alloc(n)
    for (let i = 0; i < n; i++) out[i] = feed[(i + (calls - 1) * n) % feed.length]!
    return out
  }
  const n = generateNonce(random)
  assert.equal(n.length, NONCE_LENGTH)
  assert.ok(
    [...n].every((ch) => ch === NONCE_ALPHABET[0] || ch === NONCE_ALPHABET[61]),
    n,
  )
})

test('over many nonces every character appears about equally often', () => {
  const counts = new Map<string, number>()
  const rounds = 2000
  for (let i = 0; i < rounds; i++)
    for (const ch of generateNonce()) counts.set(ch, (counts.get(ch) ?? 0) + 1)
  assert.equal(counts.size, 62)
  const expected = (rounds * NONCE_LENGTH) / 62
  for (const [ch, n] of counts)
    assert.ok(Math.abs(n - expected) < expected * 0.25, `${ch}: ${n} vs ${expected}`)
})

test('a nonce is single use and expires', () => {
  let now = 1_000
  const r = new NonceRegistry({ now: () => now })
  const a = r.issue()
  assert.equal(r.consume(a), true)
  assert.equal(r.consume(a), false, 'reuse is refused')
  assert.equal(r.consume('never-issued'), false)
  const b = r.issue()
  now += NONCE_TTL_MS + 1
  assert.equal(r.consume(b), false, 'an expired nonce is refused')
  r.issue()
  assert.equal(r.outstanding, 1, 'expired nonces are swept')
})
