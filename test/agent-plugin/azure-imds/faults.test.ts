// Fault matrix, azure_imds agent side (issue 14 item 3): the agent attestor with its production
// IMDS transport, in process, against the emulator's IMDS with injected 410, 429, 500 and hangs —
// on one injected clock shared by the emulator and the agent, so every bound (Retry-After, the
// retry budget, SPIRE's deadline) is checked by moving that clock, never by waiting for it.
import assert from 'node:assert/strict'
import { after, before, beforeEach, describe, test } from 'node:test'
import { createAttestor } from '../../../agent-plugin/azure-imds/attestor.js'
import { buildConfig, type ImdsAgentConfig } from '../../../agent-plugin/azure-imds/config.js'
import { HttpError, nodeHttp, type HttpFetch } from '../../../shared/azure/http.js'
import { ATTESTED_REQUEST_TIMEOUT_MS } from '../../../shared/azure/imds-document.js'
import { parseImdsPayload } from '../../../shared/azure/imds-payload.js'
import { CHALLENGE_RESPONSE_TIMEOUT_MS } from '../../../shared/plugin/attest-handlers.js'
import { NOOP_LOGGER, Report, type PluginError } from '../../../shared/plugin/index.js'
import { startEmulator, type Emulator } from '../../azure-emulator/index.js'

/** The one clock (epoch ms), moved by the tests, the agent's backoff and the emulator's latency. */
const clock = { t: 0 }
let waits: number[] = []
/** An injected latency of HANG_MS is a hang: held until released. Others move the clock. */
const HANG_MS = 3_600_000
let releaseHangs: () => void = () => {}
let hung = Promise.resolve()
const armHang = (): void => {
  hung = new Promise((r) => (releaseHangs = r))
}
/** The real timer that ends a hung request here; each such timeout costs production's 10 s on the clock. */
const TEST_REQUEST_TIMEOUT_MS = 100

let emu: Emulator
before(async () => {
  clock.t = Math.floor(new Date().getTime() / 1000) * 1000
  emu = await startEmulator({
    now: () => new Date(clock.t),
    sleep: async (ms) => {
      if (ms === HANG_MS) return hung
      clock.t += ms
    },
  })
})
after(async () => {
  releaseHangs()
  assert.deepEqual(emu.errors, [], 'the emulator answered no request with an unexpected error')
  await emu.stop()
})
beforeEach(() => {
  emu.faults.clear()
  waits = []
})

/** nodeHttp, except that a request abandoned at its (short, real) timeout costs 10 s on the clock. */
const http: HttpFetch = async (req) => {
  try {
    return await nodeHttp(req)
  } catch (err) {
    if (err instanceof HttpError && err.code === 'timeout')
      clock.t += ATTESTED_REQUEST_TIMEOUT_MS - TEST_REQUEST_TIMEOUT_MS
    throw err
  }
}

const deps = {
  http,
  now: () => clock.t,
  sleep: async (ms: number) => {
    waits.push(ms)
    clock.t += ms
  },
  log: NOOP_LOGGER,
}

function config(vm = 'frontend/blog'): ImdsAgentConfig {
  const report = new Report()
  const c = buildConfig(
    `tenant_domain = "contoso.onmicrosoft.com"
imds_endpoint = "${emu.endpoints.imdsFor(vm)}"
request_timeout = "${TEST_REQUEST_TIMEOUT_MS}ms"`,
    { trustDomain: 'example.org' },
    report,
  )
  assert.ok(c, report.notes.join('\n'))
  return c
}

const NONCE = 'hQ3vT0bX9kLm2ZpR7sYw4NcD1eFgJ8aU'
const io = () => ({ signal: new AbortController().signal })

async function respond(cfg = config()): Promise<Uint8Array> {
  return createAttestor(deps).respond!(Buffer.from(NONCE), cfg, io())
}

const docs = (): number => emu.counters.get('imds.document')
const instances = (): number => emu.counters.get('imds.instance')

/** Each backoff is the nominal one ±20 % (jitter), in order. */
function assertBackoff(actual: number[], nominal: number[]): void {
  assert.equal(actual.length, nominal.length, String(actual))
  actual.forEach((w, i) =>
    assert.ok(w >= nominal[i]! * 0.8 && w <= nominal[i]! * 1.2, String(actual)),
  )
}

describe('fault matrix: IMDS on the azure_imds agent', () => {
  test('IMDS 410 (VM still booting): retried with exponential backoff, then the document for the nonce', async () => {
    emu.faults.set('imds.document', { kind: 'gone' }, { times: 3 })
    const before = docs()
    const payload = parseImdsPayload(await respond())
    assert.equal(payload.document.encoding, 'pkcs7')
    assert.equal(docs() - before, 4)
    assertBackoff(waits, [500, 1_000, 2_000])
  })

  test('IMDS 429 with Retry-After: the agent waits exactly that long, never early', async () => {
    emu.faults.set('imds.document', { kind: 'throttle', retryAfterS: 3 }, { times: 2 })
    emu.faults.set('imds.instance', { kind: 'throttle', retryAfterS: 2 }, { times: 1 })
    const before = { d: docs(), i: instances() }
    await respond()
    assert.equal(docs() - before.d, 3)
    assert.equal(instances() - before.i, 2)
    assert.deepEqual(waits, [3_000, 3_000, 2_000])
    assert.deepEqual(emu.faults.earlyRetries, [])
  })

  test('IMDS 500: retried with backoff; a persistent 500 is refused Internal document_fetch_failed within the retry budget', async () => {
    emu.faults.set('imds.document', { kind: 'status', status: 500 }, { times: 2 })
    await respond()
    assertBackoff(waits, [500, 1_000])

    emu.faults.set('imds.document', { kind: 'status', status: 500 })
    waits = []
    const before = docs()
    const start = clock.t
    await assert.rejects(respond(), (err: unknown) => {
      const e = err as PluginError
      assert.equal(e.status, 'Internal')
      assert.equal(e.reason, 'document_fetch_failed')
      assert.match(e.message, /^unable to fetch attested document: unexpected status code 500: /)
      return true
    })
    // six attempts at most (ATTESTED_MAX_ATTEMPTS), no wait begun past the 30 s budget
    assert.ok(docs() - before >= 2 && docs() - before <= 6, String(docs() - before))
    assert.ok(clock.t - start <= 30_000, String(clock.t - start))
    emu.faults.clear()
    await respond() // recovery
  })

  test('IMDS hang: each request abandoned at request_timeout and retried; a hung IMDS is refused within the budget', async () => {
    armHang()
    emu.faults.set('imds.document', { kind: 'latency', ms: HANG_MS }, { times: 1 })
    let before = docs()
    await respond()
    assert.equal(docs() - before, 2, 'the hung request, then the retry that answered')

    emu.faults.set('imds.document', { kind: 'latency', ms: HANG_MS })
    waits = []
    before = docs()
    const start = clock.t
    await assert.rejects(respond(), (err: unknown) => {
      const e = err as PluginError
      assert.equal(e.status, 'Internal')
      assert.equal(e.reason, 'document_fetch_failed')
      assert.match(
        e.message,
        /^unable to fetch attested document: .*\(IMDS at .* is unreachable: not an Azure VM\?\)$/,
      )
      return true
    })
    // production timing on the clock: 10 s, 0.5 s, 10 s, 1 s, 10 s (31.5 s); a 2 s wait would pass 30 s
    assert.equal(docs() - before, 3)
    assert.equal(waits.length, 2)
    assert.ok(clock.t - start < CHALLENGE_RESPONSE_TIMEOUT_MS)
    releaseHangs()
    emu.faults.clear()
    await respond() // recovery
  })

  test("IMDS slow then hung across both requests: the whole response still ends inside SPIRE's 60 s wait", async () => {
    // the document: two hung requests, then one that answers after 9 s (30.5 s in all); then the
    // compute metadata hangs. One retry budget covers the whole response, so the agent's error
    // reaches the server while it still waits for the challenge response.
    armHang()
    // the exact route's fault applies first; once used up, the prefix's does
    emu.faults.set('imds.document', { kind: 'latency', ms: HANG_MS }, { times: 2 })
    emu.faults.set('imds.doc*', { kind: 'latency', ms: 9_000 }, { times: 1 })
    emu.faults.set('imds.instance', { kind: 'latency', ms: HANG_MS })
    const before = { d: docs(), i: instances() }
    const start = clock.t
    await assert.rejects(respond(), (err: unknown) => {
      const e = err as PluginError
      assert.equal(e.status, 'Internal')
      assert.equal(e.reason, 'metadata_fetch_failed')
      return true
    })
    assert.equal(docs() - before.d, 3)
    // what was left of the budget (none) allows the compute-metadata request one attempt
    assert.equal(instances() - before.i, 1)
    assert.ok(
      clock.t - start < CHALLENGE_RESPONSE_TIMEOUT_MS,
      `the response took ${clock.t - start} ms on the clock`,
    )
    releaseHangs()
  })
})
