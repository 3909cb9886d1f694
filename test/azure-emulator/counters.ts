/** Per-route request counters that tests and benchmarks read. Route names are listed in docs. */
export class Counters {
  readonly #counts = new Map<string, number>()

  hit(route: string): void {
    this.#counts.set(route, (this.#counts.get(route) ?? 0) + 1)
  }

  /** Count for one route, or the sum over a prefix pattern such as `arm.*` (`*` = everything). */
  get(route: string): number {
    if (!route.endsWith('*')) return this.#counts.get(route) ?? 0
    const prefix = route.slice(0, -1)
    let n = 0
    for (const [r, c] of this.#counts) if (r.startsWith(prefix)) n += c
    return n
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)))
  }

  reset(): void {
    this.#counts.clear()
  }
}
