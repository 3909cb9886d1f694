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
    if (pattern === undefined) this.#armed.clear()
    else this.#armed.delete(pattern)
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
