import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { after, before, test } from 'node:test'
import { startEmulator } from './index.js'
import type { Emulator } from './index.js'
import { fetchRaw, IMDS_HEADERS } from './test-helpers.js'

const INSTANCE = '/metadata/instance?api-version=2021-12-13'

/**
 * The emulator's waits, injected: every wait is recorded, and while `hold` is set a wait lasts until
 * the test releases it, so latency is checked by order and count instead of by a stopwatch.
 */
const waits = { asked: [] as number[], hold: false, pending: [] as (() => void)[] }
const waitEvents = new EventEmitter()
function injectedSleep(ms: number): Promise<void> {
  waits.asked.push(ms)
  if (!waits.hold) return Promise.resolve()
  return new Promise((resolve) => {
    waits.pending.push(resolve)
    waitEvents.emit('held')
  })
}

let emu: Emulator
before(async () => {
  emu = await startEmulator({ sleep: injectedSleep })
})
after(() => emu.stop())

const instance = () => fetchRaw(`${emu.endpoints.imds}${INSTANCE}`, { headers: IMDS_HEADERS })

test('latency holds the answer back until the wait ends', async () => {
  emu.faults.set('imds.instance', { kind: 'latency', ms: 150 }, { times: 1 })
  waits.asked.length = 0
  waits.hold = true
  let answered = false
  const held = once(waitEvents, 'held')
  const pending = instance().then((r) => {
    answered = true
    return r
  })
  await held
  assert.deepEqual(waits.asked, [150])
  assert.equal(answered, false, 'no answer while the latency wait is running')
  waits.hold = false
  waits.pending.shift()?.()
  assert.equal((await pending).status, 200)
  assert.equal((await instance()).status, 200, 'times: 1 — the next answer has no latency')
  assert.deepEqual(waits.asked, [150])
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
  waits.asked.length = 0
  const res = await instance()
  assert.equal(res.status, 200)
  assert.ok(res.json().compute)
  // one 20 ms wait after each 256-byte chunk of the body
  const chunks = Math.ceil(res.body.length / 256)
  assert.ok(chunks >= 3, `body of ${res.body.length} bytes`)
  assert.deepEqual(waits.asked, new Array(chunks).fill(20))
})

test('Retry-After is enforced: a client that comes back inside the window is counted', async () => {
  emu.faults.clear()
  emu.setClock(new Date('2026-01-01T00:00:00Z'))
  try {
    emu.faults.set('imds.instance', { kind: 'throttle', retryAfterS: 5 }, { times: 1 })
    assert.equal((await instance()).status, 429)
    emu.setClock(new Date('2026-01-01T00:00:04Z'))
    assert.equal((await instance()).status, 200)
    assert.deepEqual(emu.faults.earlyRetries, ['imds.instance'])
    emu.setClock(new Date('2026-01-01T00:00:05Z'))
    assert.equal((await instance()).status, 200)
    assert.deepEqual(emu.faults.earlyRetries, ['imds.instance'], 'on time: not counted')
  } finally {
    emu.setClock(() => new Date())
    emu.faults.clear()
  }
  assert.deepEqual(emu.faults.earlyRetries, [])
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
