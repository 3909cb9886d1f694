import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { raceAbort, TtlCache } from '../../../shared/azure/cache.js'
import { parseGoDuration } from '../../../shared/go/duration.js'
import { sleep, withRetry, type RetryOptions } from '../../../shared/azure/retry.js'

/** A hand-moved clock whose sleep advances time instead of waiting. */
function fakeTime() {
  let t = 0
  const sleeps: number[] = []
  return {
    now: () => t,
    advance: (ms: number) => (t += ms),
    sleeps,
    sleep: async (ms: number) => {
      sleeps.push(ms)
      t += ms
    },
  }
}

const base = (clock: ReturnType<typeof fakeTime>, o: Partial<RetryOptions> = {}): RetryOptions => ({
  maxAttempts: 5,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  budgetMs: 10_000,
  classify: () => ({ retry: true }),
  now: clock.now,
  sleep: clock.sleep,
  random: () => 0.5,
  ...o,
})

describe('withRetry', () => {
  test('exponential backoff (no jitter at random 0.5), then success', async () => {
    const clock = fakeTime()
    let n = 0
    const v = await withRetry(async () => {
      if (++n < 4) throw new Error('transient')
      return 'ok'
    }, base(clock))
    assert.equal(v, 'ok')
    assert.deepEqual(clock.sleeps, [100, 200, 400])
  })

  test('backoff is capped, attempts are bounded, the last error is thrown', async () => {
    const clock = fakeTime()
    let n = 0
    await assert.rejects(
      withRetry(
        async () => {
          throw new Error(`fail ${++n}`)
        },
        base(clock, { maxAttempts: 6, baseDelayMs: 400 }),
      ),
      /fail 6/,
    )
    assert.deepEqual(clock.sleeps, [400, 800, 1000, 1000, 1000])
  })

  test('Retry-After replaces the backoff', async () => {
    const clock = fakeTime()
    let n = 0
    await withRetry(
      async () => {
        if (++n < 2) throw new Error('429')
        return 1
      },
      base(clock, { classify: () => ({ retry: true, afterMs: 3_000 }) }),
    )
    assert.deepEqual(clock.sleeps, [3_000])
  })

  test('a wait that would overrun the budget ends the loop without sleeping', async () => {
    const clock = fakeTime()
    await assert.rejects(
      withRetry(
        async () => {
          throw new Error('throttled')
        },
        base(clock, { budgetMs: 5_000, classify: () => ({ retry: true, afterMs: 60_000 }) }),
      ),
      /throttled/,
    )
    assert.deepEqual(clock.sleeps, [])
  })

  test('non-retryable failures are thrown at once', async () => {
    const clock = fakeTime()
    let n = 0
    await assert.rejects(
      withRetry(
        async () => {
          n++
          throw new Error('400')
        },
        base(clock, { classify: () => ({ retry: false }) }),
      ),
    )
    assert.equal(n, 1)
  })

  test('jitter stays within ±20 %', async () => {
    for (const r of [0, 0.999]) {
      const clock = fakeTime()
      let n = 0
      await withRetry(
        async () => {
          if (++n < 2) throw new Error('x')
        },
        base(clock, { random: () => r }),
      )
      assert.ok(clock.sleeps[0]! >= 80 && clock.sleeps[0]! <= 120, String(clock.sleeps[0]))
    }
  })

  test('sleep rejects when aborted', async () => {
    const ac = new AbortController()
    const p = sleep(10_000, ac.signal)
    ac.abort(new Error('stop'))
    await assert.rejects(p, /stop/)
  })
})

describe('TtlCache', () => {
  test('serves a loaded value until its TTL, then reloads', async () => {
    const clock = fakeTime()
    const cache = new TtlCache<number>({ ttlMs: 1_000, maxEntries: 10, now: clock.now })
    let loads = 0
    const load = async () => ++loads
    assert.equal(await cache.getOrLoad('a', load), 1)
    clock.advance(999)
    assert.equal(await cache.getOrLoad('a', load), 1)
    clock.advance(1)
    assert.equal(await cache.getOrLoad('a', load), 2)
  })

  test('concurrent loads of one key are coalesced into one call', async () => {
    const cache = new TtlCache<string>({ ttlMs: 1_000, maxEntries: 10, now: () => 0 })
    let loads = 0
    let release!: (v: string) => void
    const load = () => {
      loads++
      return new Promise<string>((r) => (release = r))
    }
    const all = Promise.all(Array.from({ length: 50 }, () => cache.getOrLoad('k', load)))
    release('v')
    assert.deepEqual(new Set(await all), new Set(['v']))
    assert.equal(loads, 1)
  })

  test('failures are shared by waiting callers but not cached', async () => {
    const cache = new TtlCache<string>({ ttlMs: 1_000, maxEntries: 10, now: () => 0 })
    let loads = 0
    const failing = async () => {
      loads++
      throw new Error('boom')
    }
    await Promise.all([
      assert.rejects(cache.getOrLoad('k', failing)),
      assert.rejects(cache.getOrLoad('k', failing)),
    ])
    assert.equal(loads, 1)
    assert.equal(await cache.getOrLoad('k', async () => 'ok'), 'ok')
  })

  test('bounded: least recently used entries go first', async () => {
    const cache = new TtlCache<number>({ ttlMs: 10_000, maxEntries: 2, now: () => 0 })
    cache.set('a', 1)
    cache.set('b', 2)
    cache.get('a')
    cache.set('c', 3)
    assert.equal(cache.get('b'), undefined)
    assert.equal(cache.get('a'), 1)
    assert.equal(cache.size, 2)
  })

  test("a caller's abort stops its wait, not the shared load", async () => {
    const cache = new TtlCache<string>({ ttlMs: 1_000, maxEntries: 10, now: () => 0 })
    let release!: (v: string) => void
    const load = () => new Promise<string>((r) => (release = r))
    const ac = new AbortController()
    const first = cache.getOrLoad('k', load, ac.signal)
    const second = cache.getOrLoad('k', load)
    ac.abort(new Error('client went away'))
    await assert.rejects(first, /client went away/)
    release('v')
    assert.equal(await second, 'v')
    await assert.rejects(raceAbort(Promise.resolve(1), ac.signal), /client went away/)
  })
})

describe('parseGoDuration', () => {
  for (const [text, ms] of [
    ['10s', 10_000],
    ['1m30s', 90_000],
    ['250ms', 250],
    ['1.5h', 5_400_000],
    ['0', 0],
    ['2us', 0.002],
  ] as const) {
    test(text, () => assert.equal(parseGoDuration(text), ms))
  }
  for (const bad of ['', '10', 's', '1x', '1s2', '--1s']) {
    test(`rejects ${JSON.stringify(bad)}`, () => assert.equal(parseGoDuration(bad), undefined))
  }
})
