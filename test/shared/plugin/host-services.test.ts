import assert from 'node:assert/strict'
import { test } from 'node:test'
import { PluginError } from '../../../shared/plugin/errors.js'
import { createMetricsClient } from '../../../shared/plugin/host-services.js'
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

test('Metrics: samples go out one per call; flush sends the pending counters at once', () => {
  const conn = recordingConnection()
  const timers = manualTimers()
  const metrics = createMetricsClient(conn, NOOP_LOGGER, { setTimer: timers.set })
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 3, { result: 'ok' })
  metrics.addSample(['p', 'attest', 'elapsed_ms'], 4, { result: 'ok' })
  metrics.incrCounter(['p', 'attest'], 1, { result: 'ok' })
  assert.deepEqual(
    conn.sent.map((s) => [s.method.split('/').pop(), s.request.val]),
    [
      ['AddSample', 3],
      ['AddSample', 4],
    ],
  )
  metrics.flush() // what the runtime does before its host connection closes
  assert.deepEqual(conn.sent.map((s) => [s.method.split('/').pop(), s.request.val]).slice(2), [
    ['IncrCounter', 1],
  ])
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
