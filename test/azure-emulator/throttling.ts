/**
 * ARM's throttling model: a token bucket per subscription (and per principal for Resource Graph),
 * refilled continuously. Defaults follow ARM's 2024 limits for reads: 250 tokens, 25/s.
 */
export interface ThrottlingOptions {
  bucketSize?: number
  refillPerSecond?: number
  /** Resource Graph: requests per window per principal (ARG's documented 15 per 5 s) */
  resourceGraphQuota?: number
  resourceGraphWindowS?: number
}

export type TakeResult = { ok: true; remaining: number } | { ok: false; retryAfterS: number }

const DEFAULTS: Required<ThrottlingOptions> = {
  bucketSize: 250,
  refillPerSecond: 25,
  resourceGraphQuota: 15,
  resourceGraphWindowS: 5,
}

interface Bucket {
  tokens: number
  at: number
}

export class Throttling {
  #options: Required<ThrottlingOptions> = DEFAULTS
  #enabled = false
  readonly #buckets = new Map<string, Bucket>()
  readonly #windows = new Map<string, { start: number; used: number }>()
  readonly #now: () => Date

  constructor(now: () => Date, initial?: ThrottlingOptions | boolean) {
    this.#now = now
    if (initial) this.enable(initial === true ? {} : initial)
  }

  get enabled(): boolean {
    return this.#enabled
  }

  get options(): Readonly<Required<ThrottlingOptions>> {
    return this.#options
  }

  enable(options: ThrottlingOptions = {}): void {
    this.#options = { ...DEFAULTS, ...options }
    this.#enabled = true
    this.reset()
  }

  disable(): void {
    this.#enabled = false
  }

  reset(): void {
    this.#buckets.clear()
    this.#windows.clear()
  }

  /** Spends one read token of a subscription's bucket. */
  takeArm(subscriptionId: string): TakeResult {
    const now = this.#now().getTime()
    const { bucketSize, refillPerSecond } = this.#options
    const key = subscriptionId.toLowerCase()
    const b = this.#buckets.get(key) ?? { tokens: bucketSize, at: now }
    b.tokens = Math.min(bucketSize, b.tokens + ((now - b.at) / 1000) * refillPerSecond)
    b.at = now
    this.#buckets.set(key, b)
    if (!this.#enabled) return { ok: true, remaining: Math.floor(b.tokens) }
    if (b.tokens < 1)
      return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / refillPerSecond)) }
    b.tokens -= 1
    return { ok: true, remaining: Math.floor(b.tokens) }
  }

  /** Spends one Resource Graph query of a principal's window. */
  takeResourceGraph(principal: string): TakeResult & { resetsAfterS: number } {
    const now = this.#now().getTime()
    const { resourceGraphQuota, resourceGraphWindowS } = this.#options
    const windowMs = resourceGraphWindowS * 1000
    let w = this.#windows.get(principal)
    if (!w || now - w.start >= windowMs) {
      w = { start: now, used: 0 }
      this.#windows.set(principal, w)
    }
    const resetsAfterS = Math.max(1, Math.ceil((w.start + windowMs - now) / 1000))
    if (this.#enabled && w.used >= resourceGraphQuota)
      return { ok: false, retryAfterS: resetsAfterS, resetsAfterS }
    w.used++
    return { ok: true, remaining: Math.max(0, resourceGraphQuota - w.used), resetsAfterS }
  }
}
