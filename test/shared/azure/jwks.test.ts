import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { HttpFetch, HttpRequest } from '../../../shared/azure/http.js'
import { HttpError } from '../../../shared/azure/http.js'
import {
  checkFetchableUrl,
  discoveryUrl,
  KEYS_MAX_STALE_MS,
  KEYS_TTL_MS,
  KeySourceError,
  OidcKeySource,
  parseKeySet,
  REFRESH_FAILURE_BACKOFF_MS,
  UNKNOWN_KID_COOLDOWN_MS,
} from '../../../shared/azure/jwks.js'
import { QUIET_LOGGER, recordingLogger } from '../../support/loggers.js'

const TID = '0a1b2c3d-1111-2222-3333-444455556666'
const AUTHORITY = 'https://login.example.test'
const DISCOVERY = discoveryUrl(AUTHORITY, TID, '1.0')

/** A fake Entra: discovery → jwks_uri, a mutable key list, an outage switch, a request log. */
function fakeEntra() {
  const state = {
    kids: ['k1'],
    down: false,
    requests: [] as string[],
    jwksUri: `${AUTHORITY}/common/discovery/keys`,
    gate: undefined as Promise<void> | undefined,
  }
  const http: HttpFetch = async (req: HttpRequest) => {
    state.requests.push(req.url)
    if (state.gate) await state.gate
    if (state.down)
      return { status: 503, headers: {}, body: Buffer.from('{"error":"temporarily_unavailable"}') }
    if (req.url.endsWith('/.well-known/openid-configuration')) {
      return {
        status: 200,
        headers: {},
        body: Buffer.from(
          JSON.stringify({ issuer: `https://sts.windows.net/${TID}/`, jwks_uri: state.jwksUri }),
        ),
      }
    }
    if (req.url === state.jwksUri) {
      return {
        status: 200,
        headers: {},
        body: Buffer.from(
          JSON.stringify({
            keys: state.kids.map((kid) => ({ kty: 'RSA', use: 'sig', kid, n: 'AQAB', e: 'AQAB' })),
          }),
        ),
      }
    }
    return { status: 404, headers: {}, body: Buffer.from('not found') }
  }
  return { state, http }
}

function source(http: HttpFetch, clock: { t: number }, log = QUIET_LOGGER) {
  return new OidcKeySource({ http, now: () => clock.t, log })
}

describe('OidcKeySource', () => {
  test('discovery then jwks_uri; cached for the TTL (upstream: 1 h) when refresh-ahead is off', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const keys = new OidcKeySource({
      http,
      now: () => clock.t,
      log: QUIET_LOGGER,
      refreshAhead: false,
    })
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    clock.t = KEYS_TTL_MS - 1
    await keys.keysFor(DISCOVERY, 'k1')
    assert.deepEqual(state.requests, [DISCOVERY, `${AUTHORITY}/common/discovery/keys`])
    clock.t = KEYS_TTL_MS
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, 4)
  })

  test('a TTL shorter than the cooldown still refreshes on expiry (the backoff only follows failures)', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const keys = new OidcKeySource({ http, now: () => clock.t, log: QUIET_LOGGER, ttlMs: 1_000 })
    await keys.keysFor(DISCOVERY, 'k1')
    clock.t = 1_001
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, 4)
  })

  test('key rotation: an unknown kid triggers one refresh, and the new key is found', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const keys = source(http, clock)
    await keys.keysFor(DISCOVERY, 'k1')
    clock.t = UNKNOWN_KID_COOLDOWN_MS
    state.kids = ['k2', 'k1']
    assert.equal((await keys.keysFor(DISCOVERY, 'k2')).length, 1)
    assert.equal(state.requests.length, 4)
  })

  test('forged kids cannot hammer Entra: at most one refetch per cooldown, coalesced', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const keys = source(http, clock)
    await keys.keysFor(DISCOVERY, 'k1')
    const before = state.requests.length
    // inside the cooldown after the initial fetch: no refetch at all
    for (let i = 0; i < 100; i++) assert.deepEqual(await keys.keysFor(DISCOVERY, `forged-${i}`), [])
    assert.equal(state.requests.length, before)
    // after the cooldown: 100 concurrent unknown kids share one refresh
    clock.t = UNKNOWN_KID_COOLDOWN_MS
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => keys.keysFor(DISCOVERY, `forged-b-${i}`)),
    )
    assert.equal(state.requests.length, before + 2)
    for (let i = 0; i < 100; i++) await keys.keysFor(DISCOVERY, `forged-c-${i}`)
    assert.equal(state.requests.length, before + 2)
  })

  test('concurrent first use fetches once', async () => {
    const { state, http } = fakeEntra()
    let open!: () => void
    state.gate = new Promise((r) => (open = r))
    const keys = source(http, { t: 0 })
    const all = Promise.all(Array.from({ length: 20 }, () => keys.keysFor(DISCOVERY, 'k1')))
    await new Promise((r) => setTimeout(r, 10))
    open()
    await all
    assert.equal(state.requests.length, 2)
  })

  test('Entra outage: stale keys are served (bounded), refreshes back off, then the error surfaces', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const log = recordingLogger()
    const keys = source(http, clock, log)
    await keys.keysFor(DISCOVERY, 'k1')
    state.down = true
    clock.t = KEYS_TTL_MS + 1
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    assert.ok(
      log.lines.some((l) => l.level === 'warn' && l.message === 'Unable to refresh key set'),
    )
    assert.ok(
      log.lines.some((l) => l.level === 'warn' && l.message === 'Serving stale signing keys'),
    )
    const during = state.requests.length
    for (let i = 0; i < 50; i++) await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, during, 'no refetch inside the failure backoff')
    clock.t += REFRESH_FAILURE_BACKOFF_MS
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, during + 1)
    clock.t = KEYS_TTL_MS + KEYS_MAX_STALE_MS + 1
    await assert.rejects(keys.keysFor(DISCOVERY, 'k1'), (err: unknown) => {
      assert.ok(err instanceof KeySourceError)
      assert.match(err.message, /^unexpected status code 503: /)
      return true
    })
    state.down = false
    clock.t += REFRESH_FAILURE_BACKOFF_MS
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1, 'recovers when Entra is back')
  })

  test('never fetched and Entra down: the error, with upstream wording', async () => {
    const { state, http } = fakeEntra()
    state.down = true
    await assert.rejects(
      source(http, { t: 0 }).keysFor(DISCOVERY, 'k1'),
      /^KeySourceError: unexpected status code 503: \{"error"/,
    )
  })

  test('transport failures and bad documents', async () => {
    const clock = { t: 0 }
    const failing: HttpFetch = async () => {
      throw new HttpError('timeout', 'request timed out after 10000 ms')
    }
    await assert.rejects(source(failing, clock).keysFor(DISCOVERY, 'k'), /request timed out/)
    const noUri: HttpFetch = async () => ({ status: 200, headers: {}, body: Buffer.from('{}') })
    await assert.rejects(
      source(noUri, clock).keysFor(DISCOVERY, 'k'),
      /configuration missing JWKS URI/,
    )
    const garbage: HttpFetch = async () => ({
      status: 200,
      headers: {},
      body: Buffer.from('<html>'),
    })
    await assert.rejects(
      source(garbage, clock).keysFor(DISCOVERY, 'k'),
      /^KeySourceError: failed to decode configuration: /,
    )
    const plainHttp: HttpFetch = async () => ({
      status: 200,
      headers: {},
      body: Buffer.from('{"jwks_uri":"http://evil.example/keys"}'),
    })
    await assert.rejects(source(plainHttp, clock).keysFor(DISCOVERY, 'k'), /https required/)
  })

  test('a tenant whose discovery points at its own jwks_uri (tenant-specific rotation) is followed', async () => {
    const { state, http } = fakeEntra()
    state.jwksUri = `${AUTHORITY}/${TID}/discovery/keys`
    await source(http, { t: 0 }).keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests[1], `${AUTHORITY}/${TID}/discovery/keys`)
  })
})

/** Lets every settled promise's callbacks run (a background refresh that can finish, finishes). */
const settle = () => new Promise<void>((r) => setImmediate(r))
/** 'pending' when `p` has not settled after everything that can run has run. */
const stateOf = async (p: Promise<unknown>) => {
  const pending = Symbol('pending')
  await settle()
  const v = await Promise.race([
    p.then(
      () => 'resolved',
      () => 'rejected',
    ),
    settle().then(() => pending),
  ])
  return v === pending ? 'pending' : v
}

describe('OidcKeySource refresh-ahead', () => {
  test('before the refresh point: no request; after it: served from cache while ONE refresh runs in the background', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    // random 0.5: the refresh point is exactly 0.8 × TTL
    const keys = new OidcKeySource({
      http,
      now: () => clock.t,
      log: QUIET_LOGGER,
      random: () => 0.5,
    })
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, 2)
    clock.t = KEYS_TTL_MS * 0.8 - 1
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, 2, 'no refresh before the refresh point')
    // Entra now never answers: readers before the TTL must still be served at once
    state.gate = new Promise(() => {})
    clock.t = KEYS_TTL_MS * 0.8
    const reads = Array.from({ length: 20 }, () => keys.keysFor(DISCOVERY, 'k1'))
    for (const r of reads) assert.equal((await r).length, 1)
    clock.t = KEYS_TTL_MS - 1
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    assert.deepEqual(state.requests.slice(2), [DISCOVERY], 'one coalesced background refresh')
    // past the TTL a read waits, joining the refresh under way (no new request)
    clock.t = KEYS_TTL_MS
    const late = keys.keysFor(DISCOVERY, 'k1')
    assert.equal(await stateOf(late), 'pending')
    assert.equal(state.requests.length, 3)
  })

  test('a background refresh that succeeds replaces the set and restarts the TTL', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const keys = new OidcKeySource({
      http,
      now: () => clock.t,
      log: QUIET_LOGGER,
      random: () => 0.5,
    })
    await keys.keysFor(DISCOVERY, 'k1')
    state.kids = ['k2']
    clock.t = KEYS_TTL_MS * 0.9
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1, 'served the cached set')
    await settle()
    assert.equal(state.requests.length, 4)
    // the new set is in place; its own refresh point is 0.8 × TTL after it was fetched
    clock.t = KEYS_TTL_MS * 0.9 + KEYS_TTL_MS * 0.8 - 1
    assert.equal((await keys.keysFor(DISCOVERY, 'k2')).length, 1)
    assert.equal(state.requests.length, 4)
  })

  test('the refresh point is jittered per key set (0.7–0.9 of the TTL) by the injected random source', async () => {
    for (const [r, at] of [
      [0, 0.7],
      [0.25, 0.75],
      [0.75, 0.85],
    ] as const) {
      const { state, http } = fakeEntra()
      const clock = { t: 0 }
      const keys = new OidcKeySource({
        http,
        now: () => clock.t,
        log: QUIET_LOGGER,
        random: () => r,
      })
      await keys.keysFor(DISCOVERY, 'k1')
      clock.t = Math.floor(KEYS_TTL_MS * at) - 1
      await keys.keysFor(DISCOVERY, 'k1')
      assert.equal(state.requests.length, 2, `random ${r}: nothing before ${at} × TTL`)
      clock.t = Math.ceil(KEYS_TTL_MS * at)
      await keys.keysFor(DISCOVERY, 'k1')
      await settle()
      assert.equal(state.requests.length, 4, `random ${r}: a refresh from ${at} × TTL`)
    }
  })

  test('a failed background refresh keeps the set until the TTL, is logged once, and backs off', async () => {
    const { state, http } = fakeEntra()
    const clock = { t: 0 }
    const log = recordingLogger()
    const keys = new OidcKeySource({ http, now: () => clock.t, log, random: () => 0.5 })
    await keys.keysFor(DISCOVERY, 'k1')
    state.down = true
    clock.t = KEYS_TTL_MS * 0.8
    for (let i = 0; i < 30; i++) assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    await settle()
    for (let i = 0; i < 30; i++) assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    assert.equal(state.requests.length, 3, 'one attempt, then the failure backoff')
    const warns = log.lines.filter((l) => l.level === 'warn')
    assert.deepEqual(
      warns.map((l) => l.message),
      ['Unable to refresh key set'],
    )
    // after the backoff, the next read tries again (still in the background)
    clock.t += REFRESH_FAILURE_BACKOFF_MS
    assert.equal((await keys.keysFor(DISCOVERY, 'k1')).length, 1)
    await settle()
    assert.equal(state.requests.length, 4)
    // Entra is back: the next background refresh after the backoff succeeds
    state.down = false
    clock.t += REFRESH_FAILURE_BACKOFF_MS
    await keys.keysFor(DISCOVERY, 'k1')
    await settle()
    assert.equal(state.requests.length, 6)
    clock.t += KEYS_TTL_MS * 0.7
    await keys.keysFor(DISCOVERY, 'k1')
    assert.equal(state.requests.length, 6, 'a fresh set, no refresh until its own refresh point')
  })
})

describe('key set helpers', () => {
  test('parseKeySet groups by kid, skips keys without kid or with use other than sig', () => {
    const set = parseKeySet({
      keys: [
        { kty: 'RSA', kid: 'a' },
        { kty: 'RSA', kid: 'a', n: '2' },
        { kty: 'RSA' },
        { kty: 'RSA', kid: 'e', use: 'enc' },
        7,
      ],
    })
    assert.deepEqual([...set.keys()], ['a'])
    assert.equal(set.get('a')?.length, 2)
    assert.throws(() => parseKeySet({}), /failed to decode key set/)
  })

  test('discovery URLs', () => {
    assert.equal(
      discoveryUrl('https://login.microsoftonline.com/', TID, '1.0'),
      `https://login.microsoftonline.com/${TID}/.well-known/openid-configuration`,
    )
    assert.equal(
      discoveryUrl('https://login.microsoftonline.us', 'common', '2.0'),
      'https://login.microsoftonline.us/common/v2.0/.well-known/openid-configuration',
    )
  })

  test('checkFetchableUrl: https, or http on loopback only', () => {
    checkFetchableUrl('https://login.microsoftonline.com/common/discovery/keys')
    checkFetchableUrl('http://127.0.0.1:8080/keys')
    assert.throws(() => checkFetchableUrl('http://login.microsoftonline.com/keys'))
    assert.throws(() => checkFetchableUrl('file:///etc/passwd'))
  })
})
