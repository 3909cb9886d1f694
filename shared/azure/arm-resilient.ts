import type { Logger } from '../plugin/index.js'
import { ArmError, type ArmClient } from './arm.js'
import { TtlCache } from './cache.js'
import { withRetry } from './retry.js'

/** VM, scale-set and NIC reads are served from memory this long (bounded staleness). */
export const ARM_CACHE_TTL_MS = 60_000
export const ARM_CACHE_MAX_ENTRIES = 10_000
/** One ARM request; the SDKs have no timeout of their own. */
export const ARM_ATTEMPT_TIMEOUT_MS = 15_000
export const ARM_MAX_ATTEMPTS = 4
/** No ARM read keeps an attestation waiting longer than this, Retry-After included. */
export const ARM_CALL_BUDGET_MS = 30_000
const BASE_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 8_000

export interface ResilientArmOptions {
  /** Milliseconds clock. */
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
  log: Logger
  cacheTtlMs?: number
  maxEntries?: number
  maxAttempts?: number
  budgetMs?: number
  attemptTimeoutMs?: number
  random?(): number
}

/**
 * Wraps an `ArmClient`: identical concurrent reads share one request, results are cached for a
 * bounded time, transient failures are retried with backoff, and a throttled answer's Retry-After
 * holds back every later call of this client until it passes (or fails them fast when the wait
 * would overrun the budget), so an attestation storm cannot turn into an ARM 429 storm.
 */
export function createResilientArm(inner: ArmClient, options: ResilientArmOptions): ArmClient {
  const cache = new TtlCache<unknown>({
    ttlMs: options.cacheTtlMs ?? ARM_CACHE_TTL_MS,
    maxEntries: options.maxEntries ?? ARM_CACHE_MAX_ENTRIES,
    now: options.now,
  })
  const budgetMs = options.budgetMs ?? ARM_CALL_BUDGET_MS
  const attemptTimeoutMs = options.attemptTimeoutMs ?? ARM_ATTEMPT_TIMEOUT_MS
  let blockedUntil = 0

  const waitForGate = async (start: number, signal: AbortSignal | undefined): Promise<void> => {
    const wait = blockedUntil - options.now()
    if (wait <= 0) return
    if (options.now() - start + wait > budgetMs) {
      throw new ArmError(`throttled by ARM: retry after ${Math.ceil(wait / 1000)}s`, {
        status: 429,
        retryAfterMs: wait,
      })
    }
    await options.sleep(wait, signal)
  }

  const run = <T>(
    op: string,
    args: readonly string[],
    call: (signal: AbortSignal) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> => {
    const key = `${op}|${args.map((a) => a.toLowerCase()).join('|')}`
    const load = async (): Promise<T> => {
      const start = options.now()
      return withRetry(
        async () => {
          await waitForGate(start, undefined)
          try {
            return await call(AbortSignal.timeout(attemptTimeoutMs))
          } catch (err) {
            const e = err instanceof ArmError ? err : new ArmError(String(err), {}, { cause: err })
            if (e.status === 429 || e.status === 503) {
              const after = e.retryAfterMs ?? BASE_BACKOFF_MS
              blockedUntil = Math.max(blockedUntil, options.now() + after)
              options.log.warn('ARM throttled the request', {
                operation: op,
                status: e.status,
                retry_after_ms: after,
              })
            }
            throw e
          }
        },
        {
          maxAttempts: options.maxAttempts ?? ARM_MAX_ATTEMPTS,
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
              operation: op,
              attempt,
              delay_ms: delayMs,
              error: error instanceof Error ? error.message : String(error),
            }),
        },
      )
    }
    return cache.getOrLoad(key, load, signal) as Promise<T>
  }

  return {
    getVirtualMachine: (sub, rg, name, signal) =>
      run('vm', [sub, rg, name], (s) => inner.getVirtualMachine(sub, rg, name, s), signal),
    getScaleSet: (sub, rg, name, signal) =>
      run('vmss', [sub, rg, name], (s) => inner.getScaleSet(sub, rg, name, s), signal),
    getScaleSetVm: (sub, rg, scaleSet, instanceId, signal) =>
      run(
        'vmss-vm',
        [sub, rg, scaleSet, instanceId],
        (s) => inner.getScaleSetVm(sub, rg, scaleSet, instanceId, s),
        signal,
      ),
    getNetworkInterface: (sub, rg, name, signal) =>
      run('nic', [sub, rg, name], (s) => inner.getNetworkInterface(sub, rg, name, s), signal),
    listVirtualMachinesByPrincipal: (sub, principalId, signal) =>
      run(
        'by-principal',
        [sub, principalId],
        (s) => inner.listVirtualMachinesByPrincipal(sub, principalId, s),
        signal,
      ),
  }
}
