/**
 * Deadlines that are long and almost never reached (30 s for a payload, 60 s for a challenge
 * response, 10 s for a host call), checked by one interval instead of a timer each. An attestation
 * armed and cleared three Node timers; at fleet rates their creation and removal showed in the
 * runtime's profile (docs/performance.md, issue 12 §3). A deadline fires at most `resolutionMs` late.
 */

/** Cancels a deadline; calling it again, or after it fired, does nothing. */
export type CancelDeadline = () => void

interface Entry {
  at: number
  fire: () => void
}

export class CoarseTimers {
  readonly #entries = new Set<Entry>()
  readonly #resolutionMs: number
  readonly #now: () => number
  #interval: ReturnType<typeof setInterval> | undefined

  constructor(options: { resolutionMs?: number; now?: () => number } = {}) {
    this.#resolutionMs = options.resolutionMs ?? 250
    this.#now = options.now ?? Date.now
  }

  /** Runs `fire` once, `ms` from now (up to the resolution later), unless cancelled first. */
  after(ms: number, fire: () => void): CancelDeadline {
    const entry: Entry = { at: this.#now() + ms, fire }
    this.#entries.add(entry)
    if (this.#interval === undefined) {
      this.#interval = setInterval(() => this.tick(), this.#resolutionMs)
      // pending deadlines alone never keep a process alive
      this.#interval.unref?.()
    }
    return () => {
      this.#entries.delete(entry)
    }
  }

  /** Fires what is due (the interval calls it; tests may too). */
  tick(): void {
    const now = this.#now()
    for (const entry of this.#entries) {
      if (entry.at <= now) {
        this.#entries.delete(entry)
        entry.fire()
      }
    }
    if (this.#entries.size === 0 && this.#interval !== undefined) {
      clearInterval(this.#interval)
      this.#interval = undefined
    }
  }

  /** Deadlines pending. */
  get size(): number {
    return this.#entries.size
  }
}

/** The process's one set of coarse deadlines. */
export const coarseTimers = new CoarseTimers()
