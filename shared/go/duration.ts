const UNIT_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
}

/**
 * Go's time.ParseDuration ("1m30s", "250ms", "1.5h"), as SPIRE operators write durations, in
 * milliseconds; undefined for anything Go would reject. A bare "0" is zero, as in Go.
 */
export function parseGoDuration(text: string): number | undefined {
  const s = text.trim()
  if (s === '0') return 0
  const re = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy
  let total = 0
  let pos = 0
  let sign = 1
  let body = s
  if (body.startsWith('-') || body.startsWith('+')) {
    sign = body.startsWith('-') ? -1 : 1
    body = body.slice(1)
  }
  if (body === '') return undefined
  re.lastIndex = 0
  while (pos < body.length) {
    re.lastIndex = pos
    const m = re.exec(body)
    if (m === null || m.index !== pos) return undefined
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? NaN)
    pos = re.lastIndex
  }
  return Number.isFinite(total) ? sign * total : undefined
}
