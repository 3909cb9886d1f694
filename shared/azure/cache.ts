// The in-memory cache of Azure reads: bounded, coalescing, and kept warm by refreshing an entry in
// the background before it expires, so readers under steady load never wait for a re-read.

export interface TtlCacheOptions {
  /** How long a loaded value is served (the staleness bound: never longer). */
  ttlMs: number
  /** Least recently used entries are dropped beyond this many. */
  maxEntries: number
  /** Milliseconds clock (injected: tests move time by hand). */
  now(): number
  /** Refresh entries in the background before they expire (off unless given). */
  refreshAhead?: RefreshAheadOptions
}

export interface RefreshAheadOptions {
  /** The fraction of the TTL after which a read starts the background refresh (default 0.8). */
  at?: number
  /**
   * Spread of that fraction, drawn per entry (default 0.1: between 0.7 and 0.9 of the TTL), so
   * entries loaded together are not refreshed together.
   */
  jitter?: number
  /** Uniform in [0, 1) (injected: tests fix it). Default Math.random. */
  random?(): number
  /**
   * Told once per failed background refresh (however many readers were served meanwhile); the
   * entry keeps its value until it expires and tries again halfway to its expiry.
   */
  onError?(key: string, err: unknown): void
}

export const REFRESH_AHEAD_AT = 0.8
export const REFRESH_AHEAD_JITTER = 0.1

interface Entry<V> {
  value: V
  /** Hard expiry: from here on a read waits for a load. */
  expiresAt: number
  /** From here on a read is served `value` and starts one background refresh. */
  refreshAt: number
}

/**
 * A bounded TTL cache that coalesces concurrent loads of one key into a single call. Only
 * successes are cached: a failed load is shared by the callers already waiting for it, and the
 * next caller tries again. With `refreshAhead`, a read past an entry's (jittered) refresh point is
 * served from the cache while one background load replaces the value; only a read past the hard
 * expiry waits (and joins a refresh already under way).
 */
export class TtlCache<V> {
  readonly #options: TtlCacheOptions
  readonly #entries = new Map<string, Entry<V>>()
  readonly #inflight = new Map<string, Promise<V>>()

  constructor(options: TtlCacheOptions) {
    if (!(options.ttlMs >= 0) || !(options.maxEntries >= 1)) {
      throw new RangeError('TtlCache needs ttlMs >= 0 and maxEntries >= 1')
    }
    const r = options.refreshAhead
    if (r !== undefined) {
      const at = r.at ?? REFRESH_AHEAD_AT
      const jitter = r.jitter ?? REFRESH_AHEAD_JITTER
      if (!(jitter >= 0) || !(at - jitter > 0) || !(at + jitter <= 1)) {
        throw new RangeError('TtlCache refreshAhead needs 0 < at - jitter and at + jitter <= 1')
      }
    }
    this.#options = options
  }

  get size(): number {
    return this.#entries.size
  }

  /** A value that has not expired, or undefined (never starts a refresh: there is no loader). */
  get(key: string): V | undefined {
    return this.#live(key, this.#options.now())?.value
  }

  set(key: string, value: V): void {
    const now = this.#options.now()
    const { ttlMs, refreshAhead } = this.#options
    let refreshAt = Number.POSITIVE_INFINITY
    if (refreshAhead !== undefined) {
      const jitter = refreshAhead.jitter ?? REFRESH_AHEAD_JITTER
      const random = refreshAhead.random ?? Math.random
      const fraction = (refreshAhead.at ?? REFRESH_AHEAD_AT) + jitter * (2 * random() - 1)
      refreshAt = now + Math.round(ttlMs * fraction)
    }
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt: now + ttlMs, refreshAt })
    while (this.#entries.size > this.#options.maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#entries.delete(oldest.value)
    }
  }

  delete(key: string): void {
    this.#entries.delete(key)
  }

  clear(): void {
    this.#entries.clear()
  }

  /**
   * The cached value, or the result of `load` shared with every concurrent caller of the same key.
   * `signal` only stops this caller waiting; the shared load carries on for the others. Past the
   * refresh point, the cached value is returned at once and `load` runs in the background (once).
   */
  async getOrLoad(key: string, load: () => Promise<V>, signal?: AbortSignal): Promise<V> {
    const now = this.#options.now()
    const entry = this.#live(key, now)
    if (entry !== undefined) {
      if (entry.refreshAt <= now && !this.#inflight.has(key)) this.#refresh(key, entry, load)
      return entry.value
    }
    const pending = this.#load(key, load)
    return signal === undefined ? pending : raceAbort(pending, signal)
  }

  /** The entry if it has not expired (recency refreshed), else undefined (and dropped). */
  #live(key: string, now: number): Entry<V> | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= now) {
      this.#entries.delete(key)
      return undefined
    }
    // refresh recency: Map iteration order is insertion order
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry
  }

  /** The one load of `key` under way, started if there is none. */
  #load(key: string, load: () => Promise<V>): Promise<V> {
    let pending = this.#inflight.get(key)
    if (pending === undefined) {
      pending = (async () => {
        try {
          const value = await load()
          this.set(key, value)
          return value
        } finally {
          this.#inflight.delete(key)
        }
      })()
      this.#inflight.set(key, pending)
    }
    return pending
  }

  /** A background load; its failure is reported once and leaves `entry` in place. */
  #refresh(key: string, entry: Entry<V>, load: () => Promise<V>): void {
    this.#load(key, async () => {
      try {
        return await load()
      } catch (err) {
        // settled before the load stops being in flight, so no reader starts another meanwhile:
        // the next try is halfway to the hard expiry (a reader past it waits for a load)
        const now = this.#options.now()
        entry.refreshAt = now + (entry.expiresAt - now) / 2
        this.#options.refreshAhead?.onError?.(key, err)
        throw err
      }
    }).catch(() => {})
  }
}

/** Resolves like `promise` unless `signal` aborts first. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(abortReason(signal))
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal))
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e)
      },
    )
  })
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('aborted')
}
