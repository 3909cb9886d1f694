import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PluginError } from '../../../shared/plugin/errors.js'
import { status as GrpcStatus } from '@grpc/grpc-js'
import { InMemoryAgentStore, startHostServices } from '../../../shared/host/host-services.js'
import {
  createAgentStoreClient,
  createHostConnection,
  createMetricsClient,
  HostCallError,
  SAMPLES_PER_WINDOW,
} from '../../../shared/plugin/host-services.js'
import { seeded } from '../../support/seeded.js'
import { NOOP_LOGGER } from '../../../shared/plugin/logger.js'

interface Sent {
  method: string
  request: { key?: string[]; val?: number; labels?: { name: string; value: string }[] }
}

function recordingConnection(): { sent: Sent[]; call: (m: string, r: object) => Promise<unknown> } {
  const sent: Sent[] = []
  return {
    sent,
    call: (method, request) => {
      sent.push({ method, request: request as Sent['request'] })
      return Promise.resolve({})
    },
  }
}

function manualTimers(): { fire(): void; armed: number; set: (fn: () => void) => object } {
  const fns: (() => void)[] = []
  return {
    get armed() {
      return fns.length
    },
    fire() {
      for (const fn of fns.splice(0)) fn()
    },
    set: (fn) => {
      fns.push(fn)
      return {}
    },
  }
}

test('Metrics: counter increments are summed per series and sent once per flush window', () => {
  const conn = recordingConnection()
  const timers = manualTimers()
  const metrics = createMetricsClient(conn, NOOP_LOGGER, { setTimer: timers.set })
  for (let i = 0; i < 1000; i++) {
    metrics.incrCounter(['azure_imds', 'attest'], 1, { result: 'ok' })
  }
  metrics.incrCounter(['azure_imds', 'attest'], 1, { result: 'refused', reason: 'bad_signature' })
  metrics.incrCounter(['azure_imds', 'attest'], 1, { result: 'refused', reason: 'bad_signature' })
  assert.equal(conn.sent.length, 0, 'no host call per increment')
  assert.equal(timers.armed, 1, 'one timer per window')
  timers.fire()
  assert.deepEqual(
    conn.sent.map((s) => [s.method.split('/').pop(), s.request.val, s.request.labels]),
    [
      ['IncrCounter', 1000, [{ name: 'result', value: 'ok' }]],
      [
        'IncrCounter',
        2,
        [
          { name: 'result', value: 'refused' },
          { name: 'reason', value: 'bad_signature' },
        ],
      ],
    ],
  )
  timers.fire()
  assert.equal(conn.sent.length, 2, 'an empty window sends nothing')
})

test('Metrics: samples are held for the window and all sent at its end while there are few; flush sends everything held', () => {
  const conn = recordingConnection()
  const timers = manualTimers()
  const metrics = createMetricsClient(conn, NOOP_LOGGER, { setTimer: timers.set })
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 3, { result: 'ok' })
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 4, { result: 'ok' })
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 9, { result: 'refused' })
  metrics.incrCounter(['p', 'attest'], 1, { result: 'ok' })
  assert.equal(conn.sent.length, 0, 'no host call per sample')
  assert.equal(timers.armed, 1, 'samples and counters share one timer')
  timers.fire()
  assert.deepEqual(
    conn.sent.map((s) => [s.method.split('/').pop(), s.request.val, s.request.labels?.[0]?.value]),
    [
      ['IncrCounter', 1, 'ok'],
      ['AddSample', 3, 'ok'],
      ['AddSample', 4, 'ok'],
      ['AddSample', 9, 'refused'],
    ],
  )
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 5, { result: 'ok' })
  metrics.incrCounter(['p', 'attest'], 1, { result: 'ok' })
  metrics.flush() // what the runtime does before its host connection closes
  assert.deepEqual(conn.sent.map((s) => [s.method.split('/').pop(), s.request.val]).slice(4), [
    ['IncrCounter', 1],
    ['AddSample', 5],
  ])
})

test('Metrics: at fleet rates a window sends SAMPLES_PER_WINDOW samples per series, a uniform subset of its values', () => {
  const conn = recordingConnection()
  const timers = manualTimers()
  const metrics = createMetricsClient(conn, NOOP_LOGGER, {
    setTimer: timers.set,
    random: seeded(20261202),
  })
  const windows = 200
  const perWindow = 1000
  let early = 0
  for (let w = 0; w < windows; w++) {
    for (let i = 0; i < perWindow; i++) {
      metrics.addSample(['p', 'attest', 'elapsed_ms'], i, { result: 'ok' })
    }
    metrics.addSample(['p', 'attest', 'elapsed_ms'], -1, { result: 'refused' })
    const before = conn.sent.length
    timers.fire()
    const sent = conn.sent.slice(before)
    const ok = sent.filter((s) => s.request.labels?.[0]?.value === 'ok').map((s) => s.request.val!)
    assert.equal(ok.length, SAMPLES_PER_WINDOW, 'bounded per series and window')
    assert.equal(new Set(ok).size, ok.length, 'each value held at most once')
    assert.ok(
      ok.every((v) => v >= 0 && v < perWindow),
      'only values of this window',
    )
    assert.deepEqual(
      sent.filter((s) => s.request.labels?.[0]?.value === 'refused').map((s) => s.request.val),
      [-1],
      'a quiet series keeps its lone sample',
    )
    early += ok.filter((v) => v < perWindow / 2).length
  }
  // uniform: the first half of each window's values is held half the time (seeded, so exact
  // run to run; the bound is four standard deviations of a fair binomial over 6,400 draws)
  const share = early / (windows * SAMPLES_PER_WINDOW)
  assert.ok(Math.abs(share - 0.5) < 0.025, `share of the first half: ${share}`)
})

test('host connection: answers, NotFound as a HostCallError without stack frames, a cancelled call, and an unknown method', async (t) => {
  const store = new InMemoryAgentStore()
  store.add('spiffe://example.org/spire/agent/x/known')
  const host = await startHostServices({ agentStore: store })
  t.after(() => host.stop())
  const conn = createHostConnection(host.address)
  t.after(() => conn.close())
  const agentStore = createAgentStoreClient(conn)
  assert.equal(await agentStore.isAttested('spiffe://example.org/spire/agent/x/known'), true)
  assert.equal(await agentStore.isAttested('spiffe://example.org/spire/agent/x/new'), false)
  const notFound = await conn
    .call(
      'spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo',
      { agent_id: 'a' },
      undefined,
    )
    .then(
      () => assert.fail('NotFound expected'),
      (err: unknown) => err,
    )
  assert.ok(notFound instanceof HostCallError)
  assert.equal(notFound.code, GrpcStatus.NOT_FOUND)
  assert.equal(notFound.details, 'no such agent')
  assert.equal(notFound.stack, 'HostCallError: 5 NotFound: no such agent', 'no frames')
  assert.ok(Error.stackTraceLimit > 0, 'the process-wide limit is restored')

  store.failWith = { code: GrpcStatus.UNAVAILABLE, details: 'datastore down' }
  await assert.rejects(agentStore.isAttested('spiffe://example.org/spire/agent/x/new'), {
    name: 'PluginError',
    status: 'Unavailable',
    message: 'unable to get agent info: datastore down',
  })
  store.failWith = undefined

  const aborted = new AbortController()
  const cancelled = conn.call(
    'spire.hostservice.server.agentstore.v1.AgentStore/GetAgentInfo',
    { agent_id: 'a' },
    aborted.signal,
  )
  aborted.abort()
  await assert.rejects(cancelled, { name: 'HostCallError', code: GrpcStatus.CANCELLED })
  await assert.rejects(
    conn.call('spire.hostservice.server.agentstore.v1.AgentStore/Nothing', {}, undefined),
    /unknown host method/,
  )
})

test('PluginError carries no stack frames (an expected outcome, thrown at fleet rates); its cause keeps its own', () => {
  const cause = new Error('socket hang up')
  const err = new PluginError('Unavailable', 'arm_failed', 'unable to read the VM', { cause })
  assert.equal(err.stack, 'PluginError: unable to read the VM')
  assert.match(cause.stack ?? '', /\n\s+at /, 'the cause was captured with frames')
  assert.ok(Error.stackTraceLimit > 0, 'the process-wide limit is restored')
  assert.equal(err.status, 'Unavailable')
  assert.equal(err.reason, 'arm_failed')
  assert.equal(err.message, 'unable to read the VM')
})
