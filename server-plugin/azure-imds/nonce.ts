import { randomBytes } from 'node:crypto'

export const NONCE_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
/** upstream parity: 32 characters, the most IMDS accepts (azure-facts §2.1). */
export const NONCE_LENGTH = 32
/** 256 − 256 % 62: bytes at or above this are discarded so every character is equally likely. */
const UNBIASED_LIMIT = 256 - (256 % NONCE_ALPHABET.length)
/** An issued nonce must come back within this long (the runtime waits 60 s for a response). */
export const NONCE_TTL_MS = 5 * 60_000
export const MAX_OUTSTANDING_NONCES = 10_000

/**
 * 32 characters from [A-Za-z0-9] out of a CSPRNG by rejection sampling.
 * deviation: upstream maps each byte with `% 62`, which favours the first 8 characters slightly.
 */
export function generateNonce(random: (n: number) => Buffer = randomBytes): string {
  let out = ''
  while (out.length < NONCE_LENGTH) {
    for (const b of random(NONCE_LENGTH * 2)) {
      if (b >= UNBIASED_LIMIT) continue
      out += NONCE_ALPHABET[b % NONCE_ALPHABET.length]
      if (out.length === NONCE_LENGTH) break
    }
  }
  return out
}

/**
 * Issued nonces, each good for one use within NONCE_TTL_MS. A document can only be checked
 * against the nonce its own stream issued, so replay across attestations already fails with
 * `nonce mismatch`; this registry also makes a nonce unusable a second time.
 */
export class NonceRegistry {
  readonly #issued = new Map<string, number>()
  readonly #now: () => number
  readonly #generate: () => string

  constructor(options: { now(): number; generate?: () => string }) {
    this.#now = options.now
    this.#generate = options.generate ?? (() => generateNonce())
  }

  issue(): string {
    this.#sweep()
    let nonce = this.#generate()
    while (this.#issued.has(nonce)) nonce = this.#generate()
    this.#issued.set(nonce, this.#now() + NONCE_TTL_MS)
    while (this.#issued.size > MAX_OUTSTANDING_NONCES) {
      const oldest = this.#issued.keys().next()
      if (oldest.done === true) break
      this.#issued.delete(oldest.value)
    }
    return nonce
  }

  /** True exactly once for a nonce this registry issued and that has not expired. */
  consume(nonce: string): boolean {
    const expiresAt = this.#issued.get(nonce)
    if (expiresAt === undefined) return false
    this.#issued.delete(nonce)
    return expiresAt > this.#now()
  }

  get outstanding(): number {
    return this.#issued.size
  }

  #sweep(): void {
    const now = this.#now()
    for (const [nonce, expiresAt] of this.#issued) {
      if (expiresAt > now) break
      this.#issued.delete(nonce)
    }
  }
}
