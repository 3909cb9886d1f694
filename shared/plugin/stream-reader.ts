import { coarseTimers, type CoarseTimers } from './coarse-timers.js'
import { PluginError } from './errors.js'

type Waiter<T> = { resolve: (v: T | undefined) => void; reject: (e: unknown) => void }

/**
 * Pull-style reading of a stream's messages: the transport pushes what arrives (`push`, `end` once
 * the peer half-closed, `fail` on cancellation or a fault), and `next()` resolves with the next
 * message, or undefined once the peer half-closed. A failure rejects pending and later reads.
 */
export class StreamReader<T> {
  readonly #queue: T[] = []
  readonly #waiters: Waiter<T>[] = []
  readonly #timers: CoarseTimers
  #ended = false
  #failure: unknown

  constructor(timers: CoarseTimers = coarseTimers) {
    this.#timers = timers
  }

  push(msg: T): void {
    const waiter = this.#waiters.shift()
    if (waiter) waiter.resolve(msg)
    else this.#queue.push(msg)
  }

  end(): void {
    this.#finish(undefined)
  }

  fail(err: unknown): void {
    this.#finish(err)
  }

  /** Waits for the next message; `timeoutMs` undefined waits until the stream ends or fails. */
  next(what: string, timeoutMs?: number): Promise<T | undefined> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#ended) return Promise.resolve(undefined)
    return new Promise<T | undefined>((resolve, reject) => {
      const cancel =
        timeoutMs === undefined
          ? undefined
          : this.#timers.after(timeoutMs, () => {
              const i = this.#waiters.indexOf(waiter)
              if (i >= 0) this.#waiters.splice(i, 1)
              reject(
                new PluginError(
                  'DeadlineExceeded',
                  'stream_timeout',
                  `timed out waiting for ${what}`,
                ),
              )
            })
      const waiter: Waiter<T> = {
        resolve: (v) => {
          cancel?.()
          resolve(v)
        },
        reject: (e) => {
          cancel?.()
          reject(e)
        },
      }
      this.#waiters.push(waiter)
    })
  }

  #finish(err: unknown): void {
    if (this.#ended || this.#failure !== undefined) return
    if (err === undefined) this.#ended = true
    else this.#failure = err
    for (const w of this.#waiters.splice(0)) {
      if (err === undefined) w.resolve(undefined)
      else w.reject(err)
    }
  }
}
