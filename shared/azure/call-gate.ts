// One gate for every keyed Azure read: coalescing, a cache kept warm, retries, and Retry-After.
import type { Logger } from '../plugin/index.js'
import { ArmError } from './arm.js'
import { TtlCache } from './cache.js'
import { withRetry } from './retry.js'

export interface CallGateOptions {
  /** Milliseconds clock. */
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  log: Logger
  /** Successful results are served from memory this long (0: coalescing only). */
  cacheTtlMs: number
  /**
   * Refresh a cached result in the background once it is past ~80 % of its TTL (jittered per
   * entry by `random`), so no caller waits on a re-read while reads keep coming (default true).
   */
  refreshAhead?: boolean
  maxEntries?: number
  maxAttempts?: number
  /** No call keeps its callers waiting longer than this, Retry-After included. */
  budgetMs?: number
  attemptTimeoutMs?: number
  random?(): number
  /**
   * Turns a non-ARM failure of `call` into an ArmError (then retried as transient when it has no
   * status, like a transport error). Without it such failures pass through untouched.
   */
  toArmError?(err: unknown): ArmError
}

const BASE_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 8_000

/** Runs one keyed Azure call through the gate. */
export type GatedCall = <T>(
  operation: string,
  key: string,
  call: (signal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
) => Promise<T>

/**
 * The resilience policy of every Azure read (ARM, Resource Graph, subscriptions): identical
 * concurrent calls share one request, successes are cached for a bounded time and refreshed in the
 * background before they expire (the old result is served meanwhile), transient failures
 * are retried with backoff, and a 429/503's Retry-After holds back every later call through this
 * gate until it passes — or fails them at once when the wait would overrun the budget, so an
 * attestation storm cannot turn into an ARM 429 storm.
 */
export function createCallGate(options: CallGateOptions): GatedCall {
  const cache = new TtlCache<unknown>({
    ttlMs: options.cacheTtlMs,
    maxEntries: options.maxEntries ?? 10_000,
    now: options.now,
    ...(options.refreshAhead === false
      ? {}
      : {
          refreshAhead: {
            ...(options.random === undefined ? {} : { random: options.random }),
            onError: (key: string, err: unknown) =>
              options.log.warn('Background refresh of a cached Azure read failed', {
                operation: key.slice(0, key.indexOf('|')),
                error: err instanceof Error ? err.message : String(err),
              }),
          },
        }),
  })
  const budgetMs = options.budgetMs ?? 30_000
  const attemptTimeoutMs = options.attemptTimeoutMs ?? 15_000
  let blockedUntil = 0

  const waitForGate = async (start: number): Promise<void> => {
    const wait = blockedUntil - options.now()
    if (wait <= 0) return
    if (options.now() - start + wait > budgetMs) {
      throw new ArmError(`throttled by ARM: retry after ${Math.ceil(wait / 1000)}s`, {
        status: 429,
        retryAfterMs: wait,
      })
    }
    await options.sleep(wait)
  }

  return <T>(
    operation: string,
    key: string,
    call: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ) => {
    const load = async (): Promise<T> => {
      const start = options.now()
      return withRetry(
        async () => {
          await waitForGate(start)
          try {
            return await call(AbortSignal.timeout(attemptTimeoutMs))
          } catch (err) {
            // a non-ARM error (e.g. the caller's own "no result" signal) passes through untouched
            // unless the gate was told how to read it
            if (!(err instanceof ArmError) && options.toArmError === undefined) throw err
            const e = err instanceof ArmError ? err : options.toArmError!(err)
            if (e.status === 429 || e.status === 503) {
              const after = e.retryAfterMs ?? BASE_BACKOFF_MS
              blockedUntil = Math.max(blockedUntil, options.now() + after)
              options.log.warn('ARM throttled the request', {
                operation,
                status: e.status,
                retry_after_ms: after,
              })
            }
            throw e
          }
        },
        {
          maxAttempts: options.maxAttempts ?? 4,
          baseDelayMs: BASE_BACKOFF_MS,
          maxDelayMs: MAX_BACKOFF_MS,
          budgetMs,
          now: options.now,
          sleep: options.sleep,
          ...(options.random === undefined ? {} : { random: options.random }),
          classify: (err) => {
            if (!(err instanceof ArmError) || !err.transient) return { retry: false }
            // a Retry-After in force replaces the backoff (and ends the loop if it overruns the budget)
            const gate = Math.max(0, blockedUntil - options.now())
            return gate > 0 ? { retry: true, afterMs: gate } : { retry: true }
          },
          onRetry: ({ attempt, delayMs, error }) =>
            options.log.debug('Retrying ARM request', {
              operation,
              attempt,
              delay_ms: delayMs,
              error: error instanceof Error ? error.message : String(error),
            }),
        },
      )
    }
    return cache.getOrLoad(`${operation}|${key.toLowerCase()}`, load, signal) as Promise<T>
  }
}
