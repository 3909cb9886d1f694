import { PluginError } from './errors.js'

/** The part of a grpc-js call the reader listens to. */
export interface EventSource {
  on(event: string, listener: (...args: never[]) => void): unknown
}

type Waiter<T> = { resolve: (v: T | undefined) => void; reject: (e: unknown) => void }

/**
 * Pull-style reading of a grpc-js duplex call: `next()` resolves with the next message, or undefined
 * once the peer half-closed. Cancellation and stream errors reject pending and later reads.
 */
export class StreamReader<T> {
  readonly #queue: T[] = []
  readonly #waiters: Waiter<T>[] = []
  #ended = false
  #failure: unknown

  constructor(stream: EventSource) {
    stream.on('data', (msg: T) => {
      const waiter = this.#waiters.shift()
      if (waiter) waiter.resolve(msg)
      else this.#queue.push(msg)
    })
    stream.on('end', () => this.#finish(undefined))
    stream.on('error', (err: unknown) => this.#finish(err))
    stream.on('cancelled', () =>
      this.#finish(new PluginError('Cancelled', 'stream_cancelled', 'stream cancelled by host')),
    )
  }

  /** Waits for the next message; `timeoutMs` undefined waits until the stream ends or is cancelled. */
  next(what: string, timeoutMs?: number): Promise<T | undefined> {
    const queued = this.#queue.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.#failure !== undefined) return Promise.reject(this.#failure)
    if (this.#ended) return Promise.resolve(undefined)
    return new Promise<T | undefined>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              const i = this.#waiters.indexOf(waiter)
              if (i >= 0) this.#waiters.splice(i, 1)
              reject(
                new PluginError(
                  'DeadlineExceeded',
                  'stream_timeout',
                  `timed out waiting for ${what}`,
                ),
              )
            }, timeoutMs)
      const waiter: Waiter<T> = {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
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
