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

/** Lets every settled promise's callbacks run (a background load that can finish, finishes). */
const settle = () => new Promise<void>((r) => setImmediate(r))
/** 'pending' when `p` has not settled after everything that can run has run. */
async function stateOf(p: Promise<unknown>): Promise<string> {
  const pending = Symbol('pending')
  await settle()
  const v = await Promise.race([
    p.then(
      () => 'resolved',
      () => 'rejected',
    ),
    settle().then(() => pending),
  ])
  return v === pending ? 'pending' : (v as string)
}

describe('TtlCache refresh-ahead', () => {
  /** A cache with refresh-ahead at exactly 0.8 × TTL (random 0.5) and an upstream that counts loads. */
  function warm(
    o: { ttlMs?: number; random?: () => number; onError?: (k: string, e: unknown) => void } = {},
  ) {
    const clock = fakeTime()
    const cache = new TtlCache<string>({
      ttlMs: o.ttlMs ?? 1_000,
      maxEntries: 100,
      now: clock.now,
      refreshAhead: {
        random: o.random ?? (() => 0.5),
        ...(o.onError ? { onError: o.onError } : {}),
      },
    })
    const upstream = {
      loads: 0,
      answer: (): Promise<string> => Promise.resolve(`v${upstream.loads}`),
    }
    const load = () => {
      upstream.loads++
      return upstream.answer()
    }
    return { clock, cache, upstream, load }
  }
  const never = () => new Promise<string>(() => {})

  test('before the refresh point nothing is loaded; after it, readers are served at once while ONE load runs', async () => {
    const { clock, cache, upstream, load } = warm()
    assert.equal(await cache.getOrLoad('k', load), 'v1')
    clock.advance(799)
    assert.equal(await cache.getOrLoad('k', load), 'v1')
    assert.equal(upstream.loads, 1)
    // the upstream now never answers: no reader before the hard expiry may wait on it
    upstream.answer = never
    clock.advance(1)
    const reads = Array.from({ length: 50 }, () => cache.getOrLoad('k', load))
    for (const r of reads) assert.equal(await r, 'v1')
    clock.advance(199)
    assert.equal(await cache.getOrLoad('k', load), 'v1')
    assert.equal(upstream.loads, 2, 'one background load for 51 reads')
    // past the hard expiry a reader waits — on the same load, not a new one
    clock.advance(1)
    const late = cache.getOrLoad('k', load)
    assert.equal(await stateOf(late), 'pending')
    assert.equal(upstream.loads, 2)
  })

  test('a background load that succeeds replaces the value and restarts the TTL', async () => {
    const { clock, cache, upstream, load } = warm()
    await cache.getOrLoad('k', load)
    clock.advance(850)
    assert.equal(await cache.getOrLoad('k', load), 'v1', 'served the cached value')
    await settle()
    assert.equal(cache.get('k'), 'v2')
    clock.advance(799)
    assert.equal(await cache.getOrLoad('k', load), 'v2')
    assert.equal(upstream.loads, 2, 'the new value has its own refresh point')
    clock.advance(1)
    await cache.getOrLoad('k', load)
    assert.equal(upstream.loads, 3)
  })

  test('a failed background load keeps the value until the hard expiry, is reported once, and is tried again halfway', async () => {
    const errors: string[] = []
    const { clock, cache, upstream, load } = warm({
      onError: (k, e) => errors.push(`${k}: ${(e as Error).message}`),
    })
    await cache.getOrLoad('k', load)
    upstream.answer = () => Promise.reject(new Error('ARM is down'))
    clock.advance(800)
    for (let i = 0; i < 20; i++) assert.equal(await cache.getOrLoad('k', load), 'v1')
    await settle()
    for (let i = 0; i < 20; i++) assert.equal(await cache.getOrLoad('k', load), 'v1')
    assert.equal(upstream.loads, 2)
    assert.deepEqual(errors, ['k: ARM is down'])
    // the next try: halfway between the failure (800) and the hard expiry (1000)
    clock.advance(99)
    await cache.getOrLoad('k', load)
    assert.equal(upstream.loads, 2)
    clock.advance(1)
    assert.equal(await cache.getOrLoad('k', load), 'v1')
    await settle()
    assert.equal(upstream.loads, 3)
    assert.equal(errors.length, 2)
    // past the hard expiry the failure reaches the reader (it is not served stale)
    clock.advance(100)
    await assert.rejects(cache.getOrLoad('k', load), /ARM is down/)
    assert.equal(cache.get('k'), undefined)
  })

  test('refresh points are jittered per entry (0.7–0.9 of the TTL) by the injected random source', async () => {
    const draws = [0, 0.5, 0.999999]
    const { clock, cache, upstream, load } = warm({ random: () => draws.shift() ?? 0.5 })
    for (const k of ['a', 'b', 'c']) await cache.getOrLoad(k, load)
    const refreshed = (): number => upstream.loads - 3
    const at = async (t: number) => {
      clock.advance(t - clock.now())
      for (const k of ['a', 'b', 'c']) await cache.getOrLoad(k, load)
      await settle()
      return refreshed()
    }
    assert.equal(await at(699), 0)
    assert.equal(await at(700), 1, 'a: 0.7 × TTL')
    assert.equal(await at(799), 1)
    assert.equal(await at(800), 2, 'b: 0.8 × TTL')
    assert.equal(await at(899), 2)
    assert.equal(await at(900), 3, 'c: 0.9 × TTL')
  })

  test('without refreshAhead, nothing is loaded before the hard expiry (the default)', async () => {
    const clock = fakeTime()
    const cache = new TtlCache<number>({ ttlMs: 1_000, maxEntries: 10, now: clock.now })
    let loads = 0
    const load = async () => ++loads
    await cache.getOrLoad('a', load)
    clock.advance(999)
    await cache.getOrLoad('a', load)
    await settle()
    assert.equal(loads, 1)
  })

  test('bad refresh-ahead fractions are refused', () => {
    const o = { ttlMs: 1, maxEntries: 1, now: () => 0 }
    assert.throws(() => new TtlCache({ ...o, refreshAhead: { at: 0.95, jitter: 0.1 } }), RangeError)
    assert.throws(() => new TtlCache({ ...o, refreshAhead: { at: 0.1, jitter: 0.1 } }), RangeError)
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
