export interface TtlCacheOptions {
  /** How long a loaded value is served. */
  ttlMs: number
  /** Least recently used entries are dropped beyond this many. */
  maxEntries: number
  /** Milliseconds clock (injected: tests move time by hand). */
  now(): number
}

interface Entry<V> {
  value: V
  expiresAt: number
}

/**
 * A bounded TTL cache that coalesces concurrent loads of one key into a single call. Only
 * successes are cached: a failed load is shared by the callers already waiting for it, and the
 * next caller tries again.
 */
export class TtlCache<V> {
  readonly #options: TtlCacheOptions
  readonly #entries = new Map<string, Entry<V>>()
  readonly #inflight = new Map<string, Promise<V>>()

  constructor(options: TtlCacheOptions) {
    if (!(options.ttlMs >= 0) || !(options.maxEntries >= 1)) {
      throw new RangeError('TtlCache needs ttlMs >= 0 and maxEntries >= 1')
    }
    this.#options = options
  }

  get size(): number {
    return this.#entries.size
  }

  /** A fresh value, or undefined. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#options.now()) {
      this.#entries.delete(key)
      return undefined
    }
    // refresh recency: Map iteration order is insertion order
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  set(key: string, value: V): void {
    this.#entries.delete(key)
    this.#entries.set(key, { value, expiresAt: this.#options.now() + this.#options.ttlMs })
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
   * `signal` only stops this caller waiting; the shared load carries on for the others.
   */
  async getOrLoad(key: string, load: () => Promise<V>, signal?: AbortSignal): Promise<V> {
    const cached = this.get(key)
    if (cached !== undefined) return cached
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
    return signal === undefined ? pending : raceAbort(pending, signal)
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
