import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CoarseTimers } from '../../../shared/plugin/coarse-timers.js'

/** The runtime's shared deadlines (payload, challenge response, host call): an injected clock, ticks by hand. */

test('a deadline fires once, at the first tick at or past it; a cancelled one never', () => {
  let now = 1_000
  // an interval far longer than the test: only the ticks below run
  const timers = new CoarseTimers({ resolutionMs: 3_600_000, now: () => now })
  const fired: string[] = []
  timers.after(100, () => fired.push('payload'))
  const cancel = timers.after(300, () => fired.push('challenge'))
  assert.equal(timers.size, 2)

  now = 1_099
  timers.tick()
  assert.equal(fired.length, 0, 'not yet due')
  now = 1_150
  timers.tick()
  timers.tick()
  assert.deepEqual(fired, ['payload'], 'once, however many ticks follow')

  cancel()
  cancel()
  now = 2_000
  timers.tick()
  assert.deepEqual(fired, ['payload'])
  assert.equal(timers.size, 0, 'nothing pending: the interval is stopped')

  // armed again after the interval stopped
  timers.after(10, () => fired.push('host call'))
  now = 2_010
  timers.tick()
  assert.deepEqual(fired, ['payload', 'host call'])
})
