/** Failure an endpoint can be told to produce (issue item 7). */
export type Fault =
  | { kind: 'latency'; ms: number }
  | { kind: 'status'; status: number; body?: unknown }
  | { kind: 'throttle'; retryAfterS?: number }
  | { kind: 'gone' }
  | { kind: 'reset' }
  | { kind: 'slow-body'; chunkBytes?: number; chunkDelayMs?: number }

export interface FaultOptions {
  /** Apply to this many matching requests, then disarm (default: until cleared). */
  times?: number
  /** Let this many matching requests through first. */
  after?: number
}

interface Armed {
  pattern: string
  fault: Fault
  remaining: number
  skip: number
}

/**
 * Faults keyed by route pattern: an exact route (`imds.token`), a prefix (`arm.*`) or `*`.
 * The most specific armed pattern wins: exact, then the longest prefix.
 */
export class Faults {
  readonly #armed = new Map<string, Armed>()
  /** route → the emulator time before which a client told to wait (Retry-After) should not call */
  readonly #retryNotBefore = new Map<string, number>()
  readonly #earlyRetries: string[] = []

  /**
   * Requests that came back to a route before the Retry-After it was answered with had passed (as
   * real ARM would see them: a client that ignores Retry-After). Measured on the emulator's clock,
   * so a test asserts a count, and a slow machine can only make clients later, never early.
   */
  get earlyRetries(): readonly string[] {
    return this.#earlyRetries
  }

  /** Notes a request to `route` at emulator time `at` (ms), before any fault is taken. */
  observe(route: string, at: number): void {
    const notBefore = this.#retryNotBefore.get(route)
    if (notBefore === undefined) return
    if (at < notBefore) this.#earlyRetries.push(route)
    else this.#retryNotBefore.delete(route)
  }

  /** Notes that `route` was answered 429 with Retry-After `retryAfterS` at emulator time `at`. */
  throttled(route: string, at: number, retryAfterS: number): void {
    this.#retryNotBefore.set(route, at + retryAfterS * 1000)
  }

  set(pattern: string, fault: Fault, options: FaultOptions = {}): void {
    validate(fault)
    this.#armed.set(pattern, {
      pattern,
      fault,
      remaining: options.times ?? Number.POSITIVE_INFINITY,
      skip: options.after ?? 0,
    })
  }

  clear(pattern?: string): void {
    if (pattern === undefined) {
      this.#armed.clear()
      this.#retryNotBefore.clear()
      this.#earlyRetries.length = 0
    } else this.#armed.delete(pattern)
  }

  /** The fault to apply to this request, consuming one use. */
  take(route: string): Fault | undefined {
    const candidates = [...this.#armed.values()]
      .filter((a) => matches(a.pattern, route))
      .sort((a, b) => specificity(b.pattern) - specificity(a.pattern))
    const armed = candidates[0]
    if (!armed) return undefined
    if (armed.skip > 0) {
      armed.skip--
      return undefined
    }
    armed.remaining--
    if (armed.remaining <= 0) this.#armed.delete(armed.pattern)
    return armed.fault
  }
}

function matches(pattern: string, route: string): boolean {
  return pattern.endsWith('*') ? route.startsWith(pattern.slice(0, -1)) : pattern === route
}

function specificity(pattern: string): number {
  return pattern.endsWith('*') ? pattern.length - 1 : Number.MAX_SAFE_INTEGER
}

function validate(fault: Fault): void {
  if (fault.kind === 'status' && (fault.status < 100 || fault.status > 599)) {
    throw new RangeError(`fault status ${fault.status} is not an HTTP status`)
  }
  if (fault.kind === 'latency' && !(fault.ms >= 0))
    throw new RangeError('fault latency must be ≥ 0 ms')
}
