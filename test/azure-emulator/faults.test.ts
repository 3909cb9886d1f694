import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startEmulator } from './index.js'
import type { Emulator } from './index.js'
import { fetchRaw, IMDS_HEADERS } from './test-helpers.js'

const INSTANCE = '/metadata/instance?api-version=2021-12-13'
let emu: Emulator
before(async () => {
  emu = await startEmulator()
})
after(() => emu.stop())

const instance = () => fetchRaw(`${emu.endpoints.imds}${INSTANCE}`, { headers: IMDS_HEADERS })

test('latency delays the answer', async () => {
  emu.faults.set('imds.instance', { kind: 'latency', ms: 150 }, { times: 1 })
  const t0 = performance.now()
  assert.equal((await instance()).status, 200)
  assert.ok(performance.now() - t0 >= 140)
})

test('5xx, 429 with Retry-After and 410, in each service’s error shape', async () => {
  emu.faults.set('imds.instance', { kind: 'status', status: 503 }, { times: 1 })
  assert.equal((await instance()).status, 503)
  emu.faults.set('imds.instance', { kind: 'throttle', retryAfterS: 7 }, { times: 1 })
  const throttled = await instance()
  assert.equal(throttled.status, 429)
  assert.equal(throttled.headers['retry-after'], '7')
  emu.faults.set('imds.*', { kind: 'gone' }, { times: 1 })
  assert.equal((await instance()).status, 410)
  assert.equal((await instance()).status, 200)
  emu.faults.set('entra.jwks', { kind: 'status', status: 500 }, { times: 1 })
  const jwks = await fetchRaw(`${emu.endpoints.entra}/common/discovery/keys`, {
    ca: emu.endpoints.caCertPem,
  })
  assert.equal(jwks.status, 500)
  assert.match(String(jwks.json().error_description), /^AADSTS/)
})

test('after/times: let N through, then fail M', async () => {
  emu.faults.set('imds.instance', { kind: 'status', status: 500 }, { after: 1, times: 2 })
  const statuses = []
  for (let i = 0; i < 4; i++) statuses.push((await instance()).status)
  assert.deepEqual(statuses, [200, 500, 500, 200])
})

test('connection reset', async () => {
  emu.faults.set('imds.instance', { kind: 'reset' }, { times: 1 })
  await assert.rejects(
    instance(),
    (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET' || /socket hang up/.test(err.message),
  )
  assert.equal((await instance()).status, 200)
})

test('slow body trickles the payload', async () => {
  emu.faults.set(
    'imds.instance',
    { kind: 'slow-body', chunkBytes: 256, chunkDelayMs: 20 },
    { times: 1 },
  )
  const t0 = performance.now()
  const res = await instance()
  const elapsed = performance.now() - t0
  assert.equal(res.status, 200)
  assert.ok(res.json().compute)
  assert.ok(elapsed >= 60, `took ${elapsed.toFixed(0)} ms`)
})

test('counters count per route and reset', async () => {
  emu.counters.reset()
  await instance()
  await fetchRaw(
    `${emu.endpoints.imds}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`,
    { headers: IMDS_HEADERS },
  )
  assert.equal(emu.counters.get('imds.instance'), 1)
  assert.equal(emu.counters.get('imds.*'), 2)
  assert.deepEqual(emu.counters.snapshot(), { 'imds.instance': 1, 'imds.token': 1 })
  emu.counters.reset()
  assert.equal(emu.counters.get('*'), 0)
  emu.faults.clear()
  assert.deepEqual(emu.errors, [])
})
