/** What a failed attempt says about trying again. */
export interface RetryVerdict {
  retry: boolean
  /** The server's own wait (Retry-After); used instead of the backoff when present. */
  afterMs?: number
}

export interface RetryOptions {
  /** Attempts in total, the first included. */
  maxAttempts: number
  /** Backoff before attempt n+1 is min(maxDelayMs, baseDelayMs · 2^(n-1)), with ±20 % jitter. */
  baseDelayMs: number
  maxDelayMs: number
  /** No attempt starts, and no wait is begun, past this many ms after the first attempt. */
  budgetMs: number
  classify(err: unknown, attempt: number): RetryVerdict
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  signal?: AbortSignal
  /** Called before each wait, e.g. to log at debug. */
  onRetry?(info: { attempt: number; delayMs: number; error: unknown }): void
  random?(): number
}

/**
 * Runs `attempt` until it succeeds, a failure is not retryable, attempts run out, or the next wait
 * would overrun the budget; then the last error is thrown. A server-sent Retry-After longer than
 * the remaining budget ends the loop at once rather than sleeping past it.
 */
export async function withRetry<T>(
  attempt: (n: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const start = options.now()
  const random = options.random ?? Math.random
  for (let n = 1; ; n++) {
    try {
      return await attempt(n)
    } catch (err) {
      if (options.signal?.aborted) throw err
      const verdict = options.classify(err, n)
      if (!verdict.retry || n >= options.maxAttempts) throw err
      const backoff = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** (n - 1))
      const jittered = backoff * (0.8 + 0.4 * random())
      const delayMs = Math.round(verdict.afterMs ?? jittered)
      const elapsed = options.now() - start
      if (elapsed + delayMs > options.budgetMs) throw err
      options.onRetry?.({ attempt: n, delayMs, error: err })
      await options.sleep(delayMs, options.signal)
    }
  }
}

/** setTimeout as a promise that rejects when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'))
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'))
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
